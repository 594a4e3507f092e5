/**
 * Scenario 2, streaming: time to first byte, SSE events forwarded per CPU-second (one long
 * stream of small events), per-event delay and batching (paced, stamped events), and how many
 * concurrent open streams a proxy holds and at what memory cost, next to the bare forwarder.
 */
import { physicalBytes } from '../lib/physical-memory.ts';
import { cpuSeconds, MB, rss, sleep, type Service } from '../lib/procs.ts';
import { fmt, percentile, ratio, table, type Target } from '../lib/report.ts';
import { flood, holdStreams, paced, timeToFirstByte } from '../lib/sse.ts';

export interface StreamSubject {
  label: string;
  /** Base URL plus path to the chat completions endpoint (nginx's SSE location has a prefix). */
  endpoint: string;
  /** Proxy processes whose CPU counts (empty for direct). */
  pids: () => number[];
}

export interface StreamingSettings {
  ttfbCount: number;
  floodEvents: number;
  pacedEvents: number;
  pacedIntervalMs: number;
}

export async function runStreaming(subjects: StreamSubject[], settings: StreamingSettings, log: (line: string) => void): Promise<{ result: Record<string, unknown>; text: string; targets: Target[] }> {
  // Interleaved, one request per subject in turn: on a shared machine, scheduling noise then hits
  // every subject alike (a sequential latency here is mostly wake-up latency).
  const ttfb: Record<string, { p50: number; p99: number; samples: number }> = {};
  const ttfbSamples = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
  for (const s of subjects) await timeToFirstByte(s.endpoint, 20);
  for (let i = 0; i < settings.ttfbCount; i += 10) {
    for (const s of subjects) ttfbSamples.get(s.label)?.push(...(await timeToFirstByte(s.endpoint, 10)));
  }
  for (const s of subjects) {
    const samples = ttfbSamples.get(s.label) ?? [];
    ttfb[s.label] = { p50: percentile(samples, 50), p99: percentile(samples, 99), samples: samples.length };
    log(`  ttfb ${s.label}: p50 ${fmt(ttfb[s.label]?.p50, 3)} ms, p99 ${fmt(ttfb[s.label]?.p99, 3)} ms`);
  }

  const floods: Record<string, { events: number; seconds: number; eventsPerSecond: number; cpuSeconds: number; eventsPerCpuSecond: number; eventsPerRead: number }> = {};
  for (const s of subjects) {
    await flood(s.endpoint, Math.min(10_000, settings.floodEvents));
    const before = s.pids().reduce((sum, p) => sum + cpuSeconds(p), 0);
    const r = await flood(s.endpoint, settings.floodEvents);
    const cpu = s.pids().reduce((sum, p) => sum + cpuSeconds(p), 0) - before;
    floods[s.label] = { events: r.events, seconds: r.seconds, eventsPerSecond: r.events / r.seconds, cpuSeconds: cpu, eventsPerCpuSecond: cpu > 0 ? r.events / cpu : NaN, eventsPerRead: r.events / r.reads };
    log(`  flood ${s.label}: ${fmt(r.events / r.seconds)} events/s, cpu ${fmt(cpu, 3)} s, ${fmt(r.events / r.reads)} events per client read`);
  }

  // Paced streams in interleaved rounds too (a fifth of the events each round).
  const pacing: Record<string, { p50: number; p99: number; max: number; events: number; reads: number; batchedReads: number }> = {};
  const pacedRuns = new Map<string, { delays: number[]; events: number; reads: number; batchedReads: number }>(subjects.map((s) => [s.label, { delays: [], events: 0, reads: 0, batchedReads: 0 }]));
  const ROUNDS = 5;
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of subjects) {
      const r = await paced(s.endpoint, Math.ceil(settings.pacedEvents / ROUNDS), settings.pacedIntervalMs);
      const acc = pacedRuns.get(s.label);
      if (acc === undefined) continue;
      // The first event of a stream also carries the connection and response headers: left out.
      acc.delays.push(...r.delays.slice(1));
      acc.events += r.events;
      acc.reads += r.reads;
      acc.batchedReads += r.batchedReads;
    }
  }
  for (const s of subjects) {
    const r = pacedRuns.get(s.label);
    if (r === undefined) continue;
    pacing[s.label] = { p50: percentile(r.delays, 50), p99: percentile(r.delays, 99), max: Math.max(...r.delays), events: r.events, reads: r.reads, batchedReads: r.batchedReads };
    log(`  paced ${s.label}: delay p50 ${fmt(pacing[s.label]?.p50, 3)} ms, p99 ${fmt(pacing[s.label]?.p99, 3)} ms, ${r.batchedReads} batched reads of ${r.reads}`);
  }

  const direct = subjects.find((s) => s.label === 'direct')?.label ?? '';
  const rows1 = subjects.map((s) => [
    s.label,
    fmt(ttfb[s.label]?.p50, 3),
    fmt(ttfb[s.label]?.p99, 3),
    s.label === direct ? '—' : fmt(((ttfb[s.label]?.p50 ?? NaN) - (ttfb[direct]?.p50 ?? NaN)) * 1000, 0),
    fmt(floods[s.label]?.eventsPerSecond),
    s.label === direct ? '—' : fmt(floods[s.label]?.eventsPerCpuSecond),
    fmt(floods[s.label]?.eventsPerRead, 1),
    fmt(pacing[s.label]?.p50, 3),
    fmt(pacing[s.label]?.p99, 3),
    s.label === direct ? '—' : fmt(((pacing[s.label]?.p99 ?? NaN) - (pacing[direct]?.p99 ?? NaN)) * 1000, 0),
    `${pacing[s.label]?.batchedReads ?? '—'}/${pacing[s.label]?.reads ?? '—'}`,
  ]);
  const text = table(
    `Streaming: TTFB (${settings.ttfbCount} sequential streams each, subjects interleaved), flood (${settings.floodEvents.toLocaleString('en-US')} events, one stream), paced (${settings.pacedEvents} events ${settings.pacedIntervalMs} ms apart, 5 interleaved rounds)`,
    ['subject', 'ttfb p50 ms', 'ttfb p99 ms', 'added p50 µs', 'flood events/s', 'events/CPU-s', 'events/read', 'delay p50 ms', 'delay p99 ms', 'added p99 µs', 'batched reads'],
    rows1,
  );
  const targets: Target[] = [];
  const gw = pacing['ai-proxy'];
  const base = pacing[direct];
  if (gw !== undefined && base !== undefined) {
    const added = gw.p99 - base.p99;
    targets.push({ name: 'added SSE event delay vs direct, p99 (≤ 1 ms)', value: added, target: '≤ 1 ms', met: added <= 1 });
    targets.push({ name: 'SSE events batched by ai-proxy (reads with > 1 event; direct had ' + base.batchedReads + ')', value: gw.batchedReads, target: `≤ direct`, met: gw.batchedReads <= base.batchedReads });
  }
  return { result: { ttfb, flood: floods, paced: pacing }, text, targets };
}

export interface HeldSubject {
  label: string;
  service: Service;
  /** Per-process RSS breakdown. */
  processes: () => Record<string, number>;
}

export interface HeldResult {
  label: string;
  requested: number;
  open: number;
  failed: number;
  firstError: string | null;
  openSeconds: number;
  idleRss: number;
  loadedRss: number;
  /** Distinct physical pages across the subject's processes, in bytes; null without root. */
  idlePhys: number | null;
  loadedPhys: number | null;
  perThousand: number;
  processes: Record<string, number>;
}

/**
 * Opens `count` held streams through each subject in turn (fresh processes), measures memory,
 * closes them. Memory twice: the sum of VmRSS (counts a page shared by the gateway's two
 * processes, such as the node binary's, once per process) and the distinct physical pages.
 */
export async function runHeld(subjects: HeldSubject[], count: number, parallel: number, log: (line: string) => void): Promise<{ results: HeldResult[]; text: string; targets: Target[] }> {
  const results: HeldResult[] = [];
  for (const s of subjects) {
    await sleep(500);
    const idleRss = s.service.pids().reduce((sum, p) => sum + rss(p), 0);
    const idlePhys = physicalBytes(s.service.pids());
    const held = await holdStreams(`${s.service.url}/v1/chat/completions`, count, parallel);
    await sleep(2_000);
    const loadedRss = s.service.pids().reduce((sum, p) => sum + rss(p), 0);
    const loadedPhys = physicalBytes(s.service.pids());
    const processes = s.processes();
    log(`  held ${s.label}: ${held.open}/${count} open in ${fmt(held.seconds, 1)} s (${held.failed} failed${held.firstError === null ? '' : `: ${held.firstError}`}), RSS ${fmt(idleRss / MB, 1)} → ${fmt(loadedRss / MB, 1)} MB, physical ${physMb(idlePhys)} → ${physMb(loadedPhys)} MB`);
    await held.close();
    results.push({
      label: s.label,
      requested: count,
      open: held.open,
      failed: held.failed,
      firstError: held.firstError,
      openSeconds: held.seconds,
      idleRss,
      loadedRss,
      idlePhys,
      loadedPhys,
      perThousand: held.open > 0 ? ((loadedRss - idleRss) / held.open) * 1000 : NaN,
      processes,
    });
  }
  const forwarder = results.find((r) => r.label === 'http-proxy-3');
  const rows = results.map((r) => [
    r.label,
    `${r.open}/${r.requested}`,
    fmt(r.openSeconds, 1),
    fmt(r.idleRss / MB, 1),
    fmt(r.loadedRss / MB, 1),
    fmt(r.perThousand / MB, 1),
    ratio(r.loadedRss, forwarder?.loadedRss ?? 0),
    physMb(r.loadedPhys),
    r.loadedPhys === null || forwarder === undefined || forwarder.loadedPhys === null ? 'n/a' : ratio(r.loadedPhys, forwarder.loadedPhys),
    Object.entries(r.processes).map(([k, v]) => `${k} ${fmt(v / MB, 1)}`).join(', '),
  ]);
  const text = table(`Concurrent open SSE streams (held open, fresh processes)`, ['subject', 'open', 'open s', 'idle RSS MB', 'loaded RSS MB', 'MB per 1,000', 'RSS vs http-proxy-3', 'loaded phys MB', 'phys vs http-proxy-3', 'processes (MB)'], rows);
  const targets: Target[] = [];
  const gw = results.find((r) => r.label === 'ai-proxy');
  if (gw !== undefined) {
    targets.push({ name: `concurrent open streams held by ai-proxy (target 10,000)`, value: gw.open, target: '≥ 10,000', met: gw.open >= 10_000 });
    if (forwarder !== undefined && forwarder.open === gw.open) {
      const value = gw.loadedRss / forwarder.loadedRss;
      targets.push({ name: `total RSS with ${gw.open} streams vs http-proxy-3 (≤ 1.3×)`, value, target: '≤ 1.3', met: value <= 1.3 });
      const phys = gw.loadedPhys !== null && forwarder.loadedPhys !== null ? gw.loadedPhys / forwarder.loadedPhys : null;
      targets.push({ name: `physical memory with ${gw.open} streams vs http-proxy-3 (≤ 1.3×)`, value: phys ?? NaN, target: phys === null ? 'n/a (PFNs need root)' : '≤ 1.3', met: phys === null ? null : phys <= 1.3 });
    }
  }
  return { results, text, targets };
}

/** Physical bytes in MB, or n/a when page frames were not readable. */
function physMb(bytes: number | null): string {
  return bytes === null ? 'n/a' : fmt(bytes / MB, 1);
}
