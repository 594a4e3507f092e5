import { Command, Option } from 'clipanion';
import type { RunOptions } from '../supervisor.ts';
import { DAEMON_COMMAND } from '../daemonize.ts';

/** The detached launcher `run -d` starts; not for people (no usage, so hidden from --help). */
export class LauncherCommand extends Command {
  static override paths = [[DAEMON_COMMAND]];

  options = Option.String({ required: true });

  override async execute(): Promise<number> {
    const { runLauncher } = await import('../run-launcher.ts');
    const { daemonReporter } = await import('../daemonize.ts');
    return runLauncher(JSON.parse(this.options) as RunOptions, daemonReporter());
  }
}
