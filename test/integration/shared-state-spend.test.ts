/**
 * The Redis-backed parts that have no HTTP face of their own, driven in this process against a
 * real redis-server: two instances' spend stores see each other's spending (synchronously, from
 * their copies) and keep what was spent while Redis was away; the usage totals every instance
 * adds are what `ai-proxy usage --shared` reads back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { SLACK_MS, waitUntil } from '../helpers/cli.ts';
import { hasRedis, RedisRelay, RedisServer } from '../helpers/redis.ts';
import { RedisSpendStore } from '../../src/server/shared-state/redis-spend-store.ts';
import { SharedState } from '../../src/server/shared-state/shared-state.ts';
import { UsageWriter, type RequestUsage } from '../../src/server/shared-state/usage-writer.ts';
import { readFleetUsage, usageDay } from '../../src/shared/shared-state/usage-totals.ts';

// Under CI=true a missing service is a failure, not a skip: .ci/run installs it.
const skip = process.env.CI === 'true' ? false : hasRedis() ? false : 'redis-server is not installed (.ci/run installs it)';

async function connect(t: TestContext, url: string, prefix: string): Promise<{ state: SharedState; lines: string[] }> {
  const lines: string[] = [];
  const state = new SharedState({ redis: url, prefix, required: false, commandTimeout: 2_000, connectTimeout: 5_000 }, { log: (_level, message) => lines.push(message), outage: () => undefined });
  t.after(() => state.close());
  assert.equal(await state.start(), true, `connected: ${lines.join('\n')}`);
  return { state, lines };
}

test('spend added on one instance is seen by another, and spend made while Redis was away is pushed when it is back', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const relay = await RedisRelay.start(t, redis);
  const a = await connect(t, redis.url, 'spend:');
  const b = await connect(t, relay.url, 'spend:');
  const storeA = new RedisSpendStore(a.state);
  const storeB = new RedisSpendStore(b.state);
  t.after(() => {
    storeA.close();
    storeB.close();
  });
  const period = Date.UTC(2026, 11, 1);

  // B asks first (it reads the fleet's sum for the next call), then A spends.
  assert.equal(storeB.spent('team', period), 0);
  storeA.add('team', period, 1.25);
  assert.equal(storeA.spent('team', period), 1.25, 'the spender sees its own spend at once');
  await waitUntil('B sees what A spent', () => Math.abs(storeB.spent('team', period) - 1.25) < 1e-9, 3 * SLACK_MS);

  // B cut off: it spends on its own, and says its sums are not the fleet's.
  relay.cut();
  await waitUntil('B notices Redis is away', () => !b.state.up, 3 * SLACK_MS);
  assert.equal(storeB.available, false);
  storeB.add('team', period, 0.5);
  assert.equal(storeB.spent('team', period), 1.75);
  assert.equal(Number(redis.cli('GET', `spend:spend:{team}:${period}`).trim()), 1.25, 'nothing of B reached Redis yet');

  relay.restore();
  await waitUntil('B is back', () => b.state.up, 6 * SLACK_MS);
  assert.equal(storeB.available, true);
  await waitUntil('B pushed what it spent while away', () => Number(redis.cli('GET', `spend:spend:{team}:${period}`).trim()) === 1.75, 3 * SLACK_MS);
  await waitUntil('A sees it', () => Math.abs(storeA.spent('team', period) - 1.75) < 1e-9, 3 * SLACK_MS);
  const ttl = Number(redis.cli('TTL', `spend:spend:{team}:${period}`).trim());
  assert.ok(ttl > 0, `the sum expires (TTL ${ttl} s)`);
  // The "back" line is written once the re-sync after the reconnect is done, which may follow the state's `up`.
  await waitUntil('B says Redis is back', () => b.lines.some((l) => /is back/.test(l)), 3 * SLACK_MS);
  assert.ok(b.lines.some((l) => /is away/.test(l)), b.lines.join('\n'));
  // Closed here, while the test runs: whatever the connections still do as they end belongs to it.
  storeA.close();
  storeB.close();
  await Promise.all([a.state.close(), b.state.close()]);
});

test('usage totals from two instances add up per key and day, as `usage --shared` reads them', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const a = await connect(t, redis.url, 'use:');
  const b = await connect(t, redis.url, 'use:');
  const writers = [new UsageWriter(a.state), new UsageWriter(b.state)];
  t.after(() => writers.forEach((w) => w.close()));
  const now = Date.now();
  const yesterday = now - 86_400_000;
  const used = (inputTokens: number | null, outputTokens: number | null, costUsd: number | null, cachedTokens: number | null = null): RequestUsage => ({ inputTokens, outputTokens, cachedTokens, reasoningTokens: null, costUsd });
  for (let i = 0; i < 7; i++) writers[i % 2]?.add('alice', now, used(10, 5, 0.01, 4));
  writers[0]?.add('bob', now, used(3, null, null));
  writers[1]?.add('alice', yesterday, used(1, 1, 0.001));
  await Promise.all(writers.map((w) => w.flush()));

  const rows = await readFleetUsage({ redis: redis.url, prefix: 'use:', timeoutMs: 5_000 }, yesterday, now);
  const today = usageDay(now);
  const alice = rows.find((r) => r.day === today && r.client === 'alice');
  assert.deepEqual({ ...alice, costUsd: Math.round((alice?.costUsd ?? 0) * 1e6) / 1e6 }, { day: today, client: 'alice', requests: 7, inputTokens: 70, outputTokens: 35, cachedTokens: 28, reasoningTokens: 0, costUsd: 0.07, unpriced: 0 });
  // A model without a price: its cost is unknown (null), and the request counts as unpriced.
  assert.deepEqual(rows.find((r) => r.day === today && r.client === 'bob'), { day: today, client: 'bob', requests: 1, inputTokens: 3, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, costUsd: null, unpriced: 1 });
  assert.deepEqual(rows.find((r) => r.day === usageDay(yesterday) && r.client === 'alice')?.requests, 1);
  assert.ok(Number(redis.cli('TTL', `use:usage:${today}`).trim()) > 80 * 86_400, 'a day is kept for months, not for ever');
  await redis.kill();
  await assert.rejects(readFleetUsage({ redis: redis.url, prefix: 'use:', timeoutMs: 1_000 }, yesterday, now), 'no Redis: an error, not an empty report');
});
