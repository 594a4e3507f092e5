/**
 * The usage ledger's cost on the server's event loop, per request: what `UsageAccounting.finish`
 * adds when a request ends (cost lookup, usage metrics, budget spend, queueing the row, and one
 * postMessage per 256 rows), next to the same call with the ledger off, in the same process.
 * The commits run on the writer thread; their throughput is printed too. Event-loop time, not
 * req/s, is what moves p99 at full load, and unlike req/s on a shared machine it does not
 * swing with what else runs. Target: no measurable change in p99 (well under 1 % of a request's
 * ~90 µs of server CPU at 11,000 req/s per core).
 *
 *   node --import tsx bench/ledger-cost.ts [--requests 200000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/shared/config/load.ts';
import type { AccessRecord } from '../src/server/http/access-log.ts';
import { Metrics } from '../src/server/observability/metrics.ts';
import { buildSnapshot } from '../src/server/snapshot.ts';
import { UsageAccounting } from '../src/server/usage/accounting.ts';
import { Ledger } from '../src/server/usage/ledger.ts';

const at = process.argv.indexOf('--requests');
const REQUESTS = at >= 0 ? Number(process.argv[at + 1]) : 200_000;

const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-ledger-bench-'));
const yaml = join(dir, 'c.yaml');
await import('node:fs').then((fs) => fs.writeFileSync(yaml, 'client-keys: [{ name: bench, key: bench-key-0123456789, budget: { usd: 1000000, period: month } }]\nproviders: [{ name: mock, type: mock, models: [bench-model] }]\npricing: { bench-model: { input: 2.5, output: 10 } }\n'));
const snapshot = buildSnapshot(loadConfig({ path: yaml }), 1, null);
const metrics = new Metrics({ inFlight: () => 0, streams: () => 0, generation: () => 1, cooldowns: () => [], droppedLogLines: () => 0 });

function record(i: number): AccessRecord {
  return {
    id: `req-${i}`, method: 'POST', path: '/v1/chat/completions', startedAt: Date.now() - 3, client: 'bench', model: 'bench-model', resolvedModel: 'bench-model', provider: 'mock', upstreamModel: 'bench-model',
    attempts: 1, ttfbMs: 1, inputTokens: 120, outputTokens: 40, cachedTokens: 0, reasoningTokens: 0, modelRequest: true, bytes: 300, outcome: 'complete',
  };
}

/** Yields to the event loop every 64 requests, as a server does between requests, so the writer's acknowledgements arrive. */
async function measure(accounting: UsageAccounting): Promise<number> {
  const records = Array.from({ length: 1024 }, (_, i) => record(i));
  let total = 0n;
  for (let i = 0; i < REQUESTS; i++) {
    const r = records[i & 1023] as AccessRecord;
    const t = process.hrtime.bigint();
    accounting.finish(snapshot, r, 200, Date.now(), '/v1/chat/completions', 'bench-model');
    total += process.hrtime.bigint() - t;
    if ((i & 63) === 63) await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(total) / REQUESTS / 1000;
}

let written = 0;
const ledger = new Ledger({ path: join(dir, 'usage.db'), retentionMs: 0, seedPeriods: [] }, { seeded() {}, health(ok, message) { if (!ok) console.error(message); }, written(n) { written += n; }, dropped(n, reason) { console.error(`dropped ${n} (${reason})`); } });
await ledger.opened;
const off = new UsageAccounting(metrics);
const on = new UsageAccounting(metrics);
on.ledger = ledger;
// Warm both paths, then interleave three rounds each.
await measure(off);
await measure(on);
const rounds: Array<{ off: number; on: number }> = [];
const writeStart = Date.now();
for (let i = 0; i < 3; i++) rounds.push({ off: await measure(off), on: await measure(on) });
const started = Date.now();
await ledger.close();
const wallSeconds = (Date.now() - writeStart) / 1000;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1] as number;
const offUs = median(rounds.map((r) => r.off));
const onUs = median(rounds.map((r) => r.on));
console.log(`requests per round: ${REQUESTS}; node ${process.version}`);
console.log(`event-loop time per request at its end: ledger off ${offUs.toFixed(2)} µs, ledger on ${onUs.toFixed(2)} µs (+${(onUs - offUs).toFixed(2)} µs)`);
console.log(`rows acknowledged by the writer thread: ${written} of ${5 * REQUESTS} (${Math.round(written / wallSeconds)} rows/s over the measured rounds; close flushed the rest in ${Date.now() - started} ms)`);
rmSync(dir, { recursive: true, force: true });
