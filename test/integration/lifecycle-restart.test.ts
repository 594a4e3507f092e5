/**
 * `ai-proxy restart` beyond the load test: what the gateway learnt survives it, a stream that
 * outlives restart-drain-timeout is cut and reported, an upgrade of the files under a running
 * launcher is picked up by the next server while the launcher keeps working, and a root launcher
 * runs its server as the config's user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { assertCut, connectRefused, get, instance, openStream, post, runCli, startDaemon, waitUntil, type CommandResult } from '../helpers/cli.ts';
import { fakeUpstream, json, openaiCompletion } from '../helpers/fake-upstream.ts';
import { killInstanceOnExit, scriptedChat, scriptedUpstream } from '../helpers/reliability.ts';
import { cannotUse } from '../../src/launcher/run-as.ts';

const root = new URL('../..', import.meta.url).pathname;

function logOf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

test('a restart keeps what the gateway learnt: a cooled upstream key stays cooled, a client key\'s rpm is not doubled', { timeout: 120_000 }, async (t) => {
  const perKey = new Map<string, number>();
  const up = await fakeUpstream(t, (req, res) => {
    const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    if (key === 'up-key-hot') return json(res, 429, { error: { message: 'slow down', type: 'rate_limit', code: null } }, { 'retry-after': '600' });
    json(res, 200, openaiCompletion('m', 'fine'));
  });
  const yaml = [
    'listen:\n  host: 127.0.0.1\n  port: 0',
    'watch-config: false',
    'client-keys:\n  - name: limited\n    key: sk-limited-1b2c3d4e5f\n    rpm: 3\n  - name: free\n    key: sk-free-9a8b7c6d5e',
    'providers:',
    `  - name: up\n    type: openai-compatible\n    base-url: ${up.url}/v1\n    api-keys: [up-key-hot, up-key-ok]\n    models: [m]`,
    '  - name: mock\n    type: mock\n    models: [mock]',
    '',
  ].join('\n');
  const inst = instance(t, yaml);
  killInstanceOnExit(t, inst.dir);
  const { url } = await startDaemon(inst);
  const ask = (key: string, model: string): Promise<Response> => post(`${url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] }, { authorization: `Bearer ${key}` });

  // Until the hot key has answered 429 once, it is in the rotation; then it cools for 600 s.
  await waitUntil('the hot key was tried and cooled', async () => {
    assert.equal((await ask('sk-free-9a8b7c6d5e', 'm')).status, 200);
    return (perKey.get('up-key-hot') ?? 0) > 0;
  });
  const hotBefore = perKey.get('up-key-hot');
  for (let i = 0; i < 3; i++) assert.equal((await ask('sk-limited-1b2c3d4e5f', 'mock')).status, 200, `limited request ${i + 1} of its burst of 3`);

  const restart = await runCli(['restart', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(restart.code, 0, restart.stdout + restart.stderr);

  for (let i = 0; i < 6; i++) assert.equal((await ask('sk-free-9a8b7c6d5e', 'm')).status, 200);
  assert.equal(perKey.get('up-key-hot'), hotBefore, 'the new server did not send to the key the old one cooled');
  const refused = await ask('sk-limited-1b2c3d4e5f', 'mock');
  assert.equal(refused.status, 429, 'the 4th request within the minute is refused by the new server too');
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
  const admin = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal((JSON.parse(admin.stdout) as { servers: Array<{ generation: number }> }).servers[0]?.generation, 2);
});

test('a stream longer than restart-drain-timeout is cut at it with an error event, and the cut is reported', { timeout: 120_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const yaml = ['listen:\n  host: 127.0.0.1\n  port: 0', 'restart-drain-timeout: 1s', 'watch-config: false', 'providers:', up.providerYaml('up', ['rst-model']), ''].join('\n');
  const inst = instance(t, yaml);
  killInstanceOnExit(t, inst.dir);
  const { url } = await startDaemon(inst);
  // 200 events 50 ms apart: 10 s, far beyond the 1 s drain.
  const stream = openStream(t, `${url}/v1/chat/completions`, scriptedChat('rst-model', { id: 'long', events: 200, gapMs: 50 }, true));
  await stream.waitFor(/data: /);
  const restart = await runCli(['restart', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(restart.code, 0, restart.stdout + restart.stderr);
  assert.deepEqual((JSON.parse(restart.stdout) as { previous: { streams: number } }).previous.streams, 1, 'the verdict says the old server drains one stream');
  const result = await stream.done;
  assertCut(result, /"finish_reason":"stop"/);
  assert.match(result.body, /shutting down|restart/i, 'the client hears why, in its format');
  await waitUntil('the cut is reported', () => /previous server \(pid \d+\) drained: .*1 cut at the restart-drain-timeout/.test(logOf(inst.logFile)));
  // The new server serves meanwhile.
  assert.equal((await get(`${url}/healthz`)).status, 200);
});

test('a crash of the draining server is logged, not fatal; a restart while one drains is refused with what it has left, and --force cuts it', { timeout: 120_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const yaml = ['listen:\n  host: 127.0.0.1\n  port: 0', 'watch-config: false', 'providers:', up.providerYaml('up', ['rst-model']), ''].join('\n');
  const inst = instance(t, yaml);
  killInstanceOnExit(t, inst.dir);
  const { pid, url } = await startDaemon(inst);
  const restart = async (...flags: string[]): Promise<{ code: number; verdict: { serverPid: number; previous: { pid: number } | null; outcome: string; error: { message: string } | null } }> => {
    const r = await runCli(['restart', '--json', ...flags, '--pid-file', inst.pidFile], { env: inst.env });
    return { code: r.code ?? -1, verdict: JSON.parse(r.stdout) as never };
  };

  // A stream keeps the old server draining (100 events, 100 ms apart: 10 s).
  const first = openStream(t, `${url}/v1/chat/completions`, scriptedChat('rst-model', { id: 'a', events: 100, gapMs: 100 }, true));
  await first.waitFor(/data: /);
  const one = await restart();
  assert.equal(one.code, 0);
  const draining = one.verdict.previous?.pid as number;
  const refused = await restart();
  assert.equal(refused.code, 1);
  assert.equal(refused.verdict.outcome, 'refused');
  assert.match(refused.verdict.error?.message ?? '', new RegExp(`the previous server \\(pid ${draining}\\) is still draining 1 requests \\(1 streams\\) left; wait for it, or use --force`));

  // The draining server dies: logged, the gateway serves on.
  process.kill(draining, 'SIGKILL');
  await waitUntil('the crash is logged', () => new RegExp(`previous server \\(pid ${draining}\\) died while draining \\(killed by SIGKILL\\)`).test(logOf(inst.logFile)));
  assert.equal((await first.done).complete, false, 'its stream was cut by the crash');
  assert.equal((await get(`${url}/healthz`)).status, 200);

  // Again a drain, cut this time with --force: the next server starts once the cut one is gone.
  const second = openStream(t, `${url}/v1/chat/completions`, scriptedChat('rst-model', { id: 'b', events: 100, gapMs: 100 }, true));
  await second.waitFor(/data: /);
  const two = await restart();
  assert.equal(two.code, 0);
  const forced = await restart('--force');
  assert.equal(forced.code, 0, JSON.stringify(forced.verdict));
  assertCut(await second.done, /"finish_reason":"stop"/);
  const status = JSON.parse((await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env })).stdout) as { pid: number; servers: Array<{ pid: number; phase: string }> };
  assert.equal(status.pid, pid, 'the launcher is the one that started');
  assert.ok(status.servers.length <= 2, 'never more than two servers');
  assert.equal(status.servers[0]?.pid, forced.verdict.serverPid);
});

test('a listen change: reload rejects it naming restart, restart applies it; the old address closes once the old server is gone', { timeout: 120_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const yaml = (port: number): string => [`listen:\n  host: 127.0.0.1\n  port: ${port}`, 'watch-config: false', 'providers:', up.providerYaml('up', ['rst-model']), ''].join('\n');
  const inst = instance(t, yaml(0));
  killInstanceOnExit(t, inst.dir);
  const { url } = await startDaemon(inst);
  const oldPort = Number(new URL(url).port);
  // A port free a moment ago (bound, then closed by this process).
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const newPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  writeFileSync(inst.config, yaml(newPort));

  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 1);
  assert.match(reload.stderr, /the listen address cannot change on reload .*apply it with ai-proxy restart/);
  const restart = await runCli(['restart', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(restart.code, 0, restart.stdout + restart.stderr);
  const answer = await post(`http://127.0.0.1:${newPort}/v1/chat/completions`, scriptedChat('rst-model', { id: 'moved' }, false));
  assert.equal(answer.status, 200);
  const status = JSON.parse((await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env })).stdout) as { listen: { port: number } };
  assert.equal(status.listen.port, newPort);
  await waitUntil('the old address is closed', () => connectRefused(oldPort, 1_000));
});

/** The CLI of a copied package (not the repository's bin): what an installed ai-proxy is. */
function cliOf(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr } as CommandResult);
    });
  });
}

test('an upgrade under a running launcher: a server of another IPC protocol is refused, restart runs the new code, old streams finish on the old, status says the launcher is older, and every command still works', { timeout: 180_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const yaml = ['listen:\n  host: 127.0.0.1\n  port: 0', 'watch-config: false', 'server:\n  keep-alive-timeout: 2s', 'providers:', up.providerYaml('up', ['rst-model']), ''].join('\n');
  const inst = instance(t, yaml);
  killInstanceOnExit(t, inst.dir);
  // An installed copy of the package: its own bin, dist, package.json and sources to rebuild from.
  const pkg = join(inst.dir, 'pkg');
  mkdirSync(pkg);
  for (const part of ['bin', 'dist', 'src', 'scripts', 'etc', 'package.json', 'tsconfig.json']) cpSync(join(root, part), join(pkg, part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
  const bin = join(pkg, 'bin', 'ai-proxy.js');
  const started = await cliOf(bin, ['run', '-d', '--json', ...inst.flags], inst.env);
  assert.equal(started.code, 0, started.stdout + started.stderr);
  const { pid, url } = JSON.parse(started.stdout) as { pid: number; url: string };
  const before = JSON.parse((await cliOf(bin, ['status', '--json', '--pid-file', inst.pidFile], inst.env)).stdout) as { servers: Array<{ pid: number; version: string }>; launcher: { outdated: boolean } };
  assert.equal(before.launcher.outdated, false);
  const oldVersion = before.servers[0]?.version as string;

  // A stream opened before the upgrade, long enough to outlive it.
  const stream = openStream(t, `${url}/v1/chat/completions`, scriptedChat('rst-model', { id: 'old', events: 60, gapMs: 100 }, true));
  await stream.waitFor(/data: /);

  const rebuild = async (): Promise<void> => {
    const build = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(process.execPath, [join(pkg, 'scripts', 'build.mjs')], { cwd: pkg, timeout: 120_000 }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : 1, out: stdout + stderr })),
    );
    assert.equal(build.code, 0, build.out);
  };

  // First a release whose server speaks another IPC protocol: refused at restart, the old server untouched.
  const ipc = join(pkg, 'src', 'shared', 'ipc.ts');
  const ipcSource = readFileSync(ipc, 'utf8');
  const protocol = Number(/export const IPC_PROTOCOL = (\d+);/.exec(ipcSource)?.[1]);
  writeFileSync(ipc, ipcSource.replace(/export const IPC_PROTOCOL = \d+;/, 'export const IPC_PROTOCOL = 99;'));
  await rebuild();
  const refused = await cliOf(bin, ['restart', '--json', '--pid-file', inst.pidFile], inst.env);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  const why = JSON.parse(refused.stdout) as { error: { code: string; message: string }; serverPid: number };
  assert.equal(why.error.code, 'E_PROTOCOL');
  assert.match(why.error.message, new RegExp(`speaks IPC protocol 99, this launcher speaks ${protocol}: stop and start ai-proxy`));
  assert.equal(why.serverPid, before.servers[0]?.pid, 'the old server still serves');
  writeFileSync(ipc, ipcSource);

  // The upgrade: other code (its chunks get new names, the old ones are deleted) and another version.
  const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  manifest.version = `${oldVersion}-upgraded`;
  writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(pkg, 'src', 'server', 'main.ts'), readFileSync(join(pkg, 'src', 'server', 'main.ts'), 'utf8') + '\n// upgraded\n');
  await rebuild();

  const outdated = await cliOf(bin, ['status', '--pid-file', inst.pidFile], inst.env);
  assert.equal(outdated.code, 0, outdated.stdout + outdated.stderr);
  assert.match(outdated.stdout, new RegExp(`the code on disk \\(version ${manifest.version.replaceAll('.', '\\.')}, build \\w+\\) is newer than this launcher's`));

  const restart = await cliOf(bin, ['restart', '--json', '--pid-file', inst.pidFile], inst.env);
  assert.equal(restart.code, 0, restart.stdout + restart.stderr);
  const verdict = JSON.parse(restart.stdout) as { version: string; serverPid: number; pid: number };
  assert.equal(verdict.version, manifest.version, 'the new server runs the new code');
  assert.equal(verdict.pid, pid, 'the launcher is the same process');

  // New requests are answered by the new server; the old stream finishes on the old one, byte-exact.
  const fresh = await post(`${url}/v1/chat/completions`, scriptedChat('rst-model', { id: 'new' }, false), { connection: 'close' });
  assert.equal(fresh.status, 200);
  const result = await stream.done;
  assert.ok(result.complete, 'the stream opened before the upgrade completed');
  assert.equal(result.body, up.sent.get('old')?.toString('utf8'), 'byte-exact');

  const status = JSON.parse((await cliOf(bin, ['status', '--json', '--pid-file', inst.pidFile], inst.env)).stdout) as { servers: Array<{ pid: number; version: string }>; launcher: { outdated: boolean; version: string } };
  assert.equal(status.servers[0]?.version, manifest.version);
  assert.equal(status.launcher.version, oldVersion);
  assert.equal(status.launcher.outdated, true);
  const reload = await cliOf(bin, ['reload', '--pid-file', inst.pidFile], inst.env);
  assert.equal(reload.code, 0, reload.stdout + reload.stderr);
  const stop = await cliOf(bin, ['stop', '--pid-file', inst.pidFile], inst.env);
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  assert.doesNotMatch(logOf(inst.logFile), /launcher bug|ERR_MODULE_NOT_FOUND|Cannot find module/);
});

const asRoot = process.geteuid?.() === 0;

test('as root: the launcher binds a port below 1024 and runs the server as the config\'s user; a root-only secret file still resolves', { skip: asRoot ? false : 'needs root (CI runs as root)', timeout: 120_000 }, async (t) => {
  const seen: string[] = [];
  const up = await fakeUpstream(t, (req, res) => {
    seen.push(String(req.headers.authorization ?? ''));
    json(res, 200, openaiCompletion('m', 'fine'));
  });
  const inst = instance(t);
  killInstanceOnExit(t, inst.dir);
  const secret = join(inst.dir, 'upstream.key');
  writeFileSync(secret, 'sk-root-only-secret-77aa\n');
  chmodSync(secret, 0o600);
  assert.equal(statSync(secret).uid, 0);
  // Where this Node is out of nobody's reach (the CI's Node 22 and 24 live under /root), the drop
  // cannot work: the start must fail at once, saying why, rather than fork a child that never runs.
  const unreachable = cannotUse(process.execPath, { uid: 65534, gid: 65534, label: 'nobody' }, 'execute');
  if (unreachable !== null) {
    writeFileSync(inst.config, 'listen:\n  host: 127.0.0.1\n  port: 0\nuser: nobody\n');
    const refused = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /user: the server cannot run as nobody:nogroup \(65534:65534\): .* is not (searchable|executable) by nobody/);
    t.diagnostic(`this Node (${process.execPath}) is out of nobody's reach: the start was refused with the reason; the drop itself runs where Node is installed system-wide`);
    return;
  }
  // A free privileged port: the launcher's own EADDRINUSE says when one is taken, then the next is
  // tried. Within 900–988, which fetch() accepts (the Fetch standard's bad ports include 989–995).
  let started: Awaited<ReturnType<typeof startDaemon>> | null = null;
  for (let port = 900 + Math.floor(Math.random() * 60); started === null && port < 989; port++) {
    writeFileSync(
      inst.config,
      [
        `listen:\n  host: 127.0.0.1\n  port: ${port}`,
        'user: nobody',
        'providers:',
        `  - name: up\n    type: openai-compatible\n    base-url: ${up.url}/v1\n    api-keys: ["\${file:${secret}}"]\n    models: [m]`,
        '',
      ].join('\n'),
    );
    try {
      started = await startDaemon(inst);
    } catch (error) {
      if (!/already in use/.test(String(error))) throw error;
    }
  }
  assert.ok(started !== null, 'a privileged port was free');
  const status = JSON.parse((await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env })).stdout) as { servers: Array<{ pid: number }> };
  const serverPid = status.servers[0]?.pid as number;
  const ids = readFileSync(`/proc/${serverPid}/status`, 'utf8');
  assert.match(ids, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, 'the server runs as nobody');
  assert.match(ids, /^Gid:\s+65534\s+/m, 'with nobody\'s primary group');
  assert.match(readFileSync(`/proc/${started.pid}/status`, 'utf8'), /^Uid:\s+0\s/m, 'the launcher stays root');
  assert.match(logOf(inst.logFile), /server as nobody:nogroup \(65534:65534\)/);
  const answer = await post(`${started.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(answer.status, 200);
  assert.deepEqual(seen, ['Bearer sk-root-only-secret-77aa'], 'the secret only root can read reached the upstream');
  // A restart drops privileges again (and a reload re-reads the secret as root).
  const restart = await runCli(['restart', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(restart.code, 0, restart.stdout + restart.stderr);
  const next = (JSON.parse(restart.stdout) as { serverPid: number }).serverPid;
  assert.match(readFileSync(`/proc/${next}/status`, 'utf8'), /^Uid:\s+65534\s/m);
  assert.equal((await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('user: an unknown user is refused at start with the reason', { skip: asRoot ? false : 'needs root (the refusal for non-root is unit-tested)', timeout: 60_000 }, async (t) => {
  const inst = instance(t, 'listen:\n  host: 127.0.0.1\n  port: 0\nuser: no-such-user-xyz\n');
  killInstanceOnExit(t, inst.dir);
  const result = await runCli(['run', '-d', ...inst.flags], { env: inst.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /user: no user "no-such-user-xyz" in \/etc\/passwd/);
});
