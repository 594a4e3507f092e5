import type { ExitCode } from '../shared/exit-codes.ts';
import { Supervisor, type Reporter, type RunOptions } from './supervisor.ts';

/** The launcher's whole life, for `run` in the foreground and for the detached launcher of `run -d`. */
export function runLauncher(options: RunOptions, reporter: Reporter): Promise<ExitCode> {
  return new Supervisor(options, reporter).run();
}
