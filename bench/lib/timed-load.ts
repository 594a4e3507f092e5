/**
 * Closed-loop HTTP load that keeps every request's start time, latency and outcome, for the
 * restart scenarios: wrk and autocannon only give one summary for the whole run, and here the
 * requests made while a swap is under way must be told apart from the others of the same run.
 * Each failure is classified (refused, reset, timed out, wrong status) and never retried.
 *
 * Fresh mode opens a new connection per request (`Connection: close`), so every request goes
 * through accept(2) and sees the mechanism handing connections over; keep-alive mode reuses
 * connections, which a draining server must close politely.
 */
import { Agent, request } from 'node:http';

export type Outcome = 'ok' | 'refused' | 'reset' | 'timeout' | 'status' | 'other';

export interface TimedLoadOptions {
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  connections: number;
  keepAlive: boolean;
  timeoutMs: number;
}

/** Columns, not objects: tens of thousands of samples per run, without an allocation each. */
export interface Samples {
  /** process.hrtime at the request's start, ms (CLOCK_MONOTONIC, shared with the processes under test). */
  start: number[];
  ms: number[];
  outcome: Outcome[];
  /** The first error message of each failing kind, for the report. */
  firstError: Partial<Record<Outcome, string>>;
}

export interface TimedLoad {
  stop(): Promise<Samples>;
}

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function classify(error: NodeJS.ErrnoException): Outcome {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'other';
  }
}

export function startTimedLoad(options: TimedLoadOptions): TimedLoad {
  const target = new URL(options.url);
  const agent = options.keepAlive ? new Agent({ keepAlive: true, maxSockets: options.connections }) : false;
  const headers: Record<string, string> = { ...options.headers, ...(options.keepAlive ? {} : { connection: 'close' }) };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  const samples: Samples = { start: [], ms: [], outcome: [], firstError: {} };
  let running = true;

  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const started = nowMs();
      let settled = false;
      const settle = (outcome: Outcome, message?: string): void => {
        if (settled) return;
        settled = true;
        samples.start.push(started);
        samples.ms.push(nowMs() - started);
        samples.outcome.push(outcome);
        if (outcome !== 'ok' && samples.firstError[outcome] === undefined) samples.firstError[outcome] = message ?? outcome;
        resolve();
      };
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: options.method, headers, agent }, (res) => {
        res.on('data', () => undefined);
        res.once('end', () => settle(res.statusCode === 200 ? 'ok' : 'status', `HTTP ${res.statusCode}`));
        res.once('error', (error: NodeJS.ErrnoException) => settle(classify(error), error.message));
      });
      req.setTimeout(options.timeoutMs, () => {
        settle('timeout', `no answer within ${options.timeoutMs} ms`);
        req.destroy();
      });
      req.once('error', (error: NodeJS.ErrnoException) => settle(classify(error), `${error.code ?? ''} ${error.message}`));
      req.end(options.body);
    });

  const worker = async (): Promise<void> => {
    while (running) await once();
  };
  const workers = Array.from({ length: options.connections }, worker);
  return {
    async stop(): Promise<Samples> {
      running = false;
      await Promise.all(workers);
      if (agent !== false) agent.destroy();
      return samples;
    },
  };
}

export interface Window {
  from: number;
  to: number;
}

/** Requests whose span overlaps one of the windows (`during`) and the others (`outside`), by index. */
export function splitByWindows(samples: Samples, windows: readonly Window[]): { during: number[]; outside: number[] } {
  const during: number[] = [];
  const outside: number[] = [];
  const sorted = [...windows].sort((a, b) => a.from - b.from);
  for (let i = 0; i < samples.start.length; i++) {
    const from = samples.start[i] as number;
    const to = from + (samples.ms[i] as number);
    if (sorted.some((w) => from <= w.to && to >= w.from)) during.push(i);
    else outside.push(i);
  }
  return { during, outside };
}

export interface Summary {
  requests: number;
  ok: number;
  refused: number;
  reset: number;
  timeout: number;
  status: number;
  other: number;
  p50: number;
  p99: number;
  max: number;
  /** Requests per second over the span from the first start to the last end. */
  rps: number;
}

/** Counts by outcome and latency percentiles (ms, of the successful requests) over the chosen samples. */
export function summarize(samples: Samples, indices?: readonly number[]): Summary {
  const picked = indices ?? samples.start.map((_, i) => i);
  const summary: Summary = { requests: picked.length, ok: 0, refused: 0, reset: 0, timeout: 0, status: 0, other: 0, p50: NaN, p99: NaN, max: NaN, rps: NaN };
  const latencies: number[] = [];
  let first = Infinity;
  let last = -Infinity;
  for (const i of picked) {
    first = Math.min(first, samples.start[i] as number);
    last = Math.max(last, (samples.start[i] as number) + (samples.ms[i] as number));
    const outcome = samples.outcome[i] as Outcome;
    summary[outcome]++;
    if (outcome === 'ok') latencies.push(samples.ms[i] as number);
  }
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => (latencies.length === 0 ? NaN : (latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] as number));
  summary.p50 = at(50);
  summary.p99 = at(99);
  summary.max = latencies.length === 0 ? NaN : (latencies[latencies.length - 1] as number);
  summary.rps = last > first ? picked.length / ((last - first) / 1000) : NaN;
  return summary;
}

export const failures = (s: Summary): number => s.refused + s.reset + s.timeout + s.status + s.other;
