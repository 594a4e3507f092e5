import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientKeyConfig } from '../../src/shared/config/schema.ts';
import { Budgets, periodEnd, periodStart, type BudgetPeriod } from '../../src/server/usage/budget.ts';
import { budgetNow, readBudgetClock } from '../../src/server/usage/budget-clock.ts';
import { InMemorySpendStore } from '../../src/server/usage/spend-store.ts';

const at = (iso: string): number => Date.parse(iso);

function key(name: string, budget?: { usd: number; period: BudgetPeriod; failClosed?: boolean }): ClientKeyConfig {
  return { name, key: `${name}-key-0123456789`, ...(budget === undefined ? {} : { budget: { usd: budget.usd, period: budget.period, failClosed: budget.failClosed ?? false } }) };
}

/** A clock the test moves; the budget code only ever sees its value. */
class TestClock {
  constructor(public now: number) {}
  set(iso: string): void {
    this.now = at(iso);
  }
}

describe('budget periods (UTC)', () => {
  it('a day runs from 00:00 UTC to the next 00:00 UTC', () => {
    assert.equal(periodStart('day', at('2026-12-02T23:59:59.999Z')), at('2026-12-02T00:00:00Z'));
    assert.equal(periodEnd('day', at('2026-12-02T23:59:59.999Z')), at('2026-12-03T00:00:00Z'));
    assert.equal(periodStart('day', at('2026-12-03T00:00:00Z')), at('2026-12-03T00:00:00Z'));
  });

  it('a week starts on Monday', () => {
    // 2026-12-02 is a Wednesday; 2026-12-06 a Sunday.
    assert.equal(periodStart('week', at('2026-12-02T12:00:00Z')), at('2026-11-30T00:00:00Z'));
    assert.equal(periodStart('week', at('2026-12-06T23:59:59Z')), at('2026-11-30T00:00:00Z'));
    assert.equal(periodStart('week', at('2026-12-07T00:00:00Z')), at('2026-12-07T00:00:00Z'));
    assert.equal(periodEnd('week', at('2026-12-02T12:00:00Z')), at('2026-12-07T00:00:00Z'));
  });

  it('a month is a calendar month, whatever its length', () => {
    assert.equal(periodStart('month', at('2028-02-29T18:00:00Z')), at('2028-02-01T00:00:00Z'));
    assert.equal(periodEnd('month', at('2028-02-29T18:00:00Z')), at('2028-03-01T00:00:00Z'));
    assert.equal(periodEnd('month', at('2027-02-10T00:00:00Z')), at('2027-03-01T00:00:00Z'));
    assert.equal(periodEnd('month', at('2026-12-31T23:59:59Z')), at('2027-01-01T00:00:00Z'));
    assert.equal(periodEnd('month', at('2026-01-31T00:00:00Z')), at('2026-02-01T00:00:00Z'));
  });
});

describe('budgets', () => {
  it('refuses a key once its spend reaches the budget, says when it resets, and admits it again in the next period', () => {
    const clock = new TestClock(at('2026-12-02T10:00:00Z'));
    const store = new InMemorySpendStore();
    const budgets = new Budgets([key('a', { usd: 1, period: 'day' }), key('free')], store, store);
    assert.equal(budgets.check('a', clock.now).allowed, true);
    budgets.add('a', 0.6, clock.now);
    assert.equal(budgets.check('a', clock.now).allowed, true);
    budgets.add('a', 0.4, clock.now);
    const refused = budgets.check('a', clock.now);
    assert.equal(refused.allowed, false);
    assert.ok(!refused.allowed && refused.reason === 'exhausted');
    assert.equal(refused.resetsAt, at('2026-12-03T00:00:00Z'));
    assert.ok(Math.abs(refused.spent - 1) < 1e-9);
    // A key without a budget is never refused, whatever it spends.
    budgets.add('free', 1000, clock.now);
    assert.equal(budgets.check('free', clock.now).allowed, true);

    clock.set('2026-12-02T23:59:59.999Z');
    assert.equal(budgets.check('a', clock.now).allowed, false);
    clock.set('2026-12-03T00:00:00Z');
    assert.equal(budgets.check('a', clock.now).allowed, true);
    const report = budgets.report(clock.now);
    assert.deepEqual(report.map((r) => ({ client: r.client, spent: r.spent, exhausted: r.exhausted, resetsAt: r.resetsAt })), [{ client: 'a', spent: 0, exhausted: false, resetsAt: '2026-12-04T00:00:00.000Z' }]);
  });

  it('a monthly budget keeps counting across days and resets on the 1st', () => {
    const clock = new TestClock(at('2026-11-30T23:00:00Z'));
    const store = new InMemorySpendStore();
    const budgets = new Budgets([key('m', { usd: 10, period: 'month' })], store, store);
    budgets.add('m', 6, clock.now);
    clock.set('2026-12-01T00:30:00Z');
    assert.equal(budgets.check('m', clock.now).allowed, true, 'a new month');
    for (const day of ['2026-12-01', '2026-12-08', '2026-12-15', '2026-12-22', '2026-12-29']) {
      clock.set(`${day}T12:00:00Z`);
      budgets.add('m', 2, clock.now);
    }
    const refused = budgets.check('m', clock.now);
    assert.ok(!refused.allowed && refused.reason === 'exhausted' && refused.resetsAt === at('2027-01-01T00:00:00Z'), 'five weeks of spend in one month, past the day and week entries');
  });

  it('a reload that gives a key a budget (or changes its period) counts what it spent since the start', () => {
    const now = at('2026-12-02T10:00:00Z');
    const store = new InMemorySpendStore();
    const before = new Budgets([key('a')], store, store);
    before.add('a', 3, now);
    const after = new Budgets([key('a', { usd: 2, period: 'week' })], store, store);
    assert.equal(after.check('a', now).allowed, false);
  });

  it('overshoot is bounded by the cost of the requests in flight when the budget is crossed', () => {
    // Cost is known when a request ends: N requests admitted together all finish.
    const now = at('2026-12-02T10:00:00Z');
    const store = new InMemorySpendStore();
    const budget = 1;
    const cost = 0.4;
    const budgets = new Budgets([key('a', { usd: budget, period: 'day' })], store, store);
    for (let round = 0; round < 3; round++) {
      const inFlight = 5;
      const admitted = Array.from({ length: inFlight }, () => budgets.check('a', now).allowed).filter(Boolean).length;
      for (let i = 0; i < admitted; i++) budgets.add('a', cost, now);
      const spent = store.spent('a', periodStart('day', now));
      // Never more than the budget plus what was in flight when it was crossed.
      assert.ok(spent <= budget + inFlight * cost + 1e-9, `spent ${spent}`);
    }
    assert.ok(Math.abs(store.spent('a', periodStart('day', now)) - 5 * cost) < 1e-9, 'only the first round was admitted');
  });

  it('fail-closed refuses while the spend is not known; fail-open serves', () => {
    const now = at('2026-12-02T10:00:00Z');
    const store = new InMemorySpendStore();
    store.available = false;
    const budgets = new Budgets([key('closed', { usd: 1, period: 'day', failClosed: true }), key('open', { usd: 1, period: 'day' })], store, store);
    const refused = budgets.check('closed', now);
    assert.ok(!refused.allowed && refused.reason === 'unknown');
    assert.equal(budgets.check('open', now).allowed, true);
    store.available = true;
    assert.equal(budgets.check('closed', now).allowed, true);
  });
});

describe('the in-memory spend store', () => {
  it('sums per client and period, seeded additively', () => {
    const store = new InMemorySpendStore();
    store.add('a', 100, 0.5);
    store.seed([{ client: 'a', periodStart: 100, usd: 2 }, { client: 'b', periodStart: 100, usd: 1 }]);
    assert.equal(store.spent('a', 100), 2.5);
    assert.equal(store.spent('b', 100), 1);
    assert.equal(store.spent('a', 200), 0);
    store.add('a', 100, 0);
    store.add('a', 100, Number.NaN);
    assert.equal(store.spent('a', 100), 2.5, 'zero and NaN add nothing');
  });

  it('keeps a few periods per client, dropping the least recently added', () => {
    const store = new InMemorySpendStore();
    for (const start of [1, 2, 3, 4]) store.add('a', start, 1);
    store.add('a', 1, 1); // period 1 is in use again
    store.add('a', 5, 1);
    assert.equal(store.spent('a', 2), 0, 'period 2 was the least recently added');
    assert.equal(store.spent('a', 1), 2);
    assert.equal(store.spent('a', 5), 1);
  });
});

it('spend hand-over for a restart: full then delta counts each request once, and a handed-over store ignores the ledger seed', () => {
  const old = new InMemorySpendStore();
  old.seed([{ client: 'a', periodStart: 1000, usd: 2 }]);
  old.add('a', 1000, 1);
  const fresh = new InMemorySpendStore();
  fresh.importState(old.exportState('full'), 'full');
  // The ledger's seed arrives after the hand-over: it already counted these.
  fresh.seed([{ client: 'a', periodStart: 1000, usd: 3 }]);
  assert.equal(fresh.spent('a', 1000), 3);
  // While the old server drains it counts more; the new one counts its own.
  old.add('a', 1000, 0.5);
  old.add('b', 1000, 0.25);
  fresh.add('a', 1000, 1);
  fresh.importState(old.exportState('delta'), 'delta');
  assert.equal(fresh.spent('a', 1000), 4.5);
  assert.equal(fresh.spent('b', 1000), 0.25);
});

it('the budget clock test hook: unset it is the real clock; a file moves it; anything else in the file is an error naming the hook', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'budget-clock-'));
  t.after(() => {
    // The clock is the module's: set it back to the present for the tests after this one.
    writeFileSync(join(dir, 'now'), new Date().toISOString());
    readBudgetClock({ AI_PROXY_TEST_BUDGET_CLOCK: join(dir, 'now') });
    rmSync(dir, { recursive: true, force: true });
  });
  readBudgetClock({});
  assert.ok(Math.abs(budgetNow() - Date.now()) < 1_000);
  writeFileSync(join(dir, 'now'), '2030-01-31T23:59:00Z\n');
  readBudgetClock({ AI_PROXY_TEST_BUDGET_CLOCK: join(dir, 'now') });
  const moved = budgetNow() - Date.parse('2030-01-31T23:59:00Z');
  assert.ok(moved >= 0 && moved < 1_000, `now is the file's instant: off by ${moved} ms`);
  assert.throws(() => readBudgetClock({ AI_PROXY_TEST_BUDGET_CLOCK: dir }), /AI_PROXY_TEST_BUDGET_CLOCK: .* is not a regular file/);
  writeFileSync(join(dir, 'bad'), 'tomorrow');
  assert.throws(() => readBudgetClock({ AI_PROXY_TEST_BUDGET_CLOCK: join(dir, 'bad') }), /holds 'tomorrow', not an ISO 8601 instant/);
});
