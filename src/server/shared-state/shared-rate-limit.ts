/**
 * Client-key rpm/tpm for the whole fleet: the same GCRA as auth/rate-limit.ts (a burst of N, then
 * one per 60 s ÷ N), its TATs kept in Redis and moved by a Lua script on Redis's own clock, so
 * instances with skewed clocks agree and a check is one round trip (EVALSHA, atomic), shared by
 * the checks of the same event-loop turn.
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
 * Checks of one event-loop turn, in order (a client may appear twice: the second sees the
 * first's TAT). KEYS: per check, its request TAT and token TAT. ARGV: per check, its request and
 * token interval (ms; 0 = no such limit). Returns, per check, five numbers: allowed 0|1, refused
 * by 0 none|1 requests|2 tokens, wait ms, request TAT ahead ms, token debt ms. Each check is
 * auth/rate-limit.ts's `check`, line for line, and the script runs atomically.
 */
const GCRA_CHECK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = ${WINDOW_MS}
local out = {}
for i = 1, #KEYS / 2 do
  local reqKey, tokKey = KEYS[2 * i - 1], KEYS[2 * i]
  local reqI, tokI = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local reqTat = 0
  if reqI > 0 then reqTat = tonumber(redis.call('GET', reqKey) or '0') end
  local debt = 0
  local r = nil
  if tokI > 0 then
    debt = math.max(0, tonumber(redis.call('GET', tokKey) or '0') - now)
    local wait = debt - (window - tokI)
    if wait > 0 then r = {0, 2, math.ceil(wait), math.ceil(math.max(0, reqTat - now)), math.ceil(debt)} end
  end
  if r == nil then
    if reqI == 0 then
      r = {1, 0, 0, 0, math.ceil(debt)}
    else
      local tat = math.max(reqTat, now) + reqI
      local ahead = tat - now
      if ahead > window then
        r = {0, 1, math.ceil(ahead - window), math.ceil(math.max(0, reqTat - now)), math.ceil(debt)}
      else
        redis.call('SET', reqKey, string.format('%.3f', tat), 'PX', math.ceil(ahead) + 1)
        r = {1, 0, 0, math.ceil(ahead), math.ceil(debt)}
      end
    end
  end
  for j = 1, 5 do out[#out + 1] = r[j] end
end
return out
`;

/** KEYS: token TAT. ARGV: token interval × tokens (ms). Moves the TAT, into debt if need be. */
const GCRA_TOKENS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
return 1
`;

interface GcraCommands {
  /** numberOfKeys first (the script takes any number of checks), then the keys, then the intervals. */
  aiProxyGcraCheck(...args: Array<string | number>): Promise<number[]>;
  aiProxyGcraTokens(tokenKey: string, push: number): Promise<number>;
}

/** ioredis loads a script with EVALSHA and falls back to EVAL after a Redis restart emptied its cache. */
export function defineLimiterScripts(redis: Redis): void {
  redis.defineCommand('aiProxyGcraCheck', { lua: GCRA_CHECK });
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

interface Pending {
  readonly limits: Limits;
  readonly client: Client;
  readonly resolve: (decision: RateDecision) => void;
  /** Its own limiter's local decision, should Redis fail the batch. */
  readonly fallback: (p: Pending) => RateDecision;
}

/**
 * The checks waiting for the next batch. Process-wide, not per limiter: requests of two config
 * generations share a batch. At most one batch is in flight: checks that come while it is
 * answered wait for it and go in the next, so under load a batch grows with Redis's round-trip
 * time and the per-command cost of the client library (a command object, a promise, a timer,
 * two syscalls: ~40 µs of CPU here) is paid once per batch, not per request; with nothing in
 * flight a check leaves at the end of the event-loop turn (docs/decisions.md).
 */
let queue: Pending[] = [];
let scheduled = false;
let inFlight = false;
let sharedOfQueue: SharedState | null = null;

function schedule(shared: SharedState): void {
  sharedOfQueue = shared;
  if (scheduled || inFlight) return;
  scheduled = true;
  setImmediate(flush);
}

function flush(): void {
  scheduled = false;
  const shared = sharedOfQueue as SharedState;
  const batch = queue;
  queue = [];
  if (batch.length === 0) return;
  // Redis went away while these waited (the batch before them timed out): decide them here.
  if (!shared.up) {
    for (const p of batch) p.resolve(p.fallback(p));
    return;
  }
  inFlight = true;
  const args: Array<string | number> = [batch.length * 2];
  for (const p of batch) args.push(p.limits.requestKey, p.limits.tokenKey);
  for (const p of batch) args.push(p.limits.requestInterval, p.limits.tokenInterval);
  (shared.redis as unknown as GcraCommands).aiProxyGcraCheck(...args).then(
    (reply) => {
      for (let i = 0; i < batch.length; i++) {
        const p = batch[i] as Pending;
        p.resolve(decision(p.limits, reply, i * 5));
      }
      next();
    },
    (error: unknown) => {
      shared.failed(error);
      for (const p of batch) p.resolve(p.fallback(p));
      next();
    },
  );
}

function next(): void {
  inFlight = false;
  if (queue.length > 0) flush();
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
    return new Promise((resolve) => {
      queue.push({ limits: l, client, resolve, fallback: this.#fallback });
      schedule(this.#shared);
    });
  }

  readonly #fallback = (p: Pending): RateDecision => this.#local(p.client, Date.now(), p.limits);

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

function decision(l: Limits, reply: readonly number[], at: number): RateDecision {
  const allowed = reply[at] as number;
  const by = reply[at + 1] as number;
  const waitMs = reply[at + 2] as number;
  const ahead = reply[at + 3] as number;
  const debt = reply[at + 4] as number;
  const requests: LimitState | null = l.requestInterval === 0 ? null : { limit: l.rpm, remaining: Math.max(0, Math.floor((WINDOW_MS - ahead) / l.requestInterval)), resetMs: ahead };
  const tokens: LimitState | null = l.tokenInterval === 0 ? null : { limit: l.tpm, remaining: Math.max(0, Math.floor((WINDOW_MS - debt) / l.tokenInterval)), resetMs: debt };
  if (allowed === 1) return { allowed: true, limitedBy: null, retryAfterSeconds: 0, requests, tokens };
  return { allowed: false, limitedBy: by === 2 ? 'tokens' : 'requests', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), requests, tokens };
}
