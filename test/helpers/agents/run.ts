/**
 * Runs one coding agent non-interactively against a fake upstream: a throwaway HOME, XDG and
 * TMPDIR, its working directory in a scratch directory, a hard timeout, stdout and stderr
 * captured, and every process it started killed afterwards.
 *
 * Each agent is configured only through what its documentation gives for a custom endpoint and
 * an unattended run (see `invocation`), nothing that changes what it sends.
 *
 * Agents spawn children that leave the process group (Codex runs commands in a PTY of their
 * own session), so the cleanup does not trust the tree: every process started carries a marker
 * in its environment, and at the end each process whose environment has this run's marker is
 * killed by its PID.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import type { AgentName, InstalledAgent } from './install.ts';

/** The key each agent is given; the recorder redacts it. */
export const AGENT_KEYS: Record<AgentName, string> = {
  claude: 'sk-ant-agent-test-0f1e2d3c4b5a69788796',
  codex: 'sk-agent-test-codex-5a4b3c2d1e0f',
  gemini: 'AIzaAgentTestGemini-9a8b7c6d5e4f',
};

/** The environment variable Codex's provider entry names (`env_key`). */
export const CODEX_ENV_KEY = 'AI_PROXY_FAKE_OPENAI_KEY';

/**
 * How Codex reaches the fake. `custom`: a `model_providers` entry (base_url, env_key,
 * wire_api = "responses"), the documented way to add a provider; Codex does not try WebSockets
 * on such a provider. `custom-websockets`: the same entry with the documented
 * `supports_websockets = true`. `openai`: the built-in OpenAI provider with the documented
 * `openai_base_url` and CODEX_API_KEY, the one on which Codex tries WebSockets by default.
 */
export type CodexProvider = 'custom' | 'custom-websockets' | 'openai';

export interface AgentOptions {
  prompt: string;
  model: string;
  /** The fake's origin, e.g. http://127.0.0.1:1234 (paths are added per agent). */
  baseUrl: string;
  timeoutMs?: number;
  codexProvider?: CodexProvider;
  /** More environment for the agent (after the harness's own). */
  env?: Record<string, string>;
}

export interface AgentRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The scratch directories (removed when the test ends). */
  root: string;
  home: string;
  cwd: string;
  argv: string[];
}

interface Invocation {
  args: string[];
  env: Record<string, string>;
  /** Files to write under HOME before the start, by path relative to it. */
  files: Record<string, string>;
}

/** The documented custom-endpoint and unattended-run configuration of each agent. */
export function invocation(name: AgentName, options: AgentOptions): Invocation {
  const { prompt, model, baseUrl } = options;
  switch (name) {
    case 'claude':
      return {
        // As root Claude Code refuses --dangerously-skip-permissions; an allow rule for the Bash
        // tool lets its shell tool run without a prompt.
        args: ['-p', prompt, '--model', model, '--allowedTools', 'Bash'],
        env: {
          ANTHROPIC_BASE_URL: baseUrl,
          ANTHROPIC_API_KEY: AGENT_KEYS.claude,
          DISABLE_TELEMETRY: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        },
        files: {},
      };
    case 'codex': {
      const provider = options.codexProvider ?? 'custom';
      const config =
        provider === 'openai'
          ? `openai_base_url = "${baseUrl}/v1"\n`
          : [
              'model_provider = "fake"',
              '',
              '[model_providers.fake]',
              'name = "Fake upstream"',
              `base_url = "${baseUrl}/v1"`,
              `env_key = "${CODEX_ENV_KEY}"`,
              'wire_api = "responses"',
              ...(provider === 'custom-websockets' ? ['supports_websockets = true'] : []),
              '',
            ].join('\n');
      return {
        args: ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '-m', model, prompt],
        env: provider === 'openai' ? { CODEX_API_KEY: AGENT_KEYS.codex } : { [CODEX_ENV_KEY]: AGENT_KEYS.codex },
        files: { '.codex/config.toml': config },
      };
    }
    case 'gemini':
      return {
        args: ['-p', prompt, '-m', model, '--yolo', '--skip-trust'],
        env: { GEMINI_API_KEY: AGENT_KEYS.gemini, GOOGLE_GEMINI_BASE_URL: baseUrl },
        // Gemini CLI 0.61 takes GOOGLE_GEMINI_BASE_URL as its new "gateway" auth type, which its
        // own non-interactive check then refuses ("Invalid auth method selected."); the documented
        // settings key picks the API-key auth, which still honours GOOGLE_GEMINI_BASE_URL.
        files: { '.gemini/settings.json': `${JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }, null, 2)}\n` },
      };
  }
}

const MARKER = 'AI_PROXY_AGENT_RUN';

/** PIDs of live processes whose environment carries `MARKER=id`. */
export function processesMarked(id: string): number[] {
  const needle = Buffer.from(`${MARKER}=${id}\0`);
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`).includes(needle)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** SIGKILLs every process carrying the run's marker; returns how many distinct ones there were. */
function killMarked(id: string): number {
  const killed = new Set<number>();
  // A dying parent can fork once more, a killed process stays listed until it is reaped, and a
  // process in the middle of exec(2) has no environ to read for a moment: go round (with a short
  // pause) until three scans in a row find nothing marked, for at most about two seconds.
  let quiet = 0;
  for (let round = 0; round < 100 && quiet < 3; round++) {
    const pids = processesMarked(id);
    if (pids.length === 0) {
      quiet++;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      continue;
    }
    quiet = 0;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // already gone
      }
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return killed.size;
}

/** The scratch layout of one run: root/{home,tmp,work}. */
function scratch(t: TestContext, beforeRemove: () => void): { root: string; home: string; tmp: string; cwd: string } {
  const root = mkdtempSync(join(tmpdir(), 'ai-proxy-agent-'));
  const dirs = { root, home: join(root, 'home'), tmp: join(root, 'tmp'), cwd: join(root, 'work') };
  for (const d of [dirs.home, dirs.tmp, dirs.cwd]) mkdirSync(d, { recursive: true });
  t.after(() => {
    try {
      beforeRemove();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  return dirs;
}

/** Runs the agent to its end or its timeout; never rejects for the agent's own failure. */
export async function runAgent(t: TestContext, agent: InstalledAgent, options: AgentOptions): Promise<AgentRun> {
  const id = randomBytes(8).toString('hex');
  const dirs = scratch(t, () => killMarked(id));
  const how = invocation(agent.name, options);
  for (const [rel, text] of Object.entries(how.files)) {
    const path = join(dirs.home, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  const nodeDir = agent.argsPrefix.length > 0 ? dirname(agent.argv0) : undefined;
  const env: Record<string, string> = {
    // Only what a shell would have, none of the developer's keys or settings.
    PATH: [nodeDir, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter(Boolean).join(':'),
    HOME: dirs.home,
    USER: process.env.USER ?? 'root',
    LOGNAME: process.env.LOGNAME ?? process.env.USER ?? 'root',
    SHELL: '/bin/bash',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    TMPDIR: dirs.tmp,
    XDG_CONFIG_HOME: join(dirs.home, '.config'),
    XDG_CACHE_HOME: join(dirs.home, '.cache'),
    XDG_DATA_HOME: join(dirs.home, '.local', 'share'),
    XDG_STATE_HOME: join(dirs.home, '.local', 'state'),
    XDG_RUNTIME_DIR: join(dirs.tmp, 'xdg-runtime'),
    NO_COLOR: '1',
    [MARKER]: id,
    ...how.env,
    ...options.env,
  };
  mkdirSync(env.XDG_RUNTIME_DIR as string, { recursive: true, mode: 0o700 });
  const argv = [agent.argv0, ...agent.argsPrefix, ...how.args];
  const timeoutMs = options.timeoutMs ?? 60_000;
  const started = Date.now();
  const child = spawn(argv[0] as string, argv.slice(1), { cwd: dirs.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killMarked(id);
  }, timeoutMs);
  // The agent's end is its exit, not the end of its output: a background process it left holds
  // stdout open. At the exit whatever it left running is killed, and then its output ends.
  let leftovers = 0;
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (error) => {
      stderr += `\n[harness] could not start ${argv[0]}: ${error.message}`;
      resolve({ code: null, signal: null });
    });
    child.on('exit', (c, s) => {
      leftovers = killMarked(id);
      resolve({ code: c, signal: s });
    });
  });
  clearTimeout(timer);
  // Output that stays open means a process still holds it: sweep again while it does (a
  // process in the middle of exec(2) can hide its marker from one sweep), for at most 10 s.
  const closed = new Promise<void>((resolve) => {
    if (child.stdout.closed && child.stderr.closed) return resolve();
    child.on('close', () => resolve());
  });
  let open = true;
  void closed.then(() => (open = false));
  for (let waited = 0; waited < 10_000 && open; waited += 250) {
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 250))]);
    if (open) leftovers += killMarked(id);
  }
  if (open) {
    child.stdout.destroy();
    child.stderr.destroy();
  }
  leftovers += killMarked(id);
  if (leftovers > 0) stderr += `\n[harness] killed ${leftovers} process(es) the agent left running`;
  return { code, signal, timedOut, stdout, stderr, durationMs: Date.now() - started, root: dirs.root, home: dirs.home, cwd: dirs.cwd, argv };
}

/** A readable account of a run for assertion messages. */
export function describeRun(run: AgentRun): string {
  const clip = (s: string): string => (s.length > 6000 ? `${s.slice(0, 3000)}\n…\n${s.slice(-3000)}` : s);
  return `exit ${run.code ?? run.signal}${run.timedOut ? ' (timed out)' : ''} after ${run.durationMs} ms\n--- stdout\n${clip(run.stdout)}\n--- stderr\n${clip(run.stderr)}`;
}
