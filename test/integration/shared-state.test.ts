/**
 * Several instances as one gateway (DESIGN §11): three real daemons on one real redis-server.
 * A client key's rpm holds for the fleet, not per instance; an upstream 429 seen by one instance
 * keeps the others off that key (counted at the fake upstream, per key), also for an instance
 * that was cut off Redis when it happened; and Redis killed or hung under load fails no request
 * and makes none wait, after which every instance joins again and re-syncs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instance, post, runCli, SLACK_MS, tempDir, waitUntil } from '../helpers/cli.ts';
import { fakeUpstream, json, openaiCompletion, openaiError } from '../helpers/fake-upstream.ts';
import { freePort, hasRedis, RedisRelay, RedisServer } from '../helpers/redis.ts';
import { assertNoSecrets } from './gateway-harness.ts';
import { ADMIN_KEY, credentialState, loadLoop, moreSamples, startFleet, waitShared, type Member } from './fleet-harness.ts';

const CLIENT_KEY = 'sk-fleet-client-0a1b2c3d4e5f';
const K1 = 'sk-upstream-one-1111111111111111';
const K2 = 'sk-upstream-two-2222222222222222';
const REDIS_PASSWORD = 'redis-pass-7a6b5c4d3e2f';
const auth = { authorization: `Bearer ${CLIENT_KEY}` };
const chat = (model: string): Record<string, unknown> => ({ model, messages: [{ role: 'user', content: 'hi' }] });
// Under CI=true a missing service is a failure, not a skip: .ci/run installs it.
const skip = process.env.CI === 'true' ? false : hasRedis() ? false : 'redis-server is not installed (apt-get install -y redis-server; .ci/run installs it)';

function fleetYaml(options: { redis: string; prefix: string; client: string; providers: string; commandTimeout?: string }): string {
  return `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
watch-config: false
log: { access: false }
admin: { key: ${ADMIN_KEY} }
client-keys:
  - ${options.client}
${options.providers}
retry: { attempts: 3, backoff-base: 5ms, backoff-max: 20ms }
shared-state: { redis: "${options.redis}", prefix: "${options.prefix}", command-timeout: ${options.commandTimeout ?? '2s'} }
`;
}

const MOCK = `providers:\n  - { name: mock, type: mock, models: [mock] }`;

/** An OpenAI-compatible upstream with two keys, fill-first: every instance uses k1 while it is healthy. */
async function twoKeyUpstream(t: Parameters<typeof fakeUpstream>[0]): Promise<{ providers: string; perKey: Map<string, number>; armRateLimit: () => void }> {
  const perKey = new Map<string, number>([
    ['k1', 0],
    ['k2', 0],
  ]);
  let armed = false;
  const upstream = await fakeUpstream(t, (req, res, recorded) => {
    const key = req.headers.authorization === `Bearer ${K1}` ? 'k1' : req.headers.authorization === `Bearer ${K2}` ? 'k2' : 'other';
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    const model = (JSON.parse(recorded.body) as { model: string }).model;
    if (key === 'k1' && armed) {
      armed = false;
      return json(res, 429, openaiError('Rate limit reached for requests', 'requests', 'rate_limit_exceeded'), { 'retry-after': '120' });
    }
    json(res, 200, openaiCompletion(model, `answered with ${key}`));
  });
  const providers = `providers:
  - name: up
    type: openai-compatible
    base-url: ${upstream.url}/v1
    strategy: fill-first
    api-keys: [{ key: ${K1}, name: k1 }, { key: ${K2}, name: k2 }]
    models: [gpt-fleet]`;
  return { providers, perKey, armRateLimit: () => (armed = true) };
}

test('a client key with rpm 30: 90 requests spread over three instances get no more than GCRA allows one instance', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const members = await startFleet(t, () => fleetYaml({ redis: redis.url, prefix: 'rpm:', client: `{ name: limited, key: ${CLIENT_KEY}, rpm: 30 }`, providers: MOCK }));
  await waitShared(members, 1);

  const statuses: number[] = [];
  const admittedBy = new Map<string, number>();
  const started = Date.now();
  // Nine at a time, three per instance, as fast as they are answered.
  for (let wave = 0; wave < 10; wave++) {
    await Promise.all(
      Array.from({ length: 9 }, async (_, i) => {
        const m = members[i % 3] as Member;
        const response = await post(`${m.url}/v1/chat/completions`, chat('mock'), auth);
        await response.arrayBuffer();
        statuses.push(response.status);
        if (response.status === 200) admittedBy.set(m.name, (admittedBy.get(m.name) ?? 0) + 1);
      }),
    );
  }
  const elapsed = Date.now() - started;
  const ok = statuses.filter((s) => s === 200).length;
  const allowed = 30 + Math.floor(elapsed / 2_000);
  t.diagnostic(`${ok} of 90 admitted in ${elapsed} ms (GCRA allows ${allowed}); per instance ${JSON.stringify(Object.fromEntries(admittedBy))}`);
  assert.deepEqual([...new Set(statuses)].sort(), [200, 429], `only admissions and refusals: ${statuses.join(',')}`);
  assert.ok(ok <= allowed, `${ok} requests were admitted; one instance's GCRA allows ${allowed} in ${elapsed} ms`);
  // The burst itself is admitted: the fleet is not refusing what one instance would take.
  assert.ok(ok >= 30, `only ${ok} admitted; the burst of 30 should be`);
  for (const m of members) {
    assert.equal(await m.metric('ai_proxy_shared_state_local_decisions_total'), 0, `instance ${m.name} decided on its own`);
    assert.ok((admittedBy.get(m.name) ?? 0) > 0, `instance ${m.name} admitted none: the requests were not spread`);
  }
  assert.match(redis.cli('--scan', '--pattern', 'rpm:rl:*'), /rpm:rl:\{limited\}:r/);

  // A restart's new server child joins the fleet's state: the bucket is still empty for it,
  // although its predecessor admitted only a third of the burst (what the hand-over carries).
  const a = members[0] as Member;
  const restarted = await runCli(['restart', '--pid-file', a.inst.pidFile], { env: a.inst.env });
  assert.equal(restarted.code, 0, restarted.stdout + restarted.stderr);
  await waitShared([a], 1);
  let more = 0;
  for (let i = 0; i < 5; i++) if ((await post(`${a.url}/v1/chat/completions`, chat('mock'), auth)).status === 200) more++;
  const total = Date.now() - started;
  assert.ok(ok + more <= 30 + Math.floor(total / 2_000), `after the restart ${more} more were admitted: ${ok + more} in ${total} ms, GCRA allows ${30 + Math.floor(total / 2_000)}`);
  assert.equal(await a.metric('ai_proxy_shared_state_local_decisions_total'), 0, 'the new server decided in Redis');

  // The fleet's usage: every request sent, through any instance, admitted or refused.
  const report = await waitUntil('`ai-proxy usage --shared` counts the 95 requests', async () => {
    const r = await runCli(['usage', '--shared', '--json', '-c', a.inst.config], { env: a.inst.env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const parsed = JSON.parse(r.stdout) as { total: { requests: number }; groups: Array<{ key: string; requests: number }> };
    return parsed.total.requests === 95 ? parsed : false;
  });
  assert.deepEqual(report.groups.map((g) => [g.key, g.requests]), [['limited', 95]]);
  const text = await runCli(['usage', '--shared', '-c', a.inst.config], { env: a.inst.env });
  assert.match(text.stdout, /^fleet totals from Redis at 127\.0\.0\.1:\d+ \(prefix rpm:\)\n/);
  assert.match(text.stdout, /\nlimited +95 /);
});

test('an upstream 429 with Retry-After through A: B and C send nothing more to that key while it cools', { skip }, async (t) => {
  // With a password: AUTH works, and the password shows nowhere.
  const redis = await RedisServer.start(t, { password: REDIS_PASSWORD });
  const upstream = await twoKeyUpstream(t);
  const members = await startFleet(t, () => fleetYaml({ redis: redis.url, prefix: 'cool:', client: `{ name: fleet, key: ${CLIENT_KEY} }`, providers: upstream.providers }));
  const [a, b, c] = members as [Member, Member, Member];
  await waitShared(members, 1);

  // Fill-first: while k1 is healthy, every instance sends to k1.
  for (const m of members) assert.equal((await post(`${m.url}/v1/chat/completions`, chat('gpt-fleet'), auth)).status, 200);
  assert.deepEqual(Object.fromEntries(upstream.perKey), { k1: 3, k2: 0 });

  upstream.armRateLimit();
  const seen = Date.now();
  const response = await post(`${a.url}/v1/chat/completions`, chat('gpt-fleet'), auth);
  assert.equal(response.status, 200, 'A failed over to k2');
  assert.equal(response.headers.get('x-ai-proxy-attempts'), '2');
  assert.deepEqual(Object.fromEntries(upstream.perKey), { k1: 4, k2: 1 });

  for (const m of [b, c]) await waitUntil(`instance ${m.name} has k1 cooling`, async () => (await credentialState(m, 'k1')) === 'cooling', 3 * SLACK_MS);
  t.diagnostic(`B and C had k1 cooling ${Date.now() - seen} ms after A's request was sent`);

  for (let i = 0; i < 10; i++) {
    for (const m of [b, c]) assert.equal((await post(`${m.url}/v1/chat/completions`, chat('gpt-fleet'), auth)).status, 200);
  }
  assert.deepEqual(Object.fromEntries(upstream.perKey), { k1: 4, k2: 21 }, 'B and C sent to k2 only');
  const keys = redis.cli('--scan', '--pattern', 'cool:cooldown:*').trim().split('\n');
  assert.equal(keys.length, 1, `one cooldown key: ${keys.join(', ')}`);
  const left = Number(redis.cli('PTTL', keys[0] as string).trim());
  assert.ok(left > 60_000 && left <= 120_000, `the key lives as long as Retry-After said (${left} ms left of 120 s)`);
  assert.ok(!keys[0]?.includes(K1), 'the key name holds no upstream key');
  const config = JSON.stringify(await a.admin('/admin/config'));
  assert.match(config, /redis:\/\/\[redacted\]@127\.0\.0\.1:\d+/);
  for (const m of members) {
    await m.stop();
    assertNoSecrets({ [`${m.name}'s log`]: m.log(), '/admin/config': config }, [REDIS_PASSWORD, K1, K2, CLIENT_KEY]);
  }
});

test('an instance cut off from Redis when another saw the 429 still skips the key once it reconnects', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const relay = await RedisRelay.start(t, redis);
  const upstream = await twoKeyUpstream(t);
  // C reaches Redis through the relay, A and B directly.
  const members = await startFleet(t, (i) => fleetYaml({ redis: i === 2 ? relay.url : redis.url, prefix: 'cut:', client: `{ name: fleet, key: ${CLIENT_KEY} }`, providers: upstream.providers }));
  const [a, b, c] = members as [Member, Member, Member];
  await waitShared(members, 1);

  relay.cut();
  await waitShared([c], 0);
  upstream.armRateLimit();
  assert.equal((await post(`${a.url}/v1/chat/completions`, chat('gpt-fleet'), auth)).status, 200);
  assert.deepEqual(Object.fromEntries(upstream.perKey), { k1: 1, k2: 1 });
  await waitUntil('B has k1 cooling', async () => (await credentialState(b, 'k1')) === 'cooling', 3 * SLACK_MS);
  // The premise: C did not hear of it (the message went out while it was away).
  assert.equal(await credentialState(c, 'k1'), 'healthy');

  relay.restore();
  await waitShared([c], 1);
  await waitUntil('C has k1 cooling after it reconnected', async () => (await credentialState(c, 'k1')) === 'cooling', 3 * SLACK_MS);
  for (let i = 0; i < 10; i++) assert.equal((await post(`${c.url}/v1/chat/completions`, chat('gpt-fleet'), auth)).status, 200);
  assert.deepEqual(Object.fromEntries(upstream.perKey), { k1: 1, k2: 11 }, 'C sent nothing more to k1');
  assert.match(c.log(), /shared state: Redis at 127\.0\.0\.1:\d+ is away/);
  assert.match(c.log(), /shared state: Redis at 127\.0\.0\.1:\d+ is back/);
});

test('Redis hung (SIGSTOP) and killed under load: no request fails or waits, and the instances re-sync after', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const upstream = await fakeUpstream(t, (_req, res, recorded) => json(res, 200, openaiCompletion((JSON.parse(recorded.body) as { model: string }).model, 'ok')));
  const providers = `providers:\n  - { name: up, type: openai-compatible, base-url: ${upstream.url}/v1, api-keys: [${K1}], models: [gpt-fleet] }`;
  // A limit far above the load: every request is checked in Redis, none is refused by it.
  const members = await startFleet(t, () => fleetYaml({ redis: redis.url, prefix: 'outage:', client: `{ name: busy, key: ${CLIENT_KEY}, rpm: 1000000, tpm: 100000000 }`, providers, commandTimeout: '250ms' }));
  await waitShared(members, 1);
  const load = loadLoop(members.map((m) => ({ name: m.name, url: () => m.url })), chat('gpt-fleet'), auth);
  t.after(() => load.stop());

  await moreSamples(load.samples, 60, 'with Redis up');
  // Hung: Redis keeps its port, the kernel accepts what is sent, nothing answers. Held for much
  // longer than the bound checked below, so a request that waited on Redis fails that check.
  redis.pause();
  const pausedAt = Date.now();
  await moreSamples(load.samples, 60, 'while Redis is stopped');
  await waitShared(members, 0);
  await waitUntil('Redis has been stopped for 6 s', () => Date.now() - pausedAt >= 6_000, 3 * SLACK_MS);
  redis.resume();
  await waitShared(members, 1);
  await moreSamples(load.samples, 60, 'after Redis resumed');

  await redis.kill();
  const killedAt = Date.now();
  await waitShared(members, 0);
  await moreSamples(load.samples, 200, 'while Redis is gone');
  await redis.restart();
  await waitShared(members, 1);
  const backAt = Date.now();
  await moreSamples(load.samples, 60, 'after Redis came back');
  // The limiter asks Redis again: its script runs there (Redis's own count of calls).
  const scriptCalls = (): number => Number(/cmdstat_evalsha:calls=(\d+)/.exec(redis.cli('INFO', 'commandstats'))?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
  const callsBefore = scriptCalls();
  await moreSamples(load.samples, 60, 'with Redis deciding again');
  const callsAfter = scriptCalls();
  await load.stop();

  const failed = load.samples.filter((s) => s.status !== 200);
  assert.equal(failed.length, 0, `requests failed: ${JSON.stringify(failed.slice(0, 5))}`);
  const slowest = load.samples.reduce((max, s) => Math.max(max, s.ms), 0);
  t.diagnostic(`${load.samples.length} requests, slowest ${slowest} ms (command-timeout 250 ms; Redis was stopped for 6 s)`);
  assert.ok(slowest < 3_000, `a request took ${slowest} ms: it waited on the stopped Redis (6 s) instead of its 250 ms bound`);

  for (const m of members) {
    const outages = (await m.metric('ai_proxy_shared_state_outages_total')) ?? 0;
    assert.ok(outages >= 2, `instance ${m.name} counted ${outages} outages`);
    // The server's lines reach the file through the launcher, a moment after the metric moved.
    const away = (): number => (m.log().match(/shared state: Redis at \S+ is away/g) ?? []).length;
    await waitUntil(`${m.name} logged its outages`, () => away() >= outages, 3 * SLACK_MS).catch(() => undefined);
    assert.equal(away(), outages, `one log line per outage on ${m.name}`);
    assert.ok(((await m.metric('ai_proxy_shared_state_local_decisions_total')) ?? 0) > 0, `instance ${m.name} decided locally while Redis was away`);
  }
  // Re-sync: the restarted Redis started empty; the usage the instances counted while it was
  // gone reached it once they were back (flushed within a second).
  // Sent after the kill and answered before Redis was back: counted while away, nowhere else.
  const duringOutage = load.samples.filter((s) => s.at >= killedAt && s.at + s.ms < backAt).length;
  const day = new Date().toISOString().slice(0, 10);
  const counted = await waitUntil('the usage counted while Redis was gone reached it', () => {
    const n = Number(redis.cli('HGET', `outage:usage:${day}`, 'busy\trequests').trim());
    return n >= duringOutage ? n : false;
  }, 3 * SLACK_MS);
  t.diagnostic(`usage in the restarted Redis: ${counted} requests (≥ ${duringOutage} made while it was gone)`);
  assert.ok(callsAfter > callsBefore, `once back, the limiter's script runs in Redis again (${callsBefore} → ${callsAfter} calls)`);
});

test('Redis unreachable at start: the instance serves on local state and says so; with required: true it refuses to start', { skip }, async (t) => {
  const closed = await freePort();
  const yaml = (required: boolean): string =>
    fleetYaml({ redis: `redis://127.0.0.1:${closed}`, prefix: 'start:', client: `{ name: limited, key: ${CLIENT_KEY}, rpm: 2 }`, providers: MOCK }).replace('command-timeout: 2s', `command-timeout: 2s, required: ${required}`);

  const [lenient] = await startFleet(t, () => yaml(false), 1);
  const m = lenient as Member;
  assert.match(m.log(), new RegExp(`shared state: Redis at 127\\.0\\.0\\.1:${closed} is unreachable \\(.+\\); serving on this instance's own limits`));
  assert.equal(await m.metric('ai_proxy_shared_state_up'), 0);
  // Its own limiter applies meanwhile: rpm 2 admits a burst of 2.
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await post(`${m.url}/v1/chat/completions`, chat('mock'), auth)).status);
  assert.deepEqual(statuses, [200, 200, 429]);
  assert.equal(await m.metric('ai_proxy_shared_state_local_decisions_total'), 3);

  const strict = instance(t, yaml(true));
  const result = await runCli(['run', '-d', ...strict.flags], { env: strict.env });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout + result.stderr, new RegExp(`shared-state\\.required is set and Redis at 127\\.0\\.0\\.1:${closed} is unreachable \\(`));
});

test('a budget exhausted through A refuses the key on B and C until the day ends (test clock); a fail-closed one refuses on an instance cut off Redis', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const relay = await RedisRelay.start(t, redis);
  const CLOSED_KEY = 'sk-fleet-closed-9a8b7c6d5e';
  // The budgets' clock (a test hook): 23:00 UTC today, then 00:00:30 tomorrow. Near the real
  // date on purpose: the sums in Redis expire a month after their period's start.
  const clockFile = join(tempDir(t, 'budget-clock-'), 'now');
  const today = new Date(new Date().toISOString().slice(0, 10)).getTime();
  const midnight = today + 86_400_000;
  writeFileSync(clockFile, new Date(midnight - 3_600_000).toISOString());
  // The mock reports 15 tokens in and 6 out: $0.021 a request at these prices.
  const members = await startFleet(
    t,
    (i) =>
      fleetYaml({ redis: i === 2 ? relay.url : redis.url, prefix: 'budget:', client: `{ name: spender, key: ${CLIENT_KEY}, budget: { usd: 0.05, period: day } }\n  - { name: careful, key: ${CLOSED_KEY}, budget: { usd: 100, period: day, fail-closed: true } }`, providers: MOCK }) +
      'pricing:\n  mock: { input: 1000, output: 1000 }\n',
    3,
    { AI_PROXY_TEST_BUDGET_CLOCK: clockFile },
  );
  const [a, b, c] = members as [Member, Member, Member];
  await waitShared(members, 1);
  for (let i = 0; i < 3; i++) assert.equal((await post(`${a.url}/v1/chat/completions`, chat('mock'), auth)).status, 200);
  for (const m of [b, c]) {
    const refused = await waitUntil(`instance ${m.name} refuses the spent key`, async () => {
      const r = await post(`${m.url}/v1/chat/completions`, chat('mock'), auth);
      const body = await r.text();
      return r.status === 429 ? { body, reset: r.headers.get('x-ai-proxy-budget-reset'), retryAfter: Number(r.headers.get('retry-after')) } : false;
    }, 3 * SLACK_MS);
    assert.match(refused.body, /spent its budget of \$0\.05 per day/);
    assert.equal(refused.reset, new Date(midnight).toISOString(), 'it resets at the end of the day on the budgets\' clock');
    assert.ok(refused.retryAfter > 3_000 && refused.retryAfter <= 3_600, `Retry-After counts to that midnight: ${refused.retryAfter} s`);
  }

  // The day ends on every instance: the key is served again by all three, and /admin shows the new period.
  writeFileSync(clockFile, new Date(midnight + 30_000).toISOString());
  for (const m of members) {
    const reload = await runCli(['reload', '--pid-file', m.inst.pidFile], { env: m.inst.env });
    assert.equal(reload.code, 0, `reload ${m.name}: ${reload.stdout}${reload.stderr}`);
  }
  for (const m of members) assert.equal((await post(`${m.url}/v1/chat/completions`, chat('mock'), auth)).status, 200, `instance ${m.name} serves the key in the new day`);
  // The fleet's spend for the new day is those three requests alone (A hears of B's and C's).
  await waitUntil("A's /admin/budgets shows the new day's three requests", async () => {
    const report = (await a.admin('/admin/budgets')) as { budgets: Array<{ client: string; periodStart: string; spent: number }> };
    const spender = report.budgets.find((x) => x.client === 'spender');
    return spender?.periodStart === new Date(midnight).toISOString() && Math.abs(spender.spent - 3 * 0.021) < 1e-6;
  }, 3 * SLACK_MS);

  const careful = { authorization: `Bearer ${CLOSED_KEY}` };
  assert.equal((await post(`${c.url}/v1/chat/completions`, chat('mock'), careful)).status, 200);
  relay.cut();
  await waitShared([c], 0);
  const r = await post(`${c.url}/v1/chat/completions`, chat('mock'), careful);
  assert.equal(r.status, 503, 'fail-closed: the spend is not known while Redis is away');
  assert.equal((await post(`${a.url}/v1/chat/completions`, chat('mock'), careful)).status, 200, 'an instance with Redis still serves it');
  relay.restore();
  await waitShared([c], 1);
  assert.equal((await post(`${c.url}/v1/chat/completions`, chat('mock'), careful)).status, 200);
});
