import { Command, Option } from 'clipanion';
import { describeReport, toErrorReport, type ErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { callControl } from '../control-client.ts';
import { findInstance } from '../instance.ts';
import { InstanceCommand } from './instance-options.ts';
import { isDuration } from './option-types.ts';
import { report } from './report.ts';

/** A restart waits for the new server's ready (startup-timeout, 30 s by default) and a state handover; this bounds the wait generously. */
const RESTART_WAIT_MS = 10 * 60_000;

export class RestartCommand extends InstanceCommand {
  static override paths = [['restart']];

  static override usage = Command.Usage({
    description: 'Swap in a new server child, from the code and config on disk, without dropping a connection',
    details: `
      The launcher starts a new server child from the code and the config on disk, hands it the listening socket and what the gateway has learnt (upstream-key cooldowns, rate-limit windows), and waits for it to serve. Only then does the old child stop accepting and drain: its in-flight requests and streams finish within \`restart-drain-timeout\` (or \`--timeout\`), idle keep-alive connections close politely, and what outlives the deadline is cut with an error event.

      Use it to apply what a reload cannot (the listen address, \`user\`/\`group\`) and to run new code after an upgrade (\`npm install -g\` of a newer release, a new \`dist/\`). The launcher process itself keeps running (its PID and the PID file stay); a new launcher takes effect at the next start, and \`status\` says when the one running is older than the code on disk.

      Exits 0 once the new server serves (printing its pid, version and config generation); 1 with the reason when the new server failed before it was ready — the old one was not disturbed and still serves; 3 when no instance runs. A restart while the previous one's old server still drains is refused with how much it has left; \`--force\` cuts that drain first. SIGUSR2 to the launcher takes the same path (the verdict goes to the log).
    `,
    examples: [
      ['Restart after an upgrade or a listen change', '$0 restart'],
      ['Give the old server\'s streams at most 2 minutes', '$0 restart --timeout 2m'],
      ['Restart although the previous restart still drains', '$0 restart --force'],
      ['Restart from a deploy script and read the new pid', '$0 restart --json | jq .serverPid'],
    ],
  });

  timeout = Option.String('--timeout', { description: 'Drain deadline for the old server, e.g. 5m (default: the config\'s restart-drain-timeout)', validator: isDuration() });
  force = Option.Boolean('--force', false, { description: 'Cut the streams of a previous restart\'s old server if it still drains' });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object (outcome, exit code, the new server\'s pid, version, generation, or the reason) instead of text' });

  protected override async run(): Promise<number> {
    const pidFile = await locatePidFile({ flag: this.pidFile, configFlag: this.config });
    const instance = findInstance(pidFile);
    const files = { pidFile: pidFile.path, pidFileOrigin: pidFile.origin };
    const failed = (outcome: string, exitCode: ExitCode, error: ErrorReport, text: string, extra: Record<string, unknown> = {}): number =>
      report(this.context, this.json, { command: 'restart', outcome, exitCode, error, ...extra, ...files }, text);
    if (instance.state !== 'present') {
      const error: ErrorReport = { code: 'E_NOT_RUNNING', message: `not running (pid file ${instance.pidFile.path})` };
      return failed('not-running', ExitCode.NOT_RUNNING, error, `ai-proxy: ${error.message}`);
    }
    const pid = instance.pid;
    let answer;
    try {
      answer = await callControl(
        instance.socket,
        { cmd: 'restart', drainTimeoutMs: this.timeout ?? null, force: this.force },
        { timeoutMs: RESTART_WAIT_MS, done: (r) => r.type === 'restarted' || r.type === 'error' },
      );
    } catch (error) {
      const why = toErrorReport(error);
      return failed('failed', ExitCode.FAILURE, why, `ai-proxy: ${why.message}`, { pid });
    }
    if (answer.type === 'error') {
      const outcome = answer.error.code === 'E_RESTART_REFUSED' ? 'refused' : 'failed';
      return failed(outcome, ExitCode.FAILURE, answer.error, `ai-proxy: restart ${outcome}: ${describeReport(answer.error)}`, { pid });
    }
    if (answer.type !== 'restarted') {
      const error: ErrorReport = { code: 'E_CONTROL', message: `the launcher answered a restart with "${answer.type}" (a launcher older than this ai-proxy: stop and start it)` };
      return failed('failed', ExitCode.FAILURE, error, `ai-proxy: ${error.message}`, { pid });
    }
    const v = answer.verdict;
    const fields = { pid, serverPid: v.pid, version: v.version, generation: v.generation, hash: v.hash, previous: v.previous, at: v.at };
    if (!v.ok) {
      const error = v.error ?? { code: 'E_RESTART_FAILED', message: 'failed' };
      return failed('failed', ExitCode.FAILURE, error, `ai-proxy: restart failed; the old server (pid ${v.pid}) still serves:\n${describeReport(error)}`, fields);
    }
    const previous = v.previous === null ? '' : `; the old server (pid ${v.previous.pid}) drains ${v.previous.inFlight ?? '?'} requests (${v.previous.streams ?? '?'} streams)`;
    const text = `restarted: server pid ${v.pid}, version ${v.version}, generation ${v.generation}, hash ${v.hash}${previous}`;
    return report(this.context, this.json, { command: 'restart', outcome: 'restarted', exitCode: ExitCode.OK, error: null, ...fields, ...files }, text);
  }
}
