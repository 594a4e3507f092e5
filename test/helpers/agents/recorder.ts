/**
 * Writes what a fake upstream received as fixture files, one per request, in order:
 * `<dir>/NN-<endpoint>.json` with method, path, headers (secrets redacted) and the body exactly
 * as the agent sent it. These are the agents' real requests, for the translation tests to replay.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedExchange } from './strict-upstream.ts';

/** Headers that carry a credential. */
const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'proxy-authorization', 'cookie', 'openai-organization', 'openai-project', 'chatgpt-account-id']);
export const REDACTED = '[redacted]';

export function redactHeaders(headers: RecordedExchange['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (!SECRET_HEADERS.has(name.toLowerCase())) {
      out[name] = value;
      continue;
    }
    // Keep the scheme of an Authorization header: "Bearer [redacted]" says how the key was sent.
    const scheme = typeof value === 'string' ? /^(Bearer|Basic|Token)\s/i.exec(value)?.[1] : undefined;
    out[name] = scheme === undefined ? REDACTED : `${scheme} ${REDACTED}`;
  }
  return out;
}

/** Also strips a key sent in the query string (`?key=`). */
export function redactPath(path: string): string {
  return path.replace(/([?&]key=)[^&]*/g, `$1${encodeURIComponent(REDACTED)}`);
}

export interface FixtureFile {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: unknown;
  /** Not part of the request: what the fake answered, to read the fixture by. */
  fake: { status: number; kind: string; websocket?: string | number; error?: string; atMs: number };
}

export function fixtureOf(r: RecordedExchange): FixtureFile {
  return {
    method: r.method,
    path: redactPath(r.path),
    headers: redactHeaders(r.headers),
    body: r.body,
    fake: { status: r.status, kind: r.kind, ...(r.websocket === undefined ? {} : { websocket: r.websocket }), ...(r.error === undefined ? {} : { error: r.error }), atMs: r.at },
  };
}

export function fixtureName(index: number, r: RecordedExchange): string {
  return `${String(index + 1).padStart(2, '0')}-${r.endpoint.replace(/[^a-zA-Z0-9_.-]+/g, '-')}.json`;
}

/** Replaces `dir`'s fixtures with these requests; returns the file names. */
export function writeFixtures(dir: string, requests: readonly RecordedExchange[]): string[] {
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) if (/^\d\d-.*\.json$/.test(old)) rmSync(join(dir, old));
  return requests.map((r, i) => {
    const name = fixtureName(i, r);
    writeFileSync(join(dir, name), `${JSON.stringify(fixtureOf(r), null, 2)}\n`);
    return name;
  });
}

/** Whether a test run should (re)write the fixtures: AI_PROXY_RECORD_AGENTS=1. */
export const recording = (): boolean => process.env.AI_PROXY_RECORD_AGENTS === '1';

export const FIXTURES_DIR = new URL('../../fixtures/agents/', import.meta.url).pathname;
