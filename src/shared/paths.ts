/**
 * Default locations (DESIGN §4, §7), resolved the same way by every command so that root's
 * `ai-proxy status` finds the systemd service's files.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = NodeJS.ProcessEnv;

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function stateHome(env: Env): string {
  return env.XDG_STATE_HOME !== undefined && env.XDG_STATE_HOME !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
}

/** Where the PID file lives when neither --pid-file, AI_PROXY_PID_FILE nor the config names one. */
export function defaultPidFile(env: Env = process.env, root: boolean = isRoot()): string {
  if (env.RUNTIME_DIRECTORY) return join(env.RUNTIME_DIRECTORY.split(':')[0] as string, 'ai-proxy.pid');
  if (root) return '/run/ai-proxy/ai-proxy.pid';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'ai-proxy', 'ai-proxy.pid');
  return join(stateHome(env), 'ai-proxy', 'ai-proxy.pid');
}

export interface PidFileChoice {
  path: string;
  /** Where the choice came from, printed by `status` so nobody wonders which file was read. */
  origin: '--pid-file' | 'AI_PROXY_PID_FILE' | 'config' | 'default';
}

/** The control socket sits beside the PID file (DESIGN §3): ai-proxy.pid → ai-proxy.sock. */
export function controlSocketPath(pidFile: string): string {
  const base = pidFile.endsWith('.pid') ? pidFile.slice(0, -4) : pidFile;
  return `${base}.sock`;
}

/** Default daemon-mode log file: $LOGS_DIRECTORY (systemd), /var/log/ai-proxy (root), else $XDG_STATE_HOME/ai-proxy. */
export function defaultLogFile(env: Env = process.env, root: boolean = isRoot()): string {
  if (env.LOGS_DIRECTORY) return join(env.LOGS_DIRECTORY.split(':')[0] as string, 'ai-proxy.log');
  if (root) return '/var/log/ai-proxy/ai-proxy.log';
  return join(stateHome(env), 'ai-proxy', 'ai-proxy.log');
}

/** Default usage ledger: $STATE_DIRECTORY (systemd StateDirectory=), /var/lib/ai-proxy (root), else $XDG_STATE_HOME/ai-proxy. */
export function defaultLedgerFile(env: Env = process.env, root: boolean = isRoot()): string {
  if (env.STATE_DIRECTORY) return join(env.STATE_DIRECTORY.split(':')[0] as string, 'usage.db');
  if (root) return '/var/lib/ai-proxy/usage.db';
  return join(stateHome(env), 'ai-proxy', 'usage.db');
}

/** True when systemd started us (it sets INVOCATION_ID for every unit). */
export function underSystemd(env: Env = process.env): boolean {
  return Boolean(env.INVOCATION_ID) || Boolean(env.NOTIFY_SOCKET);
}

