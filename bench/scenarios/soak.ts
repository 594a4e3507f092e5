/**
 * Scenario 5 (`--soak`): mixed load for a fixed time — closed-loop non-streaming requests, a
 * steady population of SSE streams, every fifth one abandoned by its client midway — with the
 * gateway's RSS (launcher + server) sampled every 10 s. Memory is flat when the slope after the
 * first minute is near zero, and the floor of each minute does not climb.
 */
import { request } from 'node:http';
import { runLoad } from '../lib/load.ts';
import { CLIENT_KEY, MB, rss, sleep, startGateway, type Toolkit } from '../lib/procs.ts';
import { fmt, slope, table, type Target } from '../lib/report.ts';

function oneStream(url: string, abandon: boolean): Promise<void> {
  return new Promise((resolve) => {
    const body = '{"model":"bench-model","stream":true,"messages":[]}';
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, 'x-bench-events': '100', 'x-bench-interval': '20' } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve());
      res.on('error', () => resolve());
      if (abandon) setTimeout(() => req.destroy(), 500);
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.end(body);
  });
}

export async function runSoak(kit: Toolkit, upstream: string, seconds: number, log: (line: string) => void): Promise<{ result: Record<string, unknown>; text: string; targets: Target[] }> {
  const gw = await startGateway(kit, { upstream, accessLog: true, tag: 'soak' });
  const samples: Array<{ t: number; launcher: number; server: number }> = [];
  const started = Date.now();
  const sample = (): void => {
    samples.push({ t: (Date.now() - started) / 1000, launcher: rss(gw.launcherPid), server: rss(gw.serverPid()) });
    const s = samples[samples.length - 1];
    if (s !== undefined && samples.length % 6 === 1) log(`  soak t=${fmt(s.t, 0)} s: launcher ${fmt(s.launcher / MB, 1)} MB, server ${fmt(s.server / MB, 1)} MB`);
  };
  sample();
  const timer = setInterval(sample, 10_000);
  let running = true;
  let streams = 0;
  const streamers = Array.from({ length: 50 }, async () => {
    while (running) {
      streams++;
      await oneStream(`${gw.url}/v1/chat/completions`, streams % 5 === 0);
    }
  });
  const load = await runLoad({ url: gw.url, connections: 16, seconds, cores: kit.cores, dir: kit.dir });
  running = false;
  await Promise.all(streamers);
  sample();
  clearInterval(timer);
  // Idle for a while: V8's memory reducer gives pages back a few seconds after the load stops.
  await sleep(15_000);
  const after = { launcher: rss(gw.launcherPid), server: rss(gw.serverPid()) };
  await gw.close();

  const total = samples.map((s) => [s.t, (s.launcher + s.server) / MB] as const);
  const afterWarmup = total.filter(([t]) => t >= 60);
  const mbPerMin = slope(afterWarmup.length >= 2 ? afterWarmup : total) * 60;
  const values = total.map(([, v]) => v);
  // The sawtooth of garbage collection hides a trend; the lowest sample of each minute (the floor
  // after a collection) shows one better.
  const floors: Array<readonly [number, number]> = [];
  for (let minute = 1; minute * 60 < seconds; minute++) {
    const inMinute = total.filter(([t]) => t >= minute * 60 && t < (minute + 1) * 60).map(([, v]) => v);
    if (inMinute.length > 0) floors.push([minute, Math.min(...inMinute)] as const);
  }
  const floorPerMin = slope(floors);
  const afterMb = (after.launcher + after.server) / MB;
  const result = { seconds, requests: load.requests, rps: load.rps, errors: load.errors + load.non2xx, streams, samples, startMb: values[0], endMb: values[values.length - 1], maxMb: Math.max(...values), mbPerMinute: mbPerMin, floors, floorMbPerMinute: floorPerMin, afterIdleMb: afterMb, after };
  const text = table(`Memory soak: ${fmt(seconds / 60, 1)} min, 16 connections of requests + 50 concurrent streams (1 in 5 abandoned), RSS launcher+server`, ['requests', 'streams', 'errors', 'start MB', 'end MB', 'max MB', 'slope MB/min', 'floor slope MB/min', '15 s idle after MB'], [
    [fmt(load.requests), fmt(streams), String(result.errors), fmt(result.startMb, 1), fmt(result.endMb, 1), fmt(result.maxMb, 1), fmt(mbPerMin, 2), fmt(floorPerMin, 2), fmt(afterMb, 1)],
  ]);
  return {
    result,
    text,
    targets: [
      { name: 'soak RSS slope after the first minute (flat: ≤ 0.5 MB/min)', value: mbPerMin, target: '≤ 0.5 MB/min', met: mbPerMin <= 0.5 },
      { name: 'soak RSS floor (per-minute minimum) slope', value: floorPerMin, target: '≤ 0.5 MB/min', met: floorPerMin <= 0.5 },
    ],
  };
}
