/** Where the translation fixtures live, and the context every golden translation uses. */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WireFormat } from '../../src/server/translate/index.ts';

export const FORMATS: readonly WireFormat[] = ['chat', 'responses', 'anthropic', 'gemini'];

export const FIXTURES = fileURLToPath(new URL('../fixtures/translate/', import.meta.url));

/** Pinned so expected outputs do not change from run to run. */
export const CTX = { model: 'client-model', requestId: 'req_0001', created: 1700000000 };
export const UPSTREAM_MODEL = 'upstream-model';

export type Kind = 'requests' | 'responses' | 'streams';

/** Fixture names (without extension) for one kind and format. */
export function fixtureNames(kind: Kind, format: WireFormat): string[] {
  const ext = kind === 'streams' ? '.sse' : '.json';
  return readdirSync(`${FIXTURES}${kind}/${format}`)
    .filter((f) => f.endsWith(ext))
    .map((f) => f.slice(0, -ext.length))
    .sort();
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(`${FIXTURES}${path}`, 'utf8'));
}

export function readBytes(path: string): Buffer {
  return readFileSync(`${FIXTURES}${path}`);
}
