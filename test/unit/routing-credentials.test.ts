import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { camelize } from '../../src/shared/config/camelize.ts';
import { configSchema, type Config } from '../../src/shared/config/schema.ts';
import { CredentialPool, DEFAULT_AUTH_COOLDOWN_MS, type Credential } from '../../src/server/routing/credentials.ts';
import { parseGoDuration, parseRetryAfter, upstreamWaitMs, MAX_UPSTREAM_WAIT_MS } from '../../src/server/routing/retry-after.ts';
import type { UpstreamOutcome } from '../../src/server/routing/outcome.ts';

function config(raw: Record<string, unknown>): Config {
  return camelize(configSchema.parse(raw), configSchema) as Config;
}

const KEYS = ['sk-aaaaaaaaaaaaaaaaaaaa-1111', 'sk-bbbbbbbbbbbbbbbbbbbb-2222', 'sk-cccccccccccccccccccc-3333'];

function providerConfig(strategy: string, apiKeys: unknown[] = KEYS, extra: Record<string, unknown> = {}): Config {
  return config({ providers: [{ name: 'p', type: 'openai', strategy, 'api-keys': apiKeys, models: ['*'] }], ...extra });
}

class Clock {
  t = 1_000_000;
  readonly now = (): number => this.t;
}

function pickSecret(pool: CredentialPool, exclude?: Set<string>): string | null {
  return pool.pick('p', exclude).credential?.secret() ?? null;
}

function picks(pool: CredentialPool, n: number): string[] {
  return Array.from({ length: n }, () => (pickSecret(pool) ?? 'none').slice(-4));
}

const http = (status: number, headers: Record<string, string> = {}, body?: string): UpstreamOutcome => ({ kind: 'http', status, headers, ...(body === undefined ? {} : { body }) });

function cool(pool: CredentialPool, outcome: UpstreamOutcome): Credential {
  const c = pool.pick('p').credential;
  assert.ok(c);
  pool.report(c, outcome);
  return c;
}

describe('credential strategies', () => {
  it('round-robin cycles through the keys in order, exactly', () => {
    const pool = new CredentialPool(providerConfig('round-robin'));
    assert.deepEqual(picks(pool, 9), ['1111', '2222', '3333', '1111', '2222', '3333', '1111', '2222', '3333']);
  });

  it('round-robin skips a cooling key without losing its turn order', () => {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('round-robin'), { now: clock.now });
    const first = cool(pool, http(500)); // key 1 cools for cooldown.server-error (10 s)
    assert.equal(first.secret(), KEYS[0]);
    assert.deepEqual(picks(pool, 4), ['2222', '3333', '2222', '3333']);
    clock.t += 10_000;
    assert.deepEqual(picks(pool, 3), ['1111', '2222', '3333']);
  });

  it('fill-first sticks to the first key until it cools down, then returns to it', () => {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('fill-first'), { now: clock.now });
    assert.deepEqual(picks(pool, 5), ['1111', '1111', '1111', '1111', '1111']);
    cool(pool, http(429, { 'retry-after': '30' }));
    assert.deepEqual(picks(pool, 3), ['2222', '2222', '2222']);
    clock.t += 30_000;
    assert.deepEqual(picks(pool, 2), ['1111', '1111']);
  });

  it('weighted gives exact ratios over each full cycle, smoothly interleaved (nginx order)', () => {
    const pool = new CredentialPool(
      providerConfig('weighted', [
        { key: KEYS[0], weight: 5 },
        { key: KEYS[1], weight: 1 },
        { key: KEYS[2], weight: 1 },
      ]),
    );
    const cycle = picks(pool, 7);
    assert.deepEqual(cycle, ['1111', '1111', '2222', '1111', '3333', '1111', '1111']);
    for (let i = 0; i < 10; i++) assert.deepEqual(picks(pool, 7), cycle);
  });

  it('weighted keeps ratios exact for other weights too', () => {
    const pool = new CredentialPool(
      providerConfig('weighted', [
        { key: KEYS[0], weight: 3 },
        { key: KEYS[1], weight: 2 },
      ]),
    );
    for (let round = 0; round < 20; round++) {
      const counts = new Map<string, number>();
      for (const k of picks(pool, 5)) counts.set(k, (counts.get(k) ?? 0) + 1);
      assert.deepEqual([counts.get('1111'), counts.get('2222')], [3, 2]);
    }
  });

  it('skips excluded credentials', () => {
    const pool = new CredentialPool(providerConfig('fill-first'));
    const first = pool.pick('p').credential;
    assert.ok(first);
    assert.equal(pickSecret(pool, new Set([first.id])), KEYS[1]);
  });

  it('returns null and the earliest recovery when every key cools, null retryAt when all are excluded', () => {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('round-robin'), { now: clock.now });
    cool(pool, http(429, { 'retry-after': '30' }));
    cool(pool, http(429, { 'retry-after': '10' }));
    cool(pool, http(429, { 'retry-after': '20' }));
    assert.deepEqual(pool.pick('p'), { credential: null, retryAt: clock.t + 10_000 });
    clock.t += 10_000;
    const recovered = pool.pick('p').credential;
    assert.ok(recovered);
    assert.equal(recovered.secret(), KEYS[1]);
    assert.deepEqual(pool.pick('p', new Set([recovered.id])), { credential: null, retryAt: clock.t + 10_000 });
    const all = new Set<string>([recovered.id]);
    for (const s of [KEYS[0], KEYS[2]]) {
      // Excluding every credential leaves nothing to wait for.
      const other = new CredentialPool(providerConfig('fill-first', [s])).pick('p').credential;
      assert.ok(other);
      all.add(other.id);
    }
    assert.deepEqual(pool.pick('p', all), { credential: null, retryAt: null });
    assert.deepEqual(pool.pick('nope'), { credential: null, retryAt: null });
  });

  it('gives a keyless provider one implicit credential with an empty secret', () => {
    const pool = new CredentialPool(config({ providers: [{ name: 'mock', type: 'mock', models: ['*'] }] }));
    const c = pool.pick('mock').credential;
    assert.ok(c);
    assert.equal(c.keyless, true);
    assert.equal(c.secret(), '');
    assert.equal(c.id, 'mock/-');
  });
});

describe('cooldowns', () => {
  function cooldownAfter(outcome: UpstreamOutcome, raw: Record<string, unknown> = {}): number {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('fill-first', [KEYS[0]], raw), { now: clock.now });
    cool(pool, outcome);
    return pool.snapshot()[0]?.cooldownRemainingMs ?? -1;
  }

  it('honours Retry-After in seconds and as an HTTP-date', () => {
    assert.equal(cooldownAfter(http(429, { 'retry-after': '7' })), 7_000);
    const at = new Date(1_000_000 + 42_000).toUTCString();
    assert.equal(cooldownAfter(http(429, { 'retry-after': at })), 42_000);
    assert.equal(cooldownAfter(http(429, { 'retry-after-ms': '1500' })), 1_500);
  });

  it('reads headers from a fetch Headers object too', () => {
    assert.equal(cooldownAfter({ kind: 'http', status: 429, headers: new Headers({ 'Retry-After': '3' }) }), 3_000);
  });

  it('uses OpenAI reset headers of the exhausted bucket', () => {
    const headers = {
      'x-ratelimit-remaining-requests': '12',
      'x-ratelimit-reset-requests': '6m0s',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '1.5s',
    };
    assert.equal(cooldownAfter(http(429, headers)), 1_500);
    assert.equal(cooldownAfter(http(429, { 'x-ratelimit-reset-requests': '20ms', 'x-ratelimit-reset-tokens': '2s' })), 2_000);
  });

  it('uses Anthropic reset instants', () => {
    const headers = {
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': new Date(1_000_000 + 25_000).toISOString(),
      'anthropic-ratelimit-output-tokens-remaining': '5000',
      'anthropic-ratelimit-output-tokens-reset': new Date(1_000_000 + 55_000).toISOString(),
    };
    assert.equal(cooldownAfter(http(429, headers)), 25_000);
  });

  it("uses Gemini's RetryInfo.retryDelay from the error body", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message: 'You exceeded your current quota.',
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '30s' }],
      },
    });
    assert.equal(cooldownAfter(http(429, {}, body)), 30_000);
  });

  it('falls back to the configured durations', () => {
    const cooldown = { cooldown: { 'rate-limit': '45s', 'server-error': '8s', 'network-error': '4s' } };
    assert.equal(cooldownAfter(http(429), cooldown), 45_000);
    assert.equal(cooldownAfter(http(502), cooldown), 8_000);
    assert.equal(cooldownAfter(http(503, { 'retry-after': '2' }), cooldown), 2_000);
    assert.equal(cooldownAfter({ kind: 'network' }, cooldown), 4_000);
    assert.equal(cooldownAfter({ kind: 'timeout' }, cooldown), 4_000);
    assert.equal(cooldownAfter(http(401)), DEFAULT_AUTH_COOLDOWN_MS);
    assert.equal(cooldownAfter(http(403)), DEFAULT_AUTH_COOLDOWN_MS);
  });

  it('does not cool a key down for the request’s own faults', () => {
    for (const status of [400, 404, 413, 422]) assert.equal(cooldownAfter(http(status)), 0);
  });

  it('keeps a longer running cooldown, and a success clears only server/network ones', () => {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('fill-first', [KEYS[0]]), { now: clock.now });
    const c = cool(pool, http(429, { 'retry-after': '60' }));
    pool.report(c, { kind: 'network' });
    assert.equal(pool.snapshot()[0]?.cooldownRemainingMs, 60_000);
    pool.report(c, { kind: 'success' });
    assert.equal(pool.snapshot()[0]?.state, 'cooling');
    clock.t += 60_000;
    pool.report(c, http(500));
    assert.equal(pool.snapshot()[0]?.reason, 'server-error');
    pool.report(c, http(200));
    assert.equal(pool.snapshot()[0]?.state, 'healthy');
  });

  it('parses Go durations and Retry-After values', () => {
    assert.equal(parseGoDuration('1s'), 1_000);
    assert.equal(parseGoDuration('6m0s'), 360_000);
    assert.equal(parseGoDuration('20ms'), 20);
    assert.equal(parseGoDuration('1h2m3.5s'), 3_723_500);
    assert.equal(parseGoDuration('soon'), null);
    assert.equal(parseGoDuration('5s later'), null);
    assert.equal(parseRetryAfter('120', 0), 120_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')), 60_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2016-01-01')), 0);
    assert.equal(parseRetryAfter('later', 0), null);
    assert.equal(upstreamWaitMs({ 'retry-after': '999999' }, undefined, 0), MAX_UPSTREAM_WAIT_MS);
    assert.equal(upstreamWaitMs({}, '{"error":{}}', 0), null);
  });
});

describe('credential pool across reloads', () => {
  it('carries cooldowns and counters over for surviving keys, not for removed or rotated ones', () => {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('fill-first'), { now: clock.now });
    cool(pool, http(429, { 'retry-after': '30' })); // key 1
    cool(pool, http(429, { 'retry-after': '40' })); // key 2
    const rotated = 'sk-dddddddddddddddddddd-4444';
    const next = pool.rebuild(providerConfig('fill-first', [KEYS[1], rotated, KEYS[2]]));
    const snap = next.snapshot();
    assert.deepEqual(
      snap.map((s) => [s.credential, s.state, s.cooldownRemainingMs, s.cooldowns]),
      [
        ['sk-...2222', 'cooling', 40_000, 1],
        ['sk-...4444', 'healthy', 0, 0],
        ['sk-...3333', 'healthy', 0, 0],
      ],
    );
    assert.equal(next.pick('p').credential?.secret(), rotated);
    // Bringing key 1 back later: its old state is gone with the generation that dropped it.
    const again = next.rebuild(providerConfig('fill-first'));
    assert.equal(again.snapshot()[0]?.state, 'healthy');
  });

  it('carries the round-robin position over by credential', () => {
    const pool = new CredentialPool(providerConfig('round-robin'));
    assert.deepEqual(picks(pool, 2), ['1111', '2222']);
    const next = pool.rebuild(providerConfig('round-robin', [KEYS[2], KEYS[0], KEYS[1]]));
    assert.deepEqual(picks(next, 3), ['3333', '1111', '2222']);
  });

  it('carries weighted running weights over, so the sequence continues', () => {
    const weighted = providerConfig('weighted', [
      { key: KEYS[0], weight: 5 },
      { key: KEYS[1], weight: 1 },
      { key: KEYS[2], weight: 1 },
    ]);
    const pool = new CredentialPool(weighted);
    const head = picks(pool, 3);
    const tail = picks(pool.rebuild(weighted), 4);
    assert.deepEqual([...head, ...tail], ['1111', '1111', '2222', '1111', '3333', '1111', '1111']);
  });

  it('lets requests of the old generation report into the shared state', () => {
    const clock = new Clock();
    const pool = new CredentialPool(providerConfig('fill-first'), { now: clock.now });
    const inFlight = pool.pick('p').credential;
    assert.ok(inFlight);
    const next = pool.rebuild(providerConfig('fill-first'));
    pool.report(inFlight, http(429, { 'retry-after': '5' }));
    assert.equal(next.pick('p').credential?.secret(), KEYS[1]);
  });
});

describe('credential visibility', () => {
  it('shows names or masked keys, never a key, in snapshots, JSON and inspect output', () => {
    const short = 'shortkey99';
    const pool = new CredentialPool(providerConfig('round-robin', [{ key: KEYS[0], name: 'team-a', weight: 1 }, KEYS[1], short]));
    const snap = pool.snapshot();
    assert.deepEqual(
      snap.map((s) => s.credential),
      ['team-a', 'sk-...2222', snap[2]?.credential],
    );
    assert.match(snap[2]?.credential ?? '', /^#[0-9a-f]{8}$/);
    const c = pool.pick('p').credential;
    assert.ok(c);
    const views = [JSON.stringify(snap), JSON.stringify(c), inspect(c, { depth: 5, showHidden: true }), inspect(pool, { depth: 5, showHidden: true })];
    for (const view of views) for (const secret of [...KEYS, short]) assert.ok(!view.includes(secret), `leaked in ${view}`);
  });

  it('counts cooling credentials per provider for the metrics gauge', () => {
    const pool = new CredentialPool(providerConfig('fill-first'), { now: new Clock().now });
    cool(pool, http(500));
    assert.deepEqual(pool.health(), [{ provider: 'p', credentials: 3, cooling: 1 }]);
  });

  it('treats a key listed twice as one credential and skips disabled providers', () => {
    const pool = new CredentialPool(
      config({
        providers: [
          { name: 'p', type: 'openai', 'api-keys': [KEYS[0], KEYS[0]], models: ['*'] },
          { name: 'off', type: 'openai', 'api-keys': [KEYS[1]], models: ['*'], disabled: true },
        ],
      }),
    );
    assert.deepEqual(pool.health(), [{ provider: 'p', credentials: 1, cooling: 0 }]);
  });
});
