import { ExitCode } from './exit-codes.ts';

/** Stable codes for errors a user can cause. They appear in logs, `--json` output and IPC. */
export type ErrorCode =
  | 'E_CONFIG_NOT_FOUND'
  | 'E_CONFIG_READ'
  | 'E_CONFIG_PARSE'
  | 'E_CONFIG_INVALID'
  | 'E_CONFIG_UNSAFE'
  | 'E_RELOAD_REJECTED'
  | 'E_RESTART_REFUSED'
  | 'E_RESTART_FAILED'
  | 'E_PROTOCOL'
  | 'E_PID_LOCKED'
  | 'E_PID_FILE'
  | 'E_PORT_IN_USE'
  | 'E_LISTEN'
  | 'E_LOG_DIR'
  | 'E_STARTUP_TIMEOUT'
  | 'E_SERVER_EXITED'
  | 'E_NOT_RUNNING'
  | 'E_CONTROL'
  | 'E_ADMIN'
  | 'E_CAPTURE_OUTPUT'
  | 'E_CAPTURE_TIMEOUT'
  | 'E_CAPTURE_ENDED'
  | 'E_SHARED_STATE'
  | 'E_USAGE'
  | 'E_LEDGER';

/**
 * An error a user can cause and fix: a stable `code`, a sentence that says what happened and
 * what to do, and the exit code it maps to. Never printed with a stack trace.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  /** Further lines (e.g. one per config error), printed under the message. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { exitCode?: ExitCode; details?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.FAILURE;
    this.details = options.details ?? [];
  }

  /** The message followed by its details, one per line: what a user reads. */
  describe(): string {
    return this.details.length === 0 ? this.message : `${this.message}\n${this.details.map((d) => `  ${d}`).join('\n')}`;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A plain-data form of an error that crosses a process boundary (IPC, control socket). */
export interface ErrorReport {
  code: ErrorCode | 'E_INTERNAL';
  message: string;
  details?: string[];
}

export function toErrorReport(error: unknown): ErrorReport {
  if (isAppError(error)) return { code: error.code, message: error.message, details: [...error.details] };
  return { code: 'E_INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

export function describeReport(report: ErrorReport): string {
  const details = report.details ?? [];
  return details.length === 0 ? report.message : `${report.message}\n${details.map((d) => `  ${d}`).join('\n')}`;
}
