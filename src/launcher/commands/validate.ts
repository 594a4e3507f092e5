import { Command, Option } from 'clipanion';
import { describeReport, toErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { checkFileTarget } from '../../shared/files.ts';
import type { LoadedConfig } from '../../shared/config/load.ts';

export class ValidateCommand extends Command {
  static override paths = [['validate']];

  static override usage = Command.Usage({
    description: 'Check a config file without running it',
    details: `
      Uses the same code the server runs on reload: YAML syntax, the schema, secrets (\`\${VAR}\`, \`\${file:PATH}\`) and the safety rules. The PID file and log file the config names are checked too (a real file system, a regular file or a directory that can be created; nothing is created). Prints OK, or every error with file:line:col and the key path. Exits 0 when valid, 1 when not.
    `,
    examples: [
      ['Check the default config', '$0 validate'],
      ['Check a file before installing it', '$0 validate -c ./ai-proxy.yaml'],
    ],
  });

  config = Option.String('-c,--config', { description: 'Config file (default: resolved as `run` does)' });

  override async execute(): Promise<number> {
    const { loadConfig, describeConfig } = await import('../../shared/config/load.ts');
    let loaded: LoadedConfig;
    try {
      loaded = loadConfig({ path: this.config });
    } catch (error) {
      this.context.stderr.write(`${describeReport(toErrorReport(error))}\n`);
      return ExitCode.FAILURE;
    }
    const problems = pathProblems(loaded);
    if (problems.length > 0) {
      this.context.stderr.write(`config ${loaded.path ?? 'embedded default'} names files ai-proxy cannot use (${problems.length}):\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
      return ExitCode.FAILURE;
    }
    this.context.stdout.write(`${describeConfig(loaded)}\n`);
    return ExitCode.OK;
  }
}

/** The files the config itself names: the defaults depend on who runs the gateway, which validate cannot know. */
function pathProblems(loaded: LoadedConfig): string[] {
  const problems: string[] = [];
  if (loaded.pidFile.origin !== 'default') {
    const problem = checkFileTarget(loaded.pidFile.path, { what: 'PID file', followSymlink: false });
    if (problem !== null) problems.push(problem);
  }
  const log = loaded.config.log;
  if (log.file !== undefined) {
    const problem = checkFileTarget(log.file, { what: 'log file', followSymlink: true, allowCharDevice: log.rotate === 'external' });
    if (problem !== null) problems.push(problem);
  }
  return problems;
}
