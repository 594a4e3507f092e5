/**
 * The hot-path series must expose exactly what prom-client's own Counter and Histogram would for
 * the same updates: prom-client is the oracle, fed the same seeded random updates.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../../src/server/observability/series.ts';
import { seededRandom } from '../helpers/random.ts';

const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const routes = ['/v1/chat/completions', '/v1/messages', 'other'];
const providers = ['openai', 'anthropic', 'a "quoted"\\provider\nname'];

function both(): { ours: Registry; theirs: Registry; inc(labels: { route: string; provider: string; status: number }, value: number): void; observe(labels: { route: string; provider: string }, value: number): void } {
  const ours = new Registry();
  const theirs = new Registry();
  const hotCounter = new HotCounter({ name: 't_requests_total', help: 'Requests', labelNames: ['route', 'provider', 'status'], registers: [ours] });
  const hotHistogram = new HotHistogram({ name: 't_duration_seconds', help: 'Duration', labelNames: ['route', 'provider'], buckets, registers: [ours] });
  const counter = new Counter({ name: 't_requests_total', help: 'Requests', labelNames: ['route', 'provider', 'status'], registers: [theirs] });
  const histogram = new Histogram({ name: 't_duration_seconds', help: 'Duration', labelNames: ['route', 'provider'], buckets, registers: [theirs] });
  return {
    ours,
    theirs,
    inc: (labels, value) => {
      hotCounter.inc(labels, value);
      counter.inc(labels, value);
    },
    observe: (labels, value) => {
      hotHistogram.observe(labels, value);
      histogram.observe(labels, value);
    },
  };
}

test('counters and histograms expose what prom-client exposes for the same updates', async () => {
  for (const seed of [1, 2, 3, 42]) {
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const metrics = both();
    for (let i = 0; i < 2_000; i++) {
      const route = pick(routes);
      const provider = pick(providers);
      metrics.inc({ route, provider, status: pick([200, 400, 429, 502]) }, random() < 0.2 ? Math.floor(random() * 1000) : 1);
      // Bucket bounds themselves too: `le` is inclusive.
      metrics.observe({ route, provider }, random() < 0.3 ? pick(buckets) : random() * 8);
    }
    const ours = await metrics.ours.metrics();
    assert.equal(ours, await metrics.theirs.metrics(), `seed ${seed}`);
    assert.match(ours, /t_duration_seconds_bucket\{le="\+Inf",route="[^"]+",provider="openai"\} \d+/);
  }
});

test('an empty series set exposes its HELP and TYPE lines only, as prom-client does', async () => {
  const metrics = both();
  assert.equal(await metrics.ours.metrics(), await metrics.theirs.metrics());
});

test('reset() forgets every series', async () => {
  const registry = new Registry();
  const counter = new HotCounter({ name: 't_total', help: 'T', labelNames: ['a'], registers: [registry] });
  counter.inc({ a: 'x' }, 3);
  assert.match(await registry.metrics(), /t_total\{a="x"\} 3/);
  registry.resetMetrics();
  assert.doesNotMatch(await registry.metrics(), /t_total\{/);
});
