/**
 * `ai-proxy status [--json]` (issue 2, point 4): what a running instance reports, which PID file
 * was read, and the LSB exit codes 0 running, 1 dead with the PID file left, 3 not running,
 * 4 unknown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultYaml, instance, isAlive, killOnExit, runCli, serverPidOf, startDaemon, waitUntil } from '../helpers/cli.ts';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

test('status of a running gateway: pid, uptime, listen, config, generation and hash, last reload, version, and the PID file it read', async (t) => {
  const inst = instance(t, defaultYaml('watch-config: false\n'));
  const { pid, url } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);

  const text = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(text.code, 0, text.stdout + text.stderr);
  const out = text.stdout;
  assert.ok(out.startsWith(`pid file: ${inst.pidFile} (--pid-file)\n`), out);
  assert.match(out, /ai-proxy is running \(ready\)/);
  assert.match(out, new RegExp(`pid: +${pid} \\(server ${server}\\)`));
  assert.match(out, /uptime: +\d+s \(since \d{4}-\d\d-\d\dT/);
  assert.match(out, new RegExp(`listen: +${url.replace(/\./g, '\\.')}\\n`));
  assert.match(out, new RegExp(`config: +${inst.config.replace(/\./g, '\\.')} \\(generation 1, hash [0-9a-f]{6,}\\)`));
  assert.match(out, /last reload: none/);
  assert.match(out, new RegExp(`log file: +${inst.logFile.replace(/\./g, '\\.')}`));
  assert.match(out, new RegExp(`version: +${version.replace(/\./g, '\\.')}`));

  const json = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(json.code, 0);
  const status = JSON.parse(json.stdout) as Record<string, unknown> & { listen: { url: string }; config: { generation: number; hash: string; path: string } };
  assert.equal(status.state, 'running');
  assert.equal(status.phase, 'ready');
  assert.equal(status.pid, pid);
  assert.equal(status.serverPid, server);
  assert.equal(status.pidFile, inst.pidFile);
  assert.equal(status.pidFileOrigin, '--pid-file');
  assert.equal(status.listen.url, url);
  assert.deepEqual({ generation: status.config.generation, path: status.config.path }, { generation: 1, path: inst.config });
  assert.match(status.config.hash, /^[0-9a-f]{6,}$/);
  assert.equal(status.lastReload, null);
  assert.equal(status.version, version);
  assert.equal(typeof status.uptimeSeconds, 'number');
  assert.equal(status.logFile, inst.logFile);

  // After a reload, status carries the new generation and the verdict.
  writeFileSync(inst.config, defaultYaml('watch-config: false\nmodels:\n  aliases:\n    gpt-demo: mock\n'));
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0, reload.stderr);
  const after = JSON.parse((await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env })).stdout) as {
    config: { generation: number; hash: string };
    lastReload: { ok: boolean; source: string; generation: number; hash: string; at: string };
  };
  assert.equal(after.config.generation, 2);
  assert.notEqual(after.config.hash, status.config.hash);
  assert.deepEqual({ ok: after.lastReload.ok, source: after.lastReload.source, generation: after.lastReload.generation }, { ok: true, source: 'control', generation: 2 });
  const text2 = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.match(text2.stdout, /generation 2, hash/);
  assert.match(text2.stdout, /last reload: applied at \S+ \(control\)/);

  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('status finds the PID file as run placed it: from the config\'s pid-file, or AI_PROXY_PID_FILE, and says which', async (t) => {
  const inst = instance(t);
  const pidFile = join(inst.dir, 'elsewhere', 'gw.pid');
  writeFileSync(inst.config, defaultYaml(`pid-file: ${pidFile}\n`));
  const started = await runCli(['run', '-d', '-c', inst.config, '--log-file', inst.logFile], { env: inst.env });
  assert.equal(started.code, 0, started.stderr);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  killOnExit(t, pid, await serverPidOf(pid));

  const viaConfig = await runCli(['status', '-c', inst.config], { env: inst.env });
  assert.equal(viaConfig.code, 0, viaConfig.stdout);
  assert.ok(viaConfig.stdout.startsWith(`pid file: ${pidFile} (config)\n`), viaConfig.stdout);

  const viaEnv = await runCli(['status', '--json'], { env: { ...inst.env, AI_PROXY_PID_FILE: pidFile } });
  assert.equal(viaEnv.code, 0);
  assert.deepEqual(
    (({ state, pid: p, pidFile: f, pidFileOrigin }) => ({ state, pid: p, pidFile: f, pidFileOrigin }))(JSON.parse(viaEnv.stdout) as Record<string, unknown>),
    { state: 'running', pid, pidFile, pidFileOrigin: 'AI_PROXY_PID_FILE' },
  );

  // Another PID file names another instance: none there.
  const elsewhere = await runCli(['status', '--pid-file', join(inst.dir, 'other.pid')], { env: inst.env });
  assert.equal(elsewhere.code, 3);

  assert.equal((await runCli(['stop', '-c', inst.config], { env: inst.env })).code, 0);
});

test('status when never started: "not running", exit 3', async (t) => {
  const inst = instance(t);
  const text = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(text.code, 3);
  assert.equal(text.stdout, `pid file: ${inst.pidFile} (--pid-file)\nai-proxy is not running\n`);
  const json = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(json.code, 3);
  assert.deepEqual(JSON.parse(json.stdout), { command: 'status', outcome: 'not-running', exitCode: 3, error: null, state: 'not-running', pidFile: inst.pidFile, pidFileOrigin: '--pid-file' });
});

test('status when both processes died by kill -9: the PID file is left, "dead", exit 1', async (t) => {
  const inst = instance(t);
  const { pid } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);
  process.kill(server, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
  await waitUntil('both processes are gone', () => !isAlive(pid) && !isAlive(server));

  const text = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(text.code, 1, text.stdout);
  assert.match(text.stdout, new RegExp(`not running, but the PID file was left behind by pid ${pid} \\(stale; the next run takes it over\\)`));
  const json = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.stdout), { command: 'status', outcome: 'dead', exitCode: 1, error: null, state: 'dead', pid, pidFile: inst.pidFile, pidFileOrigin: '--pid-file' });
  // stop and reload agree: nothing to talk to.
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 3);
  assert.equal((await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env })).code, 3);
});

test('status when the PID file is held but the control socket does not answer (launcher stopped): "unknown", exit 4', async (t) => {
  const inst = instance(t);
  const { pid, url } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);
  // killOnExit continues (SIGCONT) and kills it if the test fails before it does.
  process.kill(pid, 'SIGSTOP');
  const text = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(text.code, 4, text.stdout);
  assert.match(text.stdout, new RegExp(`pid ${pid} holds the PID file but does not answer on ${inst.pidFile.replace(/\.pid$/, '.sock').replace(/\./g, '\\.')}`));
  // The gateway itself still serves: unknown is about the control path, not the traffic.
  assert.equal((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) })).status, 200);

  process.kill(pid, 'SIGCONT');
  const again = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(again.code, 0);
  assert.equal((JSON.parse(again.stdout) as { state: string }).state, 'running');
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});
