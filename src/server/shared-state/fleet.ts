/**
 * What an instance shares with the rest of its fleet when `shared-state` is configured: the
 * Redis connection and the four things kept there (client-key limits, upstream-key cooldowns,
 * budget spend, usage totals). Built once per server process; a reload cannot change it.
 */
import type { Config } from '../../shared/config/schema.ts';
import { AppError } from '../../shared/errors.ts';
import type { CredentialPool } from '../routing/credentials.ts';
import { PERIODS, periodStart } from '../usage/budget.ts';
import { RedisSpendStore } from './redis-spend-store.ts';
import { SharedCooldowns } from './shared-cooldowns.ts';
import { defineLimiterScripts } from './shared-rate-limit.ts';
import { SharedState, type SharedStateEvents } from './shared-state.ts';
import { UsageWriter } from './usage-writer.ts';

export class Fleet {
  readonly state: SharedState;
  readonly cooldowns: SharedCooldowns;
  readonly usage: UsageWriter;
  readonly spend: RedisSpendStore;

  constructor(settings: NonNullable<Config['sharedState']>, events: SharedStateEvents, pool: () => CredentialPool | null) {
    this.state = new SharedState(settings, events);
    defineLimiterScripts(this.state.redis);
    this.cooldowns = new SharedCooldowns(this.state, pool);
    this.usage = new UsageWriter(this.state);
    this.spend = new RedisSpendStore(this.state);
    // Counted while Redis was away: sent when it is back.
    this.state.onUp(() => this.usage.flush());
  }

  /** Connects (bounded by connect-timeout); with `required`, an unreachable Redis fails the start. */
  async start(): Promise<void> {
    const up = await this.state.start();
    if (!up && this.state.settings.required) {
      await this.close();
      const why = this.state.lastError === '' ? `no answer within ${this.state.settings.connectTimeout} ms` : this.state.lastError;
      throw new AppError('E_SHARED_STATE', `shared-state.required is set and Redis at ${this.state.where} is unreachable (${why}); start Redis, or unset required to start on local state`);
    }
  }

  /**
   * Once the first snapshot exists: the cooldowns other instances started, and the fleet's spend
   * of every key with a budget in its current periods, so that the first request of a key is
   * checked against the fleet's total and not against 0.
   */
  async join(config: Config): Promise<void> {
    if (!this.state.up) return;
    const now = Date.now();
    const budgeted = config.clientKeys.filter((c) => c.budget !== undefined);
    await Promise.all([this.cooldowns.resync(), this.spend.prefetch(budgeted.flatMap((c) => PERIODS.map((p) => [c.name, periodStart(p, now)] as const)))]);
  }

  /** On stop: the last usage sums go out (bounded by command-timeout), then the connections close. */
  async close(): Promise<void> {
    this.usage.close();
    this.spend.close();
    await this.usage.flush();
    await this.state.close();
  }
}
