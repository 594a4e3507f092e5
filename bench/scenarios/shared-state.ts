/**
 * The per-request cost of shared state (docs/scaling.md): the same gateway config with a client
 * key under an rpm limit (so the limiter runs on every request), once on local state and once
 * with `shared-state` on a local redis-server (one EVALSHA per request), measured in the same
 * interleaved rounds. Then how long a request waits on a Redis that stopped answering (SIGSTOP:
 * only `command-timeout` notices) and on one that is gone (SIGKILL: a closed connection).
 */
import { connect } from 'node:net';
import { runLoad, type LoadResult } from '../lib/load.ts';
import { freePort, hasCommand, launch, sleep, startGateway, stop, wrap, type Service, type Toolkit } from '../lib/procs.ts';
import { fmt, table, type Target } from '../lib/report.ts';
import { runOverhead, type OverheadSettings, type SubjectResult } from './overhead.ts';

/** Far above the load: every request is checked, none refused. */
const RPM = 1_000_000_000;
const COMMAND_TIMEOUT_MS = 100;

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => done(false), 500);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d: Buffer) => done(d.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
  });
}

async function startRedis(kit: Toolkit, port: number): Promise<Service> {
  const child = launch(wrap(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], kit.cores.load));
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s');
    await sleep(50);
  }
  return { name: 'redis-server', url: `redis://127.0.0.1:${port}`, pids: () => [child.pid as number], child, close: () => stop(child) };
}

export interface SharedStateResult {
  overhead: SubjectResult[];
  ratio: number;
  hung: LoadResult;
  gone: LoadResult;
}

export async function runSharedState(kit: Toolkit, upstream: string, settings: OverheadSettings, log: (line: string) => void): Promise<{ result: SharedStateResult | null; text: string; targets: Target[] }> {
  if (!hasCommand('redis-server')) return { result: null, text: '\n## Shared state\nredis-server is not installed (apt-get install -y redis-server): not measured', targets: [] };
  const services: Service[] = [];
  try {
    const port = await freePort();
    let redis = await startRedis(kit, port);
    const local = await startGateway(kit, { upstream, accessLog: false, tag: 'shared-off', rpm: RPM });
    services.push(local);
    const shared = await startGateway(kit, { upstream, accessLog: false, tag: 'shared-on', rpm: RPM, sharedState: redis.url });
    services.push(shared);
    const overhead = await runOverhead(
      kit,
      [
        { label: 'ai-proxy, rpm on local state', service: local, gateway: local },
        { label: 'ai-proxy, rpm in Redis', service: shared, gateway: shared },
      ],
      { ...settings, sequentialRounds: 1 },
      log,
    );
    const [off, on] = overhead.results as [SubjectResult, SubjectResult];
    const ratio = on.rps / off.rps;

    // Hung: SIGSTOP, then load at once. The first checks wait command-timeout, then Redis counts
    // as away and every check is local until a probe gets an answer.
    process.kill(redis.child.pid as number, 'SIGSTOP');
    const hung = await runLoad({ url: shared.url, connections: settings.connections, seconds: 3, cores: kit.cores, dir: kit.dir });
    log(`  Redis stopped: ${fmt(hung.rps)} req/s, p99 ${fmt(hung.p99)} ms, max ${fmt(hung.max)} ms, ${hung.errors + hung.non2xx} errors`);
    process.kill(redis.child.pid as number, 'SIGCONT');
    await redis.close();
    const gone = await runLoad({ url: shared.url, connections: settings.connections, seconds: 3, cores: kit.cores, dir: kit.dir });
    log(`  Redis killed: ${fmt(gone.rps)} req/s, p99 ${fmt(gone.p99)} ms, max ${fmt(gone.max)} ms, ${gone.errors + gone.non2xx} errors`);
    redis = await startRedis(kit, port);
    services.push(redis);

    const text = [
      table(
        `Shared state: a client key with rpm (checked on every request), ${settings.connections} connections, median of ${settings.rounds} interleaved rounds of ${settings.seconds} s`,
        ['subject', 'req/s', 'p50 ms', 'p99 ms', 'proxy cores', 'req/CPU-s', 'errors', 'req/s vs local', 'req/CPU-s vs local'],
        overhead.results.map((r) => [r.label, fmt(r.rps), fmt(r.p50), fmt(r.p99), fmt(r.cpu), fmt(r.rps / r.cpu), String(r.errors + r.non2xx), fmt(r.rps / off.rps, 3), fmt(r.rps / r.cpu / (off.rps / off.cpu), 3)]),
      ),
      table(
        `Requests while Redis is in trouble (command-timeout ${COMMAND_TIMEOUT_MS} ms, 3 s of load each)`,
        ['Redis', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors'],
        [
          ['stopped (SIGSTOP)', fmt(hung.rps), fmt(hung.p50), fmt(hung.p99), fmt(hung.max), String(hung.errors + hung.non2xx)],
          ['killed', fmt(gone.rps), fmt(gone.p50), fmt(gone.p99), fmt(gone.max), String(gone.errors + gone.non2xx)],
        ],
      ),
    ].join('\n');
    const perCpu = on.rps / on.cpu / (off.rps / off.cpu);
    const targets: Target[] = [
      { name: 'shared state: req/s with Redis vs without (≥ 0.90×)', value: ratio, target: '≥ 0.90', met: ratio >= 0.9 },
      { name: `shared state: req/CPU-s with Redis vs without (same target; the proxy got ${fmt(on.cpu)} and ${fmt(off.cpu)} cores)`, value: perCpu, target: '≥ 0.90', met: perCpu >= 0.9 },
      { name: `shared state: slowest request while Redis is stopped, ms (bound: command-timeout ${COMMAND_TIMEOUT_MS} ms + the request itself)`, value: hung.max, target: `≤ ${COMMAND_TIMEOUT_MS + 100}`, met: hung.max <= COMMAND_TIMEOUT_MS + 100 },
    ];
    return { result: { overhead: overhead.results, ratio, hung, gone }, text, targets };
  } finally {
    for (const s of services) await s.close();
  }
}
