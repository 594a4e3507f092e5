import { Command } from 'clipanion';
import { ExitCode } from '../../shared/exit-codes.ts';
import { unitForThisInstallation } from '../systemd-unit.ts';
import { AppCommand } from './base.ts';

export class SystemdUnitCommand extends AppCommand {
  static override paths = [['systemd-unit']];

  static override usage = Command.Usage({
    description: 'Print the systemd unit for this installation',
    details: `
      Prints the shipped unit (etc/systemd/ai-proxy.service) with this installation's paths: the node that runs this command and the package it runs from, both by absolute path, since systemd's PATH does not include nvm, /opt or ~/.local. Warnings (a path the unit's hardening hides from the service) go to stderr.

      Install it, then adjust settings with \`systemctl edit ai-proxy\` (a drop-in survives the next install of the unit).
    `,
    examples: [
      ['Install the unit', '$0 systemd-unit > /etc/systemd/system/ai-proxy.service && systemctl daemon-reload'],
      ['Look at it first', '$0 systemd-unit | less'],
    ],
  });

  protected override async run(): Promise<number> {
    const unit = unitForThisInstallation();
    this.context.stdout.write(unit.text);
    for (const warning of unit.warnings) this.context.stderr.write(`ai-proxy: warning: ${warning}\n`);
    return ExitCode.OK;
  }
}
