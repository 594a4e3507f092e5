/**
 * The agent runner's own guarantees, with a stand-in "agent" (a shell script), so they hold
 * whether or not the real agents are installed: throwaway HOME/TMPDIR/cwd, the configuration
 * files written, the hard timeout, and no process left behind, even one that left the process
 * group and the session (as Codex's PTY commands do).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitUntil } from '../helpers/cli.ts';
import { locateAgent, skipUnlessInstalled, type InstalledAgent } from '../helpers/agents/install.ts';
import { processesMarked, runAgent } from '../helpers/agents/run.ts';

const standIn = (name: InstalledAgent['name'], script: string): InstalledAgent => ({ name, package: 'stand-in', version: '0', dir: '/', program: '/bin/bash', argv0: '/bin/bash', argsPrefix: ['-c', script] });

test('a throwaway HOME, TMPDIR and cwd, with the agent’s documented configuration in it', async (t) => {
  const run = await runAgent(t, standIn('codex', 'echo "$HOME|$TMPDIR|$PWD|$XDG_CONFIG_HOME"; cat "$HOME/.codex/config.toml"; env | grep -c "^ANTHROPIC_\\|^OPENAI_API_KEY=" || true'), { prompt: 'p', model: 'm', baseUrl: 'http://127.0.0.1:9' });
  const [dirs = '', ...rest] = run.stdout.split('\n');
  assert.deepEqual(dirs.split('|'), [run.home, join(run.root, 'tmp'), run.cwd, join(run.home, '.config')]);
  const out = rest.join('\n');
  assert.match(out, /base_url = "http:\/\/127\.0\.0\.1:9\/v1"/);
  assert.match(out, /wire_api = "responses"/);
  assert.match(out, /^0$/m, 'none of the developer’s provider keys leak in');
  assert.ok(existsSync(run.home));
});

test('nothing the agent started outlives the run, not even a process in a session of its own', async (t) => {
  const run = await runAgent(t, standIn('gemini', 'setsid sleep 300 & (sleep 301 &) ; echo started'), { prompt: 'p', model: 'm', baseUrl: 'http://127.0.0.1:9' });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /started/);
  assert.match(run.stderr, /killed \d+ process\(es\) the agent left running/);
  const marker = readFileSync(`/proc/self/environ`).includes(Buffer.from('AI_PROXY_AGENT_RUN='));
  assert.equal(marker, false, 'the test runner itself carries no marker');
  // A process the harness killed may still be listed for a moment while it exits; one it missed
  // would live its 300 s and fail this bounded wait.
  const { execFileSync } = await import('node:child_process');
  const leftovers = (): string[] => execFileSync('ps', ['-eo', 'pid=,stat=,args=']).toString().split('\n').filter((l) => /^\d+\s+[^Z]\S*\s+sleep 30[01]$/.test(l.trim()));
  await waitUntil('nothing the agent started is left', () => leftovers().length === 0, 10_000).catch(() => undefined);
  // On failure, say whose it is: the harness finds processes by the marker in their environment.
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'latin1');
    } catch {
      return '(gone)';
    }
  };
  const described = leftovers().map((line) => {
    const pid = line.trim().split(/\s+/)[0] as string;
    return `${line.trim()}; marked: ${read(`/proc/${pid}/environ`).includes('AI_PROXY_AGENT_RUN=')}; stat: ${read(`/proc/${pid}/stat`).trim()}`;
  });
  assert.deepEqual(described, [], run.stderr);
});

test('a hard timeout stops a run that does not end', async (t) => {
  const started = Date.now();
  const run = await runAgent(t, standIn('claude', 'echo waiting; exec sleep 300'), { prompt: 'p', model: 'm', baseUrl: 'http://127.0.0.1:9', timeoutMs: 500 });
  assert.equal(run.timedOut, true);
  assert.ok(Date.now() - started < 5_000);
  assert.match(run.stdout, /waiting/);
});

test('a missing agent says precisely why (and skips, or under CI=true fails)', () => {
  const saved = process.env.AI_PROXY_AGENTS_DIR;
  const savedCi = process.env.CI;
  try {
    process.env.AI_PROXY_AGENTS_DIR = '/nonexistent/agents';
    const found = locateAgent('codex');
    assert.ok('missing' in found);
    assert.match(found.missing, /^@openai\/codex@\d+\.\d+\.\d+ is not installed: no \/nonexistent\/agents\/@openai\/codex@[\d.]+ \(run scripts\/install-agents\.sh\)$/);
    process.env.CI = 'false';
    assert.equal(skipUnlessInstalled('codex'), found.missing);
    process.env.CI = 'true';
    assert.equal(skipUnlessInstalled('codex'), false, 'under CI the test runs, and requireAgent fails it');
  } finally {
    if (saved === undefined) delete process.env.AI_PROXY_AGENTS_DIR;
    else process.env.AI_PROXY_AGENTS_DIR = saved;
    if (savedCi === undefined) delete process.env.CI;
    else process.env.CI = savedCi;
  }
});

test('processesMarked finds nothing for a run id that never ran', () => {
  assert.deepEqual(processesMarked('0000000000000000'), []);
});
