import { Command, Option, UsageError } from 'clipanion';
import { AppError, describeReport, isAppError, toErrorReport } from '../../shared/errors.ts';
import { ExitCode } from '../../shared/exit-codes.ts';
import { AppCommand } from './base.ts';

export class UsageCommand extends AppCommand {
  static override paths = [['usage']];

  static override usage = Command.Usage({
    description: 'Show what the client keys used and spent, from the usage ledger',
    details: `
      Reads the usage ledger file directly (the gateway need not run, no admin key is needed): the file the config names in \`usage.file\`, else the default in the state directory. Prints one line per client key (or model, provider, day) with requests, tokens in, out, cached and reasoning, cost in USD and the requests whose model has no price (their cost is unknown, not zero), then the total. \`--json\` prints the same as \`/admin/usage\`; \`--csv\` exports every request since \`--since\`, one line each. The gateway writes in batches: the last second of requests may not be in the file yet.
    `,
    examples: [
      ['Spend per key over the last day', '$0 usage'],
      ['Per model over the last week', '$0 usage --since 7d --by model'],
      ['Per day since a date, as JSON', '$0 usage --since 2026-12-01 --by day --json'],
      ['Export a month of requests', '$0 usage --since 30d --csv > usage.csv'],
    ],
  });

  config = Option.String('-c,--config', { description: 'Config file (default: resolved as `run` does); names the ledger file' });
  file = Option.String('--file', { description: 'Ledger file to read, instead of the one the config names' });
  since = Option.String('--since', '24h', { description: 'Start: a duration back from now (24h, 7d) or a date / date-time (2026-12-01, UTC)' });
  by = Option.String('--by', 'key', { description: 'Group by key, model, provider or day (UTC)' });
  json = Option.Boolean('--json', false, { description: 'Print the report as one JSON object' });
  csv = Option.Boolean('--csv', false, { description: 'Print every request since --since as CSV instead of totals' });
  shared = Option.Boolean('--shared', false, { description: "The whole fleet's totals per key and day, from shared-state's Redis instead of this instance's ledger (--by key or day; --since counts whole UTC days)" });

  protected override async run(): Promise<number> {
    if (this.json && this.csv) throw new UsageError('--json and --csv cannot be combined');
    const { parseGrouping, parseSince, summarize, formatUsageTable, exportCsv } = await import('../../shared/usage/usage-report.ts');
    const { openLedgerForRead } = await import('../../shared/usage/ledger-file.ts');
    let since: number;
    let by: ReturnType<typeof parseGrouping>;
    try {
      since = parseSince(this.since, Date.now());
      by = parseGrouping(this.by);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (this.shared) return this.#fleet(since, by);
    try {
      const path = this.file ?? (await this.#ledgerFromConfig());
      const db = openLedgerForRead(path);
      try {
        if (this.csv) {
          exportCsv(db, since, (chunk) => this.context.stdout.write(chunk));
          return ExitCode.OK;
        }
        const report = summarize(db, since, by);
        if (this.json) this.context.stdout.write(`${JSON.stringify({ command: 'usage', outcome: 'ok', exitCode: ExitCode.OK, error: null, file: path, ...report })}\n`);
        else this.context.stdout.write(`ledger ${path}\n${formatUsageTable(report)}`);
        return ExitCode.OK;
      } catch (error) {
        // A damaged file: say which and why, without a stack trace.
        throw isAppError(error) ? error : new AppError('E_LEDGER', `cannot read the usage ledger ${path}: ${(error as Error).message}`);
      } finally {
        db.close();
      }
    } catch (error) {
      if (!isAppError(error)) throw error;
      const why = toErrorReport(error);
      if (this.json) this.context.stdout.write(`${JSON.stringify({ command: 'usage', outcome: 'failed', exitCode: error.exitCode, error: why })}\n`);
      else this.context.stderr.write(`${describeReport(why)}\n`);
      return error.exitCode;
    }
  }

  /** `--shared`: the totals every instance adds in Redis (docs/scaling.md). */
  async #fleet(since: number, by: string): Promise<number> {
    if (this.csv) throw new UsageError('--shared has totals per key and day only, not rows: --csv reads one instance\'s ledger');
    if (by !== 'key' && by !== 'day') throw new UsageError('--shared groups by key or day (Redis keeps totals per key and day)');
    try {
      const { loadConfig } = await import('../../shared/config/load.ts');
      const shared = loadConfig({ path: this.config }).config.sharedState;
      if (shared === undefined) throw new AppError('E_USAGE', '--shared reads the fleet\'s totals from shared-state.redis, and the config has no shared-state');
      const { fleetReport, readFleetUsage } = await import('../../shared/shared-state/usage-totals.ts');
      const { formatUsageTable } = await import('../../shared/usage/usage-report.ts');
      const where = new URL(shared.redis).host;
      let rows;
      try {
        rows = await readFleetUsage({ redis: shared.redis, prefix: shared.prefix, timeoutMs: Math.max(shared.commandTimeout, shared.connectTimeout) }, since, Date.now());
      } catch (error) {
        throw new AppError('E_SHARED_STATE', `cannot read the fleet's usage from Redis at ${where}: ${(error as Error).message.replace(/redis(s)?:\/\/\S*/g, 'redis://…')}`);
      }
      const report = fleetReport(rows, since, by);
      if (this.json) this.context.stdout.write(`${JSON.stringify({ command: 'usage', outcome: 'ok', exitCode: ExitCode.OK, error: null, shared: { redis: where, prefix: shared.prefix }, ...report })}\n`);
      else this.context.stdout.write(`fleet totals from Redis at ${where} (prefix ${shared.prefix})\n${formatUsageTable(report)}`);
      return ExitCode.OK;
    } catch (error) {
      if (!isAppError(error)) throw error;
      const why = toErrorReport(error);
      if (this.json) this.context.stdout.write(`${JSON.stringify({ command: 'usage', outcome: 'failed', exitCode: error.exitCode, error: why })}\n`);
      else this.context.stderr.write(`${describeReport(why)}\n`);
      return error.exitCode;
    }
  }

  async #ledgerFromConfig(): Promise<string> {
    const { loadConfig } = await import('../../shared/config/load.ts');
    const { defaultLedgerFile } = await import('../../shared/paths.ts');
    const config = loadConfig({ path: this.config }).config;
    return config.usage.file ?? defaultLedgerFile();
  }
}
