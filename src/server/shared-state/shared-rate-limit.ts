/**
 * Client-key rpm/tpm for the whole fleet: the same GCRA as auth/rate-limit.ts (a burst of N, then
 * one per 60 s ÷ N), its TATs kept in Redis and moved by a Lua script on Redis's own clock, so
 * instances with skewed clocks agree and one check is one round trip (EVALSHA, atomic).
 *
 * While Redis is away (and for a request whose check timed out) the instance's own limiter
 * decides: each instance then admits up to the limit on its own, so the fleet admits up to N×.
 * It is also the state a restart hands over (exportState/importState); the shared TATs need no
 * hand-over, they are in Redis.
 */
import type { Redis } from 'ioredis';
import type { ClientKeyConfig } from '../../shared/config/schema.ts';
import type { Client } from '../auth/client-keys.ts';
import type { LimiterState, LimitState, RateDecision, RateLimiter } from '../auth/rate-limit.ts';
import type { SharedState } from './shared-state.ts';

const WINDOW_MS = 60_000;

/**
 * KEYS: request TAT, token TAT. ARGV: request interval, token interval (ms; 0 = no such limit).
 * Returns {allowed 0|1, refused by 0 none|1 requests|2 tokens, wait ms, request TAT ahead ms,
 * token debt ms}: auth/rate-limit.ts's `check`, line for line.
 */
const GCRA_CHECK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = ${WINDOW_MS}
local reqI = tonumber(ARGV[1])
local tokI = tonumber(ARGV[2])
local reqTat = 0
if reqI > 0 then reqTat = tonumber(redis.call('GET', KEYS[1]) or '0') end
local debt = 0
if tokI > 0 then
  debt = math.max(0, tonumber(redis.call('GET', KEYS[2]) or '0') - now)
  local wait = debt - (window - tokI)
  if wait > 0 then return {0, 2, math.ceil(wait), math.ceil(math.max(0, reqTat - now)), math.ceil(debt)} end
end
if reqI == 0 then return {1, 0, 0, 0, math.ceil(debt)} end
local tat = math.max(reqTat, now) + reqI
local ahead = tat - now
if ahead > window then return {0, 1, math.ceil(ahead - window), math.ceil(math.max(0, reqTat - now)), math.ceil(debt)} end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(ahead) + 1)
return {1, 0, 0, math.ceil(ahead), math.ceil(debt)}
`;

/** KEYS: token TAT. ARGV: token interval × tokens (ms). Moves the TAT, into debt if need be. */
const GCRA_TOKENS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
return 1
`;

type Reply = [number, number, number, number, number];

interface GcraCommands {
  aiProxyGcraCheck(requestKey: string, tokenKey: string, requestInterval: number, tokenInterval: number): Promise<Reply>;
  aiProxyGcraTokens(tokenKey: string, push: number): Promise<number>;
}

/** ioredis loads a script with EVALSHA and falls back to EVAL after a Redis restart emptied its cache. */
export function defineLimiterScripts(redis: Redis): void {
  redis.defineCommand('aiProxyGcraCheck', { numberOfKeys: 2, lua: GCRA_CHECK });
  redis.defineCommand('aiProxyGcraTokens', { numberOfKeys: 1, lua: GCRA_TOKENS });
}

interface Limits {
  readonly rpm: number;
  readonly tpm: number;
  readonly requestInterval: number;
  readonly tokenInterval: number;
  readonly requestKey: string;
  readonly tokenKey: string;
}

export class SharedRateLimiter {
  /** This instance's own limiter: decides while Redis is away, and carries a restart's state. */
  readonly local: RateLimiter;
  readonly #shared: SharedState;
  readonly #limits = new Map<string, Limits>();

  constructor(clientKeys: readonly ClientKeyConfig[], shared: SharedState, local: RateLimiter) {
    this.#shared = shared;
    this.local = local;
    for (const c of clientKeys) {
      if (c.rpm === undefined && c.tpm === undefined) continue;
      // The hash tag keeps both keys of a client in one slot, should the Redis be a cluster's proxy.
      const base = `${shared.prefix}rl:{${c.name}}:`;
      this.#limits.set(c.name, {
        rpm: c.rpm ?? 0,
        tpm: c.tpm ?? 0,
        requestInterval: c.rpm === undefined ? 0 : WINDOW_MS / c.rpm,
        tokenInterval: c.tpm === undefined ? 0 : WINDOW_MS / c.tpm,
        requestKey: `${base}r`,
        tokenKey: `${base}t`,
      });
    }
  }

  rebuild(clientKeys: readonly ClientKeyConfig[]): SharedRateLimiter {
    return new SharedRateLimiter(clientKeys, this.#shared, this.local.rebuild(clientKeys));
  }

  /**
   * Synchronous (the local limiter) for a client without limits and while Redis is away; else
   * one round trip, bounded by `command-timeout`, after which the local limiter decides.
   */
  check(client: Client, now: number): RateDecision | Promise<RateDecision> {
    const l = this.#limits.get(client.name);
    if (l === undefined || !this.#shared.up) return this.#local(client, now, l);
    const redis = this.#shared.redis as unknown as GcraCommands;
    return redis.aiProxyGcraCheck(l.requestKey, l.tokenKey, l.requestInterval, l.tokenInterval).then(
      (reply) => decision(l, reply),
      (error: unknown) => {
        this.#shared.failed(error);
        return this.#local(client, Date.now(), l);
      },
    );
  }

  #local(client: Client, now: number, limits: Limits | undefined): RateDecision {
    if (limits !== undefined) this.#shared.localDecisions++;
    return this.local.check(client, now);
  }

  recordTokens(client: Client, tokens: number, now: number): void {
    const l = this.#limits.get(client.name);
    if (l === undefined || l.tokenInterval === 0 || !(tokens > 0)) return;
    if (!this.#shared.up) return this.local.recordTokens(client, tokens, now);
    const redis = this.#shared.redis as unknown as GcraCommands;
    redis.aiProxyGcraTokens(l.tokenKey, tokens * l.tokenInterval).catch((error: unknown) => {
      this.#shared.failed(error);
      this.local.recordTokens(client, tokens, Date.now());
    });
  }

  exportState(kind: 'full' | 'delta'): LimiterState {
    return this.local.exportState(kind);
  }

  importState(state: LimiterState, kind: 'full' | 'delta', now: number): void {
    this.local.importState(state, kind, now);
  }
}

function decision(l: Limits, reply: Reply): RateDecision {
  const [allowed, by, waitMs, ahead, debt] = reply;
  const requests: LimitState | null = l.requestInterval === 0 ? null : { limit: l.rpm, remaining: Math.max(0, Math.floor((WINDOW_MS - ahead) / l.requestInterval)), resetMs: ahead };
  const tokens: LimitState | null = l.tokenInterval === 0 ? null : { limit: l.tpm, remaining: Math.max(0, Math.floor((WINDOW_MS - debt) / l.tokenInterval)), resetMs: debt };
  if (allowed === 1) return { allowed: true, limitedBy: null, retryAfterSeconds: 0, requests, tokens };
  return { allowed: false, limitedBy: by === 2 ? 'tokens' : 'requests', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), requests, tokens };
}
