/**
 * Per-client requests and tokens per minute, as GCRA (the generic cell rate algorithm): one
 * number per limit, the "theoretical arrival time" (TAT), instead of a log of timestamps. A limit
 * of N per minute admits a burst of N, then one every 60/N s — a token bucket of N refilling
 * over a minute, exactly, in O(1) time and memory. Like OpenAI's own limits it replenishes
 * continuously, so a minute that starts with a full bucket can see up to 2N; a strict "N in any
 * 60 s" would need a log of N timestamps per client.
 *
 * Tokens are only known after the response (reported usage), so `recordTokens` moves the token
 * TAT afterwards, possibly into debt, and `check` refuses new requests while no token is left.
 * State is keyed by client name and carried into the limiter of the next config generation.
 */
import type { ClientKeyConfig } from '../../shared/config/schema.ts';
import type { Client } from './client-keys.ts';

const WINDOW_MS = 60_000;

export interface LimitState {
  readonly limit: number;
  readonly remaining: number;
  /** Until the bucket is full again. */
  readonly resetMs: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Which limit refused the request; null when allowed. */
  readonly limitedBy: 'requests' | 'tokens' | null;
  /** Whole seconds, at least 1, when refused; 0 when allowed. */
  readonly retryAfterSeconds: number;
  readonly requests: LimitState | null;
  readonly tokens: LimitState | null;
}

interface Gcra {
  /** Theoretical arrival time, epoch ms. */
  tat: number;
  /** How far admissions pushed `tat` since the last full export (a restart's delta). */
  pushed: number;
}

/** Per client name: TATs (full) or the pushes since the full export (delta), in ms. */
export type LimiterState = Record<string, { requests: number; tokens: number }>;

interface ClientLimits {
  readonly requestInterval: number | null;
  readonly rpm: number;
  readonly tokenInterval: number | null;
  readonly tpm: number;
  readonly requests: Gcra;
  readonly tokens: Gcra;
}

const UNLIMITED: RateDecision = Object.freeze({ allowed: true, limitedBy: null, retryAfterSeconds: 0, requests: null, tokens: null });

export class RateLimiter {
  readonly #clients = new Map<string, ClientLimits>();

  constructor(clientKeys: readonly ClientKeyConfig[], options: { previous?: RateLimiter } = {}) {
    const previous = options.previous === undefined ? undefined : options.previous.#clients;
    for (const c of clientKeys) {
      if (c.rpm === undefined && c.tpm === undefined) continue;
      const old = previous?.get(c.name);
      this.#clients.set(c.name, {
        rpm: c.rpm ?? 0,
        requestInterval: c.rpm === undefined ? null : WINDOW_MS / c.rpm,
        tpm: c.tpm ?? 0,
        tokenInterval: c.tpm === undefined ? null : WINDOW_MS / c.tpm,
        // Shared, not copied: requests still running under the old generation count here too.
        requests: old?.requests ?? { tat: 0, pushed: 0 },
        tokens: old?.tokens ?? { tat: 0, pushed: 0 },
      });
    }
  }

  rebuild(clientKeys: readonly ClientKeyConfig[]): RateLimiter {
    return new RateLimiter(clientKeys, { previous: this });
  }

  /** Admits (and counts) one request, or refuses it with the wait. */
  check(client: Client, now: number): RateDecision {
    const c = this.#clients.get(client.name);
    if (c === undefined) return UNLIMITED;
    let tokens: LimitState | null = null;
    if (c.tokenInterval !== null) {
      const debt = Math.max(0, c.tokens.tat - now);
      // At least one whole token must be left.
      const wait = debt - (WINDOW_MS - c.tokenInterval);
      tokens = { limit: c.tpm, remaining: Math.max(0, Math.floor((WINDOW_MS - debt) / c.tokenInterval)), resetMs: Math.ceil(debt) };
      if (wait > 0) return refuse('tokens', wait, requestState(c, now), tokens);
    }
    if (c.requestInterval === null) return { allowed: true, limitedBy: null, retryAfterSeconds: 0, requests: null, tokens };
    const tat = Math.max(c.requests.tat, now) + c.requestInterval;
    const ahead = tat - now;
    if (ahead > WINDOW_MS) return refuse('requests', ahead - WINDOW_MS, requestState(c, now), tokens);
    c.requests.pushed += tat - Math.max(c.requests.tat, now);
    c.requests.tat = tat;
    const requests = { limit: c.rpm, remaining: Math.max(0, Math.floor((WINDOW_MS - ahead) / c.requestInterval)), resetMs: Math.ceil(ahead) };
    return { allowed: true, limitedBy: null, retryAfterSeconds: 0, requests, tokens };
  }

  /**
   * For a restart's hand-over: each client's TATs (`full`), or how far the TATs were pushed since
   * the last full export (`delta`: the milliseconds of requests and tokens the old server admitted
   * after it), so that the new server adds them rather than taking the later of two clocks, which
   * would forget what both admitted while they overlapped.
   */
  exportState(kind: 'full' | 'delta'): LimiterState {
    const out: LimiterState = {};
    for (const [name, c] of this.#clients) {
      out[name] = kind === 'full' ? { requests: c.requests.tat, tokens: c.tokens.tat } : { requests: c.requests.pushed, tokens: c.tokens.pushed };
      if (kind === 'full') {
        c.requests.pushed = 0;
        c.tokens.pushed = 0;
      }
    }
    return out;
  }

  importState(state: LimiterState, kind: 'full' | 'delta', now: number): void {
    for (const [name, saved] of Object.entries(state)) {
      const c = this.#clients.get(name);
      if (c === undefined) continue;
      if (kind === 'full') {
        c.requests.tat = Math.max(c.requests.tat, saved.requests);
        c.tokens.tat = Math.max(c.tokens.tat, saved.tokens);
      } else {
        if (saved.requests > 0) c.requests.tat = Math.max(c.requests.tat, now) + saved.requests;
        if (saved.tokens > 0) c.tokens.tat = Math.max(c.tokens.tat, now) + saved.tokens;
      }
    }
  }

  /** Counts the tokens a finished request used (prompt + completion, as reported upstream). */
  recordTokens(client: Client, tokens: number, now: number): void {
    const c = this.#clients.get(client.name);
    if (c === undefined || c.tokenInterval === null || !(tokens > 0)) return;
    c.tokens.pushed += tokens * c.tokenInterval;
    c.tokens.tat = Math.max(c.tokens.tat, now) + tokens * c.tokenInterval;
  }
}

function requestState(c: ClientLimits, now: number): LimitState | null {
  if (c.requestInterval === null) return null;
  const ahead = Math.max(0, c.requests.tat - now);
  return { limit: c.rpm, remaining: Math.max(0, Math.floor((WINDOW_MS - ahead) / c.requestInterval)), resetMs: Math.ceil(ahead) };
}

function refuse(limitedBy: 'requests' | 'tokens', waitMs: number, requests: LimitState | null, tokens: LimitState | null): RateDecision {
  return { allowed: false, limitedBy, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), requests, tokens };
}

/** OpenAI's style for reset durations: `20ms`, `1s`, `6m0s`, `1h0m0s`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 10) / 100;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * The `x-ratelimit-*` headers OpenAI sends (limit, remaining, reset for requests and tokens),
 * plus `retry-after` when refused. Empty for a client without limits.
 */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {};
  const r = decision.requests;
  if (r !== null) {
    headers['x-ratelimit-limit-requests'] = String(r.limit);
    headers['x-ratelimit-remaining-requests'] = String(r.remaining);
    headers['x-ratelimit-reset-requests'] = formatResetDuration(r.resetMs);
  }
  const t = decision.tokens;
  if (t !== null) {
    headers['x-ratelimit-limit-tokens'] = String(t.limit);
    headers['x-ratelimit-remaining-tokens'] = String(t.remaining);
    headers['x-ratelimit-reset-tokens'] = formatResetDuration(t.resetMs);
  }
  if (!decision.allowed) headers['retry-after'] = String(decision.retryAfterSeconds);
  return headers;
}
