/**
 * What the gateway-* integration tests share: one daemon per file (real CLI, launcher and server,
 * port 0, logging to the instance's file), an SSE reader for the client side of streams with a
 * bound on every read, raw HTTP requests for headers fetch refuses to send, metric lookups, and the
 * redaction check every file ends with.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { get, instance, runCli, SLACK_MS, startDaemon, type CommandResult, type Instance } from '../helpers/cli.ts';

export interface RunningGateway {
  url: string;
  inst: Instance;
  /** Every /admin response body the test read, for the redaction check. */
  adminBodies: string[];
  /** GET an /admin path with the given key (null: none), recording the body. */
  admin(path: string, key: string | null): Promise<{ status: number; body: string }>;
  /** `ai-proxy stop`, bounded. */
  stop(): Promise<CommandResult>;
  /** The instance's log file as it is now ('' before it exists). */
  log(): string;
}

/** Starts `ai-proxy run -d` on `yaml`; the daemon is stopped (or killed) when `t` ends. */
export async function startGateway(t: TestContext, yaml: string, env: NodeJS.ProcessEnv = {}): Promise<RunningGateway> {
  const inst = instance(t, yaml, env);
  const { url } = await startDaemon(inst);
  let stopped: Promise<CommandResult> | null = null;
  const stop = (): Promise<CommandResult> => (stopped ??= runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env }));
  t.after(async () => {
    await stop();
  });
  const adminBodies: string[] = [];
  return {
    url,
    inst,
    adminBodies,
    async admin(path, key) {
      const response = await get(`${url}${path}`, key === null ? {} : { headers: { authorization: `Bearer ${key}` } });
      const body = await response.text();
      adminBodies.push(body);
      return { status: response.status, body };
    },
    stop,
    log: () => (existsSync(inst.logFile) ? readFileSync(inst.logFile, 'utf8') : ''),
  };
}

/** Fails if any secret appears in any of the texts (log lines, admin bodies). */
export function assertNoSecrets(texts: Record<string, string>, secrets: readonly string[]): void {
  for (const [where, text] of Object.entries(texts)) {
    for (const secret of secrets) {
      const at = text.indexOf(secret);
      assert.equal(at, -1, `a secret (${secret.slice(0, 6)}…) appears in ${where}: …${text.slice(Math.max(0, at - 80), at + 80)}…`);
    }
  }
}

/**
 * Stops the gateway and checks its whole log and every admin body of the test for every secret.
 * The log must hold at least one access line, so the check cannot pass on an empty file.
 */
export async function assertRedacted(gateway: RunningGateway, secrets: readonly string[]): Promise<void> {
  const result = await gateway.stop();
  assert.equal(result.code, 0, `stop: ${result.stdout}${result.stderr}`);
  const log = gateway.log();
  assert.match(log, / access id=/, 'the log holds access lines');
  const texts: Record<string, string> = { 'the log file': log };
  gateway.adminBodies.forEach((body, i) => (texts[`admin response #${i + 1}`] = body));
  assertNoSecrets(texts, secrets);
}

export interface SseEvent {
  event: string | null;
  data: string;
  /** The block as received, without the blank line that ended it. */
  raw: string;
}

/**
 * The client side of an SSE response, event by event. Every read is bounded, so a gateway that
 * buffers makes a lockstep test fail instead of hang.
 */
export class SseReader {
  raw = '';
  /** Comment-only blocks seen (keep-alives). */
  comments = 0;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #ended = false;

  constructor(response: Response) {
    assert.ok(response.body !== null, 'the response has a body');
    this.#reader = response.body.getReader();
  }

  /** The next block, comments included; null at the end of the stream. */
  async nextBlock(timeoutMs = 3 * SLACK_MS): Promise<SseEvent | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end !== -1) {
        const raw = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const lines = raw.split('\n');
        const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart());
        const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim() ?? null;
        if (data.length === 0 && event === null) this.comments++;
        return { event, data: data.join('\n'), raw };
      }
      if (this.#ended) {
        assert.equal(this.#buffer.trim(), '', `the stream ended inside an event: ${JSON.stringify(this.#buffer)}`);
        return null;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete SSE event within ${timeoutMs} ms; received so far:\n${this.raw}`);
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no SSE data within ${timeoutMs} ms; received so far:\n${this.raw}`)), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) {
        this.#ended = true;
        continue;
      }
      const text = this.#decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, '\n');
      this.raw += text;
      this.#buffer += text;
    }
  }

  /** The next event (data or `event:`), skipping comments; null at the end of the stream. */
  async next(timeoutMs = 3 * SLACK_MS): Promise<SseEvent | null> {
    for (;;) {
      const block = await this.nextBlock(timeoutMs);
      if (block === null || block.data !== '' || block.event !== null) return block;
    }
  }

  /** Every remaining event until the end of the stream. */
  async rest(timeoutMs = 3 * SLACK_MS): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (let e = await this.next(timeoutMs); e !== null; e = await this.next(timeoutMs)) events.push(e);
    return events;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request over node:http, which (unlike fetch) sends hop-by-hop headers as given. */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer }, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'POST', headers: options.headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The value of one sample of a Prometheus text exposition, matched by name and a subset of labels; undefined if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = new Map<string, string>();
    for (const m of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] as string, m[2] as string);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

export async function metrics(url: string): Promise<string> {
  const response = await get(`${url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** JSON body of a response, with the status checked first (the body is in the message on mismatch). */
export async function expectJson(response: Response, status: number): Promise<Record<string, unknown>> {
  const text = await response.text();
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}
