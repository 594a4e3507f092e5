/**
 * The control socket protocol (DESIGN §3): newline-delimited JSON over a Unix stream socket
 * beside the PID file, mode 0600. The CLI sends one request with an id and reads answers with
 * the same id. `stop` answers twice: `stopping` at once, `stopped` when the server is gone.
 */
import type { ErrorReport } from '../shared/errors.ts';
import type { ConfigInfo, ListenInfo, ReloadVerdict, ServerInfo } from '../shared/ipc.ts';

export type ControlRequest =
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'reload' }
  | { id: number; cmd: 'stop'; timeoutMs: number | null }
  /** `drainTimeoutMs` overrides restart-drain-timeout for the old server; `force` cuts a previous restart's drain. */
  | { id: number; cmd: 'restart'; drainTimeoutMs: number | null; force: boolean };

/** A restart's outcome: the server that serves now (the new one, or the old one when it failed). */
export interface RestartVerdict {
  ok: boolean;
  source: 'control' | 'signal';
  at: string;
  pid: number | null;
  version: string | null;
  generation: number | null;
  hash: string | null;
  /** The server that drains now (ok), with what it had in flight at the handover. */
  previous: { pid: number | null; inFlight: number | null; streams: number | null } | null;
  /** Set when it failed: why; the old server was not disturbed. */
  error?: ErrorReport;
}

/** The running launcher's code against the code on disk: after an upgrade, a new launcher needs a stop and a start. */
export interface LauncherCode {
  version: string;
  build: string | null;
  onDisk: { version: string; build: string | null } | null;
  /** The code on disk is not the code this launcher runs. */
  outdated: boolean;
}

export interface StatusInfo {
  pid: number;
  serverPid: number | null;
  /** Every server child, the serving one first. */
  servers: ServerInfo[];
  version: string;
  launcher: LauncherCode;
  startedAt: string;
  uptimeSeconds: number;
  state: 'starting' | 'ready' | 'reloading' | 'restarting' | 'stopping';
  listen: ListenInfo | null;
  config: ConfigInfo | null;
  lastReload: ReloadVerdict | null;
  lastRestart: RestartVerdict | null;
  pidFile: string;
  logFile: string | null;
}

export type ControlResponse =
  | { id: number; type: 'status'; status: StatusInfo }
  | { id: number; type: 'reloaded'; verdict: ReloadVerdict }
  | { id: number; type: 'stopping' }
  | { id: number; type: 'stopped'; forced: boolean }
  | { id: number; type: 'restarting' }
  | { id: number; type: 'restarted'; verdict: RestartVerdict }
  | { id: number; type: 'error'; error: ErrorReport };
