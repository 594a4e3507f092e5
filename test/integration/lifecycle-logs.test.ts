/**
 * Logs (issue 2, "Logs"; DESIGN §1, §7): daemon mode writes to a file (the configured one, or the
 * default under $LOGS_DIRECTORY), the foreground too when one is configured; with
 * `rotate: external`, SIGUSR1 reopens the path after logrotate renamed the file; a crashing
 * server's output and the launcher's own errors end up in the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Foreground, SLACK_MS, defaultYaml, get, instance, isAlive, killOnExit, post, runCli, serverPidOf, startDaemon, waitUntil } from '../helpers/cli.ts';

const chat = { model: 'mock', messages: [{ role: 'user', content: 'hi' }] };
const accessLines = (text: string): number => text.split('\n').filter((line) => / access .*POST \/v1\/chat\/completions/.test(line)).length;
const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

test('daemon mode without --log-file logs to $LOGS_DIRECTORY/ai-proxy.log', async (t) => {
  const inst = instance(t);
  const logs = join(inst.dir, 'logs-directory');
  const env = { ...inst.env, LOGS_DIRECTORY: logs };
  const result = await runCli(['run', '-d', '-c', inst.config, '--pid-file', inst.pidFile], { env });
  assert.equal(result.code, 0, result.stderr);
  const pid = Number(/pid (\d+)/.exec(result.stdout)?.[1]);
  killOnExit(t, pid, await serverPidOf(pid));
  const file = join(logs, 'ai-proxy.log');
  assert.ok(result.stdout.includes(`log file: ${file}`), result.stdout);
  assert.match(read(file), /INFO launcher ai-proxy \S+ serving on/);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env })).code, 0);
  assert.match(read(file), /INFO launcher stopped/);
});

test('the config\'s log.file is used in daemon mode and in the foreground, where the terminal then stays quiet', async (t) => {
  const inst = instance(t);
  const file = join(inst.dir, 'from-config', 'gateway.log');
  writeFileSync(inst.config, defaultYaml(`log:\n  file: ${file}\n`));

  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  await waitUntil('the foreground gateway logs to its file', () => /serving on (http:\S+)/.exec(read(file))?.[1]);
  const url = /serving on (http:\S+)/.exec(read(file))?.[1] as string;
  assert.equal((await post(`${url}/v1/chat/completions`, chat)).status, 200);
  fg.child.kill('SIGINT');
  assert.equal((await fg.exited).code, 0);
  assert.equal(fg.output, '', 'nothing on the terminal');
  assert.equal(accessLines(read(file)), 1);
  assert.match(read(file), /INFO launcher stopped/);

  const started = await runCli(['run', '-d', '-c', inst.config, '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(started.code, 0, started.stderr);
  const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
  killOnExit(t, pid, await serverPidOf(pid));
  assert.ok(started.stdout.includes(`log file: ${file}`));
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
  assert.equal(read(file).match(/serving on/g)?.length, 2, 'both runs appended to the same file');
});

test('rotate: external — logrotate renames the file, SIGUSR1 reopens the path: new lines go to the new file, none lost', async (t) => {
  const inst = instance(t, defaultYaml('log:\n  rotate: external\n'));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  for (let i = 0; i < 3; i++) assert.equal((await post(`${url}/v1/chat/completions`, chat)).status, 200);
  await waitUntil('3 access lines are written', () => accessLines(read(inst.logFile)) === 3);

  const rotated = `${inst.logFile}.1`;
  renameSync(inst.logFile, rotated);
  // Written after the rename but before the reopen: these belong to the renamed file.
  assert.equal((await post(`${url}/v1/chat/completions`, chat)).status, 200);
  await waitUntil('the 4th access line lands in the renamed file', () => accessLines(read(rotated)) === 4);
  process.kill(pid, 'SIGUSR1');
  await waitUntil('the launcher reopened the path', () => /INFO launcher log file reopened/.test(read(inst.logFile)));
  for (let i = 0; i < 2; i++) assert.equal((await post(`${url}/v1/chat/completions`, chat)).status, 200);
  await waitUntil('2 access lines in the new file', () => accessLines(read(inst.logFile)) === 2);

  const old = read(rotated);
  assert.match(old, /INFO launcher SIGUSR1: reopening the log file/);
  assert.equal(accessLines(old), 4);
  assert.doesNotMatch(old, /log file reopened/);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
  assert.match(read(inst.logFile), /INFO launcher stopped/);
  assert.equal(accessLines(read(rotated)), 4, 'nothing more went to the renamed file');
});

test('the launcher\'s own error (the log path cannot be reopened) is logged, and it keeps logging to the old file', async (t) => {
  const inst = instance(t, defaultYaml('log:\n  rotate: external\n'));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  const logDir = dirname(inst.logFile);
  const movedDir = `${logDir}.moved`;
  renameSync(logDir, movedDir);
  writeFileSync(logDir, 'a file where the log directory was\n');
  const moved = join(movedDir, 'ai-proxy.log');
  process.kill(pid, 'SIGUSR1');
  await waitUntil('the launcher logs that the reopen failed', () => /ERROR launcher cannot reopen the log file, still writing to the old one/.test(read(moved)));
  assert.equal((await post(`${url}/v1/chat/completions`, chat)).status, 200);
  await waitUntil('traffic is still logged to the old file', () => accessLines(read(moved)) === 1);

  // Once the path works again, SIGUSR1 moves the log there.
  rmSync(logDir);
  mkdirSync(logDir);
  process.kill(pid, 'SIGUSR1');
  await waitUntil('the reopen succeeds', () => /log file reopened/.test(read(inst.logFile)));
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('in daemon mode, Node\'s warnings in the launcher (whose stderr is /dev/null) reach the log', async (t) => {
  const inst = instance(t);
  const warn = join(inst.dir, 'launcher-warning.cjs');
  writeFileSync(warn, "if (process.argv.includes('__launcher')) process.on('SIGWINCH', () => process.emitWarning('simulated launcher warning', 'SimulatedWarning'));\n");
  const env = { ...inst.env, NODE_OPTIONS: `--require ${warn}` };
  const { pid } = await startDaemon({ ...inst, env });
  killOnExit(t, pid, await serverPidOf(pid));
  process.kill(pid, 'SIGWINCH');
  await waitUntil('the warning is logged', () => /WARN launcher node: SimulatedWarning: simulated launcher warning/.test(read(inst.logFile)));
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env })).code, 0);
});

test('a launcher bug (an uncaught exception) is logged with its stack; the server is stopped and the PID file removed', async (t) => {
  const inst = instance(t);
  // A preload that plants a bug in the launcher only: a SIGWINCH listener that throws.
  const bug = join(inst.dir, 'launcher-bug.cjs');
  writeFileSync(bug, "if (process.argv.includes('__launcher')) process.on('SIGWINCH', () => { throw new Error('simulated launcher bug'); });\n");
  const env = { ...inst.env, NODE_OPTIONS: `--require ${bug}` };
  const { pid } = await startDaemon({ ...inst, env });
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);
  process.kill(pid, 'SIGWINCH');
  await waitUntil('the launcher and the server are gone', () => !isAlive(pid) && !isAlive(server));
  const log = read(inst.logFile);
  assert.match(log, /FATAL launcher launcher bug, exiting: Error: simulated launcher bug/);
  assert.match(log, /at process\.<anonymous>/, 'with its stack');
  assert.ok(!existsSync(inst.pidFile));
});

test('a server that crashes while serving (out of memory): V8\'s fatal output on stderr is in the log, with the crash line', async (t) => {
  const inst = instance(t);
  // A preload that makes only the server exhaust a small heap on SIGWINCH; any core dump lands in the temp dir.
  const hog = join(inst.dir, 'server-hog.cjs');
  writeFileSync(
    hog,
    `if ((process.argv[1] || '').endsWith('server.js')) process.on('SIGWINCH', () => { process.chdir(${JSON.stringify(inst.dir)}); const hog = []; setInterval(() => { for (let i = 0; i < 50; i++) hog.push(new Array(100000).fill(i)); }, 0); });\n`,
  );
  const env = { ...inst.env, NODE_OPTIONS: `--require ${hog} --max-old-space-size=64` };
  const { pid, url } = await startDaemon({ ...inst, env });
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);
  assert.equal((await get(`${url}/healthz`)).status, 200);
  process.kill(server, 'SIGWINCH');
  // Filling a 64 MB heap takes a second idle; it is slower beside other load.
  await waitUntil('the launcher notices the crash and exits', () => !isAlive(pid), 6 * SLACK_MS);
  const log = read(inst.logFile);
  assert.match(log, /heap out of memory|Reached heap limit/, 'V8\'s fatal error (stderr) is in the log');
  assert.match(log, /ERROR launcher the server exited unexpectedly \(killed by SIGABRT\)|ERROR launcher the server exited unexpectedly \(exit code \d+\)/);
  assert.ok(!existsSync(inst.pidFile));
});

test('under systemd with no log file, every line carries its journal priority (<6> info, <3> error)', async (t) => {
  const inst = instance(t);
  // systemd sets INVOCATION_ID for every unit; with it the gateway logs to stdout, i.e. the journal.
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], { ...inst.env, INVOCATION_ID: 'test-invocation' });
  const url = await fg.url();
  await fg.waitFor(/^<6>\S+ INFO launcher ai-proxy \S+ serving on /m);
  const answered = await post(`${url}/v1/chat/completions`, { model: 'mock', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(answered.status, 200);
  await answered.body?.cancel();
  await fg.waitFor(/^<6>\S+ INFO access .*POST \/v1\/chat\/completions/m);
  writeFileSync(inst.config, 'listen: { port: "not a port" }\n');
  assert.equal((await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env })).code, 1);
  await fg.waitFor(/^<3>\S+ ERROR launcher reload \(control\) rejected/m);
  const unprefixed = fg.output.split('\n').filter((line) => line !== '' && !/^<[0-7]>/.test(line));
  assert.deepEqual(unprefixed, [], 'every line has a priority');
  fg.child.kill('SIGTERM');
  assert.equal((await fg.exited).code, 0);
});
