import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { camelize } from '../../src/shared/config/camelize.ts';
import { configSchema, type Config } from '../../src/shared/config/schema.ts';
import { createAttemptPlan, type Attempt, type Done } from '../../src/server/routing/attempt-plan.ts';
import { CredentialPool } from '../../src/server/routing/credentials.ts';
import { ModelTable } from '../../src/server/routing/model-table.ts';
import { classify, type UpstreamOutcome } from '../../src/server/routing/outcome.ts';
import { backoffDelay, retryPolicy, type RetryPolicy } from '../../src/server/routing/retry.ts';

function config(raw: Record<string, unknown>): Config {
  return camelize(configSchema.parse(raw), configSchema) as Config;
}

class Clock {
  t = 5_000_000;
  readonly now = (): number => this.t;
}

const http = (status: number, headers: Record<string, string> = {}): UpstreamOutcome => ({ kind: 'http', status, headers });
const OK: UpstreamOutcome = { kind: 'success' };

describe('backoff', () => {
  const policy = (random: () => number, base = 100, max = 5_000): RetryPolicy => ({ attempts: 5, backoffBaseMs: base, backoffMaxMs: max, totalTimeoutMs: 0, random, now: Date.now });

  it('is full jitter: uniform between 0 and min(max, base·2^n)', () => {
    const almostOne = 0.999_999;
    assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, policy(() => almostOne))), [99, 199, 399, 799]);
    assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, policy(() => 0))), [0, 0, 0, 0]);
    assert.equal(backoffDelay(2, policy(() => 0.5)), 200);
  });

  it('never exceeds backoff-max, even for large retry counts', () => {
    for (const n of [6, 10, 50, 1_000]) assert.equal(backoffDelay(n, policy(() => 0.999_999)), 4_999);
  });

  it('stays in range for any random value', () => {
    let seed = 42;
    const lcg = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let n = 0; n < 12; n++) {
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, policy(lcg));
        assert.ok(d >= 0 && d < Math.min(5_000, 100 * 2 ** n), `retry ${n}: ${d}`);
      }
    }
  });

  it('is built from the retry section of the config', () => {
    const p = retryPolicy(config({ retry: { attempts: 4, 'backoff-base': '250ms', 'backoff-max': '2s', 'total-timeout': '30s' } }));
    assert.deepEqual([p.attempts, p.backoffBaseMs, p.backoffMaxMs, p.totalTimeoutMs], [4, 250, 2_000, 30_000]);
  });
});

describe('outcome classification', () => {
  it('retries another key on 429 and upstream auth failures', () => {
    for (const s of [429, 401, 402, 403]) assert.equal(classify(http(s)), 'retry-credential', String(s));
  });
  it('moves to the next candidate on 5xx, 408, network errors and timeouts', () => {
    for (const s of [500, 502, 503, 504, 529, 408]) assert.equal(classify(http(s)), 'retry-candidate', String(s));
    assert.equal(classify({ kind: 'network' }), 'retry-candidate');
    assert.equal(classify({ kind: 'timeout' }), 'retry-candidate');
  });
  it('never retries what the client caused', () => {
    for (const s of [400, 404, 405, 409, 413, 415, 422]) assert.equal(classify(http(s)), 'fatal', String(s));
  });
  it('counts any status below 400 as success', () => {
    assert.equal(classify(http(200)), 'success');
    assert.equal(classify(OK), 'success');
  });
});

describe('attempt plan', () => {
  /** Primary model `m` on providers a (two keys) and b (one key); fallback `f` on c. */
  function setup(options: { attempts?: number; totalTimeout?: string; fallbacks?: Record<string, string[]> } = {}) {
    const clock = new Clock();
    const cfg = config({
      providers: [
        { name: 'a', type: 'openai', strategy: 'fill-first', 'api-keys': ['sk-a1-aaaaaaaaaaaaaaaaaaaa', 'sk-a2-aaaaaaaaaaaaaaaaaaaa'], models: ['m'] },
        { name: 'b', type: 'openai', 'api-keys': ['sk-b1-bbbbbbbbbbbbbbbbbbbb'], models: ['m*'] },
        { name: 'c', type: 'anthropic', 'api-keys': ['sk-c1-cccccccccccccccccccc'], models: ['f', 'g'] },
      ],
      models: { fallbacks: options.fallbacks ?? { m: ['nothing-serves-this', 'f'] } },
      retry: { attempts: options.attempts ?? 10, 'backoff-base': '100ms', 'backoff-max': '1s', 'total-timeout': options.totalTimeout ?? '60s' },
    });
    const table = new ModelTable(cfg);
    const pool = new CredentialPool(cfg, { now: clock.now });
    const policy = retryPolicy(cfg, { random: () => 0.5, now: clock.now });
    const plan = (model = 'm', fallbacks?: readonly string[]) => {
      const resolution = table.resolve(model);
      assert.ok(resolution.ok);
      return createAttemptPlan({ resolution, table, pool, policy, ...(fallbacks === undefined ? {} : { fallbacks }) });
    };
    return { clock, table, pool, plan };
  }

  const label = (a: Attempt) => `${a.model}@${a.candidate.provider.name}:${a.credential.secret().slice(3, 5)}`;

  /** Runs the plan, answering attempts with `outcomes` in turn; returns the attempt labels and the end. */
  function run(plan: ReturnType<ReturnType<typeof setup>['plan']>, outcomes: UpstreamOutcome[]): { attempts: string[]; delays: number[]; done: Done } {
    const attempts: string[] = [];
    const delays: number[] = [];
    let step = plan.next();
    let i = 0;
    while (!step.done) {
      attempts.push(label(step));
      delays.push(step.delayMs);
      const outcome = outcomes[i++];
      assert.ok(outcome, `unexpected attempt ${label(step)}`);
      step = plan.next(outcome);
    }
    return { attempts, delays, done: step };
  }

  it('goes keys → providers → fallback models, skipping fallbacks nobody serves', () => {
    const { plan } = setup();
    const r = run(plan(), [http(429), http(401), http(500), OK]);
    assert.deepEqual(r.attempts, ['m@a:a1', 'm@a:a2', 'm@b:b1', 'f@c:c1']);
    assert.equal(r.done.reason, 'success');
    assert.equal(r.done.attempts, 4);
  });

  it('marks attempts that serve a fallback model', () => {
    const { plan } = setup();
    const p = plan();
    const seen: boolean[] = [];
    let step = p.next();
    const outcomes = [{ kind: 'network' } as const, { kind: 'timeout' } as const, OK];
    for (const o of outcomes) {
      assert.ok(!step.done);
      seen.push(step.fallback);
      step = p.next(o);
    }
    assert.deepEqual(seen, [false, false, true]);
  });

  it('stops at once on 400 and 404: the client gets the upstream answer', () => {
    for (const status of [400, 404, 413, 422]) {
      const { plan } = setup();
      const r = run(plan(), [http(status)]);
      assert.deepEqual(r.attempts, ['m@a:a1']);
      assert.equal(r.done.reason, 'rejected');
      assert.equal(r.done.status, status);
    }
  });

  it('cools down the keys it saw fail, through the pool', () => {
    const { plan, pool } = setup();
    run(plan(), [http(429, { 'retry-after': '30' }), OK]);
    assert.deepEqual(
      pool.snapshot().map((s) => [s.provider, s.state, s.cooldownRemainingMs]),
      [
        ['a', 'cooling', 30_000],
        ['a', 'healthy', 0],
        ['b', 'healthy', 0],
        ['c', 'healthy', 0],
      ],
    );
    // The next request starts on the healthy key.
    assert.deepEqual(run(plan(), [OK]).attempts, ['m@a:a2']);
  });

  it('waits with full-jitter backoff between attempts (none before the first)', () => {
    const { plan } = setup();
    const r = run(plan(), [http(500), http(500), http(500), OK]);
    // random() = 0.5: 0.5·100, 0.5·200, 0.5·400.
    assert.deepEqual(r.delays, [0, 50, 100, 200]);
  });

  it('respects the attempt budget', () => {
    const { plan } = setup({ attempts: 2 });
    const r = run(plan(), [http(429), http(429)]);
    assert.deepEqual(r.attempts, ['m@a:a1', 'm@a:a2']);
    assert.equal(r.done.reason, 'exhausted');
    assert.equal(r.done.status, 429);
  });

  it('starts no attempt past the total timeout', () => {
    const { plan, clock } = setup({ totalTimeout: '10s' });
    const p = plan();
    const first = p.next();
    assert.ok(!first.done);
    clock.t += 9_990; // the upstream took almost all of the budget; the 50 ms backoff would cross it
    const done = p.next({ kind: 'timeout' });
    assert.ok(done.done);
    assert.equal(done.reason, 'deadline');
    assert.equal(done.status, 504);
  });

  it('does not retry a stream that already reached the client', () => {
    const { plan } = setup();
    const p = plan();
    assert.ok(!p.next().done);
    const done = p.next({ kind: 'network' }, { firstByteSent: true });
    assert.ok(done.done);
    assert.equal(done.reason, 'failed-after-first-byte');
    assert.equal(done.status, 502);
  });

  it('retries before the first byte even when the stream had started upstream', () => {
    const { plan } = setup();
    const p = plan();
    assert.ok(!p.next().done);
    const next = p.next({ kind: 'network' }, { firstByteSent: false });
    assert.ok(!next.done);
    assert.equal(next.candidate.provider.name, 'b');
  });

  it('answers 503 with Retry-After when every credential is cooling', () => {
    const { plan, pool, clock } = setup({ fallbacks: {} });
    for (const provider of ['a', 'a', 'b']) {
      const c = pool.pick(provider).credential;
      assert.ok(c);
      pool.report(c, http(429, { 'retry-after': provider === 'b' ? '12' : '40' }));
    }
    const done = plan().next();
    assert.ok(done.done);
    assert.equal(done.reason, 'unavailable');
    assert.equal(done.status, 503);
    assert.equal(done.retryAfterSeconds, 12);
    assert.equal(done.attempts, 0);
    clock.t += 12_000;
    assert.equal(plan().next().done, false);
  });

  it('retries the last provider that failed transiently when nothing else is left', () => {
    const { plan } = setup({ fallbacks: {} });
    // a1 and a2 are refused (key problems); b fails with 500 and is all that remains.
    const r = run(plan(), [http(429), http(403), http(500), http(502), OK]);
    assert.deepEqual(r.attempts, ['m@a:a1', 'm@a:a2', 'm@b:b1', 'm@b:b1', 'm@b:b1']);
    assert.equal(r.done.reason, 'success');
  });

  it('does not retry a key the upstream refused when nothing else is left', () => {
    const { plan } = setup({ fallbacks: {} });
    const r = run(plan(), [http(429), http(429), http(429, { 'retry-after': '7' })]);
    assert.equal(r.done.reason, 'exhausted');
    assert.equal(r.done.status, 429);
    assert.equal(r.done.outcome?.kind, 'http');
  });

  it('reports network failures and timeouts as 502 and 504 when exhausted', () => {
    const { plan } = setup({ attempts: 1 });
    assert.equal(run(plan(), [{ kind: 'network' }]).done.status, 502);
    const again = setup({ attempts: 1 });
    assert.equal(run(again.plan(), [{ kind: 'timeout' }]).done.status, 504);
  });

  it('takes the fallback list the caller passes (e.g. filtered by the client key)', () => {
    const { plan } = setup();
    const r = run(plan('m', ['g']), [http(500), http(500), OK]);
    assert.deepEqual(r.attempts, ['m@a:a1', 'm@b:b1', 'g@c:c1']);
  });

  it('refuses a next() without the previous outcome, and stays done once done', () => {
    const { plan } = setup();
    const p = plan();
    p.next();
    assert.throws(() => p.next(), TypeError);
    const done = p.next(OK);
    assert.ok(done.done);
    assert.equal(p.next(), done);
  });
});
