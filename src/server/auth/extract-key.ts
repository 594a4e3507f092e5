/**
 * Where a client's key comes from: each SDK sends it its own way. OpenAI `Authorization: Bearer`,
 * Anthropic `x-api-key`, Gemini `x-goog-api-key` or the `?key=` query parameter.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type KeySource = 'authorization' | 'x-api-key' | 'x-goog-api-key' | 'query';

export interface PresentedKey {
  readonly key: string;
  /** The header (lower-case name) or, for `query`, the `key` URL parameter it came from. */
  readonly source: KeySource;
}

/**
 * Headers that may carry a client key. Strip all of them (and `?key=`, see `stripKeyParam`)
 * before forwarding, not only the one used: a client key must never reach an upstream.
 */
export const CLIENT_KEY_HEADERS: readonly string[] = Object.freeze(['authorization', 'x-api-key', 'x-goog-api-key']);

const bearer = /^bearer[ \t]+(\S+)[ \t]*$/i;

/** The first key found, in the order Authorization, x-api-key, x-goog-api-key, `?key=`; null if none. */
export function extractKey(headers: IncomingHttpHeaders, url: string): PresentedKey | null {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = bearer.exec(authorization);
    if (match !== null) return { key: match[1] as string, source: 'authorization' };
  }
  const apiKey = first(headers['x-api-key']);
  if (apiKey !== undefined) return { key: apiKey, source: 'x-api-key' };
  const googKey = first(headers['x-goog-api-key']);
  if (googKey !== undefined) return { key: googKey, source: 'x-goog-api-key' };
  const key = keyParam(url);
  return key === null ? null : { key, source: 'query' };
}

/** `url` without its `key` query parameter(s); the same string when there is none. */
export function stripKeyParam(url: string): string {
  const q = url.indexOf('?');
  if (q === -1 || !hasKeyParam(url, q)) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  params.delete('key');
  const rest = params.toString();
  return rest === '' ? url.slice(0, q) : `${url.slice(0, q)}?${rest}`;
}

function keyParam(url: string): string | null {
  const q = url.indexOf('?');
  if (q === -1 || !hasKeyParam(url, q)) return null;
  const key = new URLSearchParams(url.slice(q + 1)).get('key');
  return key === null || key === '' ? null : key;
}

/** Cheap pre-check so that requests without `key=` never build a URLSearchParams. */
function hasKeyParam(url: string, q: number): boolean {
  const at = url.indexOf('key=', q);
  return at !== -1 && (url[at - 1] === '?' || url[at - 1] === '&');
}

function first(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const trimmed = v?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
