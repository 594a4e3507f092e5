import { Command, Option } from 'clipanion';
import { describeReport, toErrorReport, type ErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { callControl } from '../control-client.ts';
import { findInstance } from '../instance.ts';
import { InstanceCommand } from './instance-options.ts';
import { report } from './report.ts';

export class ReloadCommand extends InstanceCommand {
  static override paths = [['reload']];

  static override usage = Command.Usage({
    description: 'Reload the running gateway\'s config and wait for the verdict',
    details: `
      The running gateway re-reads its config file (and every \`\${file:…}\` secret), validates it exactly as \`validate\` does and swaps it in atomically; in-flight requests finish on the config they started with.

      Exits 0 when the new config is applied (printing its generation), 1 with the reason when it is rejected — the old config keeps serving — and 3 when no instance runs. A change that cannot be applied live (the listen address, the PID file) is rejected with that reason.

      SIGHUP and a change of the file on disk take the same path and log the same verdict; \`--no-wait\` only sends SIGHUP. With \`--json\`, one object carries the verdict (\`outcome\`: applied, rejected, signalled, not-running or failed).
    `,
    examples: [
      ['Reload and wait for the verdict', '$0 reload'],
      ['Only signal the launcher (like kill -HUP)', '$0 reload --no-wait'],
      ['Reload from a deploy script and read the new generation', '$0 reload --json | jq .generation'],
    ],
  });

  wait = Option.Boolean('--wait', true, { description: 'Wait for the verdict (--no-wait only signals)' });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object (outcome, exit code, generation, hash, changed keys or the reason) instead of text' });

  protected override async run(): Promise<number> {
    const pidFile = await locatePidFile({ flag: this.pidFile, configFlag: this.config });
    const instance = findInstance(pidFile);
    const files = { pidFile: pidFile.path, pidFileOrigin: pidFile.origin };
    const failed = (outcome: string, exitCode: ExitCode, error: ErrorReport, text: string, extra: Record<string, unknown> = {}): number =>
      report(this.context, this.json, { command: 'reload', outcome, exitCode, error, ...extra, ...files }, text);
    if (instance.state !== 'present') {
      const error: ErrorReport = { code: 'E_NOT_RUNNING', message: `not running (pid file ${instance.pidFile.path})` };
      return failed('not-running', ExitCode.NOT_RUNNING, error, `ai-proxy: ${error.message}`);
    }
    if (!this.wait) {
      process.kill(instance.pid, 'SIGHUP');
      return report(this.context, this.json, { command: 'reload', outcome: 'signalled', exitCode: ExitCode.OK, error: null, pid: instance.pid, ...files }, `sent SIGHUP to pid ${instance.pid}; the verdict goes to the log`);
    }
    let answer;
    try {
      answer = await callControl(instance.socket, { cmd: 'reload' }, { timeoutMs: 120_000 });
    } catch (error) {
      const why = toErrorReport(error);
      return failed('failed', ExitCode.FAILURE, why, `ai-proxy: ${why.message}`, { pid: instance.pid });
    }
    if (answer.type === 'error') return failed('failed', ExitCode.FAILURE, answer.error, `ai-proxy: reload failed: ${describeReport(answer.error)}`, { pid: instance.pid });
    if (answer.type !== 'reloaded') {
      const error: ErrorReport = { code: 'E_CONTROL', message: `the launcher answered a reload with "${answer.type}"` };
      return failed('failed', ExitCode.FAILURE, error, `ai-proxy: ${error.message}`, { pid: instance.pid });
    }
    const v = answer.verdict;
    const verdict = { pid: instance.pid, generation: v.generation, hash: v.hash, source: v.source, at: v.at };
    if (!v.ok) {
      const error = v.error ?? { code: 'E_RELOAD_REJECTED', message: 'rejected' };
      return failed('rejected', ExitCode.FAILURE, error, `ai-proxy: reload rejected; still serving generation ${v.generation}:\n${describeReport(error)}`, verdict);
    }
    const changed = v.changed ?? [];
    const text = `reload applied: generation ${v.generation}, hash ${v.hash} (${changed.length === 0 ? 'no change' : `changed: ${changed.join(', ')}`})`;
    return report(this.context, this.json, { command: 'reload', outcome: 'applied', exitCode: ExitCode.OK, error: null, ...verdict, changed, ...files }, text);
  }
}
