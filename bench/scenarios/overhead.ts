/**
 * Scenario 1, non-streaming overhead: closed-loop POSTs at fixed concurrency against the fake
 * upstream directly and through each proxy, in interleaved rounds (direct, ai-proxy, nginx, …,
 * then again), so that a noisy neighbour hits every subject alike; the median round counts. Then
 * one connection, sequential requests: the latency each proxy adds to a lone request.
 */
import { runLoad, type LoadResult } from '../lib/load.ts';
import { cpuSeconds, MB, rss, sleep, type Gateway, type Service, type Toolkit } from '../lib/procs.ts';
import { fmt, median, ratio, table, type Target } from '../lib/report.ts';

export interface Subject {
  label: string;
  service: Service;
  /** The gateway, when the subject is ai-proxy (for per-process RSS). */
  gateway?: Gateway;
}

export interface OverheadSettings {
  connections: number;
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  sequentialSeconds: number;
  sequentialRounds: number;
}

interface Measured {
  load: LoadResult;
  /** CPU cores the subject's processes used during the run (proxy side only). */
  cpu: number;
  /** RSS sampled halfway through the run, bytes, per process. */
  rss: Record<string, number>;
}

export interface SubjectResult {
  label: string;
  rounds: Measured[];
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  errors: number;
  non2xx: number;
  rss: Record<string, number>;
  sequential: LoadResult[];
  seqP50: number;
  seqP99: number;
}

async function measure(kit: Toolkit, subject: Subject, connections: number, seconds: number, proxyCpuPids: number[]): Promise<Measured> {
  const cpuBefore = proxyCpuPids.reduce((s, p) => s + cpuSeconds(p), 0);
  const started = process.hrtime.bigint();
  const rssAt: Record<string, number> = {};
  const sampler = setTimeout(() => {
    if (subject.gateway !== undefined) {
      rssAt.launcher = rss(subject.gateway.launcherPid);
      rssAt.server = rss(subject.gateway.serverPid());
    } else {
      rssAt.total = subject.service.pids().reduce((s, p) => s + rss(p), 0);
    }
  }, (seconds * 1000) / 2);
  const load = await runLoad({ url: subject.service.url, connections, seconds, cores: kit.cores, dir: kit.dir });
  clearTimeout(sampler);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (proxyCpuPids.reduce((s, p) => s + cpuSeconds(p), 0) - cpuBefore) / wall;
  return { load, cpu, rss: rssAt };
}

export async function runOverhead(kit: Toolkit, subjects: Subject[], settings: OverheadSettings, log: (line: string) => void): Promise<{ results: SubjectResult[]; text: string; targets: Target[] }> {
  const rounds = new Map<string, Measured[]>(subjects.map((s) => [s.label, []]));
  const sequential = new Map<string, LoadResult[]>(subjects.map((s) => [s.label, []]));
  // The direct subject is the fake upstream itself; its CPU is on the load core and not a proxy's.
  const proxyPids = (s: Subject): number[] => (s.label === 'direct' ? [] : s.service.pids());

  for (const subject of subjects) {
    log(`  warm-up ${subject.label}`);
    await runLoad({ url: subject.service.url, connections: settings.connections, seconds: settings.warmupSeconds, cores: kit.cores, dir: kit.dir });
  }
  for (let round = 1; round <= settings.rounds; round++) {
    for (const subject of subjects) {
      const m = await measure(kit, subject, settings.connections, settings.seconds, proxyPids(subject));
      rounds.get(subject.label)?.push(m);
      log(`  round ${round}/${settings.rounds} ${subject.label}: ${fmt(m.load.rps)} req/s, p50 ${fmt(m.load.p50)} ms, p99 ${fmt(m.load.p99)} ms, cpu ${fmt(m.cpu)} cores${m.load.errors + m.load.non2xx > 0 ? `, ${m.load.errors} errors, ${m.load.non2xx} non-2xx` : ''}`);
      await sleep(200);
    }
  }
  for (let round = 1; round <= settings.sequentialRounds; round++) {
    for (const subject of subjects) {
      const load = await runLoad({ url: subject.service.url, connections: 1, seconds: settings.sequentialSeconds, cores: kit.cores, dir: kit.dir });
      sequential.get(subject.label)?.push(load);
      log(`  sequential ${round}/${settings.sequentialRounds} ${subject.label}: p50 ${fmt(load.p50, 3)} ms, p99 ${fmt(load.p99, 3)} ms`);
    }
  }

  const results: SubjectResult[] = subjects.map((subject) => {
    const ms = rounds.get(subject.label) ?? [];
    const seq = sequential.get(subject.label) ?? [];
    const rps = median(ms.map((m) => m.load.rps));
    const mid = ms.find((m) => m.load.rps === rps) ?? ms[0];
    return {
      label: subject.label,
      rounds: ms,
      rps,
      p50: median(ms.map((m) => m.load.p50)),
      p99: median(ms.map((m) => m.load.p99)),
      cpu: median(ms.map((m) => m.cpu)),
      errors: ms.reduce((s, m) => s + m.load.errors, 0),
      non2xx: ms.reduce((s, m) => s + m.load.non2xx, 0),
      rss: mid?.rss ?? {},
      sequential: seq,
      seqP50: median(seq.map((l) => l.p50)),
      seqP99: median(seq.map((l) => l.p99)),
    };
  });

  const by = (label: string): SubjectResult | undefined => results.find((r) => r.label === label);
  const direct = by('direct');
  const nginx = by('nginx');
  const forwarder = by('http-proxy-3');
  const rows = results.map((r) => [
    r.label,
    fmt(r.rps),
    fmt(r.p50),
    fmt(r.p99),
    r.label === 'direct' ? '—' : fmt(r.cpu),
    r.label === 'direct' ? '—' : fmt(r.cpu > 0 ? r.rps / r.cpu : NaN),
    ratio(r.rps, direct?.rps ?? 0),
    ratio(r.rps, nginx?.rps ?? 0),
    ratio(r.rps, forwarder?.rps ?? 0),
    String(r.errors + r.non2xx),
  ]);
  const seqRows = results.map((r) => [r.label, fmt(r.seqP50, 3), fmt(r.seqP99, 3), r.label === 'direct' ? '—' : fmt((r.seqP50 - (direct?.seqP50 ?? NaN)) * 1000, 0), r.label === 'direct' ? '—' : fmt((r.seqP99 - (direct?.seqP99 ?? NaN)) * 1000, 0)]);
  const rssRows = results
    .filter((r) => Object.keys(r.rss).length > 0 && r.label !== 'direct')
    .map((r) => [r.label, Object.entries(r.rss).map(([k, v]) => `${k} ${fmt(v / MB, 1)}`).join(', ')]);
  const text = [
    table(
      `Non-streaming overhead: ${settings.connections} connections, median of ${settings.rounds} interleaved rounds of ${settings.seconds} s; direct = ${subjects.find((s) => s.label === 'direct')?.service.name ?? 'not run'}`,
      ['subject', 'req/s', 'p50 ms', 'p99 ms', 'proxy cores', 'req/CPU-s', 'vs direct', 'vs nginx', 'vs http-proxy-3', 'errors'],
      rows,
    ),
    table(`Sequential requests (1 connection, ${settings.sequentialSeconds} s × ${settings.sequentialRounds}): added latency vs direct`, ['subject', 'p50 ms', 'p99 ms', 'added p50 µs', 'added p99 µs'], seqRows),
    table('RSS under this load (MB, sampled mid-run)', ['subject', 'RSS'], rssRows),
  ].join('\n');

  const targets: Target[] = [];
  const gateway = by('ai-proxy');
  if (gateway !== undefined && nginx !== undefined) {
    const value = gateway.rps / nginx.rps;
    targets.push({ name: 'ai-proxy req/s vs nginx (≥ 0.25×, stretch 0.30×)', value, target: '≥ 0.25', met: value >= 0.25 });
    const perCpu = gateway.rps / gateway.cpu / (nginx.rps / nginx.cpu);
    targets.push({ name: `ai-proxy req/CPU-s vs nginx (same target, per CPU-second; nginx used ${fmt(nginx.cpu)} cores)`, value: perCpu, target: '≥ 0.25', met: perCpu >= 0.25 });
  }
  return { results, text, targets };
}
