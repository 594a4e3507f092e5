/**
 * A fake upstream provider on 127.0.0.1:0 that records every request (method, path, headers,
 * body) and answers with whatever the test's handler writes: real status codes, error bodies,
 * SSE events and rate-limit headers, as the provider's wire format has them.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
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

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
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

/** One SSE event as the providers write it: an optional `event:` line, one `data:` line. */
export function sse(data: unknown, event?: string): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${payload}\n\n`;
}

export const OPENAI_DONE = 'data: [DONE]\n\n';

/** A chat completions stream as api.openai.com sends it with `stream_options.include_usage`: deltas, a finish chunk, a usage chunk, [DONE]. */
export function openaiStream(model: string, parts: readonly string[], usage = { prompt_tokens: 11, completion_tokens: 5 }): string[] {
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model, system_fingerprint: 'fp_fake' };
  return [
    sse({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], usage: null }),
    ...parts.map((content) => sse({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }], usage: null })),
    sse({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null }),
    sse({ ...base, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }),
    OPENAI_DONE,
  ];
}

/** A Messages API stream as api.anthropic.com sends it. */
export function anthropicStream(model: string, parts: readonly string[], usage = { input_tokens: 13, output_tokens: 6 }): string[] {
  return [
    sse({ type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } }, 'message_start'),
    sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'),
    sse({ type: 'ping' }, 'ping'),
    ...parts.map((text) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }, 'content_block_delta')),
    sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
    sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }, 'message_delta'),
    sse({ type: 'message_stop' }, 'message_stop'),
  ];
}

/** A generateContent response as generativelanguage.googleapis.com sends it. */
export function geminiResponse(model: string, text: string, usage = { promptTokenCount: 8, candidatesTokenCount: 2 }, finish: string | null = 'STOP'): Record<string, unknown> {
  return {
    candidates: [{ content: { parts: [{ text }], role: 'model' }, ...(finish === null ? {} : { finishReason: finish }), index: 0 }],
    usageMetadata: { ...usage, totalTokenCount: usage.promptTokenCount + usage.candidatesTokenCount },
    modelVersion: model,
    responseId: 'gemini-fake',
  };
}

/** `streamGenerateContent?alt=sse`: one `data:` event per chunk, usage in the last one. */
export function geminiStream(model: string, parts: readonly string[], usage = { promptTokenCount: 8, candidatesTokenCount: 4 }): string[] {
  return parts.map((text, i) => {
    const last = i === parts.length - 1;
    const chunk = geminiResponse(model, text, last ? usage : { promptTokenCount: usage.promptTokenCount, candidatesTokenCount: i + 1 }, last ? 'STOP' : null);
    return sse(chunk);
  });
}

/** A Responses API stream (typed events with sequence numbers) as api.openai.com sends it. */
export function responsesStream(model: string, parts: readonly string[], usage = { input_tokens: 9, output_tokens: 3 }): string[] {
  let seq = 0;
  const response = (status: string, extra: Record<string, unknown> = {}) => ({ id: 'resp_fake', object: 'response', created_at: 1_700_000_000, status, model, output: [], ...extra });
  const event = (type: string, body: Record<string, unknown>) => sse({ type, sequence_number: seq++, ...body }, type);
  const text = parts.join('');
  const item = { id: 'msg_fake', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] };
  return [
    event('response.created', { response: response('in_progress') }),
    event('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }),
    ...parts.map((delta) => event('response.output_text.delta', { item_id: 'msg_fake', output_index: 0, content_index: 0, delta })),
    event('response.output_text.done', { item_id: 'msg_fake', output_index: 0, content_index: 0, text }),
    event('response.output_item.done', { output_index: 0, item }),
    event('response.completed', { response: response('completed', { output: [item], usage: { ...usage, total_tokens: usage.input_tokens + usage.output_tokens } }) }),
  ];
}

/** A Responses API object (non-streaming). */
export function responsesObject(model: string, text: string): Record<string, unknown> {
  return {
    id: 'resp_fake', object: 'response', created_at: 1_700_000_000, status: 'completed', model,
    output: [{ id: 'msg_fake', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
    usage: { input_tokens: 9, output_tokens: 3, total_tokens: 12 },
  };
}

/** Gemini's error envelope (google.rpc.Status). */
export const geminiError = (code: number, message: string, status: string) => ({ error: { code, message, status } });

/**
 * A counter that can be awaited: `reached(n)` resolves once `advance()` was called n times in
 * all, or rejects after `timeoutMs`. Lockstep tests use one per stream: the test client advances
 * it per event received, the fake upstream awaits it before writing the next event.
 */
export class Counter {
  #count = 0;
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  get count(): number {
    return this.#count;
  }

  advance(): void {
    this.#count++;
    const ready = this.#waiters.filter((w) => w.n <= this.#count);
    this.#waiters = this.#waiters.filter((w) => w.n > this.#count);
    for (const w of ready) w.resolve();
  }

  reached(n: number, timeoutMs: number, what = `count ${n}`): Promise<void> {
    if (this.#count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (at ${this.#count})`));
      }, timeoutMs);
      const waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }
}

/** The JSON body of a recorded request (all providers' request bodies are JSON). */
export function bodyOf(recorded: RecordedRequest): Record<string, unknown> {
  return JSON.parse(recorded.body) as Record<string, unknown>;
}

/** Resolves when `upstream` has recorded `n` requests, or rejects after `timeoutMs` (3 × SLACK_MS of cli.ts: a bound for a loaded machine). */
export async function requestsReached(upstream: FakeUpstream, n: number, timeoutMs = 30_000): Promise<RecordedRequest> {
  const deadline = Date.now() + timeoutMs;
  while (upstream.requests.length < n) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${n} upstream requests (got ${upstream.requests.length})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return upstream.requests[n - 1] as RecordedRequest;
}

/** Resolves once the gateway's side of `recorded` went away; rejects after `timeoutMs`. */
export function closedWithin(recorded: RecordedRequest, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the upstream request ${recorded.method} ${recorded.path} was not closed within ${timeoutMs} ms`)), timeoutMs);
    void recorded.closed.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Headers a real upstream adds that a client must not see (set-cookie) or that the gateway must not let override its own. */
const upstreamNoise = (requestId: string): Record<string, string | string[]> => ({
  'set-cookie': ['__cf_bm=upstream-cookie; path=/; HttpOnly', '_cfuvid=another; path=/'],
  'x-request-id': requestId,
  'cf-ray': '8f0000000000abcd-FRA',
});

/**
 * A stand-in for api.openai.com (or any OpenAI-compatible server under `/v1`): chat completions
 * (streaming with usage), legacy completions, embeddings and the Responses API, each answered in
 * the real shape with the headers the real API adds. `reply` is the text; the answering model is
 * the one asked for.
 */
export function openaiLike(reply = 'Hello from the fake OpenAI.'): Handler {
  return (_req, res, recorded) => {
    const path = recorded.path.split('?')[0];
    const body = bodyOf(recorded);
    const model = String(body.model);
    const headers = { ...upstreamNoise('req_openai_upstream'), 'openai-processing-ms': '12', 'openai-version': '2020-10-01', 'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999', 'x-ratelimit-reset-requests': '6ms' };
    const stream = body.stream === true;
    if (stream && (path === '/v1/chat/completions' || path === '/v1/responses')) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
      const events = path === '/v1/responses' ? responsesStream(model, [reply]) : openaiStream(model, [reply]);
      res.end(events.join(''));
      return;
    }
    switch (path) {
      case '/v1/chat/completions':
        return json(res, 200, openaiCompletion(model, reply), headers);
      case '/v1/completions':
        return json(res, 200, { id: 'cmpl-fake', object: 'text_completion', created: 1_700_000_000, model, choices: [{ text: reply, index: 0, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 } }, headers);
      case '/v1/embeddings':
        return json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2, 0.3] }], model, usage: { prompt_tokens: 3, total_tokens: 3 } }, headers);
      case '/v1/responses':
        return json(res, 200, responsesObject(model, reply), headers);
      default:
        return json(res, 404, openaiError(`Invalid URL (POST ${path})`, 'invalid_request_error'));
    }
  };
}

/** A stand-in for api.anthropic.com: Messages (streaming or not) and count_tokens. */
export function anthropicLike(reply = 'Hello from the fake Anthropic.'): Handler {
  return (_req, res, recorded) => {
    const path = recorded.path.split('?')[0];
    const body = bodyOf(recorded);
    const model = String(body.model);
    const headers = { ...upstreamNoise('req_anthropic_upstream'), 'request-id': 'req_011anthropic', 'anthropic-organization-id': 'org-upstream', 'anthropic-ratelimit-requests-limit': '4000' };
    if (path === '/v1/messages' && body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
      res.end(anthropicStream(model, [reply]).join(''));
      return;
    }
    if (path === '/v1/messages') return json(res, 200, anthropicMessage(model, reply), headers);
    if (path === '/v1/messages/count_tokens') return json(res, 200, { input_tokens: 42 }, headers);
    return json(res, 404, anthropicError(`Not found: ${path}`, 'not_found_error'));
  };
}

/** A stand-in for generativelanguage.googleapis.com: generateContent, streamGenerateContent (alt=sse), countTokens, embedContent. */
export function geminiLike(reply = 'Hello from the fake Gemini.'): Handler {
  return (_req, res, recorded) => {
    const [path = '', query = ''] = recorded.path.split('?');
    const match = /^\/v1beta\/models\/([^:]+):(\w+)$/.exec(path);
    const headers = { ...upstreamNoise('req_gemini_upstream'), 'x-gemini-service-tier': 'standard', server: 'scaffolding on HTTPServer2' };
    if (match === null) return json(res, 404, geminiError(404, `Not found: ${path}`, 'NOT_FOUND'));
    const model = decodeURIComponent(match[1] as string);
    switch (match[2]) {
      case 'generateContent':
        return json(res, 200, geminiResponse(model, reply), headers);
      case 'streamGenerateContent':
        if (!new URLSearchParams(query).has('alt')) return json(res, 200, [geminiResponse(model, reply)], headers);
        res.writeHead(200, { 'content-type': 'text/event-stream', ...headers });
        res.end(geminiStream(model, [reply]).join(''));
        return;
      case 'countTokens':
        return json(res, 200, { totalTokens: 5, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 5 }] }, headers);
      case 'embedContent':
        return json(res, 200, { embedding: { values: [0.5, -0.25, 0.125] } }, headers);
      default:
        return json(res, 400, geminiError(400, `Unknown method ${match[2]}`, 'INVALID_ARGUMENT'));
    }
  };
}

export interface FakeProxy {
  url: string;
  /** `host:port` of every CONNECT tunnel opened through the proxy. */
  tunnels: string[];
  /** Absolute-form requests (`GET http://host/path`) forwarded, as `METHOD url`. */
  forwarded: string[];
  /** Proxy-Authorization headers seen, CONNECT and forwarded alike (none expected unless configured). */
  authorizations: Array<string | undefined>;
}

/**
 * An outbound HTTP forward proxy that records what passes through it. It takes both ways a
 * client can use a proxy: a CONNECT tunnel (what undici's ProxyAgent sends, for http:// origins
 * too, since its `proxyTunnel` defaults to true) and an absolute-form request for an http://
 * origin (RFC 9112 §3.2.2: what curl and most other clients send), forwarded as is.
 */
export async function fakeProxy(t: TestContext): Promise<FakeProxy> {
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  const authorizations: Array<string | undefined> = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      // Origin-form ("/path"): a request for the proxy itself, not one to forward.
      res.writeHead(400).end('not a proxy request');
      return;
    }
    forwarded.push(`${req.method} ${target.href}`);
    authorizations.push(req.headers['proxy-authorization']);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const out = httpRequest(target, { method: req.method, headers, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('connection', track);
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    authorizations.push(req.headers['proxy-authorization']);
    const [host = '', port = ''] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels, forwarded, authorizations };
}
