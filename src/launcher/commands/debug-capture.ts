import { resolve } from 'node:path';
import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { describeReport, toErrorReport, type ErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { locatePidFile } from '../../shared/config/pid-file-setting.ts';
import { runCapture, type CaptureResult } from '../capture-client.ts';
import { findInstance } from '../instance.ts';
import { InstanceCommand } from './instance-options.ts';
import { isDuration } from './option-types.ts';
import { report } from './report.ts';

/** The gateway's own bounds (capture-endpoint.ts): 1 to 1000 requests, 1 s to 1 h. */
const MAX_COUNT = 1_000;
const MAX_WAIT_MS = 3_600_000;

export class DebugCaptureCommand extends InstanceCommand {
  static override paths = [['debug', 'capture']];

  static override usage = Command.Usage({
    description: 'Record the next requests as the client sent them and as they went upstream',
    details: `
      Arms a capture in the running gateway (through its admin API, POST /admin/capture, with the config's \`admin.key\`) and writes the next N model requests that match to a file, one JSON object per line: the request as the client sent it (method, path, headers, body), each upstream attempt as the gateway sent it after translation (URL, headers, body) with the head of its answer (and the body of an error answer), and the head of the answer the client got (and its body when it was an error).

      Credentials never reach the file: Authorization, x-api-key, x-goog-api-key, cookies and every header named like a token or secret are replaced by "[redacted]", so is the \`key\` query parameter, and so is every secret in the config (client keys, upstream keys, the admin key) and the key the client presented, wherever it appears. Bodies are cut at 64 KiB (\`"truncated": true\`, with the full size in \`bytes\`). The file is created with mode 0600 and is never overwritten: it holds prompts.

      The instance is found as \`status\` finds it (\`--pid-file\`, \`-c\`); the admin key is read from the config file it runs (or \`-c\`), that one key only. Exits 0 when N requests were captured, 1 when the wait (\`--timeout\`, default 60s) ended first (the file keeps what was captured) or the capture could not start, 3 when no instance runs.
    `,
    examples: [
      ['Capture the next request', '$0 debug capture'],
      ['Capture two requests for one model into a file', '$0 debug capture --model gpt-4o --count 2 --output ./gpt-4o.jsonl'],
      ['Capture what the key named claude-code sends, for up to 5 minutes', '$0 debug capture --client claude-code --count 10 --timeout 5m'],
      ['Capture from a script and read the summary', '$0 debug capture --count 1 --json | jq .captured'],
    ],
  });

  model = Option.String('--model', { description: 'Only requests for this model id (as the client names it)' });
  client = Option.String('--client', { description: 'Only requests made with the client key of this name' });
  count = Option.String('--count', '1', { description: `How many requests to capture (1 to ${MAX_COUNT}, default 1)`, validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, MAX_COUNT)]) });
  output = Option.String('-o,--output', { description: 'File to write (default ai-proxy-capture-<time>.jsonl here); never overwritten' });
  timeout = Option.String('--timeout', { description: 'How long to wait for the requests, e.g. 30s or 5m (default 60s, at most 1h)', validator: isDuration() });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object (outcome, exit code, file, what was captured) instead of text' });

  protected override async run(): Promise<number> {
    const maxWaitMs = this.timeout ?? 60_000;
    const output = resolve(this.output ?? `ai-proxy-capture-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
    const failed = (outcome: string, exitCode: ExitCode, error: ErrorReport, extra: Record<string, unknown> = {}): number =>
      report(this.context, this.json, { command: 'debug capture', outcome, exitCode, error, ...extra }, `ai-proxy: ${describeReport(error)}`);
    if (maxWaitMs < 1_000 || maxWaitMs > MAX_WAIT_MS) throw new UsageError(`--timeout must be from 1s to 1h (got ${maxWaitMs} ms)`);
    const pidFile = await locatePidFile({ flag: this.pidFile, configFlag: this.config });
    const instance = findInstance(pidFile);
    if (instance.state !== 'present') return failed('not-running', ExitCode.NOT_RUNNING, { code: 'E_NOT_RUNNING', message: `not running (pid file ${instance.pidFile.path})` });
    let result: CaptureResult;
    try {
      result = await runCapture({
        socket: instance.socket,
        configFlag: this.config,
        output,
        model: this.model ?? null,
        client: this.client ?? null,
        count: this.count,
        maxWaitMs,
        env: process.env,
        onArmed: () => {
          if (!this.json) this.context.stderr.write(`capturing the next ${this.count} request${this.count === 1 ? '' : 's'}${this.model === undefined ? '' : ` for ${this.model}`}${this.client === undefined ? '' : ` from ${this.client}`} (up to ${Math.round(maxWaitMs / 1000)}s) into ${output}\n`);
        },
      });
    } catch (error) {
      return failed('failed', ExitCode.FAILURE, toErrorReport(error), { output });
    }
    const fields = { output: result.exchanges.length === 0 ? null : output, requested: result.requested, captured: result.exchanges.length, exchanges: result.exchanges, reason: result.reason };
    const lines = result.exchanges.map((e) => `  ${e.method} ${e.path} ${e.model} (${e.client ?? 'no key'}) → ${e.status ?? '-'}${e.upstream.map((u) => `; ${u.provider} ${u.status ?? 'no answer'}`).join('')}`);
    if (result.reason === 'count') {
      return report(this.context, this.json, { command: 'debug capture', outcome: 'captured', exitCode: ExitCode.OK, error: null, ...fields }, [`captured ${result.exchanges.length} request${result.exchanges.length === 1 ? '' : 's'} into ${output}`, ...lines].join('\n'));
    }
    const why = result.reason === 'timeout' ? `no more matching requests within ${Math.round(maxWaitMs / 1000)}s` : result.reason === 'shutdown' ? 'the gateway stopped or restarted its server' : 'the gateway ended the capture';
    const error: ErrorReport = { code: result.reason === 'timeout' ? 'E_CAPTURE_TIMEOUT' : 'E_CAPTURE_ENDED', message: `captured ${result.exchanges.length} of ${result.requested} requests: ${why}${result.exchanges.length === 0 ? '' : ` (they are in ${output})`}`, details: lines };
    return report(this.context, this.json, { command: 'debug capture', outcome: result.reason === 'timeout' ? 'timeout' : 'ended', exitCode: ExitCode.FAILURE, error, ...fields }, `ai-proxy: ${describeReport(error)}`);
  }
}
