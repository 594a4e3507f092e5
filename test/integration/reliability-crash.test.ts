/**
 * The crash matrix (issue 5): SIGKILL the server, the launcher, or both, at seeded random moments
 * under load. A crash loses only what was in flight in the dead process; afterwards no process of
 * the instance is left (by command line, and by the server's process group, from /proc), no lock
 * is held, `status` tells the truth, and `run -d` starts cleanly on the same PID file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { instance, isAlive, runCli, serverPidOf, SLACK_MS, startDaemon, waitUntil } from '../helpers/cli.ts';
import { exchange, isFlocked, processesMatching, processGroupMembers, procInfo, randomInt, scriptedChat, scriptedUpstream, testSeed, within, type Exchange, killInstanceOnExit } from '../helpers/reliability.ts';
import { seededRandom } from '../helpers/random.ts';

type Victim = 'server' | 'launcher' | 'both';
const ROUNDS_PER_VICTIM = 3;

/** How long the requests in flight at a crash may take to end, on a loaded machine. */
const SETTLE_MS = 3 * SLACK_MS;
/** An exchange's own bound, beyond SETTLE_MS: a request that hangs is caught by the settle bound. */
const EXCHANGE_MS = 6 * SLACK_MS;

test('crash matrix: SIGKILL the server, the launcher or both under load; nothing left behind, status tells the truth, run -d starts cleanly', { timeout: 600_000 }, async (t) => {
  const seed = testSeed(0xc4a5);
  const rand = seededRandom(seed);
  t.diagnostic(`seed ${seed} (REL_SEED replays it)`);
  const up = await scriptedUpstream(t);
  const inst = instance(t, `listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: 5s\nproviders:\n${up.providerYaml('up', ['rel-model'])}`);
  killInstanceOnExit(t, inst.dir);
  const status = (): Promise<number | null> => runCli(['status', '--pid-file', inst.pidFile], { env: inst.env }).then((r) => r.code);

  // Every victim ROUNDS_PER_VICTIM times, in a seeded order.
  const victims: Victim[] = (['server', 'launcher', 'both'] as const).flatMap((v) => Array<Victim>(ROUNDS_PER_VICTIM).fill(v));
  for (let i = victims.length - 1; i > 0; i--) {
    const j = randomInt(rand, 0, i);
    [victims[i], victims[j]] = [victims[j] as Victim, victims[i] as Victim];
  }

  const figures = { rounds: 0, requests: 0, completed: 0, cut: 0, streams: 0 };
  let next = 0;
  for (const [round, victim] of victims.entries()) {
    // A clean start on the same PID file, whatever the previous round left.
    const { pid: launcher, url } = await startDaemon(inst);
    const server = await serverPidOf(launcher);
    const serverGroup = procInfo(server)?.pgid as number;
    assert.equal(serverGroup, server, 'the server leads its own process group');

    // Load: two streams and two request loops, killed at a random moment.
    let loading = true;
    const inFlight: Array<Promise<Exchange>> = [];
    const streamIds = [`c${next++}`, `c${next++}`];
    for (const id of streamIds) inFlight.push(exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id, events: 100, gapMs: 30 }, true), { timeoutMs: EXCHANGE_MS }));
    const loops = Array.from({ length: 2 }, async () => {
      while (loading) {
        const p = exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id: `c${next++}`, gapMs: randomInt(rand, 0, 40) }, false), { timeoutMs: EXCHANGE_MS });
        inFlight.push(p);
        await p;
      }
    });
    await waitUntil('the streams are flowing', () => streamIds.every((id) => up.sent.has(id)));
    await new Promise((resolve) => setTimeout(resolve, randomInt(rand, 50, 700)));

    const killOrder = victim === 'both' ? (rand() < 0.5 ? [launcher, server] : [server, launcher]) : [victim === 'server' ? server : launcher];
    for (const pid of killOrder) process.kill(pid, 'SIGKILL');
    loading = false;

    // Every client hears of it within a bound: a crash never leaves a request hanging (an orphaned
    // server drains for 1.5 s; an exchange gives up only after EXCHANGE_MS, beyond these bounds).
    await within(Promise.all(loops), SETTLE_MS, 'the load loops end');
    const results = await within(Promise.all(inFlight), SETTLE_MS, `round ${round}: in-flight requests settle after the crash`);
    figures.rounds++;
    figures.requests += results.length;
    figures.streams += streamIds.length;
    // A stream is complete only if byte-exact (one cut by the orphaned server's drain ends with an error event).
    const whole = results.map((r, i) => r.complete && r.status === 200 && (i >= streamIds.length || (up.finished.has(streamIds[i] as string) && (up.sent.get(streamIds[i] as string) as Buffer).equals(r.body))));
    figures.completed += whole.filter(Boolean).length;
    figures.cut += whole.filter((w) => !w).length;

    // Nothing of the instance is left: no process naming its directory, nothing in the server's group.
    // A SIGKILLed process leaves its command line before it is gone (its threads take a moment to
    // exit): gone means no process names the instance and neither pid answers.
    await waitUntil(`round ${round} (${victim}): every process of the instance is gone`, () => processesMatching(inst.dir).length === 0 && processGroupMembers(serverGroup).length === 0 && !isAlive(launcher) && !isAlive(server));
    // No lock is held, and status says exactly what is left: the launcher removes the PID file when
    // its server dies (3, not running); a killed launcher leaves it behind (1, stale). When both are
    // killed, server first, the launcher may or may not have cleaned up before its own SIGKILL landed.
    const pidFileLeft = existsSync(inst.pidFile);
    // A SIGKILLed process leaves /proc's listing before the kernel has closed all its files (many
    // threads take a moment to exit): the lock goes with the last of them, within a bound.
    if (pidFileLeft) await waitUntil(`round ${round}: the lock died with the launcher`, () => !isFlocked(inst.pidFile), SETTLE_MS);
    if (victim === 'server') assert.equal(pidFileLeft, false, `round ${round}: the launcher removed the PID file`);
    if (victim === 'launcher' || (victim === 'both' && killOrder[0] === launcher)) assert.equal(pidFileLeft, true, `round ${round} (${victim}): a killed launcher leaves its PID file`);
    assert.equal(await status(), pidFileLeft ? 1 : 3, `round ${round} (${victim}, PID file left: ${pidFileLeft}): status exit code`);
    if (victim === 'server') assert.match(readFileSync(inst.logFile, 'utf8'), /the server exited unexpectedly \(killed by SIGKILL\)/);
  }

  // The last start is clean too, serves, and stops cleanly.
  const { url } = await startDaemon(inst);
  const check = await exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id: 'after' }, false));
  assert.equal(check.status, 200);
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  assert.deepEqual(processesMatching(inst.dir), []);
  assert.equal(await status(), 3);
  t.diagnostic(`rounds: ${figures.rounds} (${ROUNDS_PER_VICTIM} each of server, launcher, both); requests in flight: ${figures.requests} (${figures.streams} streams), completed: ${figures.completed}, cut by the crash: ${figures.cut}, hung: 0; orphans: 0; held locks: 0; run -d after each crash: ${figures.rounds}/${figures.rounds} clean`);
});
