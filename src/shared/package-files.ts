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

export interface BuildInfo {
  version: string;
  /** Identifies the build (a hash of what scripts/build.mjs wrote); null when running from the sources. */
  build: string | null;
}

/** What dist/build-info.json says now, read from disk each call; null when it cannot be read. */
export function buildInfoOnDisk(): BuildInfo | null {
  try {
    const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
    let build: string | null = null;
    try {
      build = (JSON.parse(readFileSync(packageFile('dist', 'build-info.json'), 'utf8')) as { build: string }).build;
    } catch {
      // running from the sources
    }
    return { version: pkg.version, build };
  } catch {
    return null;
  }
}

let startInfo: BuildInfo | undefined;

/** The code this process runs, read once, at its start (call it early: the files may change later). */
export function runningBuild(): BuildInfo {
  startInfo ??= buildInfoOnDisk() ?? { version: version(), build: null };
  return startInfo;
}
