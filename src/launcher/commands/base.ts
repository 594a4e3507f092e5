/**
 * The base of every ai-proxy command: a usage error found while the command runs (an option
 * that only makes sense with another) is a clipanion UsageError, printed like the ones found
 * while parsing, and exits 64 like them. clipanion itself would exit 1 for it.
 */
import { Command, UsageError } from 'clipanion';
import { ExitCode } from '../../shared/exit-codes.ts';

export abstract class AppCommand extends Command {
  /** The command's work; throws UsageError for a command line that cannot be acted on. */
  protected abstract run(): Promise<number>;

  override async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      this.context.stderr.write(this.cli.error(error, { command: this }));
      return ExitCode.USAGE;
    }
  }
}
