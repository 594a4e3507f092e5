/**
 * Scenario 3, lifecycle: the lifecycle helper's own timings (bench/lifecycle.ts: `run -d` to
 * ready, reload round trip, idle stop, idle RSS), run as it is, plus what needs this bench's
 * upstream: `stop` while 100 streams are open (they must all finish whole), next to an idle
 * `stop` of the same kind of instance measured in the same run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayEnv, MB, rss, startGateway, type Toolkit } from '../lib/procs.ts';
import { completeStreams } from '../lib/sse.ts';
import { fmt, table, type Target } from '../lib/report.ts';

const root = new URL('../..', import.meta.url).pathname;

function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: performance.now() - started });
    });
  });
}

/** Runs bench/lifecycle.ts (owned by the lifecycle work) and returns its table and JSON. */
export async function runLifecycleHelper(quick: boolean, log: (line: string) => void): Promise<{ text: string; json: unknown }> {
  const script = join(root, 'bench/lifecycle.ts');
  if (!existsSync(script)) return { text: '\n## Lifecycle timings\n(bench/lifecycle.ts is not present: skipped)', json: null };
  const dir = join(root, 'bench/results');
  const list = (): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('lifecycle-') && f.endsWith('.json')) : []);
  const before = new Set(list());
  log('  bench/lifecycle.ts …');
  const r = await run([process.execPath, '--import', 'tsx', script, ...(quick ? ['--runs', '2', '--reloads', '2'] : [])], gatewayEnv({}), 240_000);
  const file = list().find((f) => !before.has(f));
  const tableLines = r.out.split('\n').filter((l) => !l.startsWith('written to'));
  return {
    text: `\n## Lifecycle timings (bench/lifecycle.ts${r.code === 0 ? '' : `, exit ${r.code}`})\n${tableLines.join('\n').trim()}`,
    json: file === undefined ? { exit: r.code, output: r.out } : JSON.parse(readFileSync(join(dir, file), 'utf8')),
  };
}

export interface StopResult {
  idleStopMs: number;
  streamsStopMs: number;
  streams: number;
  complete: number;
  broken: number;
  /** How long the streams still had to run when stop was sent, ms. */
  remainingMs: number;
  rssUnderStreams: Record<string, number>;
}

/** `ai-proxy stop` idle and with 100 open streams that end on their own ~`remainingMs` later. */
export async function runStopWithStreams(kit: Toolkit, upstream: string, log: (line: string) => void): Promise<{ result: StopResult; text: string; targets: Target[] }> {
  const cli = join(kit.dir, 'app/bin/ai-proxy.js');
  const env = gatewayEnv({});

  const idle = await startGateway(kit, { upstream, accessLog: true, tag: 'stop-idle' });
  const idleStop = await run([process.execPath, cli, 'stop', '--pid-file', idle.pidFile], env, 60_000);
  await idle.close();
  log(`  stop idle: ${fmt(idleStop.ms, 0)} ms (exit ${idleStop.code})`);

  const STREAMS = 100;
  const EVENTS = 40;
  const INTERVAL = 50;
  const gw = await startGateway(kit, { upstream, accessLog: true, tag: 'stop-streams' });
  const streams = completeStreams(`${gw.url}/v1/chat/completions`, STREAMS, EVENTS, INTERVAL);
  await streams.opened;
  const openedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const rssUnderStreams = { launcher: rss(gw.launcherPid), server: rss(gw.serverPid()) };
  const remainingMs = EVENTS * INTERVAL - (performance.now() - openedAt);
  const stopped = await run([process.execPath, cli, 'stop', '--pid-file', gw.pidFile], env, 60_000);
  const done = await streams.done;
  await gw.close();
  log(`  stop with ${STREAMS} streams: ${fmt(stopped.ms, 0)} ms (exit ${stopped.code}), ${done.complete} complete, ${done.broken} broken`);

  const result: StopResult = { idleStopMs: idleStop.ms, streamsStopMs: stopped.ms, streams: STREAMS, complete: done.complete, broken: done.broken, remainingMs, rssUnderStreams };
  const text = table(
    '`ai-proxy stop` (graceful; streams end on their own)',
    ['case', 'stop ms', 'streams left to run ms', 'streams complete', 'RSS launcher/server MB'],
    [
      ['idle', fmt(idleStop.ms, 0), '—', '—', '—'],
      [`${STREAMS} open streams`, fmt(stopped.ms, 0), fmt(remainingMs, 0), `${done.complete}/${STREAMS}`, `${fmt(rssUnderStreams.launcher / MB, 1)}/${fmt(rssUnderStreams.server / MB, 1)}`],
    ],
  );
  return {
    result,
    text,
    targets: [{ name: `streams completed whole across stop (${STREAMS} open)`, value: done.complete, target: `${STREAMS}`, met: done.complete === STREAMS }],
  };
}
