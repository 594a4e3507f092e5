/**
 * Settings that can be given outside the file. Precedence: command-line flag > AI_PROXY_*
 * environment variable > config file > schema default. Overrides are merged into the raw
 * (kebab-case) tree before validation, so they are checked by the same schema; an invalid one
 * is reported under its own name (`AI_PROXY_PORT: …`, `--port: …`) instead of a file position.
 */
import type { PathSegment } from './introspect.ts';
import type { LogLevel } from '../log-levels.ts';

export interface Overrides {
  host?: string;
  port?: number;
  logLevel?: LogLevel;
  logFile?: string;
  pidFile?: string;
  /** "30s" or a number of seconds, as the user typed it. */
  shutdownTimeout?: string;
}

export interface OverrideSpec {
  /** The command-line flag, when there is one. */
  flag: string | null;
  /** The field of `Overrides` the CLI fills from the flag. */
  option: keyof Overrides | null;
  env: string;
  /** The config key it replaces, as written in YAML. */
  key: string;
  description: string;
}

/** The table the docs and the README render. */
export const overrideTable: readonly OverrideSpec[] = [
  { flag: '--host', option: 'host', env: 'AI_PROXY_HOST', key: 'listen.host', description: 'Address to listen on.' },
  { flag: '--port', option: 'port', env: 'AI_PROXY_PORT', key: 'listen.port', description: 'TCP port to listen on.' },
  { flag: '--log-level', option: 'logLevel', env: 'AI_PROXY_LOG_LEVEL', key: 'log.level', description: 'Minimum log level.' },
  { flag: '--log-file', option: 'logFile', env: 'AI_PROXY_LOG_FILE', key: 'log.file', description: 'Log file path.' },
  { flag: null, option: null, env: 'AI_PROXY_LOG_FORMAT', key: 'log.format', description: 'Log format: text or json.' },
  { flag: '--pid-file', option: 'pidFile', env: 'AI_PROXY_PID_FILE', key: 'pid-file', description: 'PID file path.' },
  { flag: '--shutdown-timeout', option: 'shutdownTimeout', env: 'AI_PROXY_SHUTDOWN_TIMEOUT', key: 'shutdown-timeout', description: 'Time in-flight requests get on stop.' },
];

export interface AppliedOverride {
  path: PathSegment[];
  value: unknown;
  /** The flag or variable the value came from, named in errors. */
  origin: string;
}

/** The overrides that are in effect, the flag winning over the variable. Empty variables count as unset. */
export function collectOverrides(overrides: Overrides, env: NodeJS.ProcessEnv): AppliedOverride[] {
  const applied: AppliedOverride[] = [];
  for (const spec of overrideTable) {
    const path = spec.key.split('.');
    const fromFlag = spec.option === null ? undefined : overrides[spec.option];
    if (fromFlag !== undefined && spec.flag !== null) {
      applied.push({ path, value: fromFlag, origin: spec.flag });
      continue;
    }
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') applied.push({ path, value: fromEnv, origin: spec.env });
  }
  return applied;
}

/**
 * Writes each override into the raw tree. Where the file has a non-map in the way (`listen: 8080`),
 * the override is skipped: the file's own error is reported and the override would hide it.
 */
export function applyOverrides(tree: Record<string, unknown>, overrides: readonly AppliedOverride[]): AppliedOverride[] {
  const placed: AppliedOverride[] = [];
  for (const override of overrides) {
    let node: Record<string, unknown> = tree;
    let ok = true;
    for (const segment of override.path.slice(0, -1)) {
      const next = node[String(segment)];
      if (next === undefined) {
        const created: Record<string, unknown> = {};
        node[String(segment)] = created;
        node = created;
      } else if (next !== null && typeof next === 'object' && !Array.isArray(next)) {
        node = next as Record<string, unknown>;
      } else {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    node[String(override.path[override.path.length - 1])] = override.value;
    placed.push(override);
  }
  return placed;
}
