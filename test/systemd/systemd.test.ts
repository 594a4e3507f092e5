// The shipped unit (etc/systemd/ai-proxy.service) under a real systemd: a Debian bookworm guest
// booted with systemd-nspawn, with the release installed as a user installs it (npm pack, then
// npm install -g) and the host's node bound in read-only at the paths the shipped unit names.
//
//   node --import tsx --test test/systemd/systemd.test.ts
//
// Needs root. The first run builds the guest tree (test/systemd/build-tree.sh, about a minute,
// cached in /var/cache/ai-proxy-test; AI_PROXY_TEST_TREE overrides the path). How it works and
// what it relaxes: docs/operations-systemd.md, "Testing the unit".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Guest, poll, run } from '../helpers/nspawn.ts';
import { installRelease, packRelease } from '../helpers/release.ts';

const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const TREE = process.env.AI_PROXY_TEST_TREE ?? '/var/cache/ai-proxy-test/bookworm-systemd';
const BUILD_TREE = join(CHECKOUT, 'test/systemd/build-tree.sh');
const UNIT = 'ai-proxy.service';
const UNIT_PATH = `/etc/systemd/system/${UNIT}`;
const DROP_IN = `/etc/systemd/system/${UNIT}.d/50-test.conf`;
const CONFIG = '/etc/ai-proxy/ai-proxy.yaml';
/** Where the shipped unit expects the package: Debian's nodejs with npm's default global prefix. */
const GUEST_PACKAGE = '/usr/local/lib/node_modules/ai-proxy';
const BASE = 'http://127.0.0.1:8317';

// Only what a test needs changed from the shipped unit; see docs/operations-systemd.md.
const TEST_DROP_IN = `[Service]
# A short watchdog so the test sees several WATCHDOG=1 pings in seconds (shipped: 30 s); not
# shorter, so that a ping delayed by a loaded host does not get the unit killed.
WatchdogSec=8
`;

// The file watcher is off so that every reload the test sees is the one `systemctl reload` asked for.
// slow-1 streams 20 words at 10 per second: a stream that is in flight for 2 s.
const SLOW_REPLY = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty';
const config = (models: string[]): string => `listen: { host: 127.0.0.1, port: 8317 }
watch-config: false
providers:
  - name: mock
    type: mock
    models: [${models.join(', ')}]
  - name: slow
    type: mock
    models: [slow-1]
    mock: { tokens-per-second: 10, reply: "${SLOW_REPLY}" }
`;
// Run by the guest's systemd (systemd-run), so the client is nobody's child on the host side.
const STREAM_CLIENT = `#!/bin/sh
curl -sS -N --max-time 30 -H 'content-type: application/json' \\
  -d '{"model":"slow-1","stream":true,"messages":[{"role":"user","content":"count"}]}' \\
  ${BASE}/v1/chat/completions >/run/stream.out 2>/run/stream.err
echo $? >/run/stream.rc
`;
// Requests back to back for 12 s, each on a new connection; a refused or failed one is counted.
const LOAD_CLIENT = `#!/bin/sh
end=$(( $(date +%s) + 12 )); ok=0; failed=0
while [ "$(date +%s)" -lt "$end" ]; do
  code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' ${BASE}/healthz 2>>/run/load.err)
  if [ "$code" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  echo "$ok" > /run/load.progress
done
echo "$ok $failed" > /run/load.out
`;
const SOCKET_UNIT = 'ai-proxy.socket';
const BAD_VALUE = 'listen: { port: "not-a-port" }\n';
const BAD_YAML = 'listen: { host: 127.0.0.1, port: 8317\nproviders: [\n';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const treeReady = (): boolean => existsSync(join(TREE, '.ai-proxy-tree-ok'));
const say = (line: string): void => void process.stderr.write(`[systemd-test] ${line}\n`);

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, debootstrap)';
  if (process.platform !== 'linux') return 'needs Linux';
  if (!has('nsenter')) return 'needs nsenter (util-linux)';
  if (has('apt-get')) return undefined;
  if (!treeReady()) return `no guest tree at ${TREE} and no apt-get to build one`;
  if (!has('systemd-nspawn')) return 'no systemd-nspawn and no apt-get to install systemd-container';
  return undefined;
}

async function ensureTree(): Promise<void> {
  if (!treeReady()) say(`building the guest tree in ${TREE} (once; about a minute)`);
  const started = Date.now();
  // Progress goes straight to our stderr; bounded like every other wait.
  const r = await run('sh', [BUILD_TREE, TREE], { timeoutMs: 10 * 60_000, });
  process.stderr.write(r.stderr);
  assert.equal(r.code, 0, `build-tree.sh failed (${r.code})`);
  say(`guest tree ready (${Math.round((Date.now() - started) / 1000)} s)`);
}

// ---- guest helpers -------------------------------------------------------------------------

async function systemctl(g: Guest, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  const r = await g.exec(['systemctl', ...args], { timeoutMs });
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
}

async function show(g: Guest): Promise<Record<string, string>> {
  const props = ['ActiveState', 'SubState', 'MainPID', 'NRestarts', 'Result', 'ExecMainStatus', 'StatusText', 'WatchdogTimestampMonotonic', 'ControlGroup'];
  const r = await g.exec(['systemctl', 'show', UNIT, ...props.map((p) => `--property=${p}`)]);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** One request, no retry: status 0 when nothing answers. */
async function get(g: Guest, path: string): Promise<{ status: number; body: string }> {
  const r = await g.exec(['curl', '-sS', '--max-time', '20', '-w', '\n%{http_code}', `${BASE}${path}`], { timeoutMs: 30_000 });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)) || 0, body: r.stdout.slice(0, Math.max(0, i)) };
}

/** Model ids in a /v1/models answer (OpenAI list format), sorted. */
function modelIds(body: string): string[] {
  return [...body.matchAll(/"id"\s*:\s*"([^"]+)"/g)].map((m) => m[1] ?? '').sort();
}

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

/** Every process in the guest whose command line names ai-proxy (launcher, server, CLI). */
async function gatewayProcesses(g: Guest): Promise<Proc[]> {
  const r = await g.exec(['ps', '-e', '-o', 'pid=,ppid=,args=']);
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && /ai-proxy/.test(m[3] ?? ''))
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
}

async function alive(g: Guest, pid: number): Promise<boolean> {
  return (await g.exec(['kill', '-0', String(pid)])).code === 0;
}

async function journal(g: Guest, lines = 60): Promise<string> {
  const r = await g.exec(['journalctl', '--no-pager', '-o', 'short-monotonic', '-n', String(lines), '-u', UNIT], { timeoutMs: 10_000 });
  return r.stdout;
}

async function resetUnit(g: Guest): Promise<void> {
  await systemctl(g, ['stop', UNIT]);
  await systemctl(g, ['reset-failed', UNIT]);
}

/** Starts the unit unless it runs, so one failed scenario does not take the next ones down. */
async function ensureRunning(g: Guest): Promise<void> {
  if ((await show(g)).ActiveState === 'active') return;
  await systemctl(g, ['reset-failed', UNIT]);
  const r = await systemctl(g, ['start', UNIT], 60_000);
  assert.equal(r.code, 0, `precondition: systemctl start failed: ${r.out}`);
}

async function waitRunning(g: Guest, notPid: string | undefined, timeoutMs: number): Promise<Record<string, string>> {
  return poll(`${UNIT} to be active with a new main PID`, timeoutMs, async () => {
    const s = await show(g);
    return s.ActiveState === 'active' && s.SubState === 'running' && s.MainPID !== '0' && s.MainPID !== notPid ? s : undefined;
  }, 200);
}

// ---- the test ------------------------------------------------------------------------------

test('the shipped systemd unit works under a real systemd', { timeout: 15 * 60_000 }, async (t) => {
  const reason = whyNot();
  if (reason !== undefined) {
    t.skip(reason);
    return;
  }
  await ensureTree();
  const installed = await installRelease(await packRelease(t));
  if ('skip' in installed) {
    t.skip(installed.skip);
    return;
  }

  const started = Date.now();
  const guest = await Guest.boot({
    tree: TREE,
    machine: `ai-proxy-test-${process.pid}`,
    binds: [
      { host: realpathSync(process.execPath), guest: '/usr/bin/node' },
      { host: installed.root, guest: GUEST_PACKAGE },
    ],
    bootTimeoutMs: 60_000,
    log: say,
  });

  // A subtest whose failure message ends with the unit's journal.
  const scenario = (name: string, fn: () => Promise<void>): Promise<void> =>
    t.test(name, { timeout: 120_000 }, async () => {
      try {
        await fn();
      } catch (err) {
        const j = await journal(guest).catch((e: unknown) => `(journal unavailable: ${String(e)})`);
        if (err instanceof Error) err.message += `\n--- journal of ${UNIT} ---\n${j}`;
        throw err;
      }
    });

  try {
    // Installed as docs/operations-systemd.md says: the command linked as npm -g links it, the unit
    // from \`ai-proxy systemd-unit\`, which for this layout must be the shipped file unchanged.
    const install = await guest.sh(`set -e
      ln -sf ${GUEST_PACKAGE}/bin/ai-proxy.js /usr/local/bin/ai-proxy
      ai-proxy systemd-unit > ${UNIT_PATH}
      cmp ${UNIT_PATH} ${GUEST_PACKAGE}/etc/systemd/${UNIT}
      node --version`);
    assert.equal(install.code, 0, `installing in the guest failed (is ${process.execPath} self-contained?): ${install.stderr}`);

    await scenario('systemd-analyze verify accepts the unit', async () => {
      const r = await guest.exec(['systemd-analyze', 'verify', UNIT_PATH], { timeoutMs: 30_000 });
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.code, 0, `systemd-analyze verify failed:\n${out}`);
      assert.doesNotMatch(out, /ai-proxy/, `systemd-analyze verify warns about the unit:\n${out}`);
    });

    await guest.writeFile(DROP_IN, TEST_DROP_IN);
    assert.equal((await systemctl(guest, ['daemon-reload'])).code, 0);

    await scenario('a config error fails `systemctl start` (no READY=1 for a server that is not serving)', async () => {
      await guest.writeFile(CONFIG, BAD_VALUE);
      const t0 = Date.now();
      const r = await systemctl(guest, ['start', UNIT], 60_000);
      say(`failed start returned ${r.code} after ${Date.now() - t0} ms`);
      assert.notEqual(r.code, 0, `systemctl start succeeded with a broken config: ${r.out}`);
      assert.notEqual((await show(guest)).ActiveState, 'active');
      // It failed for the reason we gave it, said in the journal (not a crash before loading).
      const logged = await guest.exec(['journalctl', '--no-pager', '-o', 'cat', '-u', UNIT]);
      assert.match(logged.stdout, /listen\.port|not-a-port/, 'the journal does not say what is wrong with the config');
      await resetUnit(guest);
    });

    await guest.writeFile(CONFIG, config(['mock-1']));

    await scenario('`systemctl start` returns only when the gateway serves (Type=notify)', async () => {
      const t0 = Date.now();
      const r = await systemctl(guest, ['start', UNIT], 60_000);
      say(`systemctl start took ${Date.now() - t0} ms`);
      assert.equal(r.code, 0, `systemctl start failed: ${r.out}`);
      // No polling: the start job finishes on READY=1, so the gateway must answer right now.
      const health = await get(guest, '/healthz');
      assert.equal(health.status, 200, `GET /healthz right after start: ${health.status} ${health.body}`);
      const models = await get(guest, '/v1/models');
      assert.equal(models.status, 200);
      assert.match(models.body, /mock-1/);

      const s = await show(guest);
      assert.equal(s.ActiveState, 'active');
      assert.equal(s.SubState, 'running');
      say(`StatusText: ${s.StatusText ?? ''}`);
      // The main PID is the launcher that systemd started (NotifyAccess=main counts on it).
      const main = (await gatewayProcesses(guest)).find((p) => String(p.pid) === s.MainPID);
      assert.ok(main, `MainPID ${s.MainPID} is not an ai-proxy process`);
      assert.match(main.args, new RegExp(`^/usr/bin/node ${GUEST_PACKAGE}/bin/ai-proxy\\.js run$`));
      // Logs go to the journal under systemd.
      const logged = await guest.exec(['journalctl', '--no-pager', '-o', 'cat', '-t', 'ai-proxy']);
      assert.notEqual(logged.stdout.trim(), '', 'the gateway logged nothing to the journal');
    });

    await scenario("root's `ai-proxy status` finds the service through $RUNTIME_DIRECTORY", async () => {
      await ensureRunning(guest);
      const r = await guest.exec(['ai-proxy', 'status'], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, `ai-proxy status: ${r.code}\n${r.stdout}${r.stderr}`);
      assert.match(`${r.stdout}${r.stderr}`, /\/run\/ai-proxy\/ai-proxy\.pid/);
    });

    await scenario('the launcher sends WATCHDOG=1 while the server is healthy', async () => {
      await ensureRunning(guest);
      const first = await show(guest);
      const seen = new Set<string>([first.WatchdogTimestampMonotonic ?? '']);
      // WatchdogSec=8: a ping every 4 s; two new pings within 30 s (8 s when idle).
      await poll('two WATCHDOG=1 pings', 30_000, async () => {
        seen.add((await show(guest)).WatchdogTimestampMonotonic ?? '');
        return seen.size >= 3;
      }, 250);
      const now = await show(guest);
      assert.equal(now.MainPID, first.MainPID, 'the main process changed (watchdog timeout?)');
      assert.equal(now.NRestarts, first.NRestarts, 'the service was restarted (watchdog timeout?)');
    });

    await scenario('`systemctl reload` applies a valid change before it returns', async () => {
      await ensureRunning(guest);
      const before = await show(guest);
      await guest.writeFile(CONFIG, config(['mock-1', 'mock-2']));
      const r = await systemctl(guest, ['reload', UNIT], 60_000);
      assert.equal(r.code, 0, `systemctl reload failed: ${r.out}`);
      const models = await get(guest, '/v1/models');
      assert.match(models.body, /mock-2/, `the new model is not served after reload: ${models.body}`);
      const after = await show(guest);
      assert.equal(after.ActiveState, 'active');
      assert.equal(after.MainPID, before.MainPID, 'reload restarted the launcher');
      // READY=1 after the reload carries the verdict in STATUS=.
      assert.match(after.StatusText ?? '', /applied/i, `StatusText after reload: ${after.StatusText}`);
    });

    await scenario('`systemctl reload` fails on a broken config and the gateway keeps serving', async () => {
      await ensureRunning(guest);
      const before = await show(guest);
      const served = modelIds((await get(guest, '/v1/models')).body);
      assert.ok(served.length > 0, 'no models served before the reload');
      for (const [what, text] of [['an invalid value', BAD_VALUE], ['a YAML syntax error', BAD_YAML]] as const) {
        await guest.writeFile(CONFIG, text);
        const r = await systemctl(guest, ['reload', UNIT], 60_000);
        assert.notEqual(r.code, 0, `systemctl reload succeeded with ${what}`);
        const s = await show(guest);
        assert.equal(s.ActiveState, 'active', `not active after a rejected reload (${what})`);
        assert.equal(s.SubState, 'running');
        assert.equal(s.MainPID, before.MainPID, `the launcher changed after a rejected reload (${what})`);
        assert.match(s.StatusText ?? '', /rejected/i, `StatusText after a rejected reload: ${s.StatusText}`);
        assert.equal((await get(guest, '/healthz')).status, 200);
        assert.deepEqual(modelIds((await get(guest, '/v1/models')).body), served, `the old config is no longer served (${what})`);
      }
      await guest.writeFile(CONFIG, config(['mock-1', 'mock-2']));
      const ok = await systemctl(guest, ['reload', UNIT], 60_000);
      assert.equal(ok.code, 0, `reload of the restored config failed: ${ok.out}`);
    });

    await scenario('SIGKILL to the main process gets the service restarted (Restart=on-failure)', async () => {
      await ensureRunning(guest);
      const before = await show(guest);
      const oldMain = Number(before.MainPID);
      const oldServers = (await gatewayProcesses(guest)).filter((p) => p.ppid === oldMain).map((p) => p.pid);
      assert.ok(oldServers.length > 0, 'the launcher has no child server process');
      assert.equal((await guest.exec(['kill', '-KILL', String(oldMain)])).code, 0);
      const after = await waitRunning(guest, before.MainPID, 30_000);
      assert.equal(Number(after.NRestarts), Number(before.NRestarts) + 1);
      assert.equal((await get(guest, '/healthz')).status, 200, 'not serving after the restart');
      for (const pid of [oldMain, ...oldServers]) assert.equal(await alive(guest, pid), false, `old process ${pid} survived`);
    });

    await scenario('`systemctl stop` lets an in-flight stream finish (KillMode=mixed, graceful drain)', async () => {
      await ensureRunning(guest);
      await guest.writeFile('/run/stream-client.sh', STREAM_CLIENT, '0755');
      const client = await guest.exec(['systemd-run', '--quiet', '--unit=stream-client', '/run/stream-client.sh']);
      assert.equal(client.code, 0, `systemd-run: ${client.stderr}`);
      await poll('the stream to start', 30_000, async () => /data:/.test((await guest.exec(['cat', '/run/stream.out'])).stdout));
      const t0 = Date.now();
      const r = await systemctl(guest, ['stop', UNIT], 90_000);
      const took = Date.now() - t0;
      say(`systemctl stop with a stream in flight took ${took} ms`);
      assert.equal(r.code, 0, `systemctl stop failed: ${r.out}`);
      const rc = await poll('the stream client to finish', 30_000, async () => {
        const c = await guest.exec(['cat', '/run/stream.rc']);
        return c.code === 0 ? c.stdout.trim() : undefined;
      });
      const out = (await guest.exec(['cat', '/run/stream.out', '/run/stream.err'])).stdout;
      assert.equal(rc, '0', `the stream was cut (curl exit ${rc}):\n${out.slice(-500)}`);
      assert.match(out, /twenty/, 'the stream ended before its last word');
      assert.match(out, /data: \[DONE\]\s*$/, 'the stream has no [DONE]');
      assert.equal((await show(guest)).Result, 'success');
    });

    await scenario('`ai-proxy restart` under systemd: a new server child, the same main PID, the stream in flight finishes, READY=1 with the verdict', async () => {
      await ensureRunning(guest);
      const before = await show(guest);
      const oldServers = (await gatewayProcesses(guest)).filter((p) => String(p.ppid) === before.MainPID).map((p) => p.pid);
      await guest.exec(['rm', '-f', '/run/stream.out', '/run/stream.err', '/run/stream.rc']);
      await guest.writeFile('/run/stream-client.sh', STREAM_CLIENT, '0755');
      const client = await guest.exec(['systemd-run', '--quiet', '--unit=stream-client-restart', '/run/stream-client.sh']);
      assert.equal(client.code, 0, `systemd-run: ${client.stderr}`);
      await poll('the stream to start', 30_000, async () => /data:/.test((await guest.exec(['cat', '/run/stream.out'])).stdout));
      const r = await guest.exec(['ai-proxy', 'restart'], { timeoutMs: 90_000 });
      assert.equal(r.code, 0, `ai-proxy restart: ${r.code}\n${r.stdout}${r.stderr}`);
      const after = await show(guest);
      assert.equal(after.MainPID, before.MainPID, 'the launcher is the same process');
      assert.equal(after.ActiveState, 'active');
      assert.match(after.StatusText ?? '', /restart \(control\) done/, `StatusText after the restart: ${after.StatusText}`);
      const newServers = (await gatewayProcesses(guest)).filter((p) => String(p.ppid) === before.MainPID && !oldServers.includes(p.pid));
      assert.ok(newServers.length > 0, 'a new server child runs');
      const rc = await poll('the stream client to finish', 30_000, async () => {
        const c = await guest.exec(['cat', '/run/stream.rc']);
        return c.code === 0 ? c.stdout.trim() : undefined;
      });
      const out = (await guest.exec(['cat', '/run/stream.out', '/run/stream.err'])).stdout;
      assert.equal(rc, '0', `the stream was cut (curl exit ${rc}):\n${out.slice(-500)}`);
      assert.match(out, /data: \[DONE\]\s*$/, 'the stream has no [DONE]');
      // The watchdog follows the new server: pings go on, and systemd does not restart the unit.
      const seen = new Set<string>([after.WatchdogTimestampMonotonic ?? '']);
      await poll('WATCHDOG=1 pings after the restart', 30_000, async () => {
        seen.add((await show(guest)).WatchdogTimestampMonotonic ?? '');
        return seen.size >= 2;
      }, 250);
      assert.equal((await show(guest)).NRestarts, before.NRestarts);
      for (const pid of oldServers) await poll(`the old server ${pid} to exit`, 30_000, async () => !(await alive(guest, pid)), 200);
    });

    await scenario('socket activation: `systemctl restart ai-proxy` under load refuses no connection', async () => {
      await systemctl(guest, ['stop', UNIT], 90_000);
      await guest.writeFile(`/etc/systemd/system/${SOCKET_UNIT}`, readFileSync(join(CHECKOUT, 'etc/systemd', SOCKET_UNIT), 'utf8'));
      assert.equal((await systemctl(guest, ['daemon-reload'])).code, 0);
      try {
        const started = await systemctl(guest, ['start', SOCKET_UNIT]);
        assert.equal(started.code, 0, `systemctl start ${SOCKET_UNIT}: ${started.out}`);
        // The first connection starts the service (Type=notify: it serves once active).
        assert.equal((await get(guest, '/healthz')).status, 200);
        assert.match(await journal(guest, 200), /systemd's socket 127\.0\.0\.1:8317/, 'the launcher adopted the socket systemd passed');
        await guest.exec(['rm', '-f', '/run/load.out']);
        await guest.writeFile('/run/load-client.sh', LOAD_CLIENT, '0755');
        const load = await guest.exec(['systemd-run', '--quiet', '--unit=load-client', '/run/load-client.sh']);
        assert.equal(load.code, 0, `systemd-run: ${load.stderr}`);
        await poll('the load to run', 30_000, async () => (await guest.exec(['test', '-s', '/run/load.progress'])).code === 0, 100);
        const before = await show(guest);
        for (let i = 0; i < 2; i++) {
          const r = await systemctl(guest, ['restart', UNIT], 90_000);
          assert.equal(r.code, 0, `systemctl restart: ${r.out}`);
        }
        assert.notEqual((await show(guest)).MainPID, before.MainPID, 'the service was restarted');
        const result = await poll('the load client to finish', 60_000, async () => {
          const c = await guest.exec(['cat', '/run/load.out']);
          return c.code === 0 && c.stdout.trim() !== '' ? c.stdout.trim() : undefined;
        }, 250);
        const [ok, failed] = result.split(' ').map(Number);
        say(`socket activation, 2 restarts under load: ${ok} requests answered, ${failed} failed`);
        const errors = (await guest.exec(['cat', '/run/load.err'])).stdout.trim();
        assert.equal(failed, 0, `connections were refused or failed during systemctl restart (${result}):\n${errors.slice(-1000)}`);
        assert.ok((ok ?? 0) > 20, `enough load ran (${result})`);
      } finally {
        await systemctl(guest, ['stop', SOCKET_UNIT, UNIT], 90_000);
        await guest.exec(['rm', '-f', `/etc/systemd/system/${SOCKET_UNIT}`]);
        await systemctl(guest, ['daemon-reload']);
        await systemctl(guest, ['reset-failed', UNIT]);
      }
    });

    await scenario('`systemctl stop` stops cleanly and leaves no process', async () => {
      await ensureRunning(guest);
      const t0 = Date.now();
      const r = await systemctl(guest, ['stop', UNIT], 90_000);
      const took = Date.now() - t0;
      say(`systemctl stop took ${took} ms`);
      assert.equal(r.code, 0, `systemctl stop failed: ${r.out}`);
      const s = await show(guest);
      assert.equal(s.ActiveState, 'inactive');
      assert.deepEqual(await gatewayProcesses(guest), [], 'processes left after stop');
      assert.equal((await get(guest, '/healthz')).status, 0, 'something still answers on the port');
      // SIGTERM drains and exits 0 by itself: no SIGKILL after TimeoutStopSec, no failure result.
      assert.equal(s.Result, 'success', `stop result ${s.Result} (exit status ${s.ExecMainStatus})`);
      // Far from TimeoutStopSec=45, whose SIGKILL this guards against (and Result would say so).
      assert.ok(took < 30_000, `stop took ${took} ms with nothing to drain`);
      const st = await guest.exec(['ai-proxy', 'status'], { timeoutMs: 30_000 });
      assert.equal(st.code, 3, `ai-proxy status after stop: ${st.code} (LSB: 3 = not running)\n${st.stdout}${st.stderr}`);
    });

    await scenario('systemd logged no complaint about the unit (notify access, watchdog, unit file)', async () => {
      const r = await guest.exec(['journalctl', '--no-pager', '-o', 'cat', '_PID=1']);
      const complaints = r.stdout
        .split('\n')
        .filter((l) => /ai-proxy/.test(l) && /reception only permitted|watchdog timeout|unknown key|ignoring|not executable|unsafe|deprecated/i.test(l));
      assert.deepEqual(complaints, []);
    });
  } finally {
    await guest.shutdown();
    say(`guest up and torn down in ${Math.round((Date.now() - started) / 100) / 10} s`);
  }
});
