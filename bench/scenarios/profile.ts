/**
 * Scenario 4: a CPU profile of the server under the non-streaming load. The gateway is started
 * with NODE_OPTIONS=--cpu-prof (both processes inherit it; the server's profile is picked by its
 * PID), loaded, stopped gracefully so V8 writes the profile, and summarised by self time.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runLoad } from '../lib/load.ts';
import { startGateway, type Toolkit } from '../lib/procs.ts';
import { summariseProfile, type ProfileSummary } from '../lib/cpu-profile.ts';
import { fmt, table } from '../lib/report.ts';

export async function runProfile(kit: Toolkit, upstream: string, accessLog: boolean, connections: number, seconds: number, log: (line: string) => void): Promise<{ result: (ProfileSummary & { file: string; rps: number }) | null; text: string }> {
  const dir = join(kit.dir, `cpu-prof-${accessLog ? 'access' : 'noaccess'}`);
  mkdirSync(dir, { recursive: true });
  const gw = await startGateway(kit, { upstream, accessLog, tag: `profile-${accessLog}`, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const serverPid = gw.serverPid();
  await runLoad({ url: gw.url, connections, seconds: 2, cores: kit.cores, dir: kit.dir });
  const load = await runLoad({ url: gw.url, connections, seconds, cores: kit.cores, dir: kit.dir });
  log(`  profiled run (access log ${accessLog ? 'on' : 'off'}): ${fmt(load.rps)} req/s (slower than unprofiled)`);
  await gw.close();
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.includes(`.${serverPid}.`) && f.endsWith('.cpuprofile')) : undefined;
  if (file === undefined) return { result: null, text: `\n## CPU profile\n(no profile was written for the server, pid ${serverPid})` };
  const summary = summariseProfile(join(dir, file), 25);
  const text = [
    table(
      `CPU profile of the server under ${connections} connections (access log ${accessLog ? 'on' : 'off'}), self time, ${fmt(summary.busyMs / 1000, 1)} s busy of ${fmt(summary.totalMs / 1000, 1)} s`,
      ['origin', 'ms', '% of busy'],
      summary.origins.slice(0, 12).map((e) => [e.name, fmt(e.ms, 0), fmt(e.percent, 1)]),
    ),
    table('Top functions by self time', ['function', 'where', 'ms', '% of busy'], summary.functions.slice(0, 25).map((e) => [e.name, e.where, fmt(e.ms, 0), fmt(e.percent, 1)])),
  ].join('\n');
  return { result: { ...summary, file: join(dir, file), rps: load.rps }, text };
}
