/**
 * Restart under load (issue 11): `ai-proxy restart` and SIGUSR2 swap the server child while
 * every request and stream finishes. Plain requests on fresh and on reused (keep-alive)
 * connections and SSE streams that outlast a restart run the whole time, while the test restarts
 * 50 times — valid new configs, broken ones, and new servers that crash at start (the documented
 * test hook). Not one request may fail, no connection may be refused or reset, every stream must
 * be byte-exact, the launcher never accepts a connection itself, and its PID and PID file stay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get, instance, runCli, startDaemon, waitUntil } from '../helpers/cli.ts';
import { exchange, pick, randomInt, scriptedChat, scriptedUpstream, testSeed, type Exchange, killInstanceOnExit } from '../helpers/reliability.ts';
import { seededRandom } from '../helpers/random.ts';

const CLIENT_KEY = 'sk-restart-client-3b9d0e7a1c55';
const ROUNDS = 50;

type Kind = 'valid' | 'broken' | 'crash';
type Path = 'command' | 'sigusr2';

/** TCP connections on `port` held open by `pid`: what the launcher would hold had it accepted one. */
function establishedOn(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m !== null) inodes.add(m[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt((f[1] as string).split(':')[1] as string, 16);
      // 01: ESTABLISHED; the listening socket itself is 0A.
      if (localPort === port && f[3] === '01' && inodes.has(f[9] as string)) count++;
    }
  }
  return count;
}

test('restart under load: 50 restarts by ai-proxy restart and SIGUSR2, valid, broken and crashing; zero failed requests, every stream byte-exact', { timeout: 600_000 }, async (t) => {
  const seed = testSeed(0x5eed11);
  const rand = seededRandom(seed);
  t.diagnostic(`seed ${seed} (REL_SEED replays it)`);
  const up = await scriptedUpstream(t);

  const validYaml = (rev: number): string =>
    [
      `# revision ${rev}`,
      'listen:\n  host: 127.0.0.1\n  port: 0',
      // Idle keep-alive connections of a draining server close at this; clients stop reusing them 1 s before.
      'server:\n  keep-alive-timeout: 2s',
      'restart-drain-timeout: 60s',
      'watch-config: false',
      'client-keys:\n  - name: rst\n    key: ${RST_CLIENT_KEY}',
      'providers:',
      up.providerYaml('up', ['rst-model']).trimEnd(),
      `  - name: mock\n    type: mock\n    models: [mock]\n    mock:\n      reply: "mock revision ${rev}"`,
      '',
    ].join('\n');
  const brokenYaml = (rev: number): { yaml: string; marker: string } =>
    rev % 2 === 0
      ? { yaml: `${validYaml(rev)}unknown-r${rev}: true\n`, marker: `unknown key "unknown-r${rev}"` }
      : { yaml: validYaml(rev).replace('key: ${RST_CLIENT_KEY}', `key: \${MISSING_R${rev}}`), marker: `MISSING_R${rev} is not set` };

  const inst = instance(t, validYaml(0), { RST_CLIENT_KEY: CLIENT_KEY, AI_PROXY_TEST_CRASH_AT_START_IF: '' });
  const crashFile = join(inst.dir, 'crash-next-server');
  inst.env.AI_PROXY_TEST_CRASH_AT_START_IF = crashFile;
  killInstanceOnExit(t, inst.dir);
  const { pid, url } = await startDaemon(inst);
  const port = Number(new URL(url).port);
  const pidFileBefore = readFileSync(inst.pidFile, 'utf8');
  const auth = { authorization: `Bearer ${CLIENT_KEY}` };

  // --- load -------------------------------------------------------------------------------
  let loading = true;
  const failures: string[] = [];
  const counts = { fresh: 0, reused: 0, streams: 0, streamBytes: 0 };
  let nextId = 0;
  const checkStream = (id: string, result: Exchange): void => {
    const sent = up.sent.get(id);
    if (result.status !== 200 || !result.complete || result.error !== null) failures.push(`stream ${id}: status ${result.status}, complete ${result.complete}, error ${result.error}: ${result.body.toString('utf8').slice(0, 300)}`);
    else if (!up.finished.has(id) || sent === undefined || !sent.equals(result.body)) failures.push(`stream ${id}: the client got ${result.body.length} bytes, the upstream sent ${sent?.length ?? 0}`);
    counts.streams++;
    counts.streamBytes += result.body.length;
  };
  const streamSlot = async (slot: number): Promise<void> => {
    const slotRand = seededRandom(seed + slot);
    while (loading) {
      const id = `s${slot}-${nextId++}`;
      // 0.3–1.2 s: the streams in flight at a restart finish on the old server.
      checkStream(id, await exchange(`${url}/v1/chat/completions`, scriptedChat('rst-model', { id, events: randomInt(slotRand, 10, 20), gapMs: randomInt(slotRand, 30, 60) }, true), { headers: auth, timeoutMs: 60_000 }));
    }
  };
  const requestClient = async (client: number, reuse: boolean): Promise<void> => {
    const agent = reuse ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
    if (agent !== false) t.after(() => agent.destroy());
    const clientRand = seededRandom(seed * 31 + client);
    while (loading) {
      const id = `r${client}-${nextId++}`;
      const toMock = clientRand() < 0.3;
      const result = await exchange(`${url}/v1/chat/completions`, scriptedChat(toMock ? 'mock' : 'rst-model', { id }, false), { headers: auth, agent, timeoutMs: 30_000 });
      if (reuse) counts.reused++;
      else counts.fresh++;
      let content = '';
      try {
        content = (JSON.parse(result.body.toString('utf8')) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content ?? '';
      } catch {
        // reported below
      }
      const ok = result.status === 200 && result.complete && (toMock ? /^mock revision \d+/.test(content) : content === `reply to ${id}`);
      if (!ok) failures.push(`request ${id} (${reuse ? 'reused' : 'fresh'} connection): status ${result.status}, error ${result.error}: ${result.body.toString('utf8').slice(0, 300)}`);
      // Paced, so that the load leaves CPU for the restarts and for test files running alongside.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const load = Promise.all([...Array.from({ length: 3 }, (_, i) => streamSlot(i)), requestClient(0, false), requestClient(1, false), requestClient(2, true), requestClient(3, true)]);

  // --- restarts ---------------------------------------------------------------------------
  const logText = (): string => {
    try {
      return readFileSync(inst.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const count = (pattern: RegExp): number => logText().match(new RegExp(pattern.source, 'g'))?.length ?? 0;
  const servers = async (): Promise<Array<{ pid: number; phase: string; version: string; generation: number; streams: number | null }>> => {
    const status = await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env });
    return (JSON.parse(status.stdout) as { servers: Array<{ pid: number; phase: string; version: string; generation: number; streams: number | null }> }).servers;
  };
  let generation = 1;
  let serving = (await servers())[0]?.pid as number;
  let launcherAccepted = 0;
  let sawTwo = 0;
  const tally: Record<string, number> = {};
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const kind: Kind = round % 3 === 1 ? 'valid' : round % 3 === 2 ? 'broken' : 'crash';
      const path: Path = pick(rand, ['command', 'sigusr2'] as const);
      tally[`${kind}/${path}`] = (tally[`${kind}/${path}`] ?? 0) + 1;
      const broken = brokenYaml(round);
      writeFileSync(inst.config, kind === 'broken' ? broken.yaml : validYaml(round));
      if (kind === 'crash') writeFileSync(crashFile, '');
      const oldPid = serving;
      const doneBefore = count(/restart \((control|signal)\) done/);
      const failedBefore = count(/restart \((control|signal)\) failed/);
      if (path === 'command') {
        const result = await runCli(['restart', '--json', '--pid-file', inst.pidFile], { env: inst.env, timeoutMs: 120_000 });
        const verdict = JSON.parse(result.stdout) as { outcome: string; serverPid: number; generation: number; error: { message: string; details?: string[] } | null };
        if (kind === 'valid') {
          assert.equal(result.code, 0, `round ${round}: a valid restart: ${result.stdout}${result.stderr}`);
          assert.equal(verdict.outcome, 'restarted');
          assert.notEqual(verdict.serverPid, oldPid, `round ${round}: a new server`);
          assert.equal(verdict.generation, generation + 1, `round ${round}: the new server continues the generations`);
          serving = verdict.serverPid;
          // Both children show while the old one drains (when it still has something in flight).
          const both = await servers();
          if (both.length === 2) {
            sawTwo++;
            assert.deepEqual(both.map((s) => [s.pid, s.phase]), [[serving, 'serving'], [oldPid, 'draining']], `round ${round}: status while draining`);
          }
        } else {
          assert.equal(result.code, 1, `round ${round}: a ${kind} restart fails: ${result.stdout}${result.stderr}`);
          assert.equal(verdict.serverPid, oldPid, `round ${round}: the old server still serves`);
          const why = [verdict.error?.message ?? '', ...(verdict.error?.details ?? [])].join('\n');
          if (kind === 'broken') assert.ok(why.includes(broken.marker), `round ${round}: the verdict names ${broken.marker}: ${why}`);
          else assert.match(why, /the server exited during startup/, `round ${round}`);
        }
      } else {
        process.kill(pid, 'SIGUSR2');
        if (kind === 'valid') {
          await waitUntil(`round ${round}: SIGUSR2's restart is done`, () => count(/restart \((control|signal)\) done/) > doneBefore);
          const line = [...logText().matchAll(/restart \(signal\) done: pid (\d+) \(version [^,]+, generation (\d+)/g)].at(-1);
          assert.equal(Number(line?.[2]), generation + 1, `round ${round}: the new server continues the generations`);
          serving = Number(line?.[1]);
        } else {
          await waitUntil(`round ${round}: SIGUSR2's restart fails`, () => count(/restart \((control|signal)\) failed/) > failedBefore);
          if (kind === 'broken') assert.ok(logText().includes(broken.marker), `round ${round}: the log names ${broken.marker}`);
        }
      }
      if (kind === 'valid') generation++;
      if (kind === 'crash') rmSync(crashFile);
      launcherAccepted += establishedOn(pid, port);
      // The previous server drains its streams, then its idle connections close: the next restart needs it gone.
      if (kind === 'valid') await waitUntil(`round ${round}: the old server (pid ${oldPid}) has drained and exited`, () => logText().includes(`previous server (pid ${oldPid}) exited`), 90_000);
      await new Promise((resolve) => setTimeout(resolve, randomInt(rand, 20, 200)));
    }
    const [last] = await servers();
    assert.deepEqual([last?.pid, last?.generation, last?.phase], [serving, generation, 'serving']);
  } finally {
    loading = false;
    await load;
  }

  t.diagnostic(`restarts: ${ROUNDS} (${JSON.stringify(tally)}), final generation ${generation}`);
  t.diagnostic(`requests: ${counts.fresh} on fresh connections, ${counts.reused} on reused ones; streams: ${counts.streams} (${counts.streamBytes} bytes); failed, refused or reset: ${failures.length}; connections the launcher held: ${launcherAccepted}`);
  assert.deepEqual(failures, [], `failed or truncated requests:\n${failures.slice(0, 20).join('\n')}`);
  assert.equal(launcherAccepted, 0, 'the launcher never accepted a connection');
  assert.ok(counts.fresh >= 100 && counts.reused >= 100 && counts.streams >= 30, `enough load ran during the restarts (${JSON.stringify(counts)})`);
  assert.equal(readFileSync(inst.pidFile, 'utf8'), pidFileBefore, 'the PID file is unchanged');
  assert.equal(count(/previous server \(pid \d+\) died while draining/), 0);
  assert.ok(sawTwo > 0, 'status showed the serving and the draining server at least once');
  const readyz = (await (await get(`${url}/readyz`)).json()) as { generation: number };
  assert.equal(readyz.generation, generation);

  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  assert.ok(!logText().includes(CLIENT_KEY), 'the log holds no client key');
});
