/**
 * Config end to end (issue 2, point 8): flags beat AI_PROXY_* variables beat the file beat the
 * defaults; with no config file at all the gateway runs on its embedded default; the example
 * config runs as shipped once its key variables are set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { defaultYaml, get, instance, killOnExit, post, runCli, serverPidOf, startDaemon, type Instance } from '../helpers/cli.ts';

const root = new URL('../../', import.meta.url).pathname;

/** Starts, checks where it listens and which shutdown timeout it uses (from its stop line), stops. */
async function listenAndTimeout(t: Parameters<typeof instance>[0], inst: Instance, env: NodeJS.ProcessEnv, flags: string[]): Promise<{ host: string; port: number; timeout: string }> {
  const started = await startDaemon({ ...inst, env }, flags);
  killOnExit(t, started.pid, await serverPidOf(started.pid));
  assert.equal((await get(`${started.url}/healthz`)).status, 200);
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env });
  assert.equal(stop.code, 0, stop.stderr);
  const lines = readFileSync(inst.logFile, 'utf8').match(/shutting down \(delay \S+, timeout (\S+)\)/g) ?? [];
  const timeout = /timeout (\S+)\)/.exec(lines[lines.length - 1] ?? '')?.[1] ?? '?';
  const url = new URL(started.url);
  return { host: url.hostname, port: Number(url.port), timeout };
}

test('precedence end to end: --port/--host beat AI_PROXY_* beat the file beats the defaults', async (t) => {
  // Every candidate address is loopback (127.0.0.0/8), so whichever wins can bind; the port from the file (9) must lose.
  const inst = instance(t, defaultYaml('watch-config: false\n').replace('host: 127.0.0.1', 'host: 127.0.0.3').replace('port: 0', 'port: 9'));

  const fromEnv = await listenAndTimeout(t, inst, { ...inst.env, AI_PROXY_HOST: '127.0.0.2', AI_PROXY_PORT: '0', AI_PROXY_SHUTDOWN_TIMEOUT: '7s' }, []);
  assert.equal(fromEnv.host, '127.0.0.2');
  assert.notEqual(fromEnv.port, 9);
  assert.equal(fromEnv.timeout, '7s');

  const fromFlags = await listenAndTimeout(t, inst, { ...inst.env, AI_PROXY_HOST: '127.0.0.2', AI_PROXY_PORT: '9', AI_PROXY_SHUTDOWN_TIMEOUT: '7s' }, ['--host', '127.0.0.1', '--port', '0', '--shutdown-timeout', '3s']);
  assert.equal(fromFlags.host, '127.0.0.1');
  assert.notEqual(fromFlags.port, 9);
  assert.equal(fromFlags.timeout, '3s');

  const fromFile = await listenAndTimeout(t, inst, inst.env, ['--port', '0']);
  assert.equal(fromFile.host, '127.0.0.3');
  assert.equal(fromFile.timeout, '5s');
});

test('a bad AI_PROXY_* value is reported under its own name', async (t) => {
  const inst = instance(t);
  const result = await runCli(['run', '-d', ...inst.flags], { env: { ...inst.env, AI_PROXY_PORT: 'eighty' } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /AI_PROXY_PORT/);
});

test('with no config file anywhere, the gateway runs on the embedded default: loopback, the mock provider', async (t) => {
  const inst = instance(t);
  const empty = join(inst.dir, 'no-config-here');
  mkdirSync(empty);
  // No -c, no AI_PROXY_CONFIG; the directories searched hold nothing. --port 0: the default 8317 may be taken.
  const env = { ...inst.env, CONFIGURATION_DIRECTORY: empty, XDG_CONFIG_HOME: empty };
  const result = await runCli(['run', '-d', '--port', '0', '--pid-file', inst.pidFile, '--log-file', inst.logFile], { env });
  assert.equal(result.code, 0, result.stderr);
  const match = /pid (\d+), serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(result.stdout);
  assert.ok(match !== null, result.stdout);
  const pid = Number(match[1]);
  killOnExit(t, pid, await serverPidOf(pid));
  const url = match[2] as string;
  const reply = await post(`${url}/v1/chat/completions`, { model: 'mock', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(reply.status, 200);
  const status = await runCli(['status', '--pid-file', inst.pidFile], { env });
  assert.match(status.stdout, /config: +embedded default \(generation 1/);
  assert.match(readFileSync(inst.logFile, 'utf8'), /config embedded default/);
  const validate = await runCli(['validate'], { env });
  assert.equal(validate.code, 0, validate.stderr);
  assert.match(validate.stdout, /embedded default/);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env })).code, 0);
});

test('the example config runs as shipped once its key variables are set', async (t) => {
  const inst = instance(t);
  const env = { ...inst.env, OPENAI_API_KEY: 'sk-a', OPENAI_API_KEY_2: 'sk-b', ANTHROPIC_API_KEY: 'sk-ant', GEMINI_API_KEY: 'g-key', AI_PROXY_KEY_ALICE: 'alice-client-key-0123456789' };
  const example = join(root, 'etc', 'ai-proxy.example.yaml');
  const result = await runCli(['run', '-d', '-c', example, '--port', '0', '--pid-file', inst.pidFile, '--log-file', inst.logFile], { env });
  assert.equal(result.code, 0, result.stderr);
  const match = /pid (\d+), serving on (\S+)/.exec(result.stdout);
  assert.ok(match !== null);
  killOnExit(t, Number(match[1]), await serverPidOf(Number(match[1])));
  const url = match[2] as string;
  const chat = { model: 'mock', messages: [{ role: 'user', content: 'hi' }] };
  // The example configures client keys: no key, no service.
  assert.equal((await post(`${url}/v1/chat/completions`, chat)).status, 401);
  // "ci" is configured by the SHA-256 of its key ("password" in the example); it may use every model.
  assert.equal((await post(`${url}/v1/chat/completions`, chat, { authorization: 'Bearer password' })).status, 200);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env })).code, 0);
});

test('relative paths (AI_PROXY_CONFIG, AI_PROXY_PID_FILE, --log-file) mean the same to run -d as to status run from the same directory', async (t) => {
  const inst = instance(t);
  const env = { ...inst.env, AI_PROXY_CONFIG: 'ai-proxy.yaml', AI_PROXY_PID_FILE: 'run/relative.pid' };
  const result = await runCli(['run', '-d', '--log-file', 'log/relative.log'], { env, cwd: inst.dir });
  assert.equal(result.code, 0, result.stderr);
  const pid = Number(/pid (\d+)/.exec(result.stdout)?.[1]);
  killOnExit(t, pid, await serverPidOf(pid));
  assert.ok(result.stdout.includes(`pid file: ${join(inst.dir, 'run', 'relative.pid')}`), result.stdout);
  assert.ok(result.stdout.includes(`log file: ${join(inst.dir, 'log', 'relative.log')}`), result.stdout);
  assert.match(readFileSync(join(inst.dir, 'log', 'relative.log'), 'utf8'), new RegExp(`config ${inst.config.replace(/\./g, '\\.')}`));
  // The daemon does not keep the caller's directory busy.
  assert.equal(readlinkSync(`/proc/${pid}/cwd`), '/');
  const status = await runCli(['status'], { env, cwd: inst.dir });
  assert.equal(status.code, 0, status.stdout);
  assert.equal((await runCli(['stop'], { env, cwd: inst.dir })).code, 0);
});
