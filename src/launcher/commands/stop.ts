import { Command, Option } from 'clipanion';
import { ExitCode } from '../../shared/exit-codes.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { callControl } from '../control-client.ts';
import { findInstance } from '../instance.ts';
import { isProcessAlive } from '../pid-file.ts';
import { InstanceCommand } from './instance-options.ts';
import { isDuration } from './option-types.ts';
import { report } from './report.ts';

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

      Exit codes: 0 stopped cleanly, 2 stopped but forced (work was cut at the deadline), 3 not running, 1 could not stop it. With \`--json\`, one object says the same (\`outcome\`: stopped, forced, not-running or failed).
    `,
    examples: [
      ['Stop gracefully', '$0 stop'],
      ['Give in-flight streams at most 5 seconds', '$0 stop --timeout 5s'],
      ['Stop from a script and read the verdict', '$0 stop --json'],
    ],
  });

  timeout = Option.String('--timeout', { description: 'Shutdown timeout for this stop, e.g. 10s (default: the config\'s shutdown-timeout)', validator: isDuration() });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object (outcome, exit code, pid) instead of text' });

  protected override async run(): Promise<number> {
    const timeoutMs = this.timeout ?? null;
    const pidFile = await locatePidFile({ flag: this.pidFile, configFlag: this.config });
    const instance = findInstance(pidFile);
    const files = { pidFile: pidFile.path, pidFileOrigin: pidFile.origin };
    if (instance.state !== 'present') {
      // Not an error for `stop` (the goal state holds), so on stdout; LSB's 3 says it.
      const text = `ai-proxy is not running (pid file ${instance.pidFile.path}${instance.state === 'stale' ? ', stale' : ''})`;
      return report(this.context, this.json, { command: 'stop', outcome: 'not-running', exitCode: ExitCode.NOT_RUNNING, error: null, pid: null, ...files }, text);
    }
    let forced = false;
    try {
      // The launcher enforces the deadline itself (and kills a server that outlives it), so this wait is long and bounded.
      const answer = await callControl(instance.socket, { cmd: 'stop', timeoutMs }, { timeoutMs: (timeoutMs ?? 600_000) + 30_000, firstAnswerMs: ACK_WAIT_MS, done: (r) => r.type === 'stopped' || r.type === 'error' });
      if (answer.type === 'stopped') forced = answer.forced;
    } catch {
      // No control socket, or no sensible answer on it: fall back to the signal systemd would send.
      if (isProcessAlive(instance.pid)) process.kill(instance.pid, 'SIGTERM');
    }
    const pid = instance.pid;
    if (!(await waitForExit(pid, (timeoutMs ?? 0) + EXIT_WAIT_MS))) {
      const error = { code: 'E_CONTROL' as const, message: `pid ${pid} is still running` };
      return report(this.context, this.json, { command: 'stop', outcome: 'failed', exitCode: ExitCode.FAILURE, error, pid, ...files }, `ai-proxy: ${error.message}`);
    }
    const exitCode = forced ? ExitCode.FORCED : ExitCode.OK;
    const text = forced ? `ai-proxy stopped (pid ${pid}), forced: in-flight work was cut at the deadline` : `ai-proxy stopped (pid ${pid})`;
    return report(this.context, this.json, { command: 'stop', outcome: forced ? 'forced' : 'stopped', exitCode, error: null, pid, ...files }, text);
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
