/**
 * Which PID file an instance uses (DESIGN §4), decided in one place for `run` and for the
 * commands that look for a running instance (`status`, `stop`, `reload`): the `--pid-file` flag,
 * then `AI_PROXY_PID_FILE`, then the config's `pid-file`, then the default location. The flag and
 * the variable are ordinary overrides (overrides.ts ranks them as it ranks every other one); this
 * module adds the file's value and the default.
 *
 * The commands that only look for an instance must not load the whole config: `status` has to
 * work in a shell that lacks the secrets' variables, and against a file broken since the start.
 * So they read the one key here, with the loader's own YAML options and `${…}` expansion.
 */
import { dirname, resolve } from 'node:path';
import { readRegularFile } from '../files.ts';
import { defaultPidFile, type PidFileChoice } from '../paths.ts';
import { collectOverrides, type AppliedOverride, type Overrides } from './overrides.ts';
import { resolveConfigPath } from './path.ts';

export const PID_FILE_KEY = 'pid-file';

/** The override of `pid-file` in force, if any (the flag wins over the variable). */
export function pidFileOverride(overrides: Overrides, env: NodeJS.ProcessEnv): AppliedOverride | undefined {
  return collectOverrides(overrides, env).find((o) => o.path.length === 1 && o.path[0] === PID_FILE_KEY);
}

/**
 * The choice, given what the loader (or `pidFileInFile`) found. `fileValue` is already resolved
 * against the config file's directory; an override is the caller's, relative to its directory.
 */
export function choosePidFile(override: AppliedOverride | undefined, fileValue: string | undefined, env: NodeJS.ProcessEnv = process.env): PidFileChoice {
  if (override !== undefined) return { path: resolve(String(override.value)), origin: override.origin === '--pid-file' ? '--pid-file' : 'AI_PROXY_PID_FILE' };
  if (fileValue !== undefined) return { path: resolve(fileValue), origin: 'config' };
  return { path: defaultPidFile(env), origin: 'default' };
}

/**
 * `pid-file` as the config file sets it, resolved against the file's directory; undefined when
 * the file sets none, or cannot say (unreadable, not YAML, an unset variable): then an instance
 * started from it could not have used that value either.
 */
export async function pidFileInFile(path: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  let text: string;
  try {
    text = readRegularFile(path, 'config file').toString('utf8');
  } catch {
    return undefined;
  }
  // Most configs leave pid-file unset: then the YAML parser need not even be loaded.
  if (!text.includes(PID_FILE_KEY)) return undefined;
  const yaml = await import('yaml');
  // The bundle hands a dynamically imported CommonJS package over as its default export.
  const parseDocument = yaml.parseDocument ?? (yaml as unknown as { default: typeof yaml }).default.parseDocument;
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) return undefined;
  const value: unknown = doc.get(PID_FILE_KEY);
  if (typeof value !== 'string' || value === '') return undefined;
  let expanded = value;
  if (value.includes('$')) {
    const { interpolate } = await import('./interpolate.ts');
    const result = interpolate(value, { env, baseDir: dirname(path) });
    if (!result.ok) return undefined;
    expanded = result.value;
  }
  return resolve(dirname(path), expanded);
}

/** For the commands that look for a running instance: the PID file `run` would use with the same flags and environment. */
export async function locatePidFile(options: { flag: string | undefined; configFlag: string | undefined; env?: NodeJS.ProcessEnv }): Promise<PidFileChoice> {
  const env = options.env ?? process.env;
  const override = pidFileOverride(options.flag === undefined ? {} : { pidFile: options.flag }, env);
  if (override !== undefined) return choosePidFile(override, undefined, env);
  let configPath: string | null = null;
  try {
    configPath = resolveConfigPath(options.configFlag, env).path;
  } catch {
    // an unusable config path names no PID file
  }
  return choosePidFile(undefined, configPath === null ? undefined : await pidFileInFile(configPath, env), env);
}
