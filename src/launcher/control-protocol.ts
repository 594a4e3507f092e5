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
  | { id: number; cmd: 'stop'; timeoutMs: number | null };

export interface StatusInfo {
  pid: number;
  serverPid: number | null;
  /** Every server child, the serving one first. */
  servers: ServerInfo[];
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  state: 'starting' | 'ready' | 'reloading' | 'stopping';
  listen: ListenInfo | null;
  config: ConfigInfo | null;
  lastReload: ReloadVerdict | null;
  pidFile: string;
  logFile: string | null;
}

export type ControlResponse =
  | { id: number; type: 'status'; status: StatusInfo }
  | { id: number; type: 'reloaded'; verdict: ReloadVerdict }
  | { id: number; type: 'stopping' }
  | { id: number; type: 'stopped'; forced: boolean }
  | { id: number; type: 'error'; error: ErrorReport };
