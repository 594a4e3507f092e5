/**
 * Strict fake upstreams for the coding agents, one per wire format: each serves its API's
 * endpoints on 127.0.0.1:0, refuses what the real API refuses (400 in that API's own error
 * shape), records every request, and plays a whole tool loop:
 *
 *   - the conversation ends in the user's prompt, and the prompt contains the script's trigger
 *     → it calls the agent's shell tool (found among the tools the agent declared) with the
 *       script's command;
 *   - the conversation ends in that tool's result → it answers with text that copies the result
 *     (so a test can find in the agent's output a value the fake could not know);
 *   - anything else → the script's fixed text; a request asking for structured output (a title,
 *     a classifier, a topic check) gets an instance of the schema it asked for.
 *
 * The formats themselves (routes, rules, answers) live in ./formats/.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { anthropicFormat } from './formats/anthropic.ts';
import { chatFormat } from './formats/chat.ts';
import { geminiFormat } from './formats/gemini.ts';
import { responsesFormat } from './formats/responses.ts';
import type { Format, FormatSpec, Rules, WebSocketAnswer } from './formats/types.ts';

export type { Format, WebSocketAnswer } from './formats/types.ts';
export const FORMATS: readonly Format[] = ['anthropic', 'responses', 'chat', 'gemini'];

const SPECS: Record<Format, FormatSpec> = { anthropic: anthropicFormat, responses: responsesFormat, chat: chatFormat, gemini: geminiFormat };

export interface Script {
  /** The fixed answer to a plain prompt. */
  text: string;
  /** A prompt containing this asks for the shell command. */
  trigger?: string;
  /** The command the fake has the agent's shell tool run. */
  command?: string;
  /** What the final answer puts before the copied tool result. */
  resultPrefix: string;
}

export const DEFAULT_SCRIPT: Script = { text: 'Hello from the strict fake upstream.', resultPrefix: 'The command printed: ' };

export interface RecordedExchange {
  /** Milliseconds since the fake started. */
  at: number;
  method: string;
  /** Path with the query string. */
  path: string;
  headers: IncomingMessage['headers'];
  /** The body as JSON (the raw text when it was not JSON; undefined when there was none). */
  body: unknown;
  /** The endpoint it went to, as the fixtures name it (`messages`, `responses`, `streamGenerateContent`…). */
  endpoint: string;
  /** What the fake made of it and answered. */
  status: number;
  kind: string;
  /** The rule the request broke, when it was refused. */
  error?: string;
  /** The JSON the fake answered with (not for streams). */
  answer?: unknown;
  /** A WebSocket upgrade: how it was answered. */
  websocket?: WebSocketAnswer;
}

export interface StrictUpstream {
  format: Format;
  url: string;
  requests: RecordedExchange[];
  script: Script;
  /** Every request the agent's shell-tool result came back in. */
  toolResults(): string[];
  close(): Promise<void>;
}

export interface UpstreamOptions {
  script?: Partial<Script>;
  /** How a WebSocket upgrade is answered (Responses only; others answer 404). Default: 426. */
  websocket?: WebSocketAnswer;
  /** Where the real API's rule depends on something the fake cannot know. */
  rules?: Rules;
}

export async function strictUpstream(t: TestContext | undefined, format: Format, options: UpstreamOptions = {}): Promise<StrictUpstream> {
  const spec = SPECS[format];
  const script: Script = { ...DEFAULT_SCRIPT, ...options.script };
  const requests: RecordedExchange[] = [];
  const results: string[] = [];
  const started = Date.now();
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw === '' ? undefined : raw;
      let parsed = raw === '';
      try {
        if (raw !== '') {
          body = JSON.parse(raw) as unknown;
          parsed = true;
        }
      } catch {
        // stays the raw text; the format refuses it below
      }
      const record: RecordedExchange = { at: Date.now() - started, method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, endpoint: 'unknown', status: 0, kind: '' };
      requests.push(record);
      try {
        handle(req, res, record, parsed);
      } catch (error) {
        record.status = 500;
        record.kind = 'crash';
        record.error = error instanceof Error ? error.stack ?? error.message : String(error);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fake ${format} upstream crashed: ${record.error}`);
      }
    });
  });

  function handle(req: IncomingMessage, res: ServerResponse, record: RecordedExchange, parsed: boolean): void {
    const route = spec.route(req.method ?? '', req.url ?? '');
    if (route === null) {
      record.endpoint = 'unknown';
      return refuse(res, record, 404, `no such endpoint: ${req.method} ${req.url}`, 'not-found');
    }
    record.endpoint = route.endpoint;
    if (!parsed) return refuse(res, record, 400, spec.invalidJsonMessage, 'invalid-json');
    const problem = spec.validate(route, record.body, options.rules ?? {});
    if (problem !== null) return refuse(res, record, 400, problem.message, 'invalid', problem.param);
    const answer = spec.answer(route, record.body as Record<string, unknown>, script);
    record.status = answer.status;
    record.kind = answer.kind;
    if (answer.json !== undefined) record.answer = answer.json;
    if (answer.toolResult !== undefined) results.push(answer.toolResult);
    res.writeHead(answer.status, answer.headers);
    if (answer.events === undefined) {
      res.end(answer.json === undefined ? '' : JSON.stringify(answer.json));
      return;
    }
    res.flushHeaders();
    for (const event of answer.events) res.write(event);
    res.end();
  }

  function refuse(res: ServerResponse, record: RecordedExchange, status: number, message: string, kind: string, param?: string): void {
    record.status = status;
    record.kind = kind;
    record.error = message;
    const text = JSON.stringify(spec.errorBody(status, message, param));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const route = spec.route('POST', req.url ?? '');
    const answer: WebSocketAnswer = format === 'responses' && route !== null ? (options.websocket ?? 426) : 404;
    requests.push({ at: Date.now() - started, method: req.method ?? 'GET', path: req.url ?? '', headers: req.headers, body: undefined, endpoint: `${route?.endpoint ?? 'unknown'}-websocket`, status: typeof answer === 'number' ? answer : 0, kind: 'websocket-upgrade', websocket: answer });
    socket.on('error', () => undefined);
    if (answer === 'close') socket.destroy();
    else if (answer === 'hang') sockets.add(socket);
    else {
      const text = JSON.stringify(spec.errorBody(answer, answer === 426 ? 'WebSocket transport is not supported here; use HTTP.' : `no WebSocket endpoint at ${req.url}`));
      socket.end(`HTTP/1.1 ${answer} ${STATUS_TEXT[answer] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t?.after(close);
  return { format, url: `http://127.0.0.1:${port}`, requests, script, toolResults: () => [...results], close };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 426: 'Upgrade Required', 501: 'Not Implemented', 200: 'OK' };
