/**
 * How a command says what happened: a sentence for a person, or, with `--json`, one JSON object
 * on stdout for a script (cron, CI, Ansible). Every object has the same four fields, then the
 * command's own; fields are only ever added (docs/operations.md, "Scripting with --json"), so a
 * script written today keeps working when, say, a restart reports two server children.
 */
import type { BaseContext } from 'clipanion';
import type { ErrorReport } from '../../shared/errors.ts';
import type { ExitCode } from '../../shared/exit-codes.ts';

export interface CommandReport {
  command: 'run' | 'stop' | 'status' | 'reload' | 'restart' | 'validate' | 'debug capture';
  /** One word a script can switch on: started, failed, applied, rejected, signalled, stopped, forced, not-running, valid, invalid, running, dead, unknown, captured, timeout, ended. */
  outcome: string;
  /** The process's exit code, repeated so that a report saved to a file still says it. */
  exitCode: ExitCode;
  /** Why it failed (a stable code and a sentence); null when it did not. */
  error: ErrorReport | null;
  [field: string]: unknown;
}

/**
 * Prints the report: with `json`, the object on stdout; otherwise `text` — on stdout when the
 * command succeeded, on stderr when it did not. Returns the exit code, for `return report(…)`.
 */
export function report(context: BaseContext, json: boolean, result: CommandReport, text: string): ExitCode {
  if (json) context.stdout.write(`${JSON.stringify(result)}\n`);
  else if (text !== '') (result.error === null ? context.stdout : context.stderr).write(text.endsWith('\n') ? text : `${text}\n`);
  return result.exitCode;
}
