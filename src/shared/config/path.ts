/**
 * Where the config file is: kept apart from the loader so that commands which only need the
 * path (`status`, `stop`, `reload` reading `pid-file`) do not load the schema and YAML machinery.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const CONFIG_FILE_NAME = 'ai-proxy.yaml';

/** Where a config path came from, named in "not found" errors. */
export type ConfigPathSource = '-c' | 'AI_PROXY_CONFIG' | 'CONFIGURATION_DIRECTORY' | 'system' | 'user';

export interface ResolvedConfigPath {
  /** The file to load; null when no explicit path was given and the default file does not exist. */
  path: string | null;
  explicit: boolean;
  source: ConfigPathSource;
  /** The file that would be read (also when it does not exist yet): what a watcher watches. */
  candidate: string;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * First that applies: `-c FILE`, `AI_PROXY_CONFIG`, `$CONFIGURATION_DIRECTORY/ai-proxy.yaml`
 * (systemd's ConfigurationDirectory=), `/etc/ai-proxy/ai-proxy.yaml` for root,
 * `$XDG_CONFIG_HOME/ai-proxy/ai-proxy.yaml` (default ~/.config). An explicit path is returned
 * as is, existing or not (loading it reports it missing); a default that does not exist gives
 * `path: null`, which means the embedded default.
 */
export function resolveConfigPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, options: { root?: boolean } = {}): ResolvedConfigPath {
  if (explicit !== undefined && explicit !== '') {
    const path = resolve(explicit);
    return { path, explicit: true, source: '-c', candidate: path };
  }
  const fromEnv = env.AI_PROXY_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') {
    const path = resolve(fromEnv);
    return { path, explicit: true, source: 'AI_PROXY_CONFIG', candidate: path };
  }
  let candidate: string;
  let source: ConfigPathSource;
  // systemd may pass several directories separated by colons; the first is the service's own.
  const configurationDirectory = env.CONFIGURATION_DIRECTORY?.split(':')[0];
  if (configurationDirectory !== undefined && configurationDirectory !== '') {
    candidate = join(configurationDirectory, CONFIG_FILE_NAME);
    source = 'CONFIGURATION_DIRECTORY';
  } else if (options.root ?? isRoot()) {
    candidate = join('/etc/ai-proxy', CONFIG_FILE_NAME);
    source = 'system';
  } else {
    const xdg = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.config');
    candidate = join(xdg, 'ai-proxy', CONFIG_FILE_NAME);
    source = 'user';
  }
  candidate = resolve(candidate);
  return { path: existsSync(candidate) ? candidate : null, explicit: false, source, candidate };
}
