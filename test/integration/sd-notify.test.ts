/**
 * sd_notify as systemd sees it (DESIGN §5): the real launcher (`ai-proxy run`, as ExecStart runs
 * it) talks to a real AF_UNIX datagram socket that reads each sender's SCM_CREDENTIALS. Under
 * NotifyAccess=main systemd believes only the kernel-attested sender, never the MAINPID= field,
 * so every test checks that every datagram came from the launcher's own pid.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createSdNotifier } from '../../src/launcher/sd-notify.ts';
import { BIN, chatStream, childrenOf, gatedUpstream, get, instance, isAlive, openStream, post, runCli, SLACK_MS, startDaemon, waitUntil, type Instance } from '../helpers/cli.ts';
import { openNotifySocket, type NotifyMessage, type NotifySocket } from '../helpers/notify-socket.ts';

/** 1 s, a ping every 500 ms: wide enough apart that a loaded machine's scheduling delays do not blur 500 ms into 1000 ms. */
const WATCHDOG_USEC = 1_000_000;
const WATCHDOG_INTERVAL_MS = WATCHDOG_USEC / 2000;
const SHUTDOWN_TIMEOUT_MS = 5_000;
/** The launcher's grace after the shutdown deadline before it kills the server (supervisor.ts). */
const KILL_GRACE_MS = 2_000;

function yaml(extra = '', reply = 'Hello from the ai-proxy mock provider.', tokensPerSecond = 0): string {
  return [
    'listen:',
    '  host: 127.0.0.1',
    '  port: 0',
    `shutdown-timeout: ${SHUTDOWN_TIMEOUT_MS / 1000}s`,
    // Every reload in these tests is one the test asks for; a file watcher would add its own.
    'watch-config: false',
    'providers:',
    '  - name: mock',
    '    type: mock',
    '    models: [mock, mock-*]',
    '    mock:',
    `      reply: ${JSON.stringify(reply)}`,
    `      tokens-per-second: ${tokensPerSecond}`,
    extra,
  ].join('\n');
}

/** CLOCK_MONOTONIC in µs, the clock of MONOTONIC_USEC and of the receiver's timestamps. */
const monotonicUsec = (): number => Number(process.hrtime.bigint() / 1000n);

interface Launcher {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

/**
 * `ai-proxy run` in the foreground, as systemd's ExecStart runs it. With `watchdogPidIsSelf`, it
 * is started through `sh -c 'WATCHDOG_PID=$$ exec …'`, so WATCHDOG_PID names the launcher itself,
 * exactly as systemd sets it.
 */
function runLauncher(t: TestContext, inst: Instance, env: NodeJS.ProcessEnv, options: { watchdogPidIsSelf?: boolean } = {}): Launcher {
  const args = [BIN, 'run', '-c', inst.config, '--pid-file', inst.pidFile];
  const child = options.watchdogPidIsSelf
    ? spawn('sh', ['-c', 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@"', process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      for (const server of childrenOf(child.pid as number)) signalQuietly(server, 'SIGCONT');
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 5_000)))]);
      clearTimeout(timer);
      if (stopped === null) {
        for (const server of childrenOf(child.pid as number)) signalQuietly(-server, 'SIGKILL');
        child.kill('SIGKILL');
        await exited;
      }
    }
  });
  assert.ok(child.pid !== undefined, 'the launcher started');
  return { child, pid: child.pid, exited, output: () => output };
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function receiver(t: TestContext, dir: string): Promise<NotifySocket> {
  const socket = await openNotifySocket(dir);
  t.after(() => socket.close());
  return socket;
}

/** Under NotifyAccess=main, systemd accepts only datagrams whose SCM_CREDENTIALS name the main PID (the test's own sentinels aside). */
function assertAllFrom(notify: NotifySocket, pid: number, sentinels: readonly NotifyMessage[] = []): void {
  assert.ok(notify.messages.length > 0, 'at least one datagram arrived');
  for (const [i, m] of notify.messages.entries()) {
    if (sentinels.includes(m)) continue;
    assert.equal(m.pid, pid, `datagram #${i} ${JSON.stringify(m.raw)} was sent by pid ${m.pid}, not by the launcher (${pid})`);
  }
}

const isReady = (m: NotifyMessage): boolean => m.fields.READY === '1';
const isWatchdog = (m: NotifyMessage): boolean => m.fields.WATCHDOG === '1';

/** The READY=1 of startup, checked against the launcher's pid; returns the URL its STATUS names. */
async function readyUrl(notify: NotifySocket, launcherPid: number): Promise<string> {
  const ready = await notify.waitFor(isReady);
  assert.equal(ready.pid, launcherPid, 'READY=1 comes from the launcher (the main PID)');
  assert.equal(ready.fields.MAINPID, String(launcherPid));
  const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(ready.fields.STATUS ?? '');
  assert.ok(match !== null, `STATUS names the URL: ${ready.raw}`);
  return match[1] as string;
}

async function serverPidOf(launcherPid: number): Promise<number> {
  return waitUntil('the server process exists', () => childrenOf(launcherPid)[0]);
}

function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** RELOADING=1 then READY=1 after index `from`; checks MONOTONIC_USEC against CLOCK_MONOTONIC. */
async function reloadPair(notify: NotifySocket, from: number, askedAtUsec: number): Promise<{ reloading: NotifyMessage; ready: NotifyMessage }> {
  const reloading = await notify.waitFor((m) => m.fields.RELOADING === '1', undefined, from);
  const stamp = Number(reloading.fields.MONOTONIC_USEC);
  assert.ok(/^\d+$/.test(reloading.fields.MONOTONIC_USEC ?? ''), `MONOTONIC_USEC is an integer: ${reloading.raw}`);
  assert.ok(stamp >= askedAtUsec, `MONOTONIC_USEC ${stamp} is not before the reload was asked for (${askedAtUsec})`);
  assert.ok(stamp <= reloading.receivedMonotonicUsec, `MONOTONIC_USEC ${stamp} is not after the datagram arrived (${reloading.receivedMonotonicUsec})`);
  const ready = await notify.waitFor(isReady, undefined, notify.messages.indexOf(reloading) + 1);
  return { reloading, ready };
}

test('READY=1 with MAINPID and STATUS comes from the launcher once the gateway serves', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path });

  const url = await readyUrl(notify, launcher.pid);
  // At READY=1 the gateway already answers: systemctl start returns on it.
  const health = await get(`${url}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  assert.ok(isReady(notify.messages[0] as NotifyMessage), `READY=1 is the first datagram: ${notify.messages[0]?.raw}`);

  launcher.child.kill('SIGTERM');
  assert.deepEqual(await launcher.exited, { code: 0, signal: null });
  assertAllFrom(notify, launcher.pid);
});

test('ai-proxy reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 with the applied generation', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path });
  const url = await readyUrl(notify, launcher.pid);

  writeFileSync(inst.config, yaml('', 'A reloaded reply.'));
  const from = notify.messages.length;
  const askedAt = monotonicUsec();
  const result = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /generation 2/);

  const { ready } = await reloadPair(notify, from, askedAt);
  assert.match(ready.fields.STATUS ?? '', /^reload \(control\) applied: generation 2, hash [0-9a-f]+/);
  // The verdict is on the wire before the CLI returns: systemctl reload (ExecReload=ai-proxy reload) sees READY=1 first.
  assert.ok(notify.messages.indexOf(ready) >= 0);
  const reply = await post(`${url}/v1/chat/completions`, { model: 'mock', messages: [{ role: 'user', content: 'hi' }] });
  assert.match(await reply.text(), /A reloaded reply\./);

  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);
  assertAllFrom(notify, launcher.pid);
});

test('SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 with the applied generation', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path });
  await readyUrl(notify, launcher.pid);

  writeFileSync(inst.config, yaml('', 'Reloaded by SIGHUP.'));
  let from = notify.messages.length;
  let askedAt = monotonicUsec();
  launcher.child.kill('SIGHUP');
  const first = await reloadPair(notify, from, askedAt);
  assert.match(first.ready.fields.STATUS ?? '', /^reload \(signal\) applied: generation 2, hash [0-9a-f]+/);

  // An unchanged file is still a verdict: same generation, "no change".
  from = notify.messages.length;
  askedAt = monotonicUsec();
  launcher.child.kill('SIGHUP');
  const second = await reloadPair(notify, from, askedAt);
  assert.match(second.ready.fields.STATUS ?? '', /^reload \(signal\) applied: generation 2, .*no change/);
  assert.ok(Number(second.reloading.fields.MONOTONIC_USEC) > Number(first.reloading.fields.MONOTONIC_USEC), 'MONOTONIC_USEC increases from one reload to the next');

  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);
  assertAllFrom(notify, launcher.pid);
});

test('a rejected config: RELOADING=1, then READY=1 whose STATUS carries the reason, and the gateway keeps serving', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path });
  const url = await readyUrl(notify, launcher.pid);

  writeFileSync(inst.config, yaml('shutdown-timout: 3s'));
  const from = notify.messages.length;
  const askedAt = monotonicUsec();
  const result = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /shutdown-timout/);

  const { ready } = await reloadPair(notify, from, askedAt);
  const status = ready.fields.STATUS ?? '';
  assert.match(status, /^reload \(control\) rejected, still serving generation 1: /);
  assert.match(status, /shutdown-timout/, 'STATUS names what is wrong');
  assert.ok(!status.includes('\n'));
  assert.ok(notify.messages.slice(from).every((m) => m.fields.STOPPING === undefined), 'a rejected config never stops the service');

  const health = await get(`${url}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);
  assertAllFrom(notify, launcher.pid);
});

test('stop: STOPPING=1, then EXTEND_TIMEOUT_USEC while an open stream drains', async (t) => {
  // The stream is held by the upstream until the test lets it finish, so it is still draining
  // whatever the load: the steps below wait on events, not on a stream's remaining duration.
  const upstream = await gatedUpstream(t, 'upstream');
  const inst = instance(t, yaml(upstream.providerYaml('up', ['slow'])));
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path });
  const url = await readyUrl(notify, launcher.pid);

  const stream = openStream(t, `${url}/v1/chat/completions`, chatStream('slow'));
  await stream.waitFor(/first chunk from upstream/);

  const from = notify.messages.length;
  const stopAt = monotonicUsec();
  launcher.child.kill('SIGTERM');
  await notify.waitFor((m) => m.fields.STOPPING === '1', undefined, from);
  await waitUntil('the server drains', () => launcher.output().includes('draining: 1 requests in flight'));
  // A reload asked for while draining (SIGHUP straight to the server, as `systemctl kill -s HUP`
  // does) is refused, and systemd must not hear READY=1 after STOPPING=1.
  process.kill(await serverPidOf(launcher.pid), 'SIGHUP');
  const refused = await notify.waitFor((m) => /refused: the gateway is stopping/.test(m.fields.STATUS ?? ''), undefined, from);
  assert.equal(refused.fields.READY, undefined, `a refused reload while stopping is not READY=1: ${refused.raw}`);
  upstream.release();
  const { complete, body } = await stream.done;
  const streamEndedAt = monotonicUsec();
  assert.ok(complete, body);
  assert.match(body, /last chunk from upstream[\s\S]*data: \[DONE\]\n\n$/, 'the stream finished normally during the drain');
  assert.ok(streamEndedAt > stopAt && refused.receivedMonotonicUsec > stopAt, 'the stream was still open when the stop began');
  assert.deepEqual(await launcher.exited, { code: 0, signal: null });

  const stopping = await notify.waitFor((m) => m.fields.STOPPING === '1', undefined, from);
  assert.match(stopping.fields.STATUS ?? '', /shutting down \(SIGTERM\)/);
  const extend = await notify.waitFor((m) => m.fields.EXTEND_TIMEOUT_USEC !== undefined, undefined, from);
  assert.ok(notify.messages.indexOf(extend) > notify.messages.indexOf(stopping), 'EXTEND_TIMEOUT_USEC follows STOPPING=1');
  assert.ok(extend.receivedMonotonicUsec < streamEndedAt, 'EXTEND_TIMEOUT_USEC arrived while the stream was still draining');
  const usec = Number(extend.fields.EXTEND_TIMEOUT_USEC);
  assert.ok(usec >= SHUTDOWN_TIMEOUT_MS * 1000, `EXTEND_TIMEOUT_USEC=${usec} covers the shutdown timeout`);
  assert.ok(usec <= (SHUTDOWN_TIMEOUT_MS + KILL_GRACE_MS) * 1000 + 1_000_000, `EXTEND_TIMEOUT_USEC=${usec} is not far beyond the launcher's own deadline`);
  const afterStopping = notify.messages.slice(notify.messages.indexOf(stopping));
  assert.deepEqual(afterStopping.filter((m) => isReady(m) || m.fields.RELOADING !== undefined), [], 'no READY=1 or RELOADING=1 once stopping');
  assertAllFrom(notify, launcher.pid);
});

test('watchdog: WATCHDOG=1 every WATCHDOG_USEC/2 only while the server answers the heartbeat', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: String(WATCHDOG_USEC) }, { watchdogPidIsSelf: true });
  await readyUrl(notify, launcher.pid);
  const server = await serverPidOf(launcher.pid);
  t.after(() => signalQuietly(server, 'SIGCONT'));

  // The variables are the launcher's alone: a server that inherited them could notify, or feed the watchdog itself.
  assert.equal(environOf(launcher.pid).WATCHDOG_PID, String(launcher.pid), 'WATCHDOG_PID names the launcher, as systemd sets it');
  const serverEnv = environOf(server);
  for (const key of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) assert.equal(serverEnv[key], undefined, `the server's environment has no ${key}`);

  const steady = await pings(notify, 6, notify.messages.length);
  const gaps = steady.slice(1).map((m, i) => (m.receivedMonotonicUsec - (steady[i] as NotifyMessage).receivedMonotonicUsec) / 1000);
  const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] as number;
  // Scheduling delays only lengthen a gap; the upper bound stays short of WATCHDOG_USEC itself
  // (the interval not halved), the lower one well above a quarter of it.
  assert.ok(median > WATCHDOG_INTERVAL_MS * 0.6 && median < WATCHDOG_INTERVAL_MS * 1.8, `WATCHDOG=1 about every ${WATCHDOG_INTERVAL_MS} ms (gaps ${gaps.join(', ')} ms)`);

  // A hung server (SIGSTOP: its event loop answers nothing) must starve systemd's watchdog.
  process.kill(server, 'SIGSTOP');
  await waitUntil('the server is stopped', () => stateOf(server) === 'T');
  // A pong written just before the stop may still be on its way. A control round trip has the
  // launcher's loop read everything queued for it before (its IPC channel was ready first), and
  // the socket is FIFO: once our sentinel arrives, every WATCHDOG=1 sent before is in. After
  // that, silence.
  assert.equal((await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
  const sentinel = createSdNotifier({ NOTIFY_SOCKET: notify.path });
  sentinel.status('sentinel: the server is stopped');
  sentinel.close();
  const mark = await notify.waitFor((m) => m.fields.STATUS === 'sentinel: the server is stopped');
  const quietFrom = notify.messages.indexOf(mark) + 1;
  const window = WATCHDOG_INTERVAL_MS * 5;
  await new Promise((resolve) => setTimeout(resolve, window));
  assert.deepEqual(notify.messages.slice(quietFrom).filter(isWatchdog), [], `no WATCHDOG=1 for ${window} ms while the server is stopped`);
  assert.ok(isAlive(launcher.pid), 'the launcher itself keeps running');

  process.kill(server, 'SIGCONT');
  // The server answers the heartbeats queued while it was stopped at once (a burst), then the
  // pings go on at their pace: wait for two beyond the burst.
  const first = await notify.waitFor(isWatchdog, undefined, quietFrom);
  const paced = await notify.waitFor((m) => isWatchdog(m) && m.receivedMonotonicUsec > first.receivedMonotonicUsec + (WATCHDOG_INTERVAL_MS * 1000) / 2, undefined, quietFrom);
  await pings(notify, 2, notify.messages.indexOf(paced) + 1);

  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);
  assertAllFrom(notify, launcher.pid, [mark]);
});

test('ai-proxy restart: RELOADING=1 with MONOTONIC_USEC, then READY=1 with the verdict; the main PID stays, and the watchdog follows the new server', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: String(WATCHDOG_USEC) }, { watchdogPidIsSelf: true });
  await readyUrl(notify, launcher.pid);
  const oldServer = await serverPidOf(launcher.pid);

  const from = notify.messages.length;
  const askedAt = monotonicUsec();
  const result = await runCli(['restart', '--json', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const newServer = (JSON.parse(result.stdout) as { serverPid: number }).serverPid;
  assert.notEqual(newServer, oldServer);
  const { ready } = await reloadPair(notify, from, askedAt);
  assert.match(ready.fields.STATUS ?? '', new RegExp(`^restart \\(control\\) done: pid ${newServer} \\(version [^,]+, generation 2`));
  // MAINPID is not sent again: systemd's main process is the launcher, as before.
  assert.equal(ready.fields.MAINPID, undefined);
  await waitUntil('the old server has drained and exited', () => !isAlive(oldServer));

  // The watchdog pings the new server: stopped, it starves systemd's watchdog.
  await pings(notify, 2, notify.messages.length);
  t.after(() => signalQuietly(newServer, 'SIGCONT'));
  process.kill(newServer, 'SIGSTOP');
  await waitUntil('the new server is stopped', () => stateOf(newServer) === 'T');
  assert.equal((await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
  const sentinel = createSdNotifier({ NOTIFY_SOCKET: notify.path });
  sentinel.status('sentinel: the new server is stopped');
  sentinel.close();
  const mark = await notify.waitFor((m) => m.fields.STATUS === 'sentinel: the new server is stopped');
  const quietFrom = notify.messages.indexOf(mark) + 1;
  const window = WATCHDOG_INTERVAL_MS * 5;
  await new Promise((resolve) => setTimeout(resolve, window));
  assert.deepEqual(notify.messages.slice(quietFrom).filter(isWatchdog), [], `no WATCHDOG=1 for ${window} ms while the serving server is stopped`);
  process.kill(newServer, 'SIGCONT');
  await pings(notify, 2, quietFrom);

  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);
  assertAllFrom(notify, launcher.pid, [mark]);
});

test('watchdog: WATCHDOG_PID naming another process means no WATCHDOG=1 at all', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const launcher = runLauncher(t, inst, { ...inst.env, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: String(WATCHDOG_USEC), WATCHDOG_PID: String(process.pid) });
  await readyUrl(notify, launcher.pid);

  // A control round trip after READY=1 proves the launcher has been running its loop the whole window.
  await new Promise((resolve) => setTimeout(resolve, WATCHDOG_INTERVAL_MS * 4));
  const status = await runCli(['status', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(notify.messages.filter(isWatchdog), [], 'the watchdog belongs to another process');

  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);
  assertAllFrom(notify, launcher.pid);
});

test('without NOTIFY_SOCKET nothing is sent at all', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  // WATCHDOG_USEC alone must not wake anything up either.
  const launcher = runLauncher(t, inst, { ...inst.env, WATCHDOG_USEC: String(WATCHDOG_USEC) });
  const url = (await waitUntil('the launcher logs its URL', () => /serving on (http:\/\/\S+)/.exec(launcher.output())?.[1])) as string;
  const health = await get(`${url}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();

  assert.equal(environOf(await serverPidOf(launcher.pid)).WATCHDOG_USEC, undefined, "the server's environment has no WATCHDOG_USEC");
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0, reload.stderr);
  launcher.child.kill('SIGTERM');
  assert.equal((await launcher.exited).code, 0);

  // The socket is FIFO: once our own sentinel arrives, anything the launcher sent was read before it.
  const sentinel = createSdNotifier({ NOTIFY_SOCKET: notify.path });
  sentinel.status('sentinel');
  sentinel.close();
  await notify.waitFor((m) => m.fields.STATUS === 'sentinel');
  assert.deepEqual(
    notify.messages.map((m) => m.raw),
    ['STATUS=sentinel'],
    'the launcher sent no datagram',
  );
});

test('run -d with NOTIFY_SOCKET: READY=1 and STOPPING=1 come from the detached launcher', async (t) => {
  const inst = instance(t, yaml());
  const notify = await receiver(t, inst.dir);
  const withNotify: Instance = { ...inst, env: { ...inst.env, NOTIFY_SOCKET: notify.path } };
  const { pid, url } = await startDaemon(withNotify);

  const ready = await notify.waitFor(isReady);
  assert.equal(ready.pid, pid, 'READY=1 was sent by the detached launcher, not by the `run -d` command');
  assert.equal(ready.fields.MAINPID, String(pid));
  assert.equal(ready.fields.STATUS, `serving on ${url}`);
  const server = await serverPidOf(pid);
  assert.equal(environOf(server).NOTIFY_SOCKET, undefined, "the server's environment has no NOTIFY_SOCKET");

  const from = notify.messages.length;
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stderr);
  const stopping = await notify.waitFor((m) => m.fields.STOPPING === '1', undefined, from);
  assert.match(stopping.fields.STATUS ?? '', /ai-proxy stop/);
  await waitUntil('the launcher is gone', () => !isAlive(pid));
  assertAllFrom(notify, pid);
});

/** Waits for `count` WATCHDOG=1 datagrams from index `from` on; each must follow the last within two intervals (plus slack for a loaded machine). */
async function pings(notify: NotifySocket, count: number, from: number): Promise<NotifyMessage[]> {
  const seen: NotifyMessage[] = [];
  let next = from;
  while (seen.length < count) {
    const ping = await notify.waitFor(isWatchdog, WATCHDOG_INTERVAL_MS * 2 + SLACK_MS, next);
    seen.push(ping);
    next = notify.messages.indexOf(ping) + 1;
  }
  return seen;
}

function stateOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.charAt(stat.lastIndexOf(')') + 2);
}

test('an unreachable NOTIFY_SOCKET is reported once in the log (run -d), and the gateway serves regardless', async (t) => {
  const inst = instance(t, yaml());
  const missing = join(inst.dir, 'no-such-notify.sock');
  const { pid, url } = await startDaemon({ ...inst, env: { ...inst.env, NOTIFY_SOCKET: missing } });
  const health = await get(`${url}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  // The second datagram (the reload's) fails too, but is not reported again.
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0, reload.stderr);
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(!isAlive(pid));

  // A detached launcher's stderr is /dev/null: its own errors must reach the log file.
  const log = readFileSync(inst.logFile, 'utf8');
  const reports = log.split('\n').filter((line) => line.includes(`sd_notify to ${missing} failed`));
  assert.equal(reports.length, 1, `one report of the failed sd_notify in the log:\n${log}`);
  assert.match(reports[0] as string, /ENOENT|ECONNREFUSED/);
});
