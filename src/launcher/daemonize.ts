/**
 * `run -d` (DESIGN §1): Node cannot fork(), so daemonizing is re-spawning the CLI detached (new
 * session, no terminal, stdio ignored) and waiting on an IPC channel until the launcher reports
 * `ready` or `failed`. The launcher's report is authoritative; this side never loads the config.
 */
import { spawn } from 'node:child_process';
import type { ErrorReport } from '../shared/errors.ts';
import type { DaemonReport } from '../shared/ipc.ts';
import type { RunOptions } from './supervisor.ts';

export const DAEMON_COMMAND = '__launcher';

export type DaemonOutcome = { ok: true; pid: number; url: string; pidFile: string; logFile: string | null } | { ok: false; error: ErrorReport };

export function startDaemon(options: RunOptions, waitMs: number): Promise<DaemonOutcome> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] as string, DAEMON_COMMAND, JSON.stringify(options)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    cwd: '/',
  });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: DaemonOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      // A launcher that neither served nor failed in time is stopped: it must not linger half-started.
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      settle({ ok: false, error: { code: 'E_STARTUP_TIMEOUT', message: `the gateway did not report ready within ${waitMs / 1000}s; the launcher was told to stop` } });
    }, waitMs);
    child.on('message', (message: DaemonReport) => {
      if (message.t === 'ready') settle({ ok: true, pid: message.pid, url: message.url, pidFile: message.pidFile, logFile: message.logFile });
      else settle({ ok: false, error: message.error });
    });
    child.on('error', (error) => settle({ ok: false, error: { code: 'E_INTERNAL', message: `cannot start the launcher: ${error.message}` } }));
    child.on('exit', (code, signal) =>
      settle({ ok: false, error: { code: 'E_SERVER_EXITED', message: `the launcher exited before reporting (${signal ?? `exit code ${code}`})` } }),
    );
  });
}

/** The launcher's side: report over the IPC channel the `run -d` command opened, then let it go. */
export function daemonReporter(): { ready(info: Omit<Extract<DaemonReport, { t: 'ready' }>, 't'>): void; failed(error: ErrorReport): void } {
  const send = (report: DaemonReport): void => {
    if (process.send === undefined || !process.connected) return;
    process.send(report, () => {
      if (process.connected) process.disconnect();
    });
  };
  return {
    ready: (info) => send({ t: 'ready', ...info }),
    failed: (error) => send({ t: 'failed', error }),
  };
}
