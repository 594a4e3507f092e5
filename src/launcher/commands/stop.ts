import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { ExitCode } from '../../shared/exit-codes.ts';
import { parseDuration } from '../../shared/config/units.ts';
import { callControl } from '../control-client.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { findInstance } from '../instance.ts';
import { isProcessAlive } from '../pid-file.ts';
import { InstanceCommand } from './instance-options.ts';

/** How long stop waits for the launcher process itself to be gone once it said it stopped. */
const EXIT_WAIT_MS = 10_000;
/** The launcher acknowledges a stop at once; without that, it is hung or stopped and gets SIGTERM instead. */
const ACK_WAIT_MS = 3_000;

export class StopCommand extends InstanceCommand {
  static override paths = [['stop']];

  static override usage = Command.Usage({
    description: 'Stop the running gateway gracefully',
    details: `
      In-flight requests and streams get the shutdown timeout to finish (the config's \`shutdown-timeout\`, or \`--timeout\`); what outlives it is cut. Returns once both processes are gone and the PID file is removed.

      Exit codes: 0 stopped cleanly, 2 stopped but forced (work was cut at the deadline), 3 not running, 1 could not stop it.
    `,
    examples: [
      ['Stop gracefully', '$0 stop'],
      ['Give in-flight streams at most 5 seconds', '$0 stop --timeout 5s'],
    ],
  });

  timeout = Option.String('--timeout', { description: 'Shutdown timeout for this stop, e.g. 10s (default: the config\'s shutdown-timeout)', validator: t.isString() });

  override async execute(): Promise<number> {
    const timeoutMs = this.timeout === undefined ? null : parseDuration(this.timeout);
    if (this.timeout !== undefined && timeoutMs === null) {
      this.context.stderr.write(`ai-proxy: --timeout: expected a duration such as 10s\n`);
      return ExitCode.USAGE;
    }
    const instance = findInstance(await locatePidFile({ flag: this.pidFile, configFlag: this.config }));
    if (instance.state !== 'present') {
      this.context.stdout.write(`ai-proxy is not running (pid file ${instance.pidFile.path}${instance.state === 'stale' ? ', stale' : ''})\n`);
      return ExitCode.NOT_RUNNING;
    }
    let forced = false;
    try {
      // The launcher enforces the deadline itself (and kills a server that outlives it), so this wait is long and bounded.
      const answer = await callControl(instance.socket, { cmd: 'stop', timeoutMs }, { timeoutMs: (timeoutMs ?? 600_000) + 30_000, firstAnswerMs: ACK_WAIT_MS, done: (r) => r.type === 'stopped' || r.type === 'error' });
      if (answer.type === 'stopped') forced = answer.forced;
    } catch {
      // No control socket: fall back to the signal systemd would send.
      if (isProcessAlive(instance.pid)) process.kill(instance.pid, 'SIGTERM');
    }
    if (!(await waitForExit(instance.pid, (timeoutMs ?? 0) + EXIT_WAIT_MS))) {
      this.context.stderr.write(`ai-proxy: pid ${instance.pid} is still running\n`);
      return ExitCode.FAILURE;
    }
    this.context.stdout.write(forced ? `ai-proxy stopped (pid ${instance.pid}), forced: in-flight work was cut at the deadline\n` : `ai-proxy stopped (pid ${instance.pid})\n`);
    return forced ? ExitCode.FORCED : ExitCode.OK;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 100);
  }
  return true;
}
