/**
 * What happened to one upstream attempt, and what that means for the next one. Shared by the
 * credential pool (which cools keys down) and the attempt plan (which picks the next attempt),
 * so both read an outcome the same way.
 */

/** Node's `IncomingHttpHeaders`, or a fetch/undici `Headers`. */
export type HeaderSource = { get(name: string): string | null } | Readonly<Record<string, string | string[] | undefined>>;

export type UpstreamOutcome =
  | { readonly kind: 'success' }
  /** Any upstream answer; a status below 400 counts as success. `body` only for error answers (Gemini puts its retry delay there). */
  | { readonly kind: 'http'; readonly status: number; readonly headers?: HeaderSource; readonly body?: string }
  | { readonly kind: 'network'; readonly error?: unknown }
  | { readonly kind: 'timeout' };

export const SUCCESS: UpstreamOutcome = Object.freeze({ kind: 'success' });

/**
 * - `retry-credential`: the upstream refused this key (429 rate limit; 401/402/403 bad, unfunded
 *   or unauthorised key): another key of the same provider may work.
 * - `retry-candidate`: the provider failed (5xx, 408, network error, timeout): try the next one.
 * - `fatal`: the request itself is at fault (400, 404, 413, 422, …): the client gets the answer.
 */
export type OutcomeClass = 'success' | 'retry-credential' | 'retry-candidate' | 'fatal';

/** Why a credential cools down; also the label in /admin/credentials. */
export type CooldownReason = 'rate-limit' | 'auth' | 'server-error' | 'network-error';

export function classify(outcome: UpstreamOutcome): OutcomeClass {
  switch (outcome.kind) {
    case 'success':
      return 'success';
    case 'network':
    case 'timeout':
      return 'retry-candidate';
    case 'http': {
      const s = outcome.status;
      if (s < 400) return 'success';
      if (s === 429 || s === 401 || s === 402 || s === 403) return 'retry-credential';
      if (s >= 500 || s === 408) return 'retry-candidate';
      return 'fatal';
    }
  }
}

/** The cooldown an outcome earns its credential, or null when it earns none. */
export function cooldownReason(outcome: UpstreamOutcome): CooldownReason | null {
  switch (outcome.kind) {
    case 'success':
      return null;
    case 'network':
    case 'timeout':
      return 'network-error';
    case 'http': {
      const s = outcome.status;
      if (s === 429) return 'rate-limit';
      if (s === 401 || s === 402 || s === 403) return 'auth';
      if (s >= 500 || s === 408) return 'server-error';
      return null;
    }
  }
}

export function headerValue(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const value = (headers as Readonly<Record<string, string | string[] | undefined>>)[name];
  return Array.isArray(value) ? value[0] : value;
}
