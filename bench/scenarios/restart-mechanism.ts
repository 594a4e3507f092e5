/**
 * Scenario `restart-mechanism` (issue 11, point 2): the three ways of handing connections to a new
 * process without refusing any, measured in the same run on the same machine, with a minimal HTTP
 * server child (bench/handover.ts) so that the mechanism alone is measured, not the gateway.
 * Under a steady closed-loop load of fresh connections (one request each) and then of keep-alive
 * connections, the parent swaps its child K times; every request is timed and classified, and
 * the ones that overlap a swap (fork of the new child → exit of the old one) are told apart.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { launch, sleep, stderrTail, stop, wrap, type Toolkit } from '../lib/procs.ts';
import { fmt, median, table } from '../lib/report.ts';
import { failures, splitByWindows, startTimedLoad, summarize, type Summary, type Window } from '../lib/timed-load.ts';

export const MECHANISMS = ['inherited-fd', 'ipc-handoff', 'reuseport'] as const;
export type Mechanism = (typeof MECHANISMS)[number];
export type ConnectionMode = 'fresh' | 'keep-alive';
/** How the old child drains: `polite` as ai-proxy does, `close-idle` with http.Server#close (a control). */
export type Drain = 'polite' | 'close-idle';

export interface MechanismSettings {
  swaps: number;
  /** Load before the first swap and (half of it) after the last, s. */
  steadySeconds: number;
  /** Pause between one swap's end and the next swap, ms. */
  gapMs: number;
  connections: number;
  rounds: number;
  timeoutMs: number;
}

interface SwapReport {
  ok: boolean;
  error?: string;
  forkMs: number;
  readyMs: number;
  oldExitMs: number;
}

export interface MechanismResult {
  mechanism: Mechanism;
  drain: Drain;
  mode: ConnectionMode;
  node: string;
  /** Why it could not run here (reusePort on Node 20), else null. */
  unsupported: string | null;
  all: Summary | null;
  during: Summary | null;
  outside: Summary | null;
  swaps: SwapReport[];
  /** Connections the parent accepted itself, and how many of them it forwarded to a child. */
  accepted: number;
  forwarded: number;
  sendErrors: number;
  firstErrors: Record<string, string>;
}

/** The parent's stdout, one JSON answer per line, each awaited with a deadline. */
class Replies {
  readonly #queue: string[] = [];
  readonly #waiting: Array<(line: string) => void> = [];

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const waiter = this.#waiting.shift();
      if (waiter !== undefined) waiter(line);
      else this.#queue.push(line);
    });
  }

  next<T>(timeoutMs: number): Promise<T> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(JSON.parse(queued) as T);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the handover parent did not answer within ${timeoutMs} ms: ${stderrTail(this.child)}`)), timeoutMs);
      this.#waiting.push((line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as T);
      });
    });
  }

  send(command: string): void {
    this.child.stdin?.write(`${command}\n`);
  }
}

async function measureOne(kit: Toolkit, mechanism: Mechanism, drain: Drain, mode: ConnectionMode, settings: MechanismSettings): Promise<MechanismResult> {
  const child = launch(wrap([process.execPath, join(kit.dir, 'handover.js'), 'parent', mechanism, drain], kit.cores.proxy), { stdin: 'pipe' });
  const replies = new Replies(child);
  const result: MechanismResult = { mechanism, drain, mode, node: process.version, unsupported: null, all: null, during: null, outside: null, swaps: [], accepted: 0, forwarded: 0, sendErrors: 0, firstErrors: {} };
  try {
    const first = await replies.next<{ port?: number; node?: string; unsupported?: string }>(20_000);
    if (first.unsupported !== undefined) {
      result.unsupported = first.unsupported;
      return result;
    }
    result.node = first.node ?? result.node;
    const load = startTimedLoad({ url: `http://127.0.0.1:${first.port}/`, method: 'GET', connections: settings.connections, keepAlive: mode === 'keep-alive', timeoutMs: settings.timeoutMs });
    await sleep(settings.steadySeconds * 1000);
    const windows: Window[] = [];
    for (let k = 0; k < settings.swaps; k++) {
      replies.send('swap');
      const { swap } = await replies.next<{ swap: SwapReport }>(60_000);
      result.swaps.push(swap);
      windows.push({ from: swap.forkMs, to: swap.oldExitMs });
      await sleep(settings.gapMs);
    }
    await sleep(settings.steadySeconds * 500);
    const samples = await load.stop();
    replies.send('stats');
    const stats = await replies.next<{ accepted: number; forwarded: number; sendErrors: number }>(10_000);
    Object.assign(result, stats);
    replies.send('quit');
    await replies.next(20_000);
    const { during, outside } = splitByWindows(samples, windows);
    result.all = summarize(samples);
    result.during = summarize(samples, during);
    result.outside = summarize(samples, outside);
    result.firstErrors = samples.firstError;
    return result;
  } finally {
    await stop(child);
  }
}

const label = (r: MechanismResult): string => (r.drain === 'polite' ? r.mechanism : `${r.mechanism}, ${r.drain} drain`);

function add(a: Summary | null, b: Summary | null): Summary | null {
  if (a === null) return b;
  if (b === null) return a;
  // Percentiles of the merged run are not derivable from two summaries: keep the worse round's (req/s: the mean).
  return { requests: a.requests + b.requests, ok: a.ok + b.ok, refused: a.refused + b.refused, reset: a.reset + b.reset, timeout: a.timeout + b.timeout, status: a.status + b.status, other: a.other + b.other, p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99), max: Math.max(a.max, b.max), rps: (a.rps + b.rps) / 2 };
}

export async function runRestartMechanism(kit: Toolkit, settings: MechanismSettings, log: (line: string) => void): Promise<{ results: MechanismResult[]; text: string }> {
  const runs: MechanismResult[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    for (const mode of ['fresh', 'keep-alive'] as const) {
      // Interleaved, so that a noisy neighbour hits every mechanism alike. With keep-alive
      // connections, the inherited descriptor once more with the old child draining by
      // http.Server#close: the drain, not the mechanism, is then what resets connections.
      const subjects: Array<[Mechanism, Drain]> = [...MECHANISMS.map((m): [Mechanism, Drain] => [m, 'polite']), ...(mode === 'keep-alive' ? [['inherited-fd', 'close-idle'] as [Mechanism, Drain]] : [])];
      for (const [mechanism, drain] of subjects) {
        const r = await measureOne(kit, mechanism, drain, mode, settings);
        runs.push(r);
        if (r.unsupported !== null) {
          log(`  ${label(r)} (${mode}): unsupported: ${r.unsupported}`);
          continue;
        }
        const s = r.all as Summary;
        log(`  round ${round}/${settings.rounds} ${label(r)} (${mode}): ${s.requests} requests, ${failures(s)} failed (refused ${s.refused}, reset ${s.reset}, timed out ${s.timeout}, other ${s.status + s.other}), p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms, swaps ok ${r.swaps.filter((w) => w.ok).length}/${r.swaps.length}, parent accepted ${r.accepted}${Object.keys(r.firstErrors).length > 0 ? `; first errors: ${JSON.stringify(r.firstErrors)}` : ''}`);
      }
    }
  }
  // One row per mechanism and connection mode, the rounds summed.
  const merged: MechanismResult[] = [];
  for (const r of runs) {
    const m = merged.find((x) => x.mechanism === r.mechanism && x.drain === r.drain && x.mode === r.mode);
    if (m === undefined) {
      merged.push({ ...r, swaps: [...r.swaps], firstErrors: { ...r.firstErrors } });
      continue;
    }
    m.all = add(m.all, r.all);
    m.during = add(m.during, r.during);
    m.outside = add(m.outside, r.outside);
    m.swaps.push(...r.swaps);
    m.accepted += r.accepted;
    m.forwarded += r.forwarded;
    m.sendErrors += r.sendErrors;
    m.firstErrors = { ...r.firstErrors, ...m.firstErrors };
  }
  const rows = merged.map((r) => {
    if (r.unsupported !== null || r.all === null) return [label(r), r.mode, r.node, 'unsupported', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—'];
    const s = r.all;
    const d = r.during as Summary;
    const o = r.outside as Summary;
    return [
      label(r),
      r.mode,
      r.node,
      String(s.requests),
      fmt(s.rps, 0),
      String(failures(s)),
      `${s.refused}/${s.reset}/${s.timeout}`,
      fmt(o.p50),
      fmt(o.p99),
      fmt(d.p50),
      fmt(d.p99),
      `${r.swaps.filter((w) => w.ok).length}/${r.swaps.length}`,
      fmt(median(r.swaps.map((w) => w.readyMs - w.forkMs)), 0),
      r.mechanism === 'ipc-handoff' ? `${r.accepted} (${r.forwarded} sent${r.sendErrors > 0 ? `, ${r.sendErrors} lost` : ''})` : '0 (never listens)',
    ];
  });
  const text = table(
    `Restart mechanism: a minimal HTTP child swapped ${settings.swaps}× per run under ${settings.connections} closed-loop connections, ${settings.rounds} round(s); "during" = requests overlapping a swap (fork → old child's exit)`,
    ['mechanism', 'connections', 'node', 'requests', 'req/s', 'failed', 'refused/reset/timed out', 'steady p50 ms', 'steady p99 ms', 'during p50 ms', 'during p99 ms', 'swaps ok', 'fork→ready ms', 'accepted by parent'],
    rows,
  );
  return { results: merged, text };
}
