// The entry point only dispatches commands (DESIGN §2); everything else lives in modules.
import '../shared/early-signals.ts';
import { Builtins, Cli } from 'clipanion';
import { ExitCode } from '../shared/exit-codes.ts';
import { releaseSignals } from '../shared/signals.ts';
import { version } from '../shared/package-files.ts';
import { DebugCaptureCommand } from './commands/debug-capture.ts';
import { ReloadCommand } from './commands/reload.ts';
import { RestartCommand } from './commands/restart.ts';
import { RunCommand } from './commands/run.ts';
import { StatusCommand } from './commands/status.ts';
import { StopCommand } from './commands/stop.ts';
import { SystemdUnitCommand } from './commands/systemd-unit.ts';
import { UsageCommand } from './commands/usage.ts';
import { ValidateCommand } from './commands/validate.ts';

const cli = new Cli({ binaryLabel: 'ai-proxy', binaryName: 'ai-proxy', binaryVersion: version(), enableColors: process.stdout.isTTY === true && !process.env.NO_COLOR });
for (const command of [RunCommand, StopCommand, StatusCommand, ReloadCommand, RestartCommand, ValidateCommand, SystemdUnitCommand, UsageCommand, DebugCaptureCommand, Builtins.HelpCommand, Builtins.VersionCommand]) {
  cli.register(command);
}

const args = process.argv.slice(2);
let command;
try {
  command = cli.process(args);
} catch (error) {
  releaseSignals();
  process.stderr.write(cli.error(error));
  process.exit(ExitCode.USAGE);
}
// Only the launcher keeps the early signal handlers; short commands answer Ctrl-C the usual way.
if (!(command instanceof RunCommand && !command.daemon)) releaseSignals();
const code = await cli.run(command, Cli.defaultContext);
process.exit(code);
