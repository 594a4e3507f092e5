/**
 * What the reliability-* integration tests share: seeded randomness, an upstream whose streams
 * are a deterministic byte sequence recorded as sent (so the client's bytes can be compared with
 * them exactly), a byte-level HTTP client, raw TCP exchanges for requests no HTTP client would
 * send, and /proc readers for processes, locks and memory.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { TestContext } from 'node:test';
import { fakeUpstream, json, type FakeUpstream, type Handler, type RecordedRequest } from './fake-upstream.ts';
import { seededRandom } from './random.ts';


export const randomInt = (rand: () => number, min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));

export const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

/** The seed for a test: REL_SEED replays a run; otherwise a fixed default, so CI is deterministic. */
export function testSeed(fallback: number): number {
  const env = Number(process.env.REL_SEED);
  return Number.isInteger(env) && env > 0 ? env : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` after `ms` (the timer is cleared either way). */
export function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${typeof what === 'string' ? what : what()}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Waits `ms`, or less if `cut` resolves first (its timer cleared, so a finished test is not held open). */
export function pause(ms: number, cut: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void cut.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A scripted upstream
// ---------------------------------------------------------------------------------------------

/** What a request asks the scripted upstream for, carried in its first message's content. */
export interface Script {
  /** Unique per request: the key under which the bytes sent are recorded. */
  id: string;
  /** Events in a stream (a non-streaming request ignores it). */
  events?: number;
  /** Pause between writes, ms (for a non-streaming request: before the answer). */
  gapMs?: number;
  /** Seeds the event texts and the byte offsets where writes are cut. */
  seed?: number;
}

/** A chat request (OpenAI format) that tells the scripted upstream what to do. */
export function scriptedChat(model: string, script: Script, stream: boolean): Record<string, unknown> {
  // A stream asks for usage, as the scripted stream carries it: the gateway then relays it byte for
  // byte (for a client that did not ask, it would take the usage chunk out).
  return { model, stream, ...(stream ? { stream_options: { include_usage: true } } : {}), messages: [{ role: 'user', content: `script ${JSON.stringify(script)}` }] };
}

/** The same request in the Anthropic Messages format (the gateway translates it for an OpenAI-style upstream). */
export function scriptedMessages(model: string, script: Script, stream: boolean): Record<string, unknown> {
  return { model, stream, max_tokens: 256, messages: [{ role: 'user', content: `script ${JSON.stringify(script)}` }] };
}

/** The script in a recorded upstream request. */
export function scriptOf(recorded: RecordedRequest): Script & { model: string; stream: boolean } {
  const body = JSON.parse(recorded.body) as { model: string; stream?: boolean; messages: Array<{ role: string; content: string | Array<{ text?: string }> }> };
  // A translated request (e.g. from the Anthropic format) may carry the text as content parts.
  const raw = body.messages.find((m) => m.role === 'user')?.content ?? '';
  const content = typeof raw === 'string' ? raw : raw.map((part) => part.text ?? '').join('');
  const script = (content.startsWith('script ') ? JSON.parse(content.slice(7)) : { id: 'unscripted' }) as Script;
  return { ...script, model: body.model, stream: body.stream === true };
}

const texts = ['Hello', ' wörld', ' 日本語', ' 🙂', ' naïve', ' café', ', ', ' ∑x²', ' Ωmega', ' ok', '\\n', ' "quoted"', ' tab\t'];

/**
 * The whole SSE body the scripted upstream sends for a script, as OpenAI chat completions
 * streams look: deltas with multi-byte UTF-8 text, a finish chunk, a usage chunk, [DONE].
 */
export function scriptedStreamBody(model: string, script: Script): Buffer {
  const rand = seededRandom(script.seed ?? hashString(script.id));
  const base = { id: `chatcmpl-${script.id}`, object: 'chat.completion.chunk', created: 1_700_000_000, model };
  const events: string[] = [];
  const n = script.events ?? 20;
  for (let i = 0; i < n; i++) {
    const content = `${i}:${Array.from({ length: randomInt(rand, 1, 4) }, () => pick(rand, texts)).join('')}`;
    events.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`);
  }
  events.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
  events.push(`data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: n, total_tokens: n + 5 } })}\n\n`);
  events.push('data: [DONE]\n\n');
  return Buffer.from(events.join(''), 'utf8');
}

/** Byte offsets where the body is cut into writes: random, so writes split events and UTF-8 characters. */
export function cutPoints(length: number, pieces: number, seed: number): number[] {
  const rand = seededRandom(seed ^ 0x5bd1e995);
  const cuts = new Set<number>();
  while (cuts.size < Math.min(pieces - 1, length - 1)) cuts.add(randomInt(rand, 1, length - 1));
  return [...cuts].sort((a, b) => a - b).concat(length);
}

/** The non-streaming answer to a script: a chat completion whose text names the script. */
export function scriptedCompletion(model: string, script: Script): Record<string, unknown> {
  return {
    id: `chatcmpl-${script.id}`,
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: `reply to ${script.id}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  };
}

export interface ScriptedUpstream {
  upstream: FakeUpstream;
  /** The scripted behaviour, for a test that wraps it (`upstream.setHandler`). */
  handler: Handler;
  url: string;
  /** Bytes written so far per script id (the whole body once a stream completed). */
  sent: Map<string, Buffer>;
  /** Script ids whose stream the upstream finished writing. */
  finished: Set<string>;
  /** Provider entry for the config: an openai-compatible provider on this upstream. */
  providerYaml(name: string, models: readonly string[], extra?: string): string;
}

/**
 * An OpenAI-compatible upstream driven by the requests' scripts: a non-streaming request gets
 * `scriptedCompletion`; a streaming one gets `scriptedStreamBody`, written in random pieces with
 * `gapMs` between them, every byte recorded as it is written.
 */
export async function scriptedUpstream(t: TestContext): Promise<ScriptedUpstream> {
  const sent = new Map<string, Buffer>();
  const finished = new Set<string>();
  const handler: Handler = async (_req, res, recorded) => {
    const script = scriptOf(recorded);
    if (!script.stream) {
      // A non-streaming answer takes `gapMs` to come, so a test can hold requests in flight.
      if (script.gapMs !== undefined && script.gapMs > 0) await pause(script.gapMs, recorded.closed);
      if (recorded.aborted() || res.destroyed) return;
      json(res, 200, scriptedCompletion(script.model, script));
      finished.add(script.id);
      return;
    }
    const body = scriptedStreamBody(script.model, script);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let from = 0;
    const written: Buffer[] = [];
    for (const to of cutPoints(body.length, (script.events ?? 20) + 3, script.seed ?? hashString(script.id))) {
      if (script.gapMs !== undefined && script.gapMs > 0) await pause(script.gapMs, recorded.closed);
      if (recorded.aborted() || res.destroyed) return;
      const piece = body.subarray(from, to);
      res.write(piece);
      written.push(piece);
      sent.set(script.id, Buffer.concat(written));
      from = to;
    }
    res.end();
    finished.add(script.id);
  };
  const upstream = await fakeUpstream(t, handler);
  return {
    upstream,
    handler,
    url: upstream.url,
    sent,
    finished,
    providerYaml: (name, models, extra = '') =>
      `  - name: ${name}\n    type: openai-compatible\n    base-url: ${upstream.url}/v1\n    api-keys: [upstream-key-${name}]\n    models: [${models.join(', ')}]\n${extra}`,
  };
}

export function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Byte-level HTTP client
// ---------------------------------------------------------------------------------------------

export interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  /** Exactly the body bytes received. */
  body: Buffer;
  /** The response ended properly (not cut by a reset or a missing last chunk). */
  complete: boolean;
  /** Set when the request failed before or during the response. */
  error: string | null;
  ms: number;
}

/**
 * POSTs JSON and collects the response's bytes exactly; never rejects (a failure is in `error`)
 * and is bounded by `timeoutMs` (a timeout is an error too).
 */
export function exchange(url: string, payload: unknown, options: { headers?: Record<string, string>; timeoutMs?: number; agent?: Agent | false } = {}): Promise<Exchange> {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const settle = (complete: boolean, error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, headers, body: Buffer.concat(chunks), complete, error, ms: Date.now() - started });
    };
    const req = httpRequest(url, {
      method: 'POST',
      agent: options.agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...options.headers },
    });
    const timer = setTimeout(() => {
      settle(false, `no complete response within ${options.timeoutMs ?? 30_000} ms`);
      req.destroy();
    }, options.timeoutMs ?? 30_000);
    req.on('error', (error) => settle(false, error.message));
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => settle(res.complete, res.complete ? null : 'response not complete'));
      res.on('error', (error) => settle(false, error.message));
      res.on('close', () => settle(res.complete, res.complete ? null : 'connection closed before the end of the response'));
    });
    req.end(text);
  });
}

// ---------------------------------------------------------------------------------------------
// Raw TCP
// ---------------------------------------------------------------------------------------------

export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawResult {
  /** Every byte the server sent. */
  raw: Buffer;
  /** The responses parsed from `raw`, in order (pipelining gives several). */
  responses: RawResponse[];
  /** How the exchange ended: the server closed, reset, or the test stopped waiting. */
  end: 'closed' | 'reset' | 'timeout' | 'responses';
  ms: number;
}

/**
 * Sends `parts` over a fresh TCP connection (with `gapMs` between parts) and collects what comes
 * back until the server closes, `expectResponses` complete responses arrived, or `timeoutMs`.
 */
export function rawExchange(port: number, parts: Array<string | Buffer>, options: { gapMs?: number; timeoutMs?: number; expectResponses?: number; halfClose?: boolean } = {}): Promise<RawResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (end: RawResult['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ raw, responses: parseResponses(raw).responses, end, ms: Date.now() - started });
    };
    const timer = setTimeout(() => settle('timeout'), options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.expectResponses !== undefined && parseResponses(Buffer.concat(chunks)).responses.length >= options.expectResponses) settle('responses');
    });
    socket.on('error', () => settle('reset'));
    socket.on('close', () => settle('closed'));
    socket.on('connect', () => {
      void (async () => {
        for (const [i, part] of parts.entries()) {
          if (settled || socket.destroyed) return;
          if (i > 0 && (options.gapMs ?? 0) > 0) await sleep(options.gapMs as number);
          if (settled || socket.destroyed) return;
          socket.write(part);
        }
        if (options.halfClose === true && !socket.destroyed) socket.end();
      })();
    });
  });
}

/** Parses HTTP/1.x responses (content-length, chunked, or until close) from the bytes a server sent. */
export function parseResponses(raw: Buffer): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd === -1) break;
    const lines = raw.subarray(at, headEnd).toString('latin1').split('\r\n');
    const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (statusMatch === null) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(statusMatch[1]);
    let bodyStart = headEnd + 4;
    let body: Buffer;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', bodyStart);
        if (lineEnd === -1) break;
        const size = parseInt(raw.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const trailerEnd = raw.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd === -1) break;
          bodyStart = trailerEnd + 4;
          complete = true;
          break;
        }
        if (lineEnd + 2 + size + 2 > raw.length) break;
        parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
        bodyStart = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (bodyStart + length > raw.length) break;
      body = raw.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      body = raw.subarray(bodyStart);
      bodyStart = raw.length;
    }
    responses.push({ status, headers, body });
    at = bodyStart;
  }
  return { responses, rest: raw.subarray(at) };
}

// ---------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  state: string;
  cmdline: string;
}

/** Every live (non-zombie) process whose command line contains `needle`. */
export function processesMatching(needle: string): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!cmdline.includes(needle)) continue;
      const info = procInfo(Number(entry));
      if (info !== null && info.state !== 'Z') found.push({ ...info, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** pid, parent, process group, session and state from /proc/<pid>/stat; null once gone. */
export function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0] as string, ppid: Number(fields[1]), pgid: Number(fields[2]), sid: Number(fields[3]), cmdline: '' };
  } catch {
    return null;
  }
}

/** Every live process in process group `pgid` (a killed server's group must be empty). */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procInfo(Number(entry));
    if (info !== null && info.pgid === pgid && info.state !== 'Z') members.push(info.pid);
  }
  return members;
}

/** Whether any process holds an flock on the file at `path` (Linux lists every lock in /proc/locks). */
export function isFlocked(path: string): boolean {
  let ino: number;
  try {
    ino = statSync(path).ino;
  } catch {
    return false;
  }
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((line) => line.includes('FLOCK') && line.split(/\s+/).some((field) => field.endsWith(`:${ino}`) && /^[0-9a-f]+:[0-9a-f]+:\d+$/.test(field)));
}

/** VmRSS of a process in bytes (from /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** One sample's value from a Prometheus text body (the sum over label sets when several match). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  return found ? sum : Number.NaN;
}

/** Runs `tasks` with at most `limit` at once; resolves with their results in order. */
export async function pool<T>(limit: number, tasks: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await (tasks[i] as () => Promise<T>)();
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// A forced GC in another process, through its inspector
// ---------------------------------------------------------------------------------------------

/** The inspector URL a process started with `--inspect=127.0.0.1:0` printed (its stderr reaches `text`). */
export function inspectorUrl(text: string): string | null {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(text)?.[1] ?? null;
}

/**
 * Runs a full garbage collection in the process behind `wsUrl` (HeapProfiler.collectGarbage) and
 * returns its used heap afterwards (Runtime.getHeapUsage): a memory figure without the garbage
 * that happens not to be collected yet.
 */
export async function collectGarbage(wsUrl: string, timeoutMs = 10_000): Promise<number> {
  const { WebSocket } = await import('undici');
  const socket = new WebSocket(wsUrl);
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 1;
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const call = (method: string): Promise<unknown> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method }));
    });
  try {
    return await within(
      (async () => {
        await new Promise<void>((resolve, reject) => {
          socket.addEventListener('open', () => resolve(), { once: true });
          socket.addEventListener('error', () => reject(new Error(`cannot connect to the inspector at ${wsUrl}`)), { once: true });
        });
        await call('HeapProfiler.enable');
        await call('HeapProfiler.collectGarbage');
        const usage = (await call('Runtime.getHeapUsage')) as { usedSize: number };
        return usage.usedSize;
      })(),
      timeoutMs,
      'a forced GC through the inspector',
    );
  } finally {
    socket.close();
  }
}

/**
 * The cleanup of last resort for an instance: when the test ends, SIGKILL every process whose
 * command line names its directory (launchers, servers, commands), whatever state a failed
 * assertion left them in.
 */
export function killInstanceOnExit(t: TestContext, dir: string): void {
  t.after(() => {
    for (const p of processesMatching(dir)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}
