/**
 * What a client key has spent in a budget period, behind one small interface so that the
 * counting can live in this process (the default) or in shared state (Redis, for several
 * instances). A period is named by its start (epoch ms, UTC), so a store never needs to know
 * what a day, week or month is: the budget computes the start, the store only sums.
 *
 * Both methods are synchronous on purpose: the budget check runs on every request of a key with
 * a budget, before routing, and must not wait. A shared implementation keeps a local copy that
 * it refreshes and pushes in the background.
 */

export interface SpendStore {
  /** USD spent by `client` in the period that starts at `periodStart`; 0 when nothing is known. */
  spent(client: string, periodStart: number): number;
  /** Adds the cost of one finished request to that period. */
  add(client: string, periodStart: number, usd: number): void;
}

/** One period's spend of one client, as summed from the ledger at start. */
export interface SpendSeed {
  readonly client: string;
  readonly periodStart: number;
  readonly usd: number;
}

/**
 * Periods kept per client. Only the current one is asked for, but a reload may change a key's
 * period (day → month) and back, and a request that began before midnight ends after it; a few
 * entries cover that while memory stays bounded by the number of client keys.
 */
const PERIODS_KEPT = 4;

/** The process-local store: seeded from the ledger at start, so a restart keeps the spend. */
export class InMemorySpendStore implements SpendStore {
  readonly #clients = new Map<string, Map<number, number>>();

  constructor(seed: Iterable<SpendSeed> = []) {
    for (const s of seed) this.add(s.client, s.periodStart, s.usd);
  }

  spent(client: string, periodStart: number): number {
    return this.#clients.get(client)?.get(periodStart) ?? 0;
  }

  add(client: string, periodStart: number, usd: number): void {
    if (!(usd > 0)) return;
    let periods = this.#clients.get(client);
    if (periods === undefined) {
      periods = new Map();
      this.#clients.set(client, periods);
    }
    periods.set(periodStart, (periods.get(periodStart) ?? 0) + usd);
    if (periods.size > PERIODS_KEPT) periods.delete(Math.min(...periods.keys()));
  }
}
