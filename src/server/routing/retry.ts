/**
 * Retry bounds and backoff. Full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): the delay is uniform in [0, min(max, base·2^n)), which spreads the retries of many
 * clients that failed together instead of synchronising them.
 */
import type { Config } from '../../shared/config/schema.ts';

export interface RetryPolicy {
  /** Attempts per request, the first one included, across credentials, providers and fallbacks. */
  readonly attempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** No attempt starts (or is waited for) past this much time after the first; 0: no limit. */
  readonly totalTimeoutMs: number;
  /** In [0, 1), like Math.random; injected by tests. */
  readonly random: () => number;
  readonly now: () => number;
}

export function retryPolicy(config: Pick<Config, 'retry'>, sources: { random?: () => number; now?: () => number } = {}): RetryPolicy {
  return Object.freeze({
    attempts: config.retry.attempts,
    backoffBaseMs: config.retry.backoffBase,
    backoffMaxMs: config.retry.backoffMax,
    totalTimeoutMs: config.retry.totalTimeout,
    random: sources.random ?? Math.random,
    now: sources.now ?? Date.now,
  });
}

/** The wait before retry number `retry` (0 for the first retry). */
export function backoffDelay(retry: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(retry, 30));
  return Math.floor(policy.random() * ceiling);
}
