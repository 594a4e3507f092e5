/**
 * Scenario `restart` (issue 11, "Benchmarks"): the real gateway, started with the real CLI
 * (`ai-proxy run -d`), under a steady non-streaming load of keep-alive and fresh connections,
 * swapped K times with `ai-proxy restart`. Requests that overlap a restart (the command's start →
 * the old server's exit) are compared with the others of the same run; every failure counts.
 * The time from `restart` to the new server serving (the command returns only then) is given in
 * `node -e 0` units measured in the same run, next to `status` (a CLI start plus one control
 * round trip: the floor of any command).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REQUEST_BODY } from '../lib/load.ts';
import { boost, CLIENT_KEY, gatewayEnv, runCommand, sleep, startDaemonGateway, waitGone, type Toolkit } from '../lib/procs.ts';
import { fmt, median, percentile, table, type Target } from '../lib/report.ts';
import { failures, nowMs, splitByWindows, startTimedLoad, summarize, type Samples, type Summary, type Window } from '../lib/timed-load.ts';

export interface RestartSettings {
  restarts: number;
  steadySeconds: number;
  gapMs: number;
  keepAliveConnections: number;
  freshConnections: number;
  nodeRuns: number;
  /** Restarts with no load first: the floor of a restart on this machine. */
  idleRestarts: number;
  timeoutMs: number;
}

interface RestartSample {
  ok: boolean;
  /** `ai-proxy restart` spawn → exit 0 (the new server serves). */
  commandMs: number;
  /** Its exit → the old server's exit (its drain). */
  drainMs: number;
  serverPid: number | null;
  previousPid: number | null;
  error?: string;
}

/** all: the whole run; steady: before the first restart; during: overlapping a restart; after: the gaps between (a new server, its JIT cold). */
interface Phases {
  all: Summary;
  steady: Summary;
  during: Summary;
  after: Summary;
}

export interface RestartResult {
  nodeMs: number[];
  statusMs: number[];
  /** `restart` → exit 0 with no load. */
  idleRestartMs: number[];
  /** From the launcher's log: `restart (control): starting a new server` → `restart (control) done` (ms resolution). */
  launcherMs: number[];
  restarts: RestartSample[];
  launcherPidKept: boolean;
  keepAlive: Phases;
  fresh: Phases;
  firstErrors: Record<string, string>;
}

function phases(samples: Samples, windows: Window[], firstRestart: number): Phases {
  const { during, outside } = splitByWindows(samples, windows);
  const before = outside.filter((i) => (samples.start[i] as number) + (samples.ms[i] as number) < firstRestart);
  const after = outside.filter((i) => (samples.start[i] as number) + (samples.ms[i] as number) >= firstRestart);
  return { all: summarize(samples), steady: summarize(samples, before), during: summarize(samples, during), after: summarize(samples, after) };
}

/**
 * A server child is forked in a session of its own, so it gets a scheduler autogroup of its own at
 * nice 0, not the bench's boost: a new server starting beside a boosted one would get a tenth of
 * the core. While a restart runs, each new child of the launcher is boosted as soon as it appears.
 */
function boostNewServers(children: () => number[]): () => void {
  const seen = new Set(children());
  const timer = setInterval(() => {
    for (const pid of children()) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      boost(pid);
    }
  }, 2);
  return () => clearInterval(timer);
}

export async function runRestart(kit: Toolkit, upstream: string, settings: RestartSettings, log: (line: string) => void): Promise<{ result: RestartResult; text: string; targets: Target[] }> {
  const env = gatewayEnv({});
  // The unit, before any load, in the same way the CLI commands are run (from the bench's cores).
  const nodeMs: number[] = [];
  for (let i = 0; i < settings.nodeRuns; i++) nodeMs.push((await runCommand([process.execPath, '-e', '0'], env, 30_000)).ms);
  const gw = await startDaemonGateway(kit, { upstream, tag: 'restart' });
  try {
    const statusMs: number[] = [];
    for (let i = 0; i < settings.nodeRuns; i++) {
      const r = await runCommand([process.execPath, gw.cli, 'status', '--json', '--pid-file', gw.pidFile], env, 30_000);
      if (r.code !== 0) throw new Error(`ai-proxy status failed (exit ${r.code}): ${r.out}`);
      statusMs.push(r.ms);
    }
    const idleRestartMs: number[] = [];
    for (let i = 0; i < settings.idleRestarts; i++) {
      const stopBoosting = boostNewServers(gw.serverPids);
      const r = await runCommand([process.execPath, gw.cli, 'restart', '--json', '--pid-file', gw.pidFile], env, 120_000);
      stopBoosting();
      if (r.code !== 0) throw new Error(`ai-proxy restart (no load) failed (exit ${r.code}): ${r.out}`);
      idleRestartMs.push(r.ms);
      const previous = (JSON.parse(r.out) as { previous?: { pid?: number } | null }).previous?.pid;
      if (previous !== undefined) await waitGone(previous, 30_000);
    }
    log(`  node -e 0: median ${fmt(median(nodeMs), 0)} ms; status: median ${fmt(median(statusMs), 0)} ms; restart with no load: median ${fmt(median(idleRestartMs), 0)} ms`);
    const request = { url: `${gw.url}/v1/chat/completions`, method: 'POST' as const, body: REQUEST_BODY, headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` }, timeoutMs: settings.timeoutMs };
    // Warm-up: the server's JIT and the upstream pool, outside the measured samples.
    const warm = startTimedLoad({ ...request, connections: settings.keepAliveConnections, keepAlive: true });
    await sleep(1_000);
    await warm.stop();

    const keepAlive = startTimedLoad({ ...request, connections: settings.keepAliveConnections, keepAlive: true });
    const fresh = startTimedLoad({ ...request, connections: settings.freshConnections, keepAlive: false });
    await sleep(settings.steadySeconds * 1000);
    const windows: Window[] = [];
    const restarts: RestartSample[] = [];
    let launcherPidKept = true;
    const firstRestart = nowMs();
    for (let k = 0; k < settings.restarts; k++) {
      const from = nowMs();
      const stopBoosting = boostNewServers(gw.serverPids);
      const r = await runCommand([process.execPath, gw.cli, 'restart', '--json', '--pid-file', gw.pidFile], env, 120_000);
      const returned = nowMs();
      stopBoosting();
      let answer: { outcome?: string; pid?: number; serverPid?: number; previous?: { pid?: number } | null } = {};
      try {
        answer = JSON.parse(r.out) as typeof answer;
      } catch {
        // Counted as a failed restart below, with its output.
      }
      const ok = r.code === 0 && answer.outcome === 'restarted';
      const previousPid = answer.previous?.pid ?? null;
      if (answer.pid !== gw.launcherPid) launcherPidKept = false;
      const gone = previousPid === null ? true : await waitGone(previousPid, 60_000);
      const to = nowMs();
      windows.push({ from, to });
      restarts.push({ ok: ok && gone, commandMs: r.ms, drainMs: to - returned, serverPid: answer.serverPid ?? null, previousPid, ...(ok && gone ? {} : { error: ok ? `the old server (pid ${previousPid}) did not exit within 60 s` : `exit ${r.code}: ${r.out.trim().slice(0, 500)}` }) });
      log(`  restart ${k + 1}/${settings.restarts}: ${ok ? 'restarted' : 'FAILED'} in ${fmt(r.ms, 0)} ms (server ${previousPid} → ${answer.serverPid ?? '?'}), old server gone ${fmt(to - returned, 0)} ms later`);
      await sleep(settings.gapMs);
    }
    await sleep(settings.steadySeconds * 500);
    const [ka, fr] = await Promise.all([keepAlive.stop(), fresh.stop()]);
    const result: RestartResult = {
      nodeMs,
      statusMs,
      idleRestartMs,
      // The first restarts had no load.
      launcherMs: launcherSwaps(join(gw.dir, 'ai-proxy.log')).slice(settings.idleRestarts),
      restarts,
      launcherPidKept,
      keepAlive: phases(ka, windows, firstRestart),
      fresh: phases(fr, windows, firstRestart),
      firstErrors: { ...Object.fromEntries(Object.entries(ka.firstError).map(([k, v]) => [`keep-alive ${k}`, v])), ...Object.fromEntries(Object.entries(fr.firstError).map(([k, v]) => [`fresh ${k}`, v])) },
    };
    return { result, ...render(result, settings) };
  } finally {
    await gw.close();
  }
}

/** The launcher's own account of each restart, from the timestamps of its two log lines. */
function launcherSwaps(logFile: string): number[] {
  const stamp = (line: string): number => Date.parse(/^\S+/.exec(line)?.[0] ?? '');
  const spans: number[] = [];
  let began: number | null = null;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (line.includes('restart (control): starting a new server')) began = stamp(line);
    else if (line.includes('restart (control) done') && began !== null) {
      spans.push(stamp(line) - began);
      began = null;
    }
  }
  return spans.filter((x) => Number.isFinite(x));
}

function render(r: RestartResult, settings: RestartSettings): { text: string; targets: Target[] } {
  const unit = median(r.nodeMs);
  const commandMs = r.restarts.map((x) => x.commandMs);
  const rows = (['keepAlive', 'fresh'] as const).map((kind) => {
    const { all, steady, during, after } = r[kind];
    return [
      kind === 'keepAlive' ? `keep-alive (${settings.keepAliveConnections})` : `fresh (${settings.freshConnections})`,
      String(all.requests),
      `${failures(all)} (${all.refused}/${all.reset}/${all.timeout}/${all.status + all.other})`,
      fmt(steady.p50),
      fmt(steady.p99),
      `${during.requests}`,
      fmt(during.p50),
      fmt(during.p99),
      `${fmt(during.p50 / steady.p50)}×`,
      `${fmt(during.p99 / steady.p99)}×`,
      fmt(after.p50),
      fmt(after.p99),
    ];
  });
  const ok = r.restarts.filter((x) => x.ok).length;
  const timing = [
    ['node -e 0 (the unit)', fmt(unit, 0), '1.00', fmt(percentile(r.nodeMs, 100), 0), String(r.nodeMs.length)],
    ['ai-proxy status (CLI + one control round trip)', fmt(median(r.statusMs), 0), fmt(median(r.statusMs) / unit), fmt(percentile(r.statusMs, 100), 0), String(r.statusMs.length)],
    ['ai-proxy restart → exit 0, no load', fmt(median(r.idleRestartMs), 0), fmt(median(r.idleRestartMs) / unit), fmt(percentile(r.idleRestartMs, 100), 0), String(r.idleRestartMs.length)],
    ['ai-proxy restart → exit 0 (new server serves), under load', fmt(median(commandMs), 0), fmt(median(commandMs) / unit), fmt(percentile(commandMs, 100), 0), `${ok}/${r.restarts.length} ok`],
    ['  of which beyond status (the swap in the launcher)', fmt(median(commandMs) - median(r.statusMs), 0), fmt((median(commandMs) - median(r.statusMs)) / unit), '—', ''],
    ['  the launcher\'s log: restart received → new server serves', fmt(median(r.launcherMs), 0), fmt(median(r.launcherMs) / unit), fmt(percentile(r.launcherMs, 100), 0), String(r.launcherMs.length)],
    ['old server gone after restart returned (drain)', fmt(median(r.restarts.map((x) => x.drainMs)), 0), fmt(median(r.restarts.map((x) => x.drainMs)) / unit), fmt(percentile(r.restarts.map((x) => x.drainMs), 100), 0), ''],
  ];
  const text = [
    table(
      `Restart under load: ${r.restarts.length} × \`ai-proxy restart\` of the real gateway (run -d), ${settings.gapMs} ms apart; steady = the ${settings.steadySeconds} s before the first restart; during = requests overlapping a restart (command start → old server's exit); after = the gaps between restarts (a new server, JIT cold); failed = refused/reset/timed out/other`,
      ['load', 'requests', 'failed', 'steady p50 ms', 'steady p99 ms', 'during: requests', 'p50 ms', 'p99 ms', 'p50 ratio', 'p99 ratio', 'after p50 ms', 'after p99 ms'],
      rows,
    ),
    table(`Restart timings, in \`node -e 0\` units of this run; launcher pid ${r.launcherPidKept ? 'unchanged' : 'CHANGED'} across restarts`, ['figure', 'median ms', 'node -e 0 units', 'max ms', 'samples'], timing),
    ...(Object.keys(r.firstErrors).length > 0 ? [`first errors: ${JSON.stringify(r.firstErrors)}`] : []),
  ].join('\n');
  const errors = failures(r.keepAlive.all) + failures(r.fresh.all);
  const targets: Target[] = [
    { name: `failed requests across ${r.restarts.length} restarts under load`, value: errors, target: '0', met: errors === 0 },
    { name: 'restarts that served (exit 0, old server gone)', value: ok, target: String(r.restarts.length), met: ok === r.restarts.length && r.launcherPidKept },
    { name: 'keep-alive p99 during restarts / steady p99 (reported, no target)', value: r.keepAlive.during.p99 / r.keepAlive.steady.p99, target: '—', met: null },
  ];
  return { text, targets };
}
