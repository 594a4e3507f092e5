/**
 * Client-key budgets: USD per day, week or calendar month, in UTC. The spend is counted behind
 * `SpendStore` (in memory, seeded from the ledger; or shared state). Cost is only known when a
 * request ends, so the check admits a request while the spend is below the budget, and requests
 * already running when it is crossed still finish: the overshoot is at most the cost of the
 * requests a key has in flight at that moment (docs/operations.md, "Budgets").
 */
import type { ClientKeyConfig } from '../../shared/config/schema.ts';
import { budgetNow } from './budget-clock.ts';
import type { SpendStore, SpendStoreStatus } from './spend-store.ts';

export type BudgetPeriod = 'day' | 'week' | 'month';

const DAY_MS = 86_400_000;
export const PERIODS: readonly BudgetPeriod[] = ['day', 'week', 'month'];

/** Start of the period that contains `now`, epoch ms (UTC; weeks start on Monday, as ISO 8601). */
export function periodStart(period: BudgetPeriod, now: number): number {
  const d = new Date(now);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (period === 'day') return day;
  if (period === 'week') return day - ((d.getUTCDay() + 6) % 7) * DAY_MS;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Start of the next period: when a budget resets. */
export function periodEnd(period: BudgetPeriod, now: number): number {
  const start = periodStart(period, now);
  if (period === 'day') return start + DAY_MS;
  if (period === 'week') return start + 7 * DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export interface Budget {
  readonly usd: number;
  readonly period: BudgetPeriod;
  readonly failClosed: boolean;
}

export type BudgetDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: 'exhausted'; readonly spent: number; readonly budget: Budget; readonly resetsAt: number }
  | { readonly allowed: false; readonly reason: 'unknown'; readonly budget: Budget };

const ALLOWED: BudgetDecision = Object.freeze({ allowed: true });

export interface BudgetStatus {
  client: string;
  usd: number;
  period: BudgetPeriod;
  periodStart: string;
  resetsAt: string;
  spent: number;
  remaining: number;
  exhausted: boolean;
}

export class Budgets {
  readonly #budgets = new Map<string, Budget>();

  /** `now`: the clock whose periods count (./budget-clock.ts); the methods take its reading, so that a caller reads it once. */
  constructor(
    clientKeys: readonly ClientKeyConfig[],
    readonly store: SpendStore,
    readonly status: SpendStoreStatus,
    readonly now: () => number = budgetNow,
  ) {
    for (const c of clientKeys) {
      if (c.budget !== undefined) this.#budgets.set(c.name, Object.freeze({ usd: c.budget.usd, period: c.budget.period, failClosed: c.budget.failClosed }));
    }
  }

  get empty(): boolean {
    return this.#budgets.size === 0;
  }

  check(client: string, now: number): BudgetDecision {
    if (this.#budgets.size === 0) return ALLOWED;
    const budget = this.#budgets.get(client);
    if (budget === undefined) return ALLOWED;
    if (budget.failClosed && !this.status.available) return { allowed: false, reason: 'unknown', budget };
    const spent = this.store.spent(client, periodStart(budget.period, now));
    if (spent < budget.usd) return ALLOWED;
    return { allowed: false, reason: 'exhausted', spent, budget, resetsAt: periodEnd(budget.period, now) };
  }

  /**
   * Counts a finished request's cost in the current day, week and month, for every key with a
   * budget or not: a reload may give a key a budget or change its period, and the spend since
   * the start must already be there. The store keeps a few periods per key, least recent out.
   */
  add(client: string, usd: number, now: number): void {
    if (!(usd > 0)) return;
    for (const period of PERIODS) this.store.add(client, periodStart(period, now), usd);
  }

  report(now: number): BudgetStatus[] {
    const out: BudgetStatus[] = [];
    for (const [client, b] of this.#budgets) {
      const start = periodStart(b.period, now);
      const spent = this.store.spent(client, start);
      out.push({ client, usd: b.usd, period: b.period, periodStart: new Date(start).toISOString(), resetsAt: new Date(periodEnd(b.period, now)).toISOString(), spent, remaining: Math.max(0, b.usd - spent), exhausted: spent >= b.usd });
    }
    return out;
  }
}
