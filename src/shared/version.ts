import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The package version, read once from package.json beside the bundle (dist/) or the source tree. */
export function version(): string {
  if (cached !== undefined) return cached;
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    cached = (JSON.parse(text) as { version: string }).version;
  } catch {
    cached = readFileSync(new URL('../../package.json', import.meta.url), 'utf8').match(/"version":\s*"([^"]+)"/)?.[1] ?? '0.0.0';
  }
  return cached;
}
