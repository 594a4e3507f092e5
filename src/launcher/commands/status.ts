import { Command, Option } from 'clipanion';
import { AppError, toErrorReport, type ErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { report } from './report.ts';
import { callControl } from '../control-client.ts';
import type { StatusInfo } from '../control-protocol.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { findInstance } from '../instance.ts';
import { InstanceCommand } from './instance-options.ts';

export class StatusCommand extends InstanceCommand {
  static override paths = [['status']];

  static override usage = Command.Usage({
    description: 'Show whether the gateway runs, and how',
    details: `
      Prints the PID file it read, then the instance's PID, each server child (while a restart's old one drains there are two: pid, phase, version, config generation, requests and streams in flight), uptime, listen address, config file, config generation and hash, the last reload's and restart's verdicts, the version, and a note when the code on disk is newer than the running launcher's.

      Exit codes follow LSB: 0 running, 1 dead but the PID file is left, 3 not running, 4 unknown (the PID file is held but the control socket does not answer).
    `,
    examples: [
      ['Show the status', '$0 status'],
      ['Machine-readable status', '$0 status --json'],
    ],
  });

  json = Option.Boolean('--json', false, { description: 'Print one JSON object' });

  protected override async run(): Promise<number> {
    const pidFile = await locatePidFile({ flag: this.pidFile, configFlag: this.config });
    const instance = findInstance(pidFile);
    const print = (code: ExitCode, state: string, text: string, status: StatusInfo | null = null, extra: Record<string, unknown> = {}, error: ErrorReport | null = null): number => {
      // `state` (= `outcome`) is the LSB verdict scripts switch on; the running instance's own state is `phase`.
      // The text goes to stdout whatever the verdict: status reports a state, it does not fail.
      if (!this.json) {
        this.context.stdout.write(`pid file: ${pidFile.path} (${pidFile.origin})\n${text}\n`);
        return code;
      }
      const { state: phase, ...fields } = status ?? { state: undefined };
      return report(this.context, true, { command: 'status', outcome: state, exitCode: code, error, state, ...(phase === undefined ? {} : { phase }), ...extra, ...fields, pidFile: pidFile.path, pidFileOrigin: pidFile.origin }, '');
    };
    if (instance.state === 'absent') return print(ExitCode.NOT_RUNNING, 'not-running', 'ai-proxy is not running');
    if (instance.state === 'stale') {
      return print(ExitCode.FAILURE, 'dead', `ai-proxy is not running, but the PID file was left behind${instance.pid === null ? '' : ` by pid ${instance.pid}`} (stale; the next run takes it over)`, null, { pid: instance.pid });
    }
    try {
      const answer = await callControl(instance.socket, { cmd: 'status' }, { timeoutMs: 3_000 });
      if (answer.type !== 'status') throw new AppError('E_CONTROL', `the launcher answered a status request with "${answer.type}"`);
      return print(ExitCode.OK, 'running', describeStatus(answer.status), answer.status);
    } catch (error) {
      const why = toErrorReport(error);
      return print(ExitCode.UNKNOWN, 'unknown', `pid ${instance.pid} holds the PID file but does not answer on ${instance.socket}: ${why.message}`, null, { pid: instance.pid }, why);
    }
  }
}

function describeStatus(s: StatusInfo): string {
  const reload = s.lastReload === null ? 'none' : `${s.lastReload.ok ? 'applied' : 'rejected'} at ${s.lastReload.at} (${s.lastReload.source})${s.lastReload.ok ? '' : `: ${s.lastReload.error?.message ?? ''}`}`;
  const r = s.lastRestart ?? null;
  const restart = r === null ? 'none' : `${r.ok ? 'done' : 'failed'} at ${r.at} (${r.source})${r.ok ? '' : `: ${r.error?.message ?? ''}`}`;
  // An older launcher answers without these: its status still prints.
  const servers = (s.servers ?? []).map(
    (c) => `  server:     pid ${c.pid ?? '-'} ${c.phase}${c.since === null ? '' : ` since ${c.since}`}, version ${c.version}, generation ${c.generation ?? '-'}, ${c.inFlight ?? '?'} requests in flight (${c.streams ?? '?'} streams)`,
  );
  const code = s.launcher;
  const outdated =
    code?.outdated === true && code.onDisk !== null
      ? [`  note:       the code on disk (version ${code.onDisk.version}, build ${code.onDisk.build ?? '-'}) is newer than this launcher's (version ${code.version}, build ${code.build ?? '-'}): \`restart\` runs it in the server; the launcher itself takes it at the next stop and start`]
      : [];
  return [
    `ai-proxy is running (${s.state})`,
    `  pid:        ${s.pid} (server ${s.serverPid ?? '-'})`,
    ...servers,
    `  uptime:     ${formatUptime(s.uptimeSeconds)} (since ${s.startedAt})`,
    `  listen:     ${s.listen?.url ?? '-'}`,
    `  config:     ${s.config?.path ?? 'embedded default'} (generation ${s.config?.generation ?? '-'}, hash ${s.config?.hash ?? '-'})`,
    `  last reload: ${reload}`,
    `  last restart: ${restart}`,
    `  log file:   ${s.logFile ?? 'stdout'}`,
    `  version:    ${s.version}${code?.build == null ? '' : ` (build ${code.build})`}`,
    ...outdated,
  ].join('\n');
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [d > 0 ? `${d}d` : '', h > 0 ? `${h}h` : '', m > 0 ? `${m}m` : '', `${s}s`].join('');
}
