/**
 * Budgets for the whole fleet: a SpendStore (usage/spend-store.ts) whose sums live in Redis,
 * `<prefix>spend:{<client>}:<periodStart>`, added to with INCRBYFLOAT. `spent` must stay
 * synchronous (the budget check runs before routing and must not wait), so it answers from a
 * local copy: each `add` counts locally at once, then in Redis, whose answer (the fleet's total)
 * replaces the copy, and a message on `<prefix>spend` tells the other instances to re-read that
 * sum. A refresh every few seconds re-reads every sum in the copy, in case a message was lost.
 *
 * While Redis is away, adds are kept (`#unsent`) and pushed when it is back, then every sum is
 * re-read: nothing this instance spent is lost, but meanwhile it only sees its own spending on
 * top of the last total it read. `available` tells a budget that must fail closed to refuse.
 */
import type { SpendStore } from '../usage/spend-store.ts';
import type { SharedState } from './shared-state.ts';

const CHANNEL = 'spend';
/** Longer than any budget period (a calendar month), counted from the period's start. */
const KEEP_SECONDS = 32 * 86_400;
const REFRESH_MS = 5_000;
/** Sums kept in the copy per client, least recently used out: the current day, week and month, and one more. */
const PERIODS_KEPT = 4;

export class RedisSpendStore implements SpendStore {
  readonly #shared: SharedState;
  /** client → periodStart → USD: the fleet's total as last read, plus local adds since. */
  readonly #copy = new Map<string, Map<number, number>>();
  /** Adds made while Redis was away, pushed when it is back. */
  readonly #unsent = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(shared: SharedState) {
    this.#shared = shared;
    shared.subscribe(CHANNEL, (message) => {
      const [client, period] = splitMember(message);
      if (client !== null && this.#copy.get(client)?.has(period) === true) void this.#read([[client, period]]);
    });
    shared.onUp(() => this.#resync());
    this.#timer = setInterval(() => {
      if (shared.up) void this.#read(this.#members());
    }, REFRESH_MS);
    this.#timer.unref();
  }

  /** False while Redis is away: the sums may miss what other instances spent meanwhile. */
  get available(): boolean {
    return this.#shared.up;
  }

  spent(client: string, periodStart: number): number {
    const value = this.#copy.get(client)?.get(periodStart);
    if (value !== undefined) return value;
    // First time this instance asks: answer 0 now, read the fleet's sum for the next request.
    this.#set(client, periodStart, 0);
    if (this.#shared.up) void this.#read([[client, periodStart]]);
    return 0;
  }

  add(client: string, periodStart: number, usd: number): void {
    if (!(usd > 0)) return;
    this.#set(client, periodStart, (this.#copy.get(client)?.get(periodStart) ?? 0) + usd);
    if (!this.#shared.up) {
      const member = `${client}\t${periodStart}`;
      this.#unsent.set(member, (this.#unsent.get(member) ?? 0) + usd);
      return;
    }
    void this.#push(client, periodStart, usd);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Reads these sums now (at start, before the first request asks for them). */
  prefetch(members: ReadonlyArray<readonly [string, number]>): Promise<void> {
    for (const [client, period] of members) if (this.#copy.get(client)?.get(period) === undefined) this.#set(client, period, 0);
    return this.#read(members);
  }

  async #push(client: string, periodStart: number, usd: number): Promise<void> {
    const key = this.#key(client, periodStart);
    try {
      const [[error, total]] = (await this.#shared.redis
        .multi()
        .incrbyfloat(key, usd)
        .expireat(key, Math.floor(periodStart / 1000) + KEEP_SECONDS)
        .publish(this.#shared.prefix + CHANNEL, `${client}\t${periodStart}`)
        .exec()) as [[Error | null, string]];
      if (error === null) this.#set(client, periodStart, Number(total));
    } catch (error) {
      this.#shared.failed(error);
      const member = `${client}\t${periodStart}`;
      this.#unsent.set(member, (this.#unsent.get(member) ?? 0) + usd);
    }
  }

  async #resync(): Promise<void> {
    const unsent = [...this.#unsent];
    this.#unsent.clear();
    for (const [member, usd] of unsent) {
      const [client, period] = splitMember(member);
      if (client !== null) await this.#push(client, period, usd);
    }
    await this.#read(this.#members());
  }

  #members(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [client, periods] of this.#copy) for (const period of periods.keys()) out.push([client, period]);
    return out;
  }

  async #read(members: ReadonlyArray<readonly [string, number]>): Promise<void> {
    if (members.length === 0) return;
    let values: Array<string | null>;
    try {
      values = await this.#shared.redis.mget(members.map(([client, period]) => this.#key(client, period)));
    } catch (error) {
      this.#shared.failed(error);
      return;
    }
    members.forEach(([client, period], i) => {
      // Adds still waiting for Redis (made while it was away) are not in its sum yet.
      const fleet = Number(values[i] ?? 0);
      const pending = this.#unsent.get(`${client}\t${period}`) ?? 0;
      this.#set(client, period, fleet + pending);
    });
  }

  #set(client: string, periodStart: number, usd: number): void {
    let periods = this.#copy.get(client);
    if (periods === undefined) {
      periods = new Map();
      this.#copy.set(client, periods);
    }
    // Re-inserted so that the Map's order is the order of last use: a monthly budget's entry,
    // used by every request, outlives the daily ones (dropping the oldest start would drop it).
    periods.delete(periodStart);
    periods.set(periodStart, usd);
    if (periods.size > PERIODS_KEPT) periods.delete(periods.keys().next().value as number);
  }

  #key(client: string, periodStart: number): string {
    return `${this.#shared.prefix}spend:{${client}}:${periodStart}`;
  }
}

function splitMember(member: string): [string | null, number] {
  const tab = member.lastIndexOf('\t');
  if (tab <= 0) return [null, 0];
  const period = Number(member.slice(tab + 1));
  return Number.isFinite(period) ? [member.slice(0, tab), period] : [null, 0];
}
