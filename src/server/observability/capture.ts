/**
 * The operators' capture (`ai-proxy debug capture`, POST /admin/capture): the next N model
 * requests as the client sent them and as they went upstream after translation, with the heads
 * of the answers, for the day an agent gets a 400 in production. Each exchange becomes one JSON
 * line when the client's response closes.
 *
 * Nothing costs anything until a capture is armed: the request path reads `armed` (one boolean)
 * and every later hook hangs off the request's trace, which is null unless a capture took it.
 *
 * What a record never holds: a credential. Headers that carry one (Authorization, x-api-key,
 * x-goog-api-key, cookies, anything named like a token or secret) are replaced, the `key` query
 * parameter too, and every secret the config holds (client keys, upstream keys, the admin key,
 * secret-looking provider headers) and the key the client presented are replaced wherever they
 * appear, bodies included. Bodies are cut at BODY_LIMIT bytes, after redaction, so a cut never
 * leaves half a key.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../shared/config/schema.ts';

export const BODY_LIMIT = 64 * 1024;
export const REDACTED = '[redacted]';
/** Header names whose values are credentials: the admin API's own rule, plus the proxy's. */
const secretHeader = /authorization|api-key|token|secret|cookie|session/i;
/** Shorter strings would redact ordinary words; the schema's own minimum for a key is 8. */
const MIN_SECRET_LENGTH = 8;

export interface CaptureFilter {
  /** The model id as the client sent it; null: any. */
  model: string | null;
  /** The client key's name; null: any. */
  client: string | null;
}

export type CaptureEndReason = 'count' | 'timeout' | 'closed' | 'shutdown';

export interface CaptureListener {
  /** One exchange, as a JSON text without its newline. */
  record(line: string): void;
  end(reason: CaptureEndReason, captured: number): void;
}

interface CapturedBody {
  /** The JSON value when the body is whole and JSON; otherwise its text, cut at BODY_LIMIT. */
  body: unknown;
  bytes: number;
  truncated: boolean;
}

type Head = { status: number; headers: Record<string, string | string[]> };

interface UpstreamRecord extends Partial<CapturedBody> {
  provider: string;
  model: string;
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  answer: (Head & Partial<CapturedBody>) | null;
  error?: string;
}

export interface UpstreamSent {
  provider: string;
  model: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The upstream credential this attempt used. */
  secret: string | null;
}

/** One captured request. */
export class RequestTrace {
  readonly #sessions: CaptureSession[];
  readonly #secrets: string[];
  readonly #startedAt = Date.now();
  readonly #record: { type: 'exchange'; id: string; at: string; durationMs: number | null; client: Record<string, unknown>; model: string; upstream: UpstreamRecord[]; answer: (Head & Partial<CapturedBody>) | null };
  #answerBody: Buffer | null = null;
  /** The attempt in flight (attempts are sequential) and the secrets its record is redacted with. */
  #current: { entry: UpstreamRecord; secrets: readonly string[] } | null = null;
  #done = false;

  constructor(sessions: CaptureSession[], secrets: string[], info: { id: string; client: string | null; model: string; req: IncomingMessage; body: Buffer }) {
    this.#sessions = sessions;
    this.#secrets = secrets;
    const { req } = info;
    this.#record = {
      type: 'exchange',
      id: info.id,
      at: new Date(this.#startedAt).toISOString(),
      durationMs: null,
      client: { name: info.client, method: req.method ?? 'POST', path: redactUrl(req.url ?? '/', secrets), headers: redactHeaders(req.headers, secrets), ...captureBody(info.body, secrets) },
      model: info.model,
      upstream: [],
      answer: null,
    };
  }

  /** An upstream attempt, as sent; the upstream* hooks below fill in its answer. */
  upstream(sent: UpstreamSent): void {
    const secrets = sent.secret !== null && sent.secret.length >= MIN_SECRET_LENGTH ? orderSecrets([sent.secret, ...this.#secrets]) : this.#secrets;
    const entry: UpstreamRecord = { provider: sent.provider, model: sent.model, method: sent.method, url: redactUrl(sent.url, secrets), headers: redactHeaders(sent.headers, secrets), ...captureBody(sent.body, secrets), answer: null };
    this.#record.upstream.push(entry);
    this.#current = { entry, secrets };
  }

  upstreamHead(status: number, headers: Record<string, string | string[] | undefined>): void {
    const current = this.#current;
    if (current !== null) current.entry.answer = { status, headers: redactHeaders(headers, current.secrets) };
  }

  /** The answer's body, where the gateway read it whole (errors, counts). */
  upstreamBody(bytes: Buffer): void {
    const current = this.#current;
    if (current?.entry.answer != null) Object.assign(current.entry.answer, captureBody(bytes, current.secrets));
  }

  upstreamFailed(message: string): void {
    const current = this.#current;
    if (current !== null) current.entry.error = redactText(message, current.secrets);
  }

  /** The client's answer body, kept for error answers (the gateway writes those whole). */
  noteAnswerBody(chunk: unknown, statusCode: number): void {
    if (statusCode < 400) return;
    if (typeof chunk === 'string') this.#answerBody = Buffer.from(chunk);
    else if (Buffer.isBuffer(chunk)) this.#answerBody = chunk;
  }

  /** The client's response closed: the record is complete. */
  complete(res: ServerResponse): void {
    if (this.#done) return;
    this.#done = true;
    const headers = res.getHeaders() as Record<string, string | string[] | number | undefined>;
    const plain: Record<string, string | string[] | undefined> = {};
    for (const name in headers) {
      const value = headers[name];
      plain[name] = typeof value === 'number' ? String(value) : value;
    }
    this.#record.answer = { status: res.headersSent ? res.statusCode : 499, headers: redactHeaders(plain, this.#secrets), ...(this.#answerBody === null ? {} : captureBody(this.#answerBody, this.#secrets)) };
    this.#record.durationMs = Date.now() - this.#startedAt;
    const line = JSON.stringify(this.#record);
    for (const session of this.#sessions) session.deliver(line);
  }
}

/** One armed capture: its filter, how many it still takes, where its records go. */
export class CaptureSession {
  #taken = 0;
  #delivered = 0;
  #ended = false;
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly filter: CaptureFilter,
    readonly count: number,
    maxWaitMs: number,
    private readonly listener: CaptureListener,
    private readonly onEnd: (session: CaptureSession) => void,
  ) {
    this.#timer = setTimeout(() => this.end('timeout'), maxWaitMs);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Takes the request if it matches and the count is not reached yet. */
  take(model: string, client: string | null): boolean {
    if (this.#ended || this.#taken >= this.count) return false;
    if (this.filter.model !== null && this.filter.model !== model) return false;
    if (this.filter.client !== null && this.filter.client !== client) return false;
    this.#taken++;
    return true;
  }

  deliver(line: string): void {
    if (this.#ended) return;
    this.#delivered++;
    this.listener.record(line);
    if (this.#delivered >= this.count) this.end('count');
  }

  end(reason: CaptureEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.onEnd(this);
    this.listener.end(reason, this.#delivered);
  }
}

/** The process's captures. */
export class CaptureHub {
  /** The one check on the request path. */
  armed = false;
  readonly #sessions = new Set<CaptureSession>();

  open(filter: CaptureFilter, count: number, maxWaitMs: number, listener: CaptureListener): CaptureSession {
    const session = new CaptureSession(filter, count, maxWaitMs, listener, (s) => {
      this.#sessions.delete(s);
      this.armed = this.#sessions.size > 0;
    });
    this.#sessions.add(session);
    this.armed = true;
    return session;
  }

  /** Ends every capture (the gateway is stopping). */
  closeAll(reason: CaptureEndReason): void {
    for (const session of [...this.#sessions]) session.end(reason);
  }

  /**
   * Called once a request's model and client are known, only while armed: the request's trace
   * if some capture takes it, else null. The trace completes itself when the response closes.
   */
  begin(config: Config, info: { id: string; client: string | null; model: string; presentedKey: string | null; req: IncomingMessage; res: ServerResponse; body: Buffer }): RequestTrace | null {
    let takers: CaptureSession[] | null = null;
    for (const session of this.#sessions) if (session.take(info.model, info.client)) (takers ??= []).push(session);
    if (takers === null) return null;
    const secrets = configuredSecrets(config);
    if (info.presentedKey !== null && info.presentedKey.length >= MIN_SECRET_LENGTH) secrets.unshift(info.presentedKey);
    const trace = new RequestTrace(takers, orderSecrets(secrets), info);
    const { res } = info;
    // Error answers are written whole with one end(body); keep that body. Only a traced response pays for the wrapper.
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    (res as unknown as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
      trace.noteAnswerBody(args[0], res.statusCode);
      return end(...args);
    };
    res.once('close', () => trace.complete(res));
    return trace;
  }
}

/** Every secret the config holds. */
export function configuredSecrets(config: Config): string[] {
  const secrets: string[] = [];
  const add = (value: string | undefined): void => {
    if (value !== undefined && value.length >= MIN_SECRET_LENGTH) secrets.push(value);
  };
  add(config.admin.key);
  for (const client of config.clientKeys) add(client.key);
  for (const provider of config.providers) {
    for (const entry of provider.apiKeys) add(typeof entry === 'string' ? entry : entry.key);
    for (const name in provider.headers) if (secretHeader.test(name)) add(provider.headers[name]);
  }
  return secrets;
}

/** Longest first, so that a key containing another is replaced whole. */
function orderSecrets(secrets: string[]): string[] {
  return [...new Set(secrets)].sort((a, b) => b.length - a.length);
}

export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

export function redactHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, secrets: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (secretHeader.test(name)) out[name] = REDACTED;
    else out[name] = Array.isArray(value) ? value.map((v) => redactText(v, secrets)) : redactText(String(value), secrets);
  }
  return out;
}

/** A path or URL with its `key` query parameter (Gemini's way of sending a key) replaced. */
export function redactUrl(url: string, secrets: readonly string[]): string {
  return redactText(url, secrets).replace(/([?&]key=)[^&#]*/gi, `$1${REDACTED}`);
}

/** A body, redacted, then cut at BODY_LIMIT bytes; parsed back when whole and JSON. */
export function captureBody(bytes: Buffer, secrets: readonly string[], limit = BODY_LIMIT): CapturedBody {
  const longest = secrets.length === 0 ? 0 : Math.max(...secrets.map((s) => Buffer.byteLength(s)));
  const truncated = bytes.length > limit;
  // Enough past the limit that a key straddling it is still whole when redacted.
  const text = redactText(bytes.subarray(0, truncated ? limit + longest : bytes.length).toString('utf8'), secrets);
  if (truncated) return { body: Buffer.from(text).subarray(0, limit).toString('utf8'), bytes: bytes.length, truncated: true };
  try {
    return { body: JSON.parse(text) as unknown, bytes: bytes.length, truncated: false };
  } catch {
    return { body: text, bytes: bytes.length, truncated: false };
  }
}
