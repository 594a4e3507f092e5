/**
 * The one harness integration tests use to drive the real CLI (bin/ai-proxy.js → dist/):
 * temporary directories, foreground and daemon runs, commands with bounded waits, and cleanup of
 * every process a test started, even when an assertion fails (register with `t.after`).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fakeUpstream, openaiChunk, sseHeaders, type RecordedRequest } from './fake-upstream.ts';

/**
 * How late an event may come on a loaded 2-core machine (CI runs two test files at once, sometimes
 * beside other load) and still count as on time. Waits for something that takes milliseconds when
 * idle are bounded by a multiple of it; a timing bound adds it to the deadline it checks, and the
 * test then keeps the failure mode it guards against (the other timeout, no timeout at all) far
 * beyond the sum. Exact figures belong in bench/.
 */
export const SLACK_MS = 10_000;

/** The CLI under test; AI_PROXY_TEST_BIN points the tests at another build (e.g. a snapshot taken while others rebuild dist/). */
export const BIN = process.env.AI_PROXY_TEST_BIN ?? new URL('../../bin/ai-proxy.js', import.meta.url).pathname;

/**
 * A scratch directory removed when the test ends. `beforeRemove` runs first, in the same hook:
 * node:test runs `after` hooks in the order they were registered, so a cleanup registered later
 * (e.g. killing a daemon by its PID file inside the directory) would find the directory gone.
 */
export function tempDir(t: TestContext, prefix = 'ai-proxy-', beforeRemove?: () => void): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    try {
      beforeRemove?.();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return dir;
}

/** An environment without anything from the developer's shell that would change the gateway's behaviour. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('AI_PROXY_') || key === 'NOTIFY_SOCKET' || key.startsWith('WATCHDOG_') || key === 'INVOCATION_ID') continue;
    if (key === 'OPENAI_API_KEY' || key === 'ANTHROPIC_API_KEY' || key === 'GEMINI_API_KEY' || key === 'RUNTIME_DIRECTORY' || key === 'LOGS_DIRECTORY' || key === 'STATE_DIRECTORY') continue;
    if (key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT') continue;
    // The gateway sends upstream calls through these (undici's EnvHttpProxyAgent); the fake upstreams are on 127.0.0.1.
    if (/^(https?|no)_proxy$/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export interface Instance {
  dir: string;
  config: string;
  pidFile: string;
  logFile: string;
  env: NodeJS.ProcessEnv;
  /** Common flags: config, PID file, log file. */
  flags: string[];
}

/** A directory with a config file and the paths an instance uses; the config listens on port 0. */
export function instance(t: TestContext, yaml = '', extraEnv: NodeJS.ProcessEnv = {}): Instance {
  let pidFile = '';
  // Whatever the test did, the instance's processes die before its directory goes.
  const dir = tempDir(t, 'ai-proxy-', () => killFromPidFile(pidFile));
  const config = join(dir, 'ai-proxy.yaml');
  writeFileSync(config, yaml === '' ? defaultYaml() : yaml);
  pidFile = join(dir, 'run', 'ai-proxy.pid');
  const logFile = join(dir, 'log', 'ai-proxy.log');
  // STATE_DIRECTORY as systemd's StateDirectory= sets it: the usage ledger stays in the test's directory, even for root.
  const env = cleanEnv({ XDG_RUNTIME_DIR: join(dir, 'xdg-run'), XDG_STATE_HOME: join(dir, 'xdg-state'), XDG_CONFIG_HOME: join(dir, 'xdg-config'), STATE_DIRECTORY: join(dir, 'state'), ...extraEnv });
  return { dir, config, pidFile, logFile, env, flags: ['-c', config, '--pid-file', pidFile, '--log-file', logFile] };
}

export function defaultYaml(extra = ''): string {
  return `listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: 5s\nproviders:\n  - name: mock\n    type: mock\n    models: [mock, mock-*]\n${extra}`;
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end (bounded: starting Node alone has taken seconds on a loaded machine). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 6 * SLACK_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: options.env ?? cleanEnv(), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ai-proxy ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A foreground `ai-proxy run` whose output the test can wait on. */
export class Foreground {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<() => void> = [];

  /**
   * `command` precedes `args`: `run` unless given (`[]` runs the bare `ai-proxy`, which means run).
   * `ownGroup` starts it as a terminal starts a job, in a process group of its own, so that the
   * test can signal the group as a terminal's Ctrl-C does without hitting the test runner.
   */
  constructor(t: TestContext, args: string[], env: NodeJS.ProcessEnv, command: string[] = ['run'], options: { ownGroup?: boolean } = {}) {
    this.child = spawn(process.execPath, [BIN, ...command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.ownGroup === true });
    const onData = (d: string): void => {
      this.output += d;
      for (const w of this.#waiters.splice(0)) w();
    };
    this.child.stdout?.setEncoding('utf8').on('data', onData);
    this.child.stderr?.setEncoding('utf8').on('data', onData);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    t.after(async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    });
  }

  /** Resolves with the first match of `pattern` in the output; rejects after the deadline. */
  async waitFor(pattern: RegExp, timeoutMs = 3 * SLACK_MS): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match !== null) return match;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in:\n${this.output}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The URL from the "serving on …" line. */
  async url(): Promise<string> {
    return (await this.waitFor(/serving on (http:\/\/[^\s]+)/))[1] as string;
  }
}

/** Starts `run -d` and returns the launcher's PID and URL, failing the test with the command's output otherwise. */
export async function startDaemon(inst: Instance, extraArgs: string[] = []): Promise<{ pid: number; url: string; result: CommandResult }> {
  const result = await runCli(['run', '-d', ...inst.flags, ...extraArgs], { env: inst.env });
  const match = /pid (\d+), serving on (\S+)/.exec(result.stdout);
  if (result.code !== 0 || match === null) throw new Error(`run -d failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return { pid: Number(match[1]), url: match[2] as string, result };
}

/** Polls `check` until it returns a value other than undefined/false, or throws after the deadline. */
export async function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 3 * SLACK_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 50);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

/** Children of a process, from /proc (the server is the launcher's child). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Last-resort cleanup: SIGKILL the launcher named by a PID file and its server. */
export function killFromPidFile(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  for (const child of childrenOf(pid)) {
    try {
      process.kill(-child, 'SIGKILL');
    } catch {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** fetch with a bound, so a hung gateway fails the test instead of hanging it. */
export function get(url: string, init: RequestInit = {}, timeoutMs = 3 * SLACK_MS): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = 3 * SLACK_MS): Promise<Response> {
  return get(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }, timeoutMs);
}

/** The server process: the launcher's only child (waits for the fork, bounded). */
export function serverPidOf(launcherPid: number, timeoutMs = 3 * SLACK_MS): Promise<number> {
  return waitUntil(`launcher ${launcherPid} has a server child`, () => childrenOf(launcherPid)[0], timeoutMs);
}

/** SIGKILLs these processes when the test ends, whatever happened: the cleanup of last resort for processes a test knows by PID. */
export function killOnExit(t: TestContext, ...pids: number[]): void {
  t.after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

/** Field 5 of /proc/<pid>/stat: the process group. */
export function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** Resolves true when a TCP connect to 127.0.0.1:port is refused, false when it connects (bounded). */
export function connectRefused(port: number, timeoutMs = SLACK_MS): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to 127.0.0.1:${port} neither succeeded nor failed within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED') resolve(true);
      else reject(error);
    });
  });
}

/**
 * A streaming (or any) request whose progress the test can follow chunk by chunk: `waitFor`
 * a pattern in the body so far, then `done` tells whether the response ended properly
 * (`complete`) or was cut (connection reset, chunked body not terminated).
 */
export class StreamingRequest {
  status = 0;
  body = '';
  readonly done: Promise<{ complete: boolean; body: string }>;
  readonly #request: ClientRequest;
  #waiters: Array<() => void> = [];
  #ended = false;

  constructor(url: string, payload: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(payload);
    this.#request = httpRequest(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers } });
    this.done = new Promise((resolve) => {
      const finish = (complete: boolean): void => {
        if (this.#ended) return;
        this.#ended = true;
        this.#wake();
        resolve({ complete, body: this.body });
      };
      this.#request.on('error', () => finish(false));
      this.#request.on('response', (res: IncomingMessage) => {
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.body += chunk;
          this.#wake();
        });
        res.on('end', () => finish(res.complete));
        res.on('aborted', () => finish(false));
        res.on('error', () => finish(false));
        res.on('close', () => finish(res.complete));
      });
    });
    this.#request.end(text);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves once the body so far matches `pattern`; rejects when the response ended without it or after the deadline. */
  async waitFor(pattern: RegExp, timeoutMs = 3 * SLACK_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pattern.test(this.body)) return;
      if (this.#ended) throw new Error(`the response ended without ${pattern}; body:\n${this.body}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in the response body:\n${this.body}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Abandon the request (cleanup). */
  destroy(): void {
    this.#request.destroy();
  }
}

/** Starts a streaming request and destroys it when the test ends. */
export function openStream(t: TestContext, url: string, payload: unknown, headers: Record<string, string> = {}): StreamingRequest {
  const stream = new StreamingRequest(url, payload, headers);
  t.after(() => stream.destroy());
  return stream;
}

export interface GatedUpstream {
  url: string;
  requests: RecordedRequest[];
  /** Resolves once `count` requests have reached the upstream and got their first chunk. */
  arrived(count?: number, timeoutMs?: number): Promise<void>;
  /** Lets every held stream (and every later one) finish. */
  release(): void;
  /** Provider entry for the config: an openai-compatible provider serving `models` from this upstream. */
  providerYaml(name: string, models: string[]): string;
}

/**
 * An OpenAI-compatible upstream that streams in lockstep with the test: each request gets its
 * headers and a first chunk naming this upstream at once, then waits until `release()`, so a
 * test knows exactly when a stream is in flight and decides when it ends.
 */
export async function gatedUpstream(t: TestContext, label: string): Promise<GatedUpstream> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let started = 0;
  const upstream = await fakeUpstream(t, async (req, res, recorded) => {
    const model = (JSON.parse(recorded.body) as { model?: string }).model ?? 'unknown';
    sseHeaders(res);
    res.write(openaiChunk(model, `first chunk from ${label}. `));
    started++;
    await Promise.race([gate, recorded.closed]);
    if (recorded.aborted() || res.destroyed) return;
    res.write(openaiChunk(model, `last chunk from ${label}.`));
    res.write(openaiChunk(model, null, 'stop'));
    res.end('data: [DONE]\n\n');
  });
  return {
    url: upstream.url,
    requests: upstream.requests,
    arrived: async (count = 1, timeoutMs = 3 * SLACK_MS) => {
      await waitUntil(`${count} streams reached upstream ${label}`, () => started >= count, timeoutMs);
    },
    release: () => open(),
    providerYaml: (name, models) => `  - name: ${name}\n    type: openai-compatible\n    base-url: ${upstream.url}/v1\n    api-keys: [upstream-key]\n    models: [${models.join(', ')}]\n`,
  };
}

/** A streaming chat completion request body. */
export function chatStream(model: string): Record<string, unknown> {
  return { model, stream: true, messages: [{ role: 'user', content: 'hello' }] };
}

/** Live processes (other than this one) whose command line mentions `text`, e.g. a test's temp dir: what a failed start must not leave behind. */
export function processesMentioning(text: string): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(text) && isAlive(pid)) found.push({ pid, cmdline });
  }
  return found;
}

/**
 * A stream cut at a shutdown deadline: it never got its end (no last chunk, no [DONE]); the
 * client learns why from an error event in its own format, or from the connection dropping.
 */
export function assertCut(result: { complete: boolean; body: string }, lastChunk = /last chunk from/): void {
  assert.doesNotMatch(result.body, lastChunk, `the stream was not cut:\n${result.body}`);
  assert.doesNotMatch(result.body, /\[DONE\]/, `the stream ended as if complete:\n${result.body}`);
  assert.ok(!result.complete || /shutting down/.test(result.body), `the stream ended without an error event:\n${result.body}`);
}

/**
 * The environment for a server that hangs in its start, as one whose secret sits on a hung mount
 * would: a preload blocks the server's main thread for good before the gateway loads (the CLI and
 * the launcher, which load the same preload, go on). Only the launcher's deadline or a stop ends it.
 */
export function hangingServerEnv(dir: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const preload = join(dir, 'hang-server.cjs');
  writeFileSync(preload, "if ((process.argv[1] || '').endsWith('server.js')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n");
  return { ...env, NODE_OPTIONS: `--require ${preload}` };
}

/**
 * When the first log line matching `pattern` (after line `from`) was written, in ms since the
 * epoch, from the line's own timestamp (text: the leading ISO time, after a journal prefix if
 * any; json: its "time"). A deadline the launcher or the server enforces is measured here, on
 * their clock: the test's clock around a CLI command also counts starting Node, which alone has
 * taken over 3 s on a loaded machine.
 */
export function loggedAt(log: string, pattern: RegExp, from = 0): { at: number; line: number } {
  const lines = log.split('\n');
  for (let i = from; i < lines.length; i++) {
    const text = lines[i] as string;
    if (!pattern.test(text)) continue;
    const iso = /^(?:<\d>)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /.exec(text)?.[1] ?? (text.startsWith('{') ? (JSON.parse(text) as { time?: string }).time : undefined);
    const at = iso === undefined ? NaN : Date.parse(iso);
    assert.ok(Number.isFinite(at), `the log line has no timestamp: ${text}`);
    return { at, line: i };
  }
  assert.fail(`no log line matches ${pattern}${from > 0 ? ` after line ${from}` : ''}:\n${log}`);
}

/** Milliseconds from the first log line matching `from` to the first one after it matching `to`, on the logging processes' clock. */
export function loggedBetween(log: string, from: RegExp, to: RegExp): number {
  const start = loggedAt(log, from);
  return loggedAt(log, to, start.line + 1).at - start.at;
}
