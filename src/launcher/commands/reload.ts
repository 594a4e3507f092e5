import { Command, Option } from 'clipanion';
import { describeReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { callControl } from '../control-client.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { findInstance } from '../instance.ts';
import { InstanceCommand } from './instance-options.ts';

export class ReloadCommand extends InstanceCommand {
  static override paths = [['reload']];

  static override usage = Command.Usage({
    description: 'Reload the running gateway\'s config and wait for the verdict',
    details: `
      The running gateway re-reads its config file (and every \`\${file:…}\` secret), validates it exactly as \`validate\` does and swaps it in atomically; in-flight requests finish on the config they started with.

      Exits 0 when the new config is applied (printing its generation), 1 with the reason when it is rejected — the old config keeps serving — and 3 when no instance runs. A change that cannot be applied live (the listen address, the PID file) is rejected with that reason.

      SIGHUP and a change of the file on disk take the same path and log the same verdict; \`--no-wait\` only sends SIGHUP.
    `,
    examples: [
      ['Reload and wait for the verdict', '$0 reload'],
      ['Only signal the launcher (like kill -HUP)', '$0 reload --no-wait'],
    ],
  });

  wait = Option.Boolean('--wait', true, { description: 'Wait for the verdict (--no-wait only signals)' });

  override async execute(): Promise<number> {
    const instance = findInstance(await locatePidFile({ flag: this.pidFile, configFlag: this.config }));
    if (instance.state !== 'present') {
      this.context.stderr.write(`ai-proxy: not running (pid file ${instance.pidFile.path})\n`);
      return ExitCode.NOT_RUNNING;
    }
    if (!this.wait) {
      process.kill(instance.pid, 'SIGHUP');
      this.context.stdout.write(`sent SIGHUP to pid ${instance.pid}; the verdict goes to the log\n`);
      return ExitCode.OK;
    }
    try {
      const answer = await callControl(instance.socket, { cmd: 'reload' }, { timeoutMs: 120_000 });
      if (answer.type === 'error') {
        this.context.stderr.write(`ai-proxy: reload failed: ${describeReport(answer.error)}\n`);
        return ExitCode.FAILURE;
      }
      if (answer.type !== 'reloaded') throw new Error('unexpected answer on the control socket');
      const v = answer.verdict;
      if (!v.ok) {
        this.context.stderr.write(`ai-proxy: reload rejected; still serving generation ${v.generation}:\n${describeReport(v.error ?? { code: 'E_RELOAD_REJECTED', message: 'rejected' })}\n`);
        return ExitCode.FAILURE;
      }
      const changed = v.changed === undefined || v.changed.length === 0 ? 'no change' : `changed: ${v.changed.join(', ')}`;
      this.context.stdout.write(`reload applied: generation ${v.generation}, hash ${v.hash} (${changed})\n`);
      return ExitCode.OK;
    } catch (error) {
      this.context.stderr.write(`ai-proxy: ${(error as Error).message}\n`);
      return ExitCode.FAILURE;
    }
  }
}
