/**
 * Closed-loop HTTP load with an established generator: wrk when installed (C, cheap on the load
 * core), else autocannon (npm). Both send the same POST and report requests/s and latency
 * percentiles; non-2xx answers and socket errors are counted, never hidden.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CLIENT_KEY, hasCommand, wrap, type Cores } from './procs.ts';

export const REQUEST_BODY = '{"model":"bench-model","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}';

export interface LoadResult {
  tool: 'wrk' | 'autocannon';
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  /** Latency percentiles in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  cores: Cores;
  /** Scratch directory for the wrk script. */
  dir: string;
}

const WRK_SCRIPT = `wrk.method = "POST"
wrk.body = '${REQUEST_BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${CLIENT_KEY}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export const loadTool = (): 'wrk' | 'autocannon' => (hasCommand('wrk') ? 'wrk' : 'autocannon');

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  return loadTool() === 'wrk' ? runWrk(options) : runAutocannon(options);
}

function runWrk(options: LoadOptions): Promise<LoadResult> {
  const script = join(options.dir, 'post.lua');
  writeFileSync(script, WRK_SCRIPT);
  const threads = 1;
  const argv = wrap(['wrk', '-t', String(threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '10s', '-s', script, `${options.url}/v1/chat/completions`], options.cores.load);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || line === undefined) return reject(new Error(`wrk failed (${code}): ${out}`));
      const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
      const seconds = (r.duration_us as number) / 1e6;
      const requests = r.requests as number;
      resolve({
        tool: 'wrk',
        connections: options.connections,
        seconds,
        requests,
        rps: requests / seconds,
        p50: (r.p50 as number) / 1000,
        p90: (r.p90 as number) / 1000,
        p99: (r.p99 as number) / 1000,
        max: (r.max as number) / 1000,
        errors: (r.connect as number) + (r.read as number) + (r.write as number) + (r.timeout as number),
        non2xx: r.status as number,
      });
    });
  });
}

async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: `${options.url}/v1/chat/completions`,
    method: 'POST',
    body: REQUEST_BODY,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
  });
  return {
    tool: 'autocannon',
    connections: options.connections,
    seconds: options.seconds,
    requests: result.requests.total,
    rps: result.requests.total / options.seconds,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}
