/**
 * How long an upstream asked us to wait after a 429 (or a 503), from whichever hint it gave:
 * `Retry-After` (RFC 9110: seconds or an HTTP-date), OpenAI's `retry-after-ms` and
 * `x-ratelimit-reset-*` (Go durations such as `6m0s`), Anthropic's `anthropic-ratelimit-*-reset`
 * (RFC 3339 instants), or Gemini's `RetryInfo.retryDelay` in the error body (`"30s"`).
 */
import { headerValue, type HeaderSource } from './outcome.ts';

/** A wait is never honoured beyond this: a bogus or daily-quota reset must not park a key for days. */
export const MAX_UPSTREAM_WAIT_MS = 24 * 3_600_000;

/** `Retry-After` value → milliseconds from `now`; null when unparseable. */
export function parseRetryAfter(value: string, now: number): number | null {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const goUnits: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
const goPart = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;

/** A Go `time.Duration` string as OpenAI sends it (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) → ms; null when unparseable. */
export function parseGoDuration(value: string): number | null {
  const text = value.trim();
  if (text === '') return null;
  let total = 0;
  goPart.lastIndex = 0;
  while (goPart.lastIndex < text.length) {
    const at = goPart.lastIndex;
    const match = goPart.exec(text);
    if (match === null || match.index !== at) return null;
    total += Number(match[1]) * (goUnits[match[2] as string] as number);
  }
  return Math.ceil(total);
}

const openaiBuckets = ['requests', 'tokens'] as const;
const anthropicBuckets = ['requests', 'tokens', 'input-tokens', 'output-tokens'] as const;
const retryDelay = /"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"/;

/**
 * The wait an upstream asked for, in ms from `now`, or null when it gave no usable hint. An
 * explicit `Retry-After` wins; otherwise the latest reset among the exhausted buckets (a bucket
 * whose `remaining` header is present and non-zero did not cause the 429, so its reset is no reason
 * to wait; when `remaining` is absent every reset counts).
 */
export function upstreamWaitMs(headers: HeaderSource | undefined, body: string | undefined, now: number): number | null {
  let wait: number | null = null;
  if (headers !== undefined) {
    const ms = headerValue(headers, 'retry-after-ms');
    if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return clamp(Number(ms));
    const ra = headerValue(headers, 'retry-after');
    if (ra !== undefined) {
      const parsed = parseRetryAfter(ra, now);
      if (parsed !== null) return clamp(parsed);
    }
    for (const bucket of openaiBuckets) {
      const reset = headerValue(headers, `x-ratelimit-reset-${bucket}`);
      if (reset === undefined || !exhausted(headerValue(headers, `x-ratelimit-remaining-${bucket}`))) continue;
      const parsed = parseGoDuration(reset);
      if (parsed !== null) wait = Math.max(wait ?? 0, parsed);
    }
    for (const bucket of anthropicBuckets) {
      const reset = headerValue(headers, `anthropic-ratelimit-${bucket}-reset`);
      if (reset === undefined || !exhausted(headerValue(headers, `anthropic-ratelimit-${bucket}-remaining`))) continue;
      const at = Date.parse(reset);
      if (!Number.isNaN(at)) wait = Math.max(wait ?? 0, at - now);
    }
  }
  if (body !== undefined && body.includes('retryDelay')) {
    const match = retryDelay.exec(body);
    if (match !== null) wait = Math.max(wait ?? 0, Math.ceil(Number(match[1]) * 1000));
  }
  return wait === null ? null : clamp(wait);
}

function exhausted(remaining: string | undefined): boolean {
  return remaining === undefined || !(Number(remaining) > 0);
}

function clamp(ms: number): number {
  return Math.min(MAX_UPSTREAM_WAIT_MS, Math.max(0, Math.ceil(ms)));
}
