/**
 * Files of the installed package (package.json, etc/), found from the running code: the bundle
 * runs from dist/, one level below the package root; the sources (tests, tsx) from src/<layer>/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

let root: string | undefined;

/** The directory holding ai-proxy's package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  // dist/ → its parent; src/shared/ → two up. Three levels is the most any layout here needs.
  for (let level = 0; level < 3; level++) {
    dir = dirname(dir);
    if (existsSync(join(dir, 'package.json'))) return (root = dir);
  }
  throw new Error(`ai-proxy: no package.json above ${fileURLToPath(import.meta.url)}`);
}

export function packageFile(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}

let cachedVersion: string | undefined;

/** The package version, read once. */
export function version(): string {
  cachedVersion ??= (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
