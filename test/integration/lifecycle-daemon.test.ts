/**
 * `ai-proxy run -d` (issue 2, point 3, and the PID-lock bullets): it returns only when the gateway
 * answers, and every failure before that prints the launcher's precise reason, exits non-zero and
 * leaves no process and no PID file behind.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SLACK_MS, assertCut, chatStream, defaultYaml, hangingServerEnv, gatedUpstream, get, instance, openStream, isAlive, killOnExit, processesMentioning, runCli, serverPidOf, startDaemon, waitUntil, type CommandResult, type Instance } from '../helpers/cli.ts';

/** What a failed start must leave: no PID file, no control socket, no process of this instance. */
function assertNothingLeft(inst: Instance, result: CommandResult): void {
  const context = `stdout: ${result.stdout}\nstderr: ${result.stderr}`;
  assert.ok(!existsSync(inst.pidFile), `the PID file is left behind\n${context}`);
  assert.ok(!existsSync(inst.pidFile.replace(/\.pid$/, '.sock')), `the control socket is left behind\n${context}`);
  assert.deepEqual(processesMentioning(inst.dir), [], `processes are left behind\n${context}`);
}

async function occupiedPort(t: TestContext): Promise<number> {
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  return (blocker.address() as AddressInfo).port;
}

test('run -d returns only when serving: prints pid and URL, exit 0, and the gateway answers at once', async (t) => {
  const inst = instance(t);
  const { pid, url, result } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);
  // No retry: the command's exit 0 is the promise that the gateway answers now.
  const health = await get(`${url}/healthz`);
  assert.equal(health.status, 200);
  assert.match(result.stdout, new RegExp(`pid ${pid}, serving on http://127\\.0\\.0\\.1:\\d+`));
  assert.ok(result.stdout.includes(`pid file: ${inst.pidFile}`), result.stdout);
  assert.ok(result.stdout.includes(`log file: ${inst.logFile}`), result.stdout);
  assert.equal(result.stderr, '');
  assert.equal(readFileSync(inst.pidFile, 'utf8').trim(), String(pid));
  assert.equal(statSync(inst.pidFile.replace(/\.pid$/, '.sock')).mode & 0o777, 0o600, 'the control socket is private');
  assert.ok(isAlive(pid) && isAlive(server));
  assert.match(readFileSync(inst.logFile, 'utf8'), new RegExp(`INFO launcher ai-proxy \\S+ serving on ${url.replace(/\./g, '\\.')}`));

  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stderr);
});

test('run -d with a YAML syntax error prints where it is, exits 1 and leaves nothing', async (t) => {
  const inst = instance(t, 'listen:\n  host: 127.0.0.1\n  port: [\n');
  const result = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /failed to start: config .* is not valid YAML/);
  assert.ok(result.stderr.includes(`${inst.config}:4:1`), result.stderr);
  assert.equal(result.stdout, '');
  assertNothingLeft(inst, result);
});

test('run -d with a schema error names the key, exits 1 and leaves nothing', async (t) => {
  const inst = instance(t, defaultYaml('shutdown-timeout: soon\n').replace('shutdown-timeout: 5s\n', ''));
  const result = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /shutdown-timeout: expected a duration/);
  assertNothingLeft(inst, result);
});

test('run -d on a port in use reports it (the launcher binds the socket), exits 1 and leaves nothing', async (t) => {
  const port = await occupiedPort(t);
  const inst = instance(t, defaultYaml().replace('port: 0', `port: ${port}`));
  const result = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
  assert.equal(result.code, 1);
  assert.ok(result.stderr.includes(`failed to start: cannot listen on 127.0.0.1:${port}: the address is already in use`), result.stderr);
  assertNothingLeft(inst, result);
  // The log says it too, and no server was started for a socket that was never bound.
  const log = readFileSync(inst.logFile, 'utf8');
  assert.match(log, new RegExp(`FATAL launcher startup failed: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`));
  assert.doesNotMatch(log, /server/);
  assert.doesNotMatch(log, /launcher is gone/);
});

test('run -d while an instance holds the PID file says "already running (pid N)" and leaves the running one alone', async (t) => {
  const inst = instance(t);
  const first = await startDaemon(inst);
  killOnExit(t, first.pid, await serverPidOf(first.pid));
  const second = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`already running \\(pid ${first.pid}\\)`));
  assert.equal(second.stdout, '');
  // The loser removed nothing of the winner's.
  assert.equal(readFileSync(inst.pidFile, 'utf8').trim(), String(first.pid));
  assert.equal((await get(`${first.url}/healthz`)).status, 200);
  const status = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(status.code, 0, status.stdout);
  const others = processesMentioning(inst.dir).filter(({ pid }) => pid !== first.pid && !childOf(pid, first.pid));
  assert.deepEqual(others, [], 'the losing launcher and its server are gone');
});

function childOf(pid: number, parent: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
  } catch {
    return false;
  }
}

test('run -d with an unusable PID directory (a file in the path) says so and leaves nothing', async (t) => {
  const inst = instance(t);
  writeFileSync(join(inst.dir, 'not-a-dir'), '');
  const pidFile = join(inst.dir, 'not-a-dir', 'ai-proxy.pid');
  const result = await runCli(['run', '-d', '-c', inst.config, '--pid-file', pidFile, '--log-file', inst.logFile], { env: inst.env });
  assert.equal(result.code, 1);
  assert.ok(result.stderr.includes(`cannot create PID file directory ${join(inst.dir, 'not-a-dir')}`), result.stderr);
  assert.match(result.stderr, /not a directory/);
  assert.ok(!existsSync(pidFile));
  assertNothingLeft(inst, result);
});

test('run -d with an unusable log directory (a file in the path) says so and leaves nothing', async (t) => {
  const inst = instance(t);
  writeFileSync(join(inst.dir, 'not-a-dir'), '');
  const logFile = join(inst.dir, 'not-a-dir', 'ai-proxy.log');
  const result = await runCli(['run', '-d', '-c', inst.config, '--pid-file', inst.pidFile, '--log-file', logFile], { env: inst.env });
  assert.equal(result.code, 1);
  assert.ok(result.stderr.includes(`cannot create log file directory ${join(inst.dir, 'not-a-dir')}: ${join(inst.dir, 'not-a-dir')} is a regular file, not a directory`), result.stderr);
  assertNothingLeft(inst, result);
});

test('run -d when the server crashes during start: the reason, the crash output in the log, nothing left', async (t) => {
  const inst = instance(t);
  // A preload that crashes only the server (not the CLI or the launcher), with Node's own fatal output on stderr.
  const crash = join(inst.dir, 'crash-server.cjs');
  writeFileSync(crash, "if ((process.argv[1] || '').endsWith('server.js')) throw new Error('simulated crash of the server at startup');\n");
  const env = { ...inst.env, NODE_OPTIONS: `--require ${crash}` };
  const result = await runCli(['run', '-d', ...inst.flags], { env });
  assert.equal(result.code, 1);
  assert.ok(result.stderr.includes(`failed to start: the server exited during startup (exit code 1); its output is in ${inst.logFile}`), result.stderr);
  assertNothingLeft(inst, result);
  const log = readFileSync(inst.logFile, 'utf8');
  assert.match(log, /Error: simulated crash of the server at startup/, 'the crashing server\'s stderr is in the log');
  assert.match(log, /FATAL launcher startup failed: the server exited during startup/);
});

test('run -d --startup-timeout bounds the start: a server that never serves is killed and nothing is left', async (t) => {
  // The config's own deadline is far away: the flag being ignored would take 120 s.
  const inst = instance(t, defaultYaml('startup-timeout: 120s\n'));
  const started = Date.now();
  const result = await runCli(['run', '-d', '--startup-timeout', '1s', ...inst.flags], { env: hangingServerEnv(inst.dir, inst.env) });
  const elapsed = Date.now() - started;
  assert.equal(result.code, 1);
  assert.ok(result.stderr.includes('failed to start: the server did not become ready within 1s (--startup-timeout); it was killed'), result.stderr);
  // Three Node processes start in this figure (the command, the launcher, the server): seconds under load.
  assert.ok(elapsed >= 1_000 && elapsed < 1_000 + 2 * SLACK_MS, `run -d took ${elapsed} ms with a 1s startup deadline (the config says 120s)`);
  assertNothingLeft(inst, result);
  assert.match(readFileSync(inst.logFile, 'utf8'), /FATAL launcher startup failed: the server did not become ready within 1s/);
});

test('the config\'s startup-timeout is the deadline when no flag is given', async (t) => {
  const inst = instance(t, defaultYaml('startup-timeout: 1ms\n'));
  const result = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
  assert.equal(result.code, 1);
  assert.ok(result.stderr.includes('the server did not become ready within 0.001s (startup-timeout); it was killed'), result.stderr);
  assertNothingLeft(inst, result);
});

test('two run -d at once with the same PID file: exactly one wins, the other says "already running (pid N)"', async (t) => {
  const inst = instance(t);
  for (let round = 1; round <= 3; round++) {
    const results = await Promise.all([runCli(['run', '-d', ...inst.flags], { env: inst.env }), runCli(['run', '-d', ...inst.flags], { env: inst.env })]);
    const winners = results.filter((r) => r.code === 0);
    const losers = results.filter((r) => r.code !== 0);
    assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
    const winner = /pid (\d+), serving on/.exec((winners[0] as CommandResult).stdout);
    assert.ok(winner !== null);
    const pid = Number(winner[1]);
    killOnExit(t, pid, await serverPidOf(pid));
    assert.equal((losers[0] as CommandResult).code, 1);
    assert.match((losers[0] as CommandResult).stderr, new RegExp(`already running \\(pid ${pid}\\)`), `round ${round}`);
    assert.equal(readFileSync(inst.pidFile, 'utf8').trim(), String(pid));
    const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
    assert.equal(stop.code, 0, `round ${round}: ${stop.stdout}${stop.stderr}`);
    assert.deepEqual(processesMentioning(inst.dir), [], `round ${round}: processes left`);
  }
});

test('kill -9 of the launcher: the server exits by itself after its 1.5 s orphan drain, not the 60 s shutdown-timeout (cutting its stream), the lock is released, the next run -d takes over the leftover file', async (t) => {
  const upstream = await gatedUpstream(t, 'upstream');
  const inst = instance(t, `listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: 60s\nwatch-config: false\nproviders:\n${upstream.providerYaml('up', ['slow'])}`);
  const first = await startDaemon(inst);
  const server = await serverPidOf(first.pid);
  killOnExit(t, first.pid, server);
  // An in-flight stream must not keep an orphaned server alive.
  const stream = openStream(t, `${first.url}/v1/chat/completions`, chatStream('slow'));
  await stream.waitFor(/first chunk from upstream/);
  process.kill(first.pid, 'SIGKILL');
  const killedAt = Date.now();
  // The orphan drains for ORPHAN_SHUTDOWN_MS (1.5 s, run-server.ts) whatever its config says (60 s here).
  await waitUntil('the orphaned server exits', () => !isAlive(server), 1_500 + SLACK_MS);
  assert.ok(Date.now() - killedAt < 1_500 + SLACK_MS);
  // (Its farewell line has nowhere to go: the log sink died with the launcher.)
  assertCut(await stream.done);
  // The file is left (nobody removed it) but nobody holds its lock: stale.
  assert.ok(existsSync(inst.pidFile));
  const status = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(status.code, 1, status.stdout);
  assert.match(status.stdout, /stale/);

  const second = await startDaemon(inst);
  killOnExit(t, second.pid, await serverPidOf(second.pid));
  assert.notEqual(second.pid, first.pid);
  assert.equal(readFileSync(inst.pidFile, 'utf8').trim(), String(second.pid));
  assert.equal((await get(`${second.url}/healthz`)).status, 200);
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0);
});

test('run -d takes over a stale PID file whose directory already exists', async (t) => {
  const inst = instance(t);
  mkdirSync(join(inst.dir, 'run'), { recursive: true });
  // A PID file left by a crash long ago: its pid is not even ours to probe.
  writeFileSync(inst.pidFile, '999999\n');
  const { pid } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  assert.equal(readFileSync(inst.pidFile, 'utf8').trim(), String(pid));
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0);
  assert.ok(!existsSync(inst.pidFile));
});

test('ai-proxy stop while run -d is still starting: the start is abandoned at once, stop exits 0, run -d says why', async (t) => {
  const inst = instance(t);
  const run = runCli(['run', '-d', ...inst.flags], { env: hangingServerEnv(inst.dir, inst.env) });
  // The server is forked and hangs in its start; the control socket answers.
  const launcher = await waitUntil('the launcher wrote its PID file', () => (existsSync(inst.pidFile) ? Number(readFileSync(inst.pidFile, 'utf8')) || undefined : undefined));
  const server = await serverPidOf(launcher);
  killOnExit(t, launcher, server);
  await waitUntil('the control socket is up', () => existsSync(inst.pidFile.replace(/\.pid$/, '.sock')));
  const status = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal((JSON.parse(status.stdout) as { phase: string }).phase, 'starting');

  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  const result = await run;
  assert.equal(result.code, 1);
  assert.match(result.stderr, /failed to start: stopped by ai-proxy stop before the gateway was ready/);
  assert.ok(!isAlive(launcher) && !isAlive(server));
  assertNothingLeft(inst, result);
});

test('status probes never make a concurrent run -d fail (they read the lock, never take it)', async (t) => {
  const inst = instance(t);
  for (let round = 1; round <= 2; round++) {
    const probes = Promise.all([1, 2, 3].map(() => runCli(['status', '--pid-file', inst.pidFile], { env: inst.env })));
    const [run, statuses] = await Promise.all([runCli(['run', '-d', ...inst.flags], { env: inst.env }), probes]);
    assert.equal(run.code, 0, `round ${round}: ${run.stderr}`);
    const pid = Number(/pid (\d+)/.exec(run.stdout)?.[1]);
    killOnExit(t, pid, await serverPidOf(pid));
    for (const status of statuses) assert.ok([0, 3].includes(status.code ?? -1), `round ${round}: status said ${status.code}: ${status.stdout}`);
    assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
  }
});
