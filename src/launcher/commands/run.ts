import { resolve } from 'node:path';
import { Command, Option, UsageError } from 'clipanion';
import { describeReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import type { RunOptions } from '../supervisor.ts';
import { isDuration } from './option-types.ts';
import { report } from './report.ts';
import { overridesFrom, RunOptionsCommand } from './run-options.ts';

/** How long the detached launcher may take to load the config and take the PID file; the startup deadline follows. */
const PREPARE_TIMEOUT_MS = 30_000;

export class RunCommand extends RunOptionsCommand {
  static override paths = [['run'], Command.Default];

  static override usage = Command.Usage({
    description: 'Run the gateway (in the foreground, or in the background with -d)',
    details: `
      In the foreground the gateway logs to the terminal; Ctrl-C (SIGINT) or SIGTERM stops it gracefully, a second Ctrl-C at once.

      With \`-d\` the command returns only once the gateway answers on its port, printing the launcher's PID and the URL; if anything fails first (bad config, port in use, an instance already running, unwritable PID or log path) it prints the reason and exits non-zero, leaving nothing behind. Daemon mode logs to a daily-rotated file.

      Settings come from flags, then \`AI_PROXY_*\` environment variables, then the config file, then defaults.
    `,
    examples: [
      ['Run on the embedded default config (127.0.0.1:8317, mock provider)', '$0'],
      ['Run a config file in the foreground', '$0 run -c /etc/ai-proxy/ai-proxy.yaml'],
      ['Start in the background and wait until it serves', '$0 run -d -c ./ai-proxy.yaml'],
      ['Listen on another port with debug logs', '$0 run --port 9000 --log-level debug'],
      ['Start in the background and read the outcome from a script', '$0 run -d --json | jq -r .pid'],
    ],
  });

  daemon = Option.Boolean('-d,--daemon', false, { description: 'Run in the background; return once the gateway serves' });
  startupTimeout = Option.String('--startup-timeout', { description: 'How long the gateway may take to serve before the start fails, e.g. 10s (overrides startup-timeout, default 30s)', validator: isDuration() });
  json = Option.Boolean('--json', false, { description: 'With -d: print one JSON object (outcome, pid, url, files, servers) instead of text' });

  protected override async run(): Promise<number> {
    if (this.json && !this.daemon) throw new UsageError('--json reports the outcome of a start in the background; use it with -d');
    const options: RunOptions = {
      configPath: this.config === undefined ? undefined : resolve(this.config),
      overrides: overridesFrom({
        host: this.host,
        port: this.port,
        logLevel: this.logLevel,
        logFile: this.logFile === undefined ? undefined : resolve(this.logFile),
        pidFile: this.pidFile === undefined ? undefined : resolve(this.pidFile),
        shutdownTimeout: this.shutdownTimeout,
      }),
      daemon: this.daemon,
      startupTimeoutMs: this.startupTimeout,
    };
    if (!this.daemon) {
      const { runLauncher } = await import('../run-launcher.ts');
      return runLauncher(options, {
        ready: () => undefined,
        failed: (error) => this.context.stderr.write(`ai-proxy: ${describeReport(error)}\n`),
      });
    }
    const { startDaemon } = await import('../daemonize.ts');
    const outcome = await startDaemon(options, PREPARE_TIMEOUT_MS);
    if (!outcome.ok) {
      return report(this.context, this.json, { command: 'run', outcome: 'failed', exitCode: ExitCode.FAILURE, error: outcome.error }, `ai-proxy: failed to start: ${describeReport(outcome.error)}`);
    }
    const { ok: _ok, ...started } = outcome;
    return report(
      this.context,
      this.json,
      { command: 'run', outcome: 'started', exitCode: ExitCode.OK, error: null, ...started },
      `ai-proxy started: pid ${outcome.pid}, serving on ${outcome.url}\n  pid file: ${outcome.pidFile}\n  log file: ${outcome.logFile ?? 'stdout'}`,
    );
  }
}
