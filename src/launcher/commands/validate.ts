import { Command, Option } from 'clipanion';
import { describeReport, toErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';

export class ValidateCommand extends Command {
  static override paths = [['validate']];

  static override usage = Command.Usage({
    description: 'Check a config file without running it',
    details: `
      Uses the same code the server runs on reload: YAML syntax, the schema, secrets (\`\${VAR}\`, \`\${file:PATH}\`) and the safety rules. Prints OK, or every error with file:line:col and the key path. Exits 0 when valid, 1 when not.
    `,
    examples: [
      ['Check the default config', '$0 validate'],
      ['Check a file before installing it', '$0 validate -c ./ai-proxy.yaml'],
    ],
  });

  config = Option.String('-c,--config', { description: 'Config file (default: resolved as `run` does)' });

  override async execute(): Promise<number> {
    const { loadConfig, describeConfig } = await import('../../shared/config/load.ts');
    try {
      const loaded = loadConfig({ path: this.config });
      this.context.stdout.write(`${describeConfig(loaded)}\n`);
      return ExitCode.OK;
    } catch (error) {
      this.context.stderr.write(`${describeReport(toErrorReport(error))}\n`);
      return ExitCode.FAILURE;
    }
  }
}
