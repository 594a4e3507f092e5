/**
 * `--json` for scripts (cron, CI, deploy tools): run -d, reload, stop, validate and status each
 * print exactly one JSON object on stdout, with the same four leading fields (command, outcome,
 * exitCode, error) and the command's own, and exit with the code the object states.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { defaultYaml, instance, killOnExit, runCli, serverPidOf, type CommandResult } from '../helpers/cli.ts';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The one object on stdout; its exitCode must be the process's. */
function parsed(result: CommandResult): Record<string, unknown> & { command: string; outcome: string; exitCode: number; error: { code: string; message: string; details?: string[] } | null } {
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `one line of JSON on stdout, got:\n${result.stdout}\nstderr: ${result.stderr}`);
  const value = JSON.parse(lines[0] as string) as ReturnType<typeof parsed>;
  assert.equal(value.exitCode, result.code, 'the object states the exit code');
  return value;
}

test('run -d, status, reload, stop --json: one object each, from start to stop', async (t) => {
  // Reloads come from the command only: a watcher that applied the edit first would leave it nothing to change.
  const inst = instance(t, defaultYaml('watch-config: false\n'));
  const started = parsed(await runCli(['run', '-d', '--json', ...inst.flags], { env: inst.env }));
  assert.deepEqual({ command: started.command, outcome: started.outcome, exitCode: started.exitCode, error: started.error }, { command: 'run', outcome: 'started', exitCode: 0, error: null });
  const pid = started.pid as number;
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);
  assert.match(started.url as string, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(started.pidFile, inst.pidFile);
  assert.equal(started.logFile, inst.logFile);
  const [serving] = started.servers as Array<Record<string, unknown>>;
  assert.deepEqual({ ...serving, hash: typeof serving?.hash, since: typeof serving?.since }, { pid: server, version, phase: 'serving', generation: 1, hash: 'string', inFlight: null, streams: null, since: 'string' });

  const status = parsed(await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([status.command, status.outcome, status.state, status.pid], ['status', 'running', 'running', pid]);
  assert.deepEqual((status.servers as unknown[]).length, 1);
  // Status asks the server: its counts are fresh, not the start's nulls.
  assert.deepEqual((status.servers as Array<Record<string, unknown>>).map((s) => [s.pid, s.inFlight, s.streams]), [[server, 0, 0]]);
  assert.equal((status.launcher as { outdated: boolean }).outdated, false);

  writeFileSync(inst.config, defaultYaml('watch-config: false\nmodels:\n  aliases:\n    fast: mock\n'));
  const applied = parsed(await runCli(['reload', '--json', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([applied.command, applied.outcome, applied.error, applied.pid, applied.generation, applied.source], ['reload', 'applied', null, pid, 2, 'control']);
  assert.deepEqual(applied.changed, ['models']);
  assert.match(applied.hash as string, /^[0-9a-f]{12}$/);

  writeFileSync(inst.config, defaultYaml('watch-config: false\nretry: { attempts: many }\n'));
  const rejected = parsed(await runCli(['reload', '--json', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([rejected.outcome, rejected.exitCode, rejected.generation], ['rejected', 1, 2]);
  assert.equal(rejected.error?.code, 'E_CONFIG_INVALID');
  assert.ok(rejected.error?.details?.some((d) => d.includes('retry.attempts')), JSON.stringify(rejected.error));

  const signalled = parsed(await runCli(['reload', '--json', '--no-wait', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([signalled.outcome, signalled.exitCode, signalled.pid], ['signalled', 0, pid]);

  const stopped = parsed(await runCli(['stop', '--json', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([stopped.command, stopped.outcome, stopped.exitCode, stopped.error, stopped.pid], ['stop', 'stopped', 0, null, pid]);
  const again = parsed(await runCli(['stop', '--json', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([again.outcome, again.exitCode, again.pid], ['not-running', 3, null]);
  const nothing = parsed(await runCli(['reload', '--json', '--pid-file', inst.pidFile], { env: inst.env }));
  assert.deepEqual([nothing.outcome, nothing.exitCode, nothing.error?.code], ['not-running', 3, 'E_NOT_RUNNING']);
});

test('run -d --json when the start fails: outcome failed, the reason as data, exit 1, nothing on stderr', async (t) => {
  const inst = instance(t, defaultYaml('retry: { attempts: many }\n'));
  const result = await runCli(['run', '-d', '--json', ...inst.flags], { env: inst.env });
  const failed = parsed(result);
  assert.deepEqual([failed.command, failed.outcome, failed.exitCode, failed.error?.code], ['run', 'failed', 1, 'E_CONFIG_INVALID']);
  assert.equal(result.stderr, '');
});

test('validate --json: the summary when valid, every error in error.details when not', async (t) => {
  const inst = instance(t);
  const valid = parsed(await runCli(['validate', '--json', '-c', inst.config], { env: inst.env }));
  assert.deepEqual([valid.command, valid.outcome, valid.error, valid.config, valid.providers, valid.clientKeys], ['validate', 'valid', null, inst.config, 1, 0]);
  assert.deepEqual(valid.listen, { host: '127.0.0.1', port: 0 });

  writeFileSync(inst.config, 'listen: { port: x }\nshutdown-timout: 3s\n');
  const invalid = parsed(await runCli(['validate', '--json', '-c', inst.config], { env: inst.env }));
  assert.deepEqual([invalid.outcome, invalid.exitCode, invalid.error?.code], ['invalid', 1, 'E_CONFIG_INVALID']);
  assert.equal(invalid.error?.details?.length, 2, JSON.stringify(invalid.error));
  assert.ok(invalid.error?.details?.some((d) => d.includes('did you mean "shutdown-timeout"')));
});
