import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSdNotifier, stripNotifyEnv } from '../../src/launcher/sd-notify.ts';
import { openNotifySocket } from '../helpers/notify-socket.ts';
import type { NotifyMessage, NotifySocket } from '../helpers/notify-socket.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const sdNotifyModule = new URL('../../src/launcher/sd-notify.ts', import.meta.url).href;
/** A fresh Node with tsx: seconds on a loaded machine. */
const CHILD_TIMEOUT_MS = 60_000;

/** Runs an ESM snippet in a fresh node (with tsx); resolves with its stdout. */
function runNode(code: string, env: NodeJS.ProcessEnv): Promise<{ pid: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repoRoot, env, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`child failed: ${error.message}\nstderr: ${stderr}`));
      else resolve({ pid: child.pid ?? -1, stdout });
    });
  });
}

describe('sd-notify', () => {
  let dir: string;
  let receiver: NotifySocket;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-proxy-sd-'));
    receiver = await openNotifySocket(dir);
  });
  after(async () => {
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends through a fresh notifier and returns what the receiver got, checking the sender is us. */
  async function sendOne(send: (n: ReturnType<typeof createSdNotifier>) => void): Promise<NotifyMessage> {
    const errors: Error[] = [];
    const notifier = createSdNotifier({ NOTIFY_SOCKET: receiver.path }, { onError: (e) => errors.push(e) });
    const from = receiver.messages.length;
    send(notifier);
    notifier.close();
    const message = await receiver.waitFor(() => true, undefined, from);
    assert.deepEqual(errors, []);
    assert.equal(message.pid, process.pid, 'SCM_CREDENTIALS name the sending process');
    assert.equal(message.uid, process.getuid?.());
    assert.equal(message.gid, process.getgid?.());
    return message;
  }

  it('is enabled with a socket path', () => {
    const notifier = createSdNotifier({ NOTIFY_SOCKET: receiver.path });
    assert.equal(notifier.enabled, true);
    assert.equal(notifier.watchdogUsec, null);
  });

  it('sends READY=1 with MAINPID and STATUS', async () => {
    const m = await sendOne((n) => n.ready('serving on 127.0.0.1:8317'));
    assert.equal(m.raw, `READY=1\nMAINPID=${process.pid}\nSTATUS=serving on 127.0.0.1:8317`);
  });

  it('sends RELOADING=1 with a CLOCK_MONOTONIC timestamp', async () => {
    const before = process.hrtime.bigint() / 1000n;
    const m = await sendOne((n) => n.reloading());
    assert.deepEqual(Object.keys(m.fields), ['RELOADING', 'MONOTONIC_USEC']);
    assert.equal(m.fields.RELOADING, '1');
    const sent = BigInt(m.fields.MONOTONIC_USEC ?? 'x');
    // The receiver stamps arrival with Python's clock_gettime(CLOCK_MONOTONIC): had we sent another
    // clock (realtime, boottime after a suspend), the stamp would not fall in this window.
    assert.ok(sent >= before, `MONOTONIC_USEC ${sent} precedes the send (${before})`);
    assert.ok(sent <= BigInt(m.receivedMonotonicUsec), `MONOTONIC_USEC ${sent} is after its arrival at ${m.receivedMonotonicUsec} on CLOCK_MONOTONIC`);
    // Realtime would be decades off; 60 s covers any delay between the send and the receiver's read.
    assert.ok(BigInt(m.receivedMonotonicUsec) - sent < 60_000_000n, 'sent and received within 60 s');
  });

  it('sends the reload verdict as READY=1 with STATUS', async () => {
    const m = await sendOne((n) => n.reloaded('reload applied (generation 2)'));
    assert.equal(m.raw, 'READY=1\nSTATUS=reload applied (generation 2)');
  });

  it('sends STOPPING=1, with or without a status', async () => {
    assert.equal((await sendOne((n) => n.stopping())).raw, 'STOPPING=1');
    assert.equal((await sendOne((n) => n.stopping('draining 3 streams'))).raw, 'STOPPING=1\nSTATUS=draining 3 streams');
  });

  it('sends EXTEND_TIMEOUT_USEC, STATUS and WATCHDOG=1', async () => {
    assert.equal((await sendOne((n) => n.extendTimeout(5_000_000))).raw, 'EXTEND_TIMEOUT_USEC=5000000');
    assert.equal((await sendOne((n) => n.status('4 requests in flight'))).raw, 'STATUS=4 requests in flight');
    assert.equal((await sendOne((n) => n.watchdog())).raw, 'WATCHDOG=1');
  });

  it('keeps STATUS on one line, so it cannot inject other fields', async () => {
    const m = await sendOne((n) => n.status('bad config\nREADY=1\r\nMAINPID=1'));
    assert.deepEqual(m.fields, { STATUS: 'bad config READY=1 MAINPID=1' });
  });

  it('sends nothing after close', async () => {
    const notifier = createSdNotifier({ NOTIFY_SOCKET: receiver.path });
    notifier.close();
    notifier.watchdog();
    // A marker sent afterwards arrives after anything the closed notifier might have sent.
    const from = receiver.messages.length;
    createSdNotifier({ NOTIFY_SOCKET: receiver.path }).status('marker');
    const first = await receiver.waitFor(() => true, undefined, from);
    assert.equal(first.raw, 'STATUS=marker');
  });

  it('credits the datagram to the process that sent it, not to its parent', async () => {
    const from = receiver.messages.length;
    // No close(): the child must still exit by itself, so sending leaves no handle holding the loop.
    const code = `
      import { createSdNotifier } from ${JSON.stringify(sdNotifyModule)};
      createSdNotifier().ready('child ' + process.pid);
      console.log(process.pid);
    `;
    const { pid, stdout } = await runNode(code, { ...process.env, NOTIFY_SOCKET: receiver.path });
    assert.equal(Number(stdout.trim()), pid);
    const m = await receiver.waitFor((x) => x.fields.STATUS === `child ${pid}`, undefined, from);
    assert.equal(m.pid, pid);
    assert.notEqual(m.pid, process.pid);
    assert.equal(m.fields.MAINPID, String(pid));
  });

  it('without NOTIFY_SOCKET, does nothing and never loads the socket module', async () => {
    const code = `
      import { createRequire } from 'node:module';
      import { createSdNotifier } from ${JSON.stringify(sdNotifyModule)};
      const notifier = createSdNotifier();
      notifier.ready('x'); notifier.reloading(); notifier.reloaded('x'); notifier.stopping('x');
      notifier.extendTimeout(1); notifier.status('x'); notifier.watchdog(); notifier.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('unix-dgram') || k.endsWith('.node'));
      console.log(JSON.stringify({ enabled: notifier.enabled, watchdogUsec: notifier.watchdogUsec, loaded }));
    `;
    const { stdout } = await runNode(code, stripNotifyEnv({ ...process.env, WATCHDOG_USEC: '1000000' }));
    assert.deepEqual(JSON.parse(stdout), { enabled: false, watchdogUsec: null, loaded: [] });
  });

  it('reports a dead socket once and never throws', () => {
    for (const path of [join(dir, 'missing.sock'), staleSocket(join(dir, 'stale.sock'))]) {
      const errors: Error[] = [];
      const notifier = createSdNotifier({ NOTIFY_SOCKET: path }, { onError: (e) => errors.push(e) });
      assert.equal(notifier.enabled, true);
      notifier.ready('x');
      notifier.reloading();
      notifier.watchdog();
      notifier.stopping();
      assert.equal(errors.length, 1, `one report for ${path}`);
      assert.match(errors[0]?.message ?? '', new RegExp(`sd_notify to ${path} failed \\((ENOENT|ECONNREFUSED)\\)`));
    }
  });

  it('survives a reporter that throws', () => {
    const notifier = createSdNotifier(
      { NOTIFY_SOCKET: join(dir, 'missing.sock') },
      {
        onError: () => {
          throw new Error('reporter bug');
        },
      },
    );
    assert.doesNotThrow(() => notifier.ready('x'));
  });

  it('degrades with one warning for addresses unix-dgram cannot reach', () => {
    for (const [address, reason] of [
      ['@ai-proxy-test', /abstract socket/],
      ['run/notify', /not an absolute socket path/],
      ['vsock:2:1234', /not an absolute socket path/],
      [`/${'x'.repeat(120)}`, /longer than 107 bytes/],
    ] as const) {
      const errors: Error[] = [];
      const notifier = createSdNotifier({ NOTIFY_SOCKET: address, WATCHDOG_USEC: '1000000' }, { onError: (e) => errors.push(e) });
      assert.equal(notifier.enabled, false, address);
      assert.equal(notifier.watchdogUsec, null);
      notifier.ready('x');
      notifier.watchdog();
      assert.equal(errors.length, 1, address);
      assert.match(errors[0]?.message ?? '', reason);
    }
  });

  it('reads WATCHDOG_USEC only when the watchdog is meant for this process', () => {
    const base = { NOTIFY_SOCKET: receiver.path };
    assert.equal(createSdNotifier({ ...base, WATCHDOG_USEC: '30000000' }).watchdogUsec, 30_000_000);
    assert.equal(createSdNotifier({ ...base, WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) }).watchdogUsec, 30_000_000);
    assert.equal(createSdNotifier({ ...base, WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid + 1) }).watchdogUsec, null);
    for (const bad of ['', '0', '-5', '1.5', 'abc']) assert.equal(createSdNotifier({ ...base, WATCHDOG_USEC: bad }).watchdogUsec, null, bad);
  });

  it('strips the notify variables for the child server and leaves the rest', () => {
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '1', WATCHDOG_PID: '2', PATH: '/bin', HOME: '/root' };
    assert.deepEqual(stripNotifyEnv(env), { PATH: '/bin', HOME: '/root' });
    assert.equal(env.NOTIFY_SOCKET, '/run/systemd/notify', 'the original is untouched');
  });
});

/** A datagram socket file nobody listens on any more: sends to it get ECONNREFUSED. */
function staleSocket(path: string): string {
  const made = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])', path], { timeout: 60_000 });
  assert.equal(made.status, 0, `could not make a stale socket: ${made.stderr?.toString()}`);
  assert.ok(existsSync(path));
  return path;
}
