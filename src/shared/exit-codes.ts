/**
 * Every exit code ai-proxy uses, in one table. The README renders the same facts.
 * `status` follows the LSB convention (0 running, 1 dead with PID file, 3 not running, 4 unknown);
 * the other commands reuse those numbers where the meaning coincides, as Caddy does for its own.
 */
export const ExitCode = {
  /** Success: serving, stopped cleanly, reload applied, config valid. */
  OK: 0,
  /** Failure: startup failed, config invalid, reload rejected, server crashed; for `status`: dead but the PID file is left. */
  FAILURE: 1,
  /** Forced: the shutdown deadline passed and in-flight work was cut or the server killed. */
  FORCED: 2,
  /** Not running: no instance holds the PID file. */
  NOT_RUNNING: 3,
  /** Unknown: a process holds the PID file but does not answer on its control socket. */
  UNKNOWN: 4,
  /** Usage: the command line itself is wrong. */
  USAGE: 64,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const exitCodeTable: ReadonlyArray<{ code: ExitCode; meaning: string }> = [
  { code: ExitCode.OK, meaning: 'success: serving, stopped cleanly, reload applied, config valid' },
  { code: ExitCode.FAILURE, meaning: 'failure: startup failed, config invalid, reload rejected, server crashed (status: dead, PID file left)' },
  { code: ExitCode.FORCED, meaning: 'stop was forced: the shutdown deadline passed and in-flight work was cut' },
  { code: ExitCode.NOT_RUNNING, meaning: 'not running: no instance holds the PID file' },
  { code: ExitCode.UNKNOWN, meaning: 'unknown: the PID file is held but the control socket does not answer' },
  { code: ExitCode.USAGE, meaning: 'usage error on the command line' },
];
