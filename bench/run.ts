/**
 * `npm run bench`: every scenario against a fast fake upstream on 127.0.0.1, each figure next to
 * its baseline measured in the same invocation, printed as tables and written to
 * bench/results/bench-<time>.json. See bench/README.md for what each figure means.
 *
 *   npm run bench                 full run (~6–8 minutes)
 *   npm run bench -- --quick      shorter rounds and fewer streams (~2 minutes)
 *   npm run bench -- --soak       also the 10-minute memory soak (--soak-minutes N to change)
 *   npm run bench -- --only overhead,shared-state,streaming,held,lifecycle,profile,restart-mechanism,restart,soak
 *   npm run bench -- --streams N  concurrent open streams to hold (default 10,000; quick 2,000)
 *   npm run bench -- --keep       keep the scratch directory (configs, logs, profiles)
 *   npm run bench -- --nice N     scheduling priority for the bench and everything it starts
 *                                 (default -10 as root, so other work on the machine disturbs less)
 *   npm run bench -- --upstream node  non-streaming scenario against the Node fake upstream
 *                                 (default: nginx serving the same fixed answer, when installed)
 *   npm run bench -- --rounds N --seconds S --subjects direct,ai-proxy,compare  (non-streaming scenario)
 *   npm run bench -- --app DIR     bench another build instead of this checkout's dist/
 *   npm run bench -- --compare DIR  also run another build (DIR holds bin/, dist/, package.json)
 *                                 as "ai-proxy (compare)" in the same interleaved rounds: A/B a change
 *                                 (--compare-access-log: with its access log on)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { loadTool } from './lib/load.ts';
import { COMPLETION_JSON } from './lib/payloads.ts';
import { coreSplit, hasCommand, MB, pinSelf, setNiceness, rss, startFakeUpstream, startForwarder, startGateway, startNginx, stopAll, type Service, type Toolkit } from './lib/procs.ts';
import { fmt, table, type Target } from './lib/report.ts';
import { runLifecycleHelper, runStopWithStreams } from './scenarios/lifecycle.ts';
import { runOverhead, type Subject } from './scenarios/overhead.ts';
import { runProfile } from './scenarios/profile.ts';
import { runRestart } from './scenarios/restart.ts';
import { runRestartMechanism } from './scenarios/restart-mechanism.ts';
import { runSharedState } from './scenarios/shared-state.ts';
import { runSoak } from './scenarios/soak.ts';
import { runHeld, runStreaming, type StreamSubject } from './scenarios/streaming.ts';

const root = new URL('..', import.meta.url).pathname;
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    'soak-minutes': { type: 'string', default: '10' },
    only: { type: 'string' },
    streams: { type: 'string' },
    keep: { type: 'boolean', default: false },
    compare: { type: 'string' },
    app: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    subjects: { type: 'string' },
    'compare-access-log': { type: 'boolean', default: false },
    nice: { type: 'string' },
    upstream: { type: 'string' },
  },
});
const quick = args.quick === true;
const ALL = ['overhead', 'shared-state', 'streaming', 'held', 'lifecycle', 'profile', 'restart-mechanism', 'restart'];
const selected = new Set(args.only !== undefined ? args.only.split(',').map((s) => s.trim()) : [...ALL, ...(args.soak === true ? ['soak'] : [])]);
const overheadDefaults = quick
  ? { connections: 64, seconds: 3, rounds: 2, warmupSeconds: 1, sequentialSeconds: 2, sequentialRounds: 1 }
  : { connections: 64, seconds: 8, rounds: 3, warmupSeconds: 3, sequentialSeconds: 4, sequentialRounds: 2 };
const settings = {
  overhead: { ...overheadDefaults, rounds: Number(args.rounds ?? overheadDefaults.rounds), seconds: Number(args.seconds ?? overheadDefaults.seconds) },
  streaming: quick ? { ttfbCount: 150, floodEvents: 200_000, pacedEvents: 300, pacedIntervalMs: 5 } : { ttfbCount: 500, floodEvents: 1_000_000, pacedEvents: 1_000, pacedIntervalMs: 4 },
  streams: Number(args.streams ?? (quick ? 2_000 : 10_000)),
  streamsRequested: 0,
  profileSeconds: quick ? 4 : 10,
  soakSeconds: Math.round(Number(args['soak-minutes']) * 60),
  restartMechanism: quick
    ? { swaps: 20, steadySeconds: 1.5, gapMs: 150, connections: 16, rounds: 1, timeoutMs: 5_000 }
    : { swaps: 20, steadySeconds: 3, gapMs: 250, connections: 16, rounds: 2, timeoutMs: 5_000 },
  restart: quick
    ? { restarts: 10, steadySeconds: 4, gapMs: 1_000, keepAliveConnections: 16, freshConnections: 4, nodeRuns: 7, idleRestarts: 3, timeoutMs: 10_000 }
    : { restarts: 20, steadySeconds: 8, gapMs: 1_500, keepAliveConnections: 16, freshConnections: 4, nodeRuns: 11, idleRestarts: 5, timeoutMs: 10_000 },
};

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function ensureTools(): string[] {
  const notes: string[] = [];
  const missing = ['wrk', 'nginx'].filter((t) => !hasCommand(t));
  if (missing.length === 0) return notes;
  if (process.getuid?.() === 0 && hasCommand('apt-get')) {
    log(`installing ${missing.join(' ')} with apt-get …`);
    spawnSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`], { stdio: 'inherit' });
  }
  for (const tool of ['wrk', 'nginx']) {
    if (!hasCommand(tool)) notes.push(`${tool} is not installed (as root: apt-get update && apt-get install -y ${tool}); ${tool === 'wrk' ? 'using autocannon instead' : 'the nginx baseline is skipped'}`);
  }
  return notes;
}

/**
 * Raises this process's descriptor limit when allowed (children inherit it) and returns the
 * limit in force. Without CAP_SYS_RESOURCE the hard limit stays where it is.
 */
function descriptorLimit(): number {
  const wanted = 65_536;
  if (hasCommand('prlimit')) spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${wanted}:${wanted}`], { stdio: 'ignore' });
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const soft = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 1024);
  return soft;
}

/** The priority of the bench and everything it starts (a busy machine disturbs the figures less). */
function raisePriority(): number {
  const wanted = Number(args.nice ?? (process.getuid?.() === 0 ? -10 : 0));
  setNiceness(wanted);
  return getPriority();
}

/** A private copy of the built gateway (others may rebuild dist/ meanwhile) and the bundled helpers. */
async function prepareKit(dir: string): Promise<void> {
  const app = args.app === undefined ? root : resolve(args.app);
  if (!existsSync(join(app, 'dist/cli.js'))) throw new Error(`${app}/dist/ is missing: run \`npm run build\` (npm run bench does it first)`);
  mkdirSync(join(dir, 'app'), { recursive: true });
  cpSync(join(app, 'bin'), join(dir, 'app/bin'), { recursive: true });
  cpSync(join(app, 'dist'), join(dir, 'app/dist'), { recursive: true });
  copyFileSync(join(app, 'package.json'), join(dir, 'app/package.json'));
  await build({
    entryPoints: [join(root, 'bench/fake-upstream.ts'), join(root, 'bench/forwarder.ts'), join(root, 'bench/handover.ts')],
    outdir: dir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['http-proxy-3'],
    logLevel: 'warning',
  });
}

function version(argv: string[]): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

async function main(): Promise<number> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const notes = ensureTools();
  const nofile = descriptorLimit();
  const cores = coreSplit(cpus().length);
  pinSelf(cores);
  const nice = raisePriority();
  const dir = join(root, '.tmp', `bench-${stamp}`);
  await prepareKit(dir);
  const kit: Toolkit = { dir, cores, nofile };
  // A proxy holds two sockets per stream (client and upstream), plus a few of its own.
  settings.streamsRequested = settings.streams;
  const maxStreams = Math.floor((nofile - 150) / 2);
  if (settings.streams > maxStreams && selected.has('held')) {
    notes.push(`${settings.streams} streams need ${settings.streams * 2 + 150} descriptors in the proxy; the limit here is ${nofile} and cannot be raised (raising it needs root with CAP_SYS_RESOURCE), so ${maxStreams} streams are held`);
    settings.streams = maxStreams;
  }
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memoryMb: Math.round(totalmem() / MB),
    node: process.version,
    loadTool: loadTool(),
    wrk: hasCommand('wrk') ? version(['wrk', '-v']) : null,
    nginx: hasCommand('nginx') ? version(['nginx', '-v']) : null,
    cores: cores.proxy === null ? 'not pinned' : `proxy under test (gateway launcher+server, nginx, forwarder) on CPU ${cores.proxy}; load generator, bench clients and fake upstream on CPU ${cores.load}`,
    descriptorLimit: nofile,
    nice,
    loadAverageAtStart: loadavg(),
  };
  log(`ai-proxy bench (${quick ? 'quick' : 'full'}), ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}, load generator ${machine.loadTool}`);
  log(`cores: ${machine.cores}`);

  const out: Record<string, unknown> = { bench: 'ai-proxy', at: new Date().toISOString(), mode: quick ? 'quick' : 'full', machine, settings, notes };
  const texts: string[] = [];
  const targets: Target[] = [];
  const failures: string[] = [];
  const scenario = async (name: string, body: () => Promise<void>): Promise<void> => {
    if (!selected.has(name)) return;
    log(`\n[${name}]`);
    const started = Date.now();
    try {
      await body();
    } catch (error) {
      failures.push(`${name}: ${(error as Error).stack ?? String(error)}`);
      log(`  FAILED: ${(error as Error).message}`);
    }
    log(`  (${fmt((Date.now() - started) / 1000, 0)} s)`);
  };

  for (const note of notes) log(`note: ${note}`);
  const upstream = await startFakeUpstream(kit);
  const upstreamPort = Number(new URL(upstream.url).port);

  await scenario('overhead', async () => {
    const services: Service[] = [];
    try {
      // The fake upstream for this scenario: nginx's static answer costs the shared load core less than Node's.
      const staticUpstream = args.upstream === 'node' ? null : await startNginx(kit, { staticBody: COMPLETION_JSON });
      if (staticUpstream !== null) services.push(staticUpstream);
      const target = staticUpstream ?? upstream;
      out.overheadUpstream = staticUpstream === null ? 'node' : 'nginx static';
      const gwOff = await startGateway(kit, { upstream: target.url, accessLog: false, tag: 'overhead-off' });
      services.push(gwOff);
      const gwOn = await startGateway(kit, { upstream: target.url, accessLog: true, tag: 'overhead-on' });
      services.push(gwOn);
      // The usage ledger's cost at full load: the same gateway as "ai-proxy", writing every request to its file.
      const gwLedger = await startGateway(kit, { upstream: target.url, accessLog: false, ledger: true, tag: 'overhead-ledger' });
      services.push(gwLedger);
      const forwarder = await startForwarder(kit, target.url);
      services.push(forwarder);
      const nginx = await startNginx(kit, { upstreamPort: Number(new URL(target.url).port) });
      if (nginx !== null) services.push(nginx);
      const compare = args.compare === undefined ? null : await startGateway(kit, { upstream: target.url, accessLog: args['compare-access-log'] === true, tag: 'overhead-compare', app: resolve(args.compare) });
      if (compare !== null) services.push(compare);
      const subjects: Subject[] = [
        ...(compare === null ? [] : [{ label: `ai-proxy (compare${args['compare-access-log'] === true ? ', +access log' : ''})`, service: compare, gateway: compare }]),
        { label: 'direct', service: target },
        { label: 'ai-proxy', service: gwOff, gateway: gwOff },
        { label: 'ai-proxy +access log', service: gwOn, gateway: gwOn },
        { label: 'ai-proxy +ledger', service: gwLedger, gateway: gwLedger },
        ...(nginx === null ? [] : [{ label: 'nginx', service: nginx }]),
        { label: 'http-proxy-3', service: forwarder },
      ];
      const wanted = args.subjects?.split(',').map((w) => w.trim());
      const r = await runOverhead(kit, wanted === undefined ? subjects : subjects.filter((x) => wanted.some((w) => x.label === w || x.label.startsWith(`${w} `) || (w === 'compare' && x.label.includes('compare')))), settings.overhead, log);
      out.overhead = r.results;
      texts.push(r.text);
      targets.push(...r.targets);
    } finally {
      for (const s of services) await s.close();
    }
  });

  await scenario('shared-state', async () => {
    const r = await runSharedState(kit, upstream.url, settings.overhead, log);
    out.sharedState = r.result;
    texts.push(r.text);
    targets.push(...r.targets);
  });

  await scenario('streaming', async () => {
    const services: Service[] = [];
    try {
      const gw = await startGateway(kit, { upstream: upstream.url, accessLog: true, tag: 'streaming' });
      services.push(gw);
      const forwarder = await startForwarder(kit, upstream.url);
      services.push(forwarder);
      const nginx = await startNginx(kit, { upstreamPort });
      if (nginx !== null) services.push(nginx);
      const subjects: StreamSubject[] = [
        { label: 'direct', endpoint: `${upstream.url}/v1/chat/completions`, pids: () => [] },
        { label: 'ai-proxy', endpoint: `${gw.url}/v1/chat/completions`, pids: gw.pids },
        ...(nginx === null ? [] : [{ label: 'nginx', endpoint: `${nginx.url}/sse/v1/chat/completions`, pids: nginx.pids }]),
        { label: 'http-proxy-3', endpoint: `${forwarder.url}/v1/chat/completions`, pids: forwarder.pids },
      ];
      const r = await runStreaming(subjects, settings.streaming, log);
      out.streaming = r.result;
      texts.push(r.text);
      targets.push(...r.targets);
    } finally {
      for (const s of services) await s.close();
    }
  });

  await scenario('held', async () => {
    const forwarder = await startForwarder(kit, upstream.url);
    const gw = await startGateway(kit, { upstream: upstream.url, accessLog: true, tag: 'held' });
    try {
      const r = await runHeld(
        [
          { label: 'http-proxy-3', service: forwarder, processes: () => ({ forwarder: rss(forwarder.child.pid as number) }) },
          { label: 'ai-proxy', service: gw, processes: () => ({ launcher: rss(gw.launcherPid), server: rss(gw.serverPid()) }) },
        ],
        settings.streams,
        200,
        log,
      );
      out.held = r.results;
      texts.push(r.text);
      targets.push(...r.targets);
    } finally {
      await gw.close();
      await forwarder.close();
    }
  });

  await scenario('lifecycle', async () => {
    const helper = await runLifecycleHelper(quick, log);
    texts.push(helper.text);
    const stop = await runStopWithStreams(kit, upstream.url, log);
    out.lifecycle = { helper: helper.json, stop: stop.result };
    texts.push(stop.text);
    targets.push(...stop.targets);
  });

  await scenario('profile', async () => {
    const profiles: Record<string, unknown> = {};
    for (const accessLog of [false, true]) {
      const r = await runProfile(kit, upstream.url, accessLog, settings.overhead.connections, settings.profileSeconds, log);
      if (r.result !== null) {
        const kept = join(root, 'bench/results', `server-${accessLog ? 'access-log-' : ''}${stamp}.cpuprofile`);
        mkdirSync(join(root, 'bench/results'), { recursive: true });
        copyFileSync(r.result.file, kept);
        r.result.file = kept;
      }
      profiles[accessLog ? 'accessLog' : 'noAccessLog'] = r.result;
      texts.push(r.text);
    }
    out.profile = profiles;
  });

  await scenario('restart-mechanism', async () => {
    const r = await runRestartMechanism(kit, settings.restartMechanism, log);
    out.restartMechanism = r.results;
    texts.push(r.text);
  });

  await scenario('restart', async () => {
    const r = await runRestart(kit, upstream.url, settings.restart, log);
    out.restart = r.result;
    texts.push(r.text);
    targets.push(...r.targets);
  });

  await scenario('soak', async () => {
    const r = await runSoak(kit, upstream.url, settings.soakSeconds, log);
    out.soak = r.result;
    texts.push(r.text);
    targets.push(...r.targets);
  });

  await upstream.close();
  machine.loadAverageAtStart = machine.loadAverageAtStart.map((v) => Math.round(v * 100) / 100);
  out.loadAverageAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);
  out.targets = targets;
  out.failures = failures;

  const header = `# ai-proxy bench — ${out.at} (${quick ? 'quick' : 'full'}); ${machine.cpus} × ${machine.cpuModel}; node ${machine.node}; ${machine.loadTool}${machine.nginx === null ? '' : `; ${machine.nginx}`}\n# ${machine.cores}; nice ${machine.nice}\n# load average at start ${machine.loadAverageAtStart.join(' ')}, at end ${(out.loadAverageAtEnd as number[]).join(' ')}: ratios are only comparable within one run${notes.map((n) => `\n# note: ${n}`).join('')}`;
  const targetText = table(
    'Targets',
    ['figure', 'value', 'target', 'met'],
    targets.map((t) => [t.name, fmt(t.value, 3), t.target, t.met === null ? '—' : t.met ? 'yes' : 'NO']),
  );
  const report = [header, ...texts, targetText, ...(failures.length > 0 ? [`\n## Failures\n${failures.join('\n')}`] : [])].join('\n');
  process.stdout.write(`${report}\n`);
  out.report = report;
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, 'bench/results', `bench-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`\nresults: ${file}\n`);
  if (args.keep !== true) rmSync(dir, { recursive: true, force: true });
  else process.stdout.write(`scratch directory kept: ${dir}\n`);
  return failures.length > 0 ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

let code = 1;
try {
  code = await main();
} catch (error) {
  log(`bench failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  await stopAll();
}
process.exit(code);
