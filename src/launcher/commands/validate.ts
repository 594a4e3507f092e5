import { Command, Option } from 'clipanion';
import { toErrorReport, describeReport, type ErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { checkFileTarget } from '../../shared/files.ts';
import type { LoadedConfig } from '../../shared/config/load.ts';
import { AppCommand } from './base.ts';
import { report } from './report.ts';

export class ValidateCommand extends AppCommand {
  static override paths = [['validate']];

  static override usage = Command.Usage({
    description: 'Check a config file without running it',
    details: `
      Uses the same code the server runs on reload: YAML syntax, the schema, secrets (\`\${VAR}\`, \`\${file:PATH}\`) and the safety rules. The PID file and log file the config names are checked too (a real file system, a regular file or a directory that can be created; nothing is created). Prints OK, or every error with file:line:col and the key path. Exits 0 when valid, 1 when not; with \`--json\`, one object says the same (\`outcome\`: valid or invalid, the errors in \`error.details\`).
    `,
    examples: [
      ['Check the default config', '$0 validate'],
      ['Check a file before installing it', '$0 validate -c ./ai-proxy.yaml'],
      ['Check in CI and keep the errors as data', '$0 validate -c ./ai-proxy.yaml --json'],
    ],
  });

  config = Option.String('-c,--config', { description: 'Config file (default: resolved as `run` does)' });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object (outcome, exit code, errors or a summary) instead of text' });

  protected override async run(): Promise<number> {
    const { loadConfig, describeConfig } = await import('../../shared/config/load.ts');
    let loaded: LoadedConfig;
    try {
      loaded = loadConfig({ path: this.config });
    } catch (error) {
      const why = toErrorReport(error);
      return report(this.context, this.json, { command: 'validate', outcome: 'invalid', exitCode: ExitCode.FAILURE, error: why }, describeReport(why));
    }
    const config = loaded.path;
    const problems = pathProblems(loaded);
    if (problems.length > 0) {
      const error: ErrorReport = { code: 'E_CONFIG_INVALID', message: `config ${config ?? 'embedded default'} names files ai-proxy cannot use (${problems.length})`, details: problems };
      return report(this.context, this.json, { command: 'validate', outcome: 'invalid', exitCode: ExitCode.FAILURE, error, config }, describeReport(error));
    }
    const { listen, providers, clientKeys } = loaded.config;
    const summary = { config, hash: loaded.hash, listen: { host: listen.host, port: listen.port }, providers: providers.length, clientKeys: clientKeys.length, pidFile: loaded.pidFile.path };
    return report(this.context, this.json, { command: 'validate', outcome: 'valid', exitCode: ExitCode.OK, error: null, ...summary }, describeConfig(loaded));
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
