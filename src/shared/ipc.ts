/**
 * Messages on the two IPC channels (DESIGN §1):
 *   server ⇄ launcher   (child_process.fork channel)
 *   launcher → `run -d` (the detached launcher reports its fate to the command that started it)
 * Plain JSON objects tagged by `t`; both sides switch on it exhaustively.
 */
import type { ErrorReport } from './errors.ts';
import type { LoadedConfig } from './config/load.ts';
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
 * The settings the launcher acts on itself (the stop deadline, its own log lines). The launcher
 * loads every config (DESIGN §6: one loader, run as the launcher's user), so it takes them from
 * the config it hands the server, at start and with each applied reload.
 */
export interface LauncherSettings {
  shutdownTimeout: number;
  shutdownDelay: number;
  restartDrainTimeout: number;
  startupTimeout: number;
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
}

export function launcherSettings(config: Config): LauncherSettings {
  return {
    shutdownTimeout: config.shutdownTimeout,
    shutdownDelay: config.shutdownDelay,
    restartDrainTimeout: config.restartDrainTimeout,
    startupTimeout: config.startupTimeout,
    logLevel: config.log.level,
    logFormat: config.log.format,
  };
}

/**
 * The version of the messages below. A server child built from other code than the launcher's
 * (a restart after an upgrade) says which it speaks before anything else; a launcher refuses a
 * child that speaks another, rather than half-working with it.
 */
export const IPC_PROTOCOL = 2;

/**
 * What the gateway has learnt and a new server child must not forget (credential cooldowns and
 * rotation, rate-limit windows, budgets): opaque to the launcher, which only relays it from the
 * old child to the new one. `full` when a restart begins; `delta` (what changed since that full
 * one) from the old child when it has drained, so nothing it counted meanwhile is lost.
 */
export interface GatewayState {
  kind: 'full' | 'delta';
  /** Epoch ms when taken. */
  at: number;
  /** One entry per stateful part of the gateway, each in its own shape. */
  sections: Record<string, unknown>;
}

export interface DrainReport {
  /** Requests that finished during the drain, streams among them. */
  finished: number;
  streams: number;
  /** Requests cut at the drain deadline. */
  cut: number;
}

export type ServerMessage =
  | { t: 'hello'; protocol: number; version: string }
  | { t: 'ready'; listen: ListenInfo; config: ConfigInfo }
  | { t: 'fatal'; error: ErrorReport }
  | { t: 'reloaded'; id: number; verdict: ReloadVerdict }
  | { t: 'reload-request'; source: 'signal' }
  | { t: 'draining'; inFlight: number }
  | { t: 'drained'; report: DrainReport }
  | { t: 'state'; id: number | null; state: GatewayState }
  | { t: 'pong'; id: number; inFlight: number; streams: number };

export type LauncherMessage =
  | { t: 'start'; config: LoadedConfig; generation: number; state: GatewayState | null }
  | { t: 'reload'; id: number; source: ReloadSource; config: LoadedConfig }
  /** A reload the launcher rejected itself (the config did not load): for the server's reload metric. */
  | { t: 'reload-rejected'; source: ReloadSource }
  | { t: 'shutdown'; timeoutMs: number; delayMs: number }
  | { t: 'drain'; timeoutMs: number }
  | { t: 'force' }
  | { t: 'ping'; id: number }
  | { t: 'export-state'; id: number }
  | { t: 'merge-state'; state: GatewayState };

/** A server child as the launcher reports it (status, run -d): a list, since a restart runs two for a while. */
export interface ServerInfo {
  pid: number | null;
  version: string;
  phase: 'starting' | 'serving' | 'draining';
  generation: number | null;
  hash: string | null;
  /** Requests and streams in flight, as the child last said (null before it answered). */
  inFlight: number | null;
  streams: number | null;
  /** Since when it serves (or drains), ISO time; null while starting. */
  since: string | null;
}

export interface ReadyReport {
  pid: number;
  url: string;
  pidFile: string;
  logFile: string | null;
  servers: ServerInfo[];
}

export type DaemonReport = { t: 'starting'; deadlineMs: number } | ({ t: 'ready' } & ReadyReport) | { t: 'failed'; error: ErrorReport };
