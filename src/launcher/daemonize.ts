/**
 * `run -d` (DESIGN §1): Node cannot fork(), so daemonizing is re-spawning the CLI detached (new
 * session, no terminal, stdio ignored) and waiting on an IPC channel until the launcher reports
 * `ready` or `failed`. The launcher's report is authoritative; this side never loads the config.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ErrorReport } from '../shared/errors.ts';
import type { DaemonReport, ReadyReport } from '../shared/ipc.ts';
import type { Reporter, RunOptions } from './supervisor.ts';

/** Marks the detached launcher's command line, so that `ps` (and tests) can tell it apart. */
export const DAEMON_LABEL = '__launcher';

export type DaemonOutcome = ({ ok: true } & ReadyReport) | { ok: false; error: ErrorReport };

/** Beyond the launcher's own startup deadline: time for it to kill the server, clean up and report. */
const REPORT_GRACE_MS = 5_000;
/** After SIGTERM, a launcher that neither reported nor exited gets this long before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * Starts the detached launcher and waits for its report. `prepareMs` bounds the launcher's own
 * preparation (config, PID file, log file); once it says `starting`, the wait follows the
 * startup deadline it announced (the config's startup-timeout, or --startup-timeout), so the
 * launcher, which enforces that deadline and cleans up after it, always reports first. Only a
 * launcher that hangs meets this side's deadline: it is stopped, then killed.
 */
export function startDaemon(options: RunOptions, prepareMs: number): Promise<DaemonOutcome> {
  const entry = fileURLToPath(new URL('./launcher.js', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, entry, DAEMON_LABEL, JSON.stringify(options)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    // The caller's directory, so that relative paths (AI_PROXY_CONFIG, AI_PROXY_PID_FILE, …) mean
    // what they mean to `status` run from the same place; the launcher moves to / once it has them.
  });
  return new Promise((resolve) => {
    let settled = false;
    let exited = false;
    let timedOut: ErrorReport | null = null;
    let failure: ErrorReport | null = null;
    const settle = (outcome: DaemonOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(outcome);
    };
    const giveUp = (waitedMs: number): void => {
      // A launcher that neither served nor failed in time must not linger half-started.
      const pid = child.pid;
      const error: ErrorReport = { code: 'E_STARTUP_TIMEOUT', message: `the launcher (pid ${pid ?? '?'}) did not report within ${waitedMs / 1000}s; it was stopped` };
      timedOut = error;
      if (pid === undefined || exited) return settle({ ok: false, error });
      signal(pid, 'SIGTERM');
      setTimeout(() => {
        if (!exited) signal(pid, 'SIGKILL');
        settle({ ok: false, error });
      }, KILL_GRACE_MS);
    };
    let timer = setTimeout(() => giveUp(prepareMs), prepareMs);
    child.on('message', (message: DaemonReport) => {
      if (message.t === 'starting') {
        clearTimeout(timer);
        const waitMs = message.deadlineMs + REPORT_GRACE_MS;
        timer = setTimeout(() => giveUp(waitMs), waitMs);
      } else if (message.t === 'ready') {
        const { t: _t, ...ready } = message;
        settle({ ok: true, ...ready });
      } else {
        // It cleaned up before reporting and exits now: return once it has, so that nothing is left.
        failure = message.error;
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
        }, KILL_GRACE_MS);
      }
    });
    child.on('error', (error) => settle({ ok: false, error: { code: 'E_INTERNAL', message: `cannot start the launcher: ${error.message}` } }));
    child.on('exit', (code, sig) => {
      exited = true;
      settle({ ok: false, error: failure ?? timedOut ?? { code: 'E_SERVER_EXITED', message: `the launcher exited before reporting (${sig ?? `exit code ${code}`})` } });
    });
  });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** The launcher's side: report over the IPC channel the `run -d` command opened; the last report lets it go. */
export function daemonReporter(): Reporter {
  const send = (report: DaemonReport, last: boolean): void => {
    if (process.send === undefined || !process.connected) return;
    process.send(report, () => {
      if (last && process.connected) process.disconnect();
    });
  };
  return {
    starting: (deadlineMs) => send({ t: 'starting', deadlineMs }, false),
    ready: (info) => send({ t: 'ready', ...info }, true),
    failed: (error) => send({ t: 'failed', error }, true),
  };
}
