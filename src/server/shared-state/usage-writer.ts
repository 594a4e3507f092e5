/**
 * Adds each finished request to the fleet's usage totals in Redis (shared/shared-state/
 * usage-totals.ts). A request only bumps a local sum; a flush every second sends the sums of that
 * second in one transaction (MULTI of HINCRBY / HINCRBYFLOAT: all or nothing), so the request path never waits on Redis and
 * the cost is one round trip per second, not per request. While Redis is away the sums keep
 * growing (one entry per client and day: bounded by the config) and go out when it is back. A
 * SIGKILL loses at most the last second's sums; a stop flushes them.
 */
import { USAGE_KEEP_DAYS, usageDay, usageField, usageKey } from '../../shared/shared-state/usage-totals.ts';
import type { SharedState } from './shared-state.ts';

const FLUSH_MS = 1_000;

interface Sums {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  costUsd: number;
  unpriced: number;
}

/** What one finished request used (null: not reported), and its cost (null: no price). */
export interface RequestUsage {
  inputTokens: number | null;
  outputTokens: number | null;
  cachedTokens: number | null;
  reasoningTokens: number | null;
  costUsd: number | null;
}

export class UsageWriter {
  readonly #shared: SharedState;
  /** day → client → sums not yet in Redis. */
  #pending = new Map<string, Map<string, Sums>>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> | null = null;

  constructor(shared: SharedState) {
    this.#shared = shared;
    this.#timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.#timer.unref();
  }

  add(client: string, at: number, usage: RequestUsage): void {
    const day = usageDay(at);
    let clients = this.#pending.get(day);
    if (clients === undefined) {
      clients = new Map();
      this.#pending.set(day, clients);
    }
    let sums = clients.get(client);
    if (sums === undefined) {
      sums = { requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, costUsd: 0, unpriced: 0 };
      clients.set(client, sums);
    }
    sums.requests++;
    const { inputTokens, outputTokens, cachedTokens, reasoningTokens, costUsd } = usage;
    if (inputTokens !== null && inputTokens > 0) sums.inputTokens += inputTokens;
    if (outputTokens !== null && outputTokens > 0) sums.outputTokens += outputTokens;
    if (cachedTokens !== null && cachedTokens > 0) sums.cachedTokens += cachedTokens;
    if (reasoningTokens !== null && reasoningTokens > 0) sums.reasoningTokens += reasoningTokens;
    if (costUsd !== null && costUsd > 0) sums.costUsd += costUsd;
    // As the ledger counts it: tokens used on a model without a price.
    else if (costUsd === null && (inputTokens !== null || outputTokens !== null)) sums.unpriced++;
  }

  /** Sends what is pending; kept for the next flush when Redis is away or the send fails. */
  flush(): Promise<void> {
    if (this.#flushing !== null || this.#pending.size === 0 || !this.#shared.up) return this.#flushing ?? Promise.resolve();
    const batch = this.#pending;
    this.#pending = new Map();
    const pipeline = this.#shared.redis.multi();
    const prefix = this.#shared.prefix;
    for (const [day, clients] of batch) {
      const key = usageKey(prefix, day);
      for (const [client, s] of clients) {
        pipeline.hincrby(key, usageField(client, 'requests'), s.requests);
        if (s.inputTokens > 0) pipeline.hincrby(key, usageField(client, 'input_tokens'), s.inputTokens);
        if (s.outputTokens > 0) pipeline.hincrby(key, usageField(client, 'output_tokens'), s.outputTokens);
        if (s.cachedTokens > 0) pipeline.hincrby(key, usageField(client, 'cached_tokens'), s.cachedTokens);
        if (s.reasoningTokens > 0) pipeline.hincrby(key, usageField(client, 'reasoning_tokens'), s.reasoningTokens);
        if (s.costUsd > 0) pipeline.hincrbyfloat(key, usageField(client, 'cost_usd'), s.costUsd);
        if (s.unpriced > 0) pipeline.hincrby(key, usageField(client, 'unpriced'), s.unpriced);
      }
      pipeline.expireat(key, Math.floor(Date.parse(`${day}T00:00:00Z`) / 1000) + USAGE_KEEP_DAYS * 86_400);
    }
    this.#flushing = pipeline
      .exec()
      .then((replies) => {
        // A failed or timed-out transaction keeps the batch for the next flush. A timeout can also
        // mean Redis applied it late (a hung Redis that resumes): then it counts twice, never zero times.
        if (replies === null || replies.some(([error]) => error !== null)) throw new Error('a usage increment failed');
      })
      .catch((error: unknown) => {
        this.#merge(batch);
        this.#shared.failed(error);
      })
      .finally(() => (this.#flushing = null));
    return this.#flushing;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Puts a batch that did not reach Redis back in front of what came since. */
  #merge(batch: Map<string, Map<string, Sums>>): void {
    for (const [day, clients] of batch) {
      for (const [client, s] of clients) {
        let target = this.#pending.get(day);
        if (target === undefined) {
          target = new Map();
          this.#pending.set(day, target);
        }
        const t = target.get(client);
        if (t === undefined) target.set(client, s);
        else {
          t.requests += s.requests;
          t.inputTokens += s.inputTokens;
          t.outputTokens += s.outputTokens;
          t.cachedTokens += s.cachedTokens;
          t.reasoningTokens += s.reasoningTokens;
          t.costUsd += s.costUsd;
          t.unpriced += s.unpriced;
        }
      }
    }
  }
}
