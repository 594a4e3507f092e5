import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientKeyConfig } from '../../src/shared/config/schema.ts';
import { ANONYMOUS, type Client } from '../../src/server/auth/client-keys.ts';
import { RateLimiter, formatResetDuration, rateLimitHeaders } from '../../src/server/auth/rate-limit.ts';

const T0 = 1_700_000_000_000;

function keyConfig(name: string, limits: { rpm?: number; tpm?: number }): ClientKeyConfig {
  return { name, key: `${name}-key-0123456789`, ...limits };
}

function client(name: string): Client {
  return { name, anonymous: false, expiresAt: null, rpm: null, tpm: null, models: null, modelMatcher: null };
}

describe('requests per minute', () => {
  it('admits a burst of rpm, then one request per 60/rpm seconds', () => {
    const limiter = new RateLimiter([keyConfig('a', { rpm: 3 })]);
    const a = client('a');
    const allowed = [0, 0, 0, 0].map(() => limiter.check(a, T0).allowed);
    assert.deepEqual(allowed, [true, true, true, false]);
    assert.equal(limiter.check(a, T0 + 19_999).allowed, false);
    assert.equal(limiter.check(a, T0 + 20_000).allowed, true);
    assert.equal(limiter.check(a, T0 + 20_000).allowed, false);
  });

  it('admits at most rpm plus what refills in any window, over a long run (a token bucket)', () => {
    const limiter = new RateLimiter([keyConfig('a', { rpm: 10 })]);
    const a = client('a');
    const admitted: number[] = [];
    for (let t = 0; t < 600_000; t += 250) if (limiter.check(a, T0 + t).allowed) admitted.push(t);
    for (const [i, start] of admitted.entries()) {
      for (const width of [1_000, 30_000, 60_000, 120_000]) {
        const inWindow = admitted.slice(i).filter((t) => t < start + width).length;
        // A burst of 10, plus one per 6 s of the window.
        assert.ok(inWindow <= 10 + Math.floor(width / 6_000), `from ${start} over ${width} ms: ${inWindow}`);
      }
    }
    // Steady state: one per 6 s after the initial burst of 10.
    assert.equal(admitted.length, 10 + 600_000 / 6_000 - 1);
  });

  it('reports limit, remaining, reset and the wait', () => {
    const limiter = new RateLimiter([keyConfig('a', { rpm: 2 })]);
    const a = client('a');
    const first = limiter.check(a, T0);
    assert.deepEqual(first.requests, { limit: 2, remaining: 1, resetMs: 30_000 });
    assert.deepEqual(rateLimitHeaders(first), { 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '30s' });
    limiter.check(a, T0);
    const refused = limiter.check(a, T0 + 1_000);
    assert.equal(refused.allowed, false);
    assert.equal(refused.limitedBy, 'requests');
    assert.equal(refused.retryAfterSeconds, 29);
    assert.deepEqual(refused.requests, { limit: 2, remaining: 0, resetMs: 59_000 });
    assert.equal(rateLimitHeaders(refused)['retry-after'], '29');
  });
});

describe('tokens per minute', () => {
  it('counts tokens after the fact and refuses while none is left', () => {
    const limiter = new RateLimiter([keyConfig('a', { tpm: 1_000 })]);
    const a = client('a');
    assert.equal(limiter.check(a, T0).allowed, true);
    limiter.recordTokens(a, 600, T0);
    const partial = limiter.check(a, T0);
    assert.equal(partial.allowed, true);
    assert.deepEqual(partial.tokens, { limit: 1_000, remaining: 400, resetMs: 36_000 });
    limiter.recordTokens(a, 900, T0); // a long answer: 500 tokens of debt
    const refused = limiter.check(a, T0);
    assert.equal(refused.allowed, false);
    assert.equal(refused.limitedBy, 'tokens');
    // 1 500 tokens at 60 ms each = 90 s of debt; a token is free once it is under 60 s - 60 ms.
    assert.equal(refused.retryAfterSeconds, 31);
    assert.equal(limiter.check(a, T0 + 30_059).allowed, false);
    assert.equal(limiter.check(a, T0 + 30_060).allowed, true);
  });

  it('does not spend a request slot on a request refused for tokens', () => {
    const limiter = new RateLimiter([keyConfig('a', { rpm: 1, tpm: 100 })]);
    const a = client('a');
    limiter.recordTokens(a, 100, T0); // the whole minute's tokens: the next one is free in 600 ms
    assert.equal(limiter.check(a, T0).limitedBy, 'tokens');
    // Had the refused check taken the only request slot, this would wait a minute.
    assert.equal(limiter.check(a, T0 + 600).allowed, true);
    assert.equal(limiter.check(a, T0 + 600).limitedBy, 'requests');
  });

  it('ignores zero, negative and unknown usage', () => {
    const limiter = new RateLimiter([keyConfig('a', { tpm: 10 })]);
    const a = client('a');
    for (const n of [0, -5, Number.NaN]) limiter.recordTokens(a, n, T0);
    assert.equal(limiter.check(a, T0).tokens?.remaining, 10);
  });
});

describe('rate limiter lifecycle', () => {
  it('lets clients without limits (and the anonymous client) through with no headers', () => {
    const limiter = new RateLimiter([keyConfig('free', {})]);
    for (const c of [client('free'), client('unknown'), ANONYMOUS]) {
      const d = limiter.check(c, T0);
      assert.equal(d.allowed, true);
      assert.deepEqual(rateLimitHeaders(d), {});
    }
  });

  it('keeps state across a reload for clients that still exist, by name', () => {
    const limiter = new RateLimiter([keyConfig('a', { rpm: 1 }), keyConfig('b', { rpm: 1 })]);
    limiter.check(client('a'), T0);
    limiter.check(client('b'), T0);
    const next = limiter.rebuild([keyConfig('a', { rpm: 1 }), keyConfig('c', { rpm: 1 })]);
    assert.equal(next.check(client('a'), T0 + 1_000).allowed, false);
    assert.equal(next.check(client('c'), T0 + 1_000).allowed, true);
    // b left and came back: a fresh start.
    const again = next.rebuild([keyConfig('b', { rpm: 1 })]);
    assert.equal(again.check(client('b'), T0 + 1_000).allowed, true);
  });

  it('applies a changed limit to the carried-over state', () => {
    const limiter = new RateLimiter([keyConfig('a', { rpm: 1 })]);
    limiter.check(client('a'), T0);
    const next = limiter.rebuild([keyConfig('a', { rpm: 60 })]);
    assert.equal(next.check(client('a'), T0 + 1_000).allowed, true);
  });

  it('formats resets the way OpenAI does', () => {
    assert.deepEqual([20, 999, 1_000, 1_500, 59_990, 360_000, 3_723_500].map(formatResetDuration), ['20ms', '999ms', '1s', '1.5s', '59.99s', '6m0s', '1h2m3.5s']);
  });
});
