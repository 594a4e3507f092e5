/**
 * Concurrent control (issue 5): many `run -d`, `stop`, `reload` and `status` at once against one
 * PID file. At most one instance ever runs (exactly one after a burst of `run -d`), nothing
 * deadlocks (every command ends within a bound), and every command exits with a code that is
 * valid for what it met.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { instance, runCli, waitUntil, type CommandResult, type Instance } from '../helpers/cli.ts';
import { processesMatching, testSeed, within, killInstanceOnExit } from '../helpers/reliability.ts';
import { seededRandom } from '../helpers/random.ts';

const ROUNDS = 3;
const EACH = 6;
/**
 * No command may take longer than this, however the others interleave with it: a deadlock is for
 * ever. 24 commands start at once here (each a Node process, some with a launcher and a server);
 * the slowest burst took 5.8 s beside another test file, more under load.
 */
const COMMAND_BOUND_MS = 60_000;

type Command = 'run' | 'stop' | 'reload' | 'status';

/** Servers of this instance alive now (a losing `run -d` starts a launcher, never a server). */
const servers = (inst: Instance): number[] => processesMatching(inst.config).filter((p) => /\bserver\.js\b/.test(p.cmdline)).map((p) => p.pid);

/** Samples /proc until stopped; reports the largest number of servers seen at once. */
function monitor(inst: Instance): { stop: () => Promise<{ max: number; samples: number }> } {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, servers(inst).length);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

function command(inst: Instance, which: Command): Promise<CommandResult> {
  const flags = ['--pid-file', inst.pidFile];
  const args = which === 'run' ? ['run', '-d', ...inst.flags] : which === 'stop' ? ['stop', ...flags] : [which, ...flags];
  return runCli(args, { env: inst.env, timeoutMs: COMMAND_BOUND_MS });
}

/** Whether an exit code is one `which` may give (with the output it must then have). */
function validOutcome(which: Command, r: CommandResult): boolean {
  const text = r.stdout + r.stderr;
  switch (which) {
    case 'run':
      // Lost the lock, or won it and was stopped by a concurrent `stop` before it served.
      return (r.code === 0 && /serving on/.test(text)) || (r.code === 1 && /already running|before the gateway was ready/.test(text));
    case 'stop':
      return r.code === 0 || r.code === 3;
    case 'reload':
      return r.code === 0 || r.code === 3 || r.code === 1;
    case 'status':
      return r.code === 0 || r.code === 1 || r.code === 3 || r.code === 4;
  }
}

test('concurrent run -d, stop, reload and status against one PID file: at most one instance, no deadlock, valid exit codes', { timeout: 600_000 }, async (t) => {
  const seed = testSeed(0xc0c0);
  const rand = seededRandom(seed);
  t.diagnostic(`seed ${seed} (REL_SEED replays it)`);
  const inst = instance(t, '');
  killInstanceOnExit(t, inst.dir);
  const tally: Record<Command, Record<string, number>> = { run: {}, stop: {}, reload: {}, status: {} };
  const note = (which: Command, r: CommandResult): void => {
    tally[which][String(r.code)] = (tally[which][String(r.code)] ?? 0) + 1;
  };
  let maxServers = 0;
  let samples = 0;
  let commands = 0;
  let slowest = 0;

  const burst = async (kinds: Command[]): Promise<Array<{ which: Command; result: CommandResult }>> => {
    // Seeded interleaving: the order in which the commands are started.
    const order = kinds.map((which) => ({ which, key: rand() })).sort((a, b) => a.key - b.key).map((k) => k.which);
    const watch = monitor(inst);
    const started = Date.now();
    const results = await within(
      Promise.all(order.map(async (which) => ({ which, result: await command(inst, which) }))),
      COMMAND_BOUND_MS + 10_000,
      'every command of the burst finishes (no deadlock)',
    );
    slowest = Math.max(slowest, Date.now() - started);
    const seen = await watch.stop();
    maxServers = Math.max(maxServers, seen.max);
    samples += seen.samples;
    commands += results.length;
    for (const { which, result } of results) {
      note(which, result);
      assert.ok(validOutcome(which, result), `${which} exited ${result.code}:\n${result.stdout}${result.stderr}`);
    }
    assert.ok(seen.max <= 1, `at most one server at any time (saw ${seen.max})`);
    return results;
  };

  /** What status says must match what runs. */
  const assertTruthful = async (): Promise<void> => {
    const alive = servers(inst).length;
    const status = await command(inst, 'status');
    note('status', status);
    if (alive === 1) assert.equal(status.code, 0, `a server runs, status says:\n${status.stdout}`);
    else assert.equal(status.code, 3, `nothing runs, status says:\n${status.stdout}`);
  };

  for (let round = 0; round < ROUNDS; round++) {
    // 1. Only starts: exactly one wins.
    const starts = await burst(Array<Command>(EACH).fill('run'));
    const winners = starts.filter((s) => s.which === 'run' && s.result.code === 0);
    assert.equal(winners.length, 1, `exactly one run -d wins the burst:\n${starts.map((s) => `${s.which} ${s.result.code}`).join(', ')}`);
    await waitUntil('the winner serves', () => servers(inst).length === 1);
    assert.equal(processesMatching(inst.config).filter((p) => p.cmdline.includes('__launcher')).length, 1, 'exactly one launcher is left');
    await assertTruthful();

    // 2. Everything at once.
    await burst((['run', 'stop', 'reload', 'status'] as const).flatMap((c) => Array<Command>(EACH).fill(c)));
    await waitUntil('the launchers that lost have exited', () => processesMatching(inst.config).filter((p) => p.cmdline.includes('__launcher')).length === servers(inst).length);
    await assertTruthful();

    // 3. Two stops at once: nothing runs afterwards, and the PID file is gone.
    await burst(['stop', 'stop']);
    assert.deepEqual(processesMatching(inst.config), [], 'nothing of the instance runs after the stops');
    assert.equal(existsSync(inst.pidFile), false);
    await assertTruthful();
  }

  t.diagnostic(`commands: ${commands + 3 * ROUNDS} in ${ROUNDS} rounds (${EACH} run -d at once, then ${EACH} each of run -d, stop, reload, status at once, then 2 stops); exit codes ${JSON.stringify(tally)}; most servers at once: ${maxServers} (${samples} /proc samples); slowest burst ${slowest} ms; deadlocks: 0`);
});
