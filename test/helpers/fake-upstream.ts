/**
 * A fake upstream provider on 127.0.0.1:0 that records every request (method, path, headers,
 * body) and answers with whatever the test's handler writes: real status codes, error bodies,
 * SSE events and rate-limit headers, as the provider's wire format has them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Resolves when the client side of this request went away (abort, or response finished). */
  closed: Promise<void>;
  /** True once the gateway aborted the request before the response was complete. */
  aborted: () => boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void | Promise<void>;

export interface FakeUpstream {
  url: string;
  requests: RecordedRequest[];
  setHandler(handler: Handler): void;
  close(): Promise<void>;
}

export async function fakeUpstream(t: TestContext, handler: Handler): Promise<FakeUpstream> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let aborted = false;
      const closed = new Promise<void>((resolve) =>
        res.on('close', () => {
          aborted = !res.writableFinished;
          resolve();
        }),
      );
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), closed, aborted: () => aborted };
      requests.push(recorded);
      void Promise.resolve(current(req, res, recorded)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
        else res.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return { url: `http://127.0.0.1:${port}`, requests, setHandler: (h) => (current = h), close };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sseHeaders(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** An OpenAI chat completion, as api.openai.com sends it. */
export function openaiCompletion(model: string, text: string): Record<string, unknown> {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  };
}

export function openaiChunk(model: string, content: string | null, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] })}\n\n`;
}

/** An Anthropic message, as api.anthropic.com sends it. */
export function anthropicMessage(model: string, text: string): Record<string, unknown> {
  return { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 9, output_tokens: 4 } };
}

export const openaiError = (message: string, type: string, code: string | null = null) => ({ error: { message, type, param: null, code } });
export const anthropicError = (message: string, type: string) => ({ type: 'error', error: { type, message } });
