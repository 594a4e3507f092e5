/**
 * `ai-proxy run` in the foreground (issue 2, point 2, and the process/signal bullets): it serves
 * and logs to the terminal, Ctrl-C stops it gracefully, the server sits in its own process group,
 * and signals sent straight to the server never reach Node's defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { Foreground, SLACK_MS, assertCut, chatStream, connectRefused, defaultYaml, hangingServerEnv, gatedUpstream, get, instance, isAlive, killOnExit, loggedBetween, openStream, post, processGroupOf, serverPidOf, waitUntil } from '../helpers/cli.ts';

const INSPECTOR_PORT = 9229;

test('run in the foreground serves, logs to the terminal, and Ctrl-C stops it gracefully: exit 0, PID file gone', async (t) => {
  const inst = instance(t);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  const url = await fg.url();
  assert.equal((await get(`${url}/healthz`)).status, 200);
  const reply = await post(`${url}/v1/chat/completions`, { model: 'mock', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(reply.status, 200);
  assert.match(((await reply.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content ?? '', /mock provider/);
  assert.ok(existsSync(inst.pidFile));
  assert.equal(Number((await import('node:fs')).readFileSync(inst.pidFile, 'utf8')), fg.child.pid);
  // The access log reaches the terminal through the launcher.
  await fg.waitFor(/POST \/v1\/chat\/completions|\/v1\/chat\/completions.*200/);

  fg.child.kill('SIGINT');
  const exit = await fg.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.match(fg.output, /INFO launcher SIGINT: shutting down/);
  assert.match(fg.output, /INFO server stopped/);
  assert.match(fg.output, /INFO launcher stopped/);
  assert.ok(!existsSync(inst.pidFile), 'the PID file is removed');
  assert.ok(!existsSync(inst.pidFile.replace(/\.pid$/, '.sock')), 'the control socket is removed');
});

test('ai-proxy with no command is ai-proxy run', async (t) => {
  const inst = instance(t);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env, []);
  const url = await fg.url();
  assert.equal((await get(`${url}/healthz`)).status, 200);
  fg.child.kill('SIGTERM');
  assert.equal((await fg.exited).code, 0);
  assert.ok(!existsSync(inst.pidFile));
});

test('Ctrl-C while a stream is in flight: the stream finishes during the stop, then exit 0', async (t) => {
  const upstream = await gatedUpstream(t, 'upstream');
  const inst = instance(t, `listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: 20s\nwatch-config: false\nproviders:\n${upstream.providerYaml('up', ['slow'])}`);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  const url = await fg.url();
  const stream = openStream(t, `${url}/v1/chat/completions`, chatStream('slow'));
  await stream.waitFor(/first chunk from upstream/);

  fg.child.kill('SIGINT');
  await fg.waitFor(/draining: 1 requests in flight/);
  // Stopped accepting: a new connection is refused while the stream still runs.
  const port = Number(new URL(url).port);
  assert.equal(await connectRefused(port), true);
  assert.equal(fg.child.exitCode, null, 'the gateway waits for the stream');

  upstream.release();
  const { complete, body } = await stream.done;
  assert.ok(complete, `the stream was cut:\n${body}`);
  assert.match(body, /last chunk from upstream/);
  assert.match(body, /\[DONE\]/);
  assert.deepEqual(await fg.exited, { code: 0, signal: null });
  assert.ok(!existsSync(inst.pidFile));
});

test('the server runs in its own process group, so a terminal Ctrl-C reaches only the launcher', async (t) => {
  const inst = instance(t);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env, ['run'], { ownGroup: true });
  await fg.url();
  const launcher = fg.child.pid as number;
  const server = await serverPidOf(launcher);
  killOnExit(t, server);
  const serverGroup = processGroupOf(server);
  assert.equal(processGroupOf(launcher), launcher, 'the launcher leads the job\'s group, as under a terminal');
  assert.notEqual(serverGroup, processGroupOf(launcher));
  assert.equal(serverGroup, server, 'the server leads its own group');
  // What a terminal does on Ctrl-C: signal the foreground job's process group, which holds only the launcher.
  process.kill(-launcher, 'SIGINT');
  assert.equal((await fg.exited).code, 0);
  assert.equal(fg.output.match(/INFO server stopped/g)?.length, 1);
  assert.ok(!isAlive(server));
});

test('SIGHUP and SIGUSR1 sent straight to the server neither kill it nor open the inspector port', async (t) => {
  assert.equal(await connectRefused(INSPECTOR_PORT), true, `port ${INSPECTOR_PORT} is already open on this machine: the test cannot tell`);
  const inst = instance(t);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  const url = await fg.url();
  const server = await serverPidOf(fg.child.pid as number);
  killOnExit(t, server);

  process.kill(server, 'SIGUSR1');
  await fg.waitFor(/SIGUSR1 is handled by the launcher; ignored by the server/);
  process.kill(server, 'SIGHUP');
  // A signal sent to the server takes the launcher's path: a reload, with its verdict in the log.
  await fg.waitFor(/reload \(signal\) applied: generation 1, hash \w+, no change/);
  process.kill(server, 'SIGUSR2');
  await fg.waitFor(/SIGUSR2 is handled by the launcher; ignored by the server/);

  assert.ok(isAlive(server), 'the server survived');
  assert.equal(await connectRefused(INSPECTOR_PORT), true, 'no inspector listens on 9229');
  assert.equal((await get(`${url}/healthz`)).status, 200);
  assert.equal(fg.child.exitCode, null);

  // The launcher itself: SIGUSR1 reopens the log (the terminal here), SIGUSR2 restarts the server; neither kills it nor opens 9229.
  process.kill(fg.child.pid as number, 'SIGUSR1');
  process.kill(fg.child.pid as number, 'SIGUSR2');
  const restarted = await fg.waitFor(/restart \(signal\) done: pid (\d+) /);
  assert.notEqual(Number(restarted[1]), server, 'a new server child serves');
  assert.equal(await connectRefused(INSPECTOR_PORT), true);
  assert.equal((await get(`${url}/healthz`)).status, 200);

  fg.child.kill('SIGTERM');
  assert.equal((await fg.exited).code, 0);
});

test('a second Ctrl-C forces the stop at once: the stream is cut, exit 2', async (t) => {
  const upstream = await gatedUpstream(t, 'upstream');
  const inst = instance(t, `listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: 60s\nwatch-config: false\nproviders:\n${upstream.providerYaml('up', ['slow'])}`);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  const url = await fg.url();
  const server = await serverPidOf(fg.child.pid as number);
  killOnExit(t, server);
  const stream = openStream(t, `${url}/v1/chat/completions`, chatStream('slow'));
  await stream.waitFor(/first chunk from upstream/);

  fg.child.kill('SIGINT');
  await fg.waitFor(/draining: 1 requests in flight/);
  const forcedAt = Date.now();
  fg.child.kill('SIGINT');
  const exit = await fg.exited;
  const took = Date.now() - forcedAt;
  assert.deepEqual(exit, { code: 2, signal: null });
  assert.match(fg.output, /second SIGINT: forcing the shutdown now/);
  // At once, not at the 60 s shutdown-timeout: on the product's clock, then the whole exit on the test's.
  const forcedIn = loggedBetween(fg.output, /second SIGINT: forcing the shutdown now/, /INFO server stopped \(forced/);
  assert.ok(forcedIn < SLACK_MS, `the server stopped ${forcedIn} ms after the second SIGINT`);
  assert.ok(took < 2 * SLACK_MS, `the forced stop took ${took} ms`);
  assertCut(await stream.done);
  assert.ok(!isAlive(server));
  assert.ok(!existsSync(inst.pidFile));
});

test('kill -9 of the server: the launcher logs the crash with the signal, removes the PID file and exits non-zero', async (t) => {
  const inst = instance(t);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  await fg.url();
  const server = await serverPidOf(fg.child.pid as number);
  process.kill(server, 'SIGKILL');
  const exit = await fg.exited;
  assert.equal(exit.code, 1);
  assert.match(fg.output, /ERROR launcher the server exited unexpectedly \(killed by SIGKILL\)/);
  assert.ok(!existsSync(inst.pidFile), 'the PID file is removed');
  await waitUntil('the PID file lock is free for a successor', () => !existsSync(inst.pidFile), 1_000);
});

test('Ctrl-C while the server is still starting stops at once: nothing to drain, exit 0, nothing left', async (t) => {
  const inst = instance(t);
  // The server hangs in its start; only the startup deadline would end it.
  writeFileSync(inst.config, defaultYaml('startup-timeout: 60s\n'));
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], hangingServerEnv(inst.dir, inst.env));
  const server = await serverPidOf(fg.child.pid as number);
  killOnExit(t, server);
  const started = Date.now();
  fg.child.kill('SIGINT');
  const exit = await fg.exited;
  const took = Date.now() - started;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.match(fg.output, /INFO launcher SIGINT: stopping before the gateway was ready/);
  assert.match(fg.output, /INFO launcher stopped by SIGINT before the gateway was ready/);
  // At once, not at the 60 s startup-timeout.
  const stoppedIn = loggedBetween(fg.output, /SIGINT: stopping before the gateway was ready/, /stopped by SIGINT before the gateway was ready/);
  assert.ok(stoppedIn < SLACK_MS, `stopped ${stoppedIn} ms after SIGINT`);
  assert.ok(took < 2 * SLACK_MS, `the stop took ${took} ms`);
  assert.ok(!isAlive(server));
  assert.ok(!existsSync(inst.pidFile));
});

test('a terminal that goes away (EPIPE on stdout, as with `ai-proxy run | head -1`) crashes neither process', async (t) => {
  const inst = instance(t);
  const fg = new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
  const url = await fg.url();
  const server = await serverPidOf(fg.child.pid as number);
  killOnExit(t, server);
  fg.child.stdout?.destroy();
  // Access lines and the launcher's own lines now hit a closed pipe.
  for (let i = 0; i < 20; i++) assert.equal((await post(`${url}/v1/chat/completions`, { model: 'mock', messages: [{ role: 'user', content: 'hi' }] })).status, 200);
  process.kill(fg.child.pid as number, 'SIGHUP');
  assert.equal((await get(`${url}/healthz`)).status, 200);
  assert.ok(isAlive(fg.child.pid as number) && isAlive(server));
  fg.child.kill('SIGINT');
  assert.deepEqual(await fg.exited, { code: 0, signal: null });
  assert.ok(!isAlive(server) && !existsSync(inst.pidFile));
});
