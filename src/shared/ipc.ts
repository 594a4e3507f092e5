/**
 * Messages on the two IPC channels (DESIGN §1):
 *   server ⇄ launcher   (child_process.fork channel)
 *   launcher → `run -d` (the detached launcher reports its fate to the command that started it)
 * Plain JSON objects tagged by `t`; both sides switch on it exhaustively.
 */
import type { ErrorReport } from './errors.ts';
import type { Config } from './config/schema.ts';
import type { LogLevel } from './log-levels.ts';

export interface ListenInfo {
  host: string;
  port: number;
  url: string;
}

export interface ConfigInfo {
  generation: number;
  hash: string;
  path: string | null;
}

export type ReloadSource = 'control' | 'signal' | 'watch';

export interface ReloadVerdict {
  ok: boolean;
  source: ReloadSource;
  at: string;
  generation: number;
  hash: string;
  /** Set when rejected: why. */
  error?: ErrorReport;
  /** Set when applied: keys that changed, e.g. ['providers', 'client-keys']. */
  changed?: string[];
}

/**
 * The settings the launcher acts on itself (the stop deadline, its own log lines). A reload
 * applied by the server carries them, so a changed shutdown-timeout or log level reaches the
 * launcher too instead of staying at the value it read at start.
 */
export interface LauncherSettings {
  shutdownTimeout: number;
  shutdownDelay: number;
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
}

export function launcherSettings(config: Config): LauncherSettings {
  return { shutdownTimeout: config.shutdownTimeout, shutdownDelay: config.shutdownDelay, logLevel: config.log.level, logFormat: config.log.format };
}

export type ServerMessage =
  | { t: 'ready'; listen: ListenInfo; config: ConfigInfo }
  | { t: 'fatal'; error: ErrorReport }
  | { t: 'reloading'; id: number | null; source: ReloadSource }
  | { t: 'reloaded'; id: number | null; verdict: ReloadVerdict; settings?: LauncherSettings }
  | { t: 'draining'; inFlight: number }
  | { t: 'pong'; id: number };

export type LauncherMessage =
  | { t: 'reload'; id: number; source: ReloadSource }
  | { t: 'shutdown'; timeoutMs: number; delayMs: number }
  | { t: 'force' }
  | { t: 'ping'; id: number };

/** A server child as the launcher reports it (status, run -d): a list, since a restart runs two for a while. */
export interface ServerInfo {
  pid: number | null;
  version: string;
  phase: 'starting' | 'serving' | 'draining';
  generation: number | null;
  hash: string | null;
}

export interface ReadyReport {
  pid: number;
  url: string;
  pidFile: string;
  logFile: string | null;
  servers: ServerInfo[];
}

export type DaemonReport = { t: 'starting'; deadlineMs: number } | ({ t: 'ready' } & ReadyReport) | { t: 'failed'; error: ErrorReport };
