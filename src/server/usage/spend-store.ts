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
 * Periods kept per client, least recently added to first out. Only the current one is asked
 * for, but the seed holds the current day, week and month (whichever period a reload picks), and
 * a request that began before midnight ends after it; a few entries cover that while memory stays
 * bounded by the number of client keys. A monthly budget's entry is added to by every request, so
 * the daily entries it outlives are the ones dropped.
 */
const PERIODS_KEPT = 4;

/**
 * Whether a store knows the whole spend. A budget with `fail-closed` refuses its key's requests
 * while this is false (shared state away, or the ledger unreadable when the local store was seeded).
 */
export interface SpendStoreStatus {
  readonly available: boolean;
}

/** A store's spend for a restart's hand-over: [client, period start, USD] triples. */
export type SpendState = Array<[string, number, number]>;

/**
 * The process-local store: seeded from the ledger at start, so a stop and start keeps the spend.
 * A restart hands the spend over instead (full when it begins, then what the old server added
 * while it drained), which also counts the requests whose ledger rows were not written yet.
 */
export class InMemorySpendStore implements SpendStore, SpendStoreStatus {
  readonly #clients = new Map<string, Map<number, number>>();
  /** Added since the last full export: a restart's delta. */
  readonly #added = new Map<string, Map<number, number>>();
  /** Set once a restart handed the spend over: the ledger's seed would count it twice. */
  #handedOver = false;
  available = true;

  /** `seed`: each client's spend in the current periods, summed from the ledger. */
  seed(entries: Iterable<SpendSeed>): void {
    if (this.#handedOver) return;
    for (const s of entries) this.add(s.client, s.periodStart, s.usd);
  }

  exportState(kind: 'full' | 'delta'): SpendState {
    const source = kind === 'full' ? this.#clients : this.#added;
    const out: SpendState = [];
    for (const [client, periods] of source) for (const [start, usd] of periods) out.push([client, start, usd]);
    if (kind === 'full') this.#added.clear();
    return out;
  }

  importState(state: SpendState, kind: 'full' | 'delta'): void {
    if (kind === 'full') {
      this.#handedOver = true;
      this.available = true;
    }
    for (const [client, start, usd] of state) if (typeof client === 'string' && Number.isFinite(start)) this.add(client, start, usd);
  }

  spent(client: string, periodStart: number): number {
    return this.#clients.get(client)?.get(periodStart) ?? 0;
  }

  add(client: string, periodStart: number, usd: number): void {
    if (!(usd > 0)) return;
    addTo(this.#clients, client, periodStart, usd);
    addTo(this.#added, client, periodStart, usd);
  }
}

function addTo(clients: Map<string, Map<number, number>>, client: string, periodStart: number, usd: number): void {
  let periods = clients.get(client);
  if (periods === undefined) {
    periods = new Map();
    clients.set(client, periods);
  }
  const before = periods.get(periodStart) ?? 0;
  // Re-inserted so the Map's order is the order of last addition.
  periods.delete(periodStart);
  periods.set(periodStart, before + usd);
  if (periods.size > PERIODS_KEPT) periods.delete(periods.keys().next().value as number);
}
