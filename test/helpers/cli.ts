/**
 * The one harness integration tests use to drive the real CLI (bin/ai-proxy.js → dist/):
 * temporary directories, foreground and daemon runs, commands with bounded waits, and cleanup of
 * every process a test started, even when an assertion fails (register with `t.after`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export const BIN = new URL('../../bin/ai-proxy.js', import.meta.url).pathname;

/** A scratch directory removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'ai-proxy-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An environment without anything from the developer's shell that would change the gateway's behaviour. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('AI_PROXY_') || key === 'NOTIFY_SOCKET' || key.startsWith('WATCHDOG_') || key === 'INVOCATION_ID') continue;
    if (key === 'OPENAI_API_KEY' || key === 'ANTHROPIC_API_KEY' || key === 'GEMINI_API_KEY' || key === 'RUNTIME_DIRECTORY' || key === 'LOGS_DIRECTORY') continue;
    if (key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT') continue;
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
  const dir = tempDir(t);
  const config = join(dir, 'ai-proxy.yaml');
  writeFileSync(config, yaml === '' ? defaultYaml() : yaml);
  const pidFile = join(dir, 'run', 'ai-proxy.pid');
  const logFile = join(dir, 'log', 'ai-proxy.log');
  const env = cleanEnv({ XDG_RUNTIME_DIR: join(dir, 'xdg-run'), XDG_STATE_HOME: join(dir, 'xdg-state'), XDG_CONFIG_HOME: join(dir, 'xdg-config'), ...extraEnv });
  t.after(() => killFromPidFile(pidFile));
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

/** Runs one CLI command to its end (bounded). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
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

  constructor(t: TestContext, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [BIN, 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
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
export async function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
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
export function get(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Response> {
  return get(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }, timeoutMs);
}
