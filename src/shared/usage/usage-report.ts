/**
 * Summaries of the usage ledger: totals per client key, model, provider or day since a point in
 * time. One query shape serves `ai-proxy usage` (text, JSON, CSV) and `/admin/usage` (JSON), so
 * the two can never disagree.
 */
import { AppError } from '../errors.ts';
import { parseDuration } from '../config/units.ts';
import { LEDGER_COLUMNS, type Database } from './ledger-file.ts';

export const usageGroupings = ['key', 'model', 'provider', 'day'] as const;
export type UsageGrouping = (typeof usageGroupings)[number];

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  /** USD over the priced requests. */
  cost: number;
  /** Requests that used tokens of a model without a price: their cost is unknown, not zero. */
  unpriced: number;
}

export interface UsageReport {
  /** Epoch ms the report starts at. */
  since: number;
  by: UsageGrouping;
  groups: Array<{ key: string } & UsageTotals>;
  total: UsageTotals;
}

const groupExpression: Record<UsageGrouping, string> = {
  key: 'client',
  // The configured model id when it resolved; else what the client asked for.
  model: "COALESCE(resolved_model, model, '-')",
  provider: "COALESCE(provider, '-')",
  day: "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')",
};

/**
 * `--since`: a duration back from now (`24h`, `7d`, `30m`) or a date / date-time (`2026-12-01`,
 * UTC when no offset is given). Anything else is a usage error, at once.
 */
export function parseSince(text: string, now: number): number {
  const trimmed = text.trim();
  if (/^\d[\d.a-z]*[a-z]$/i.test(trimmed)) {
    const ms = parseDuration(trimmed);
    if (ms !== null) return now - ms;
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed)) {
    const at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(trimmed) || /(Z|[+-]\d{2}:?\d{2})$/.test(trimmed) ? trimmed : `${trimmed}Z`);
    if (Number.isFinite(at)) return at;
  }
  throw new AppError('E_USAGE', `--since expects a duration such as 24h or 7d, or a date such as 2026-12-01; got "${text}"`);
}

export function parseGrouping(text: string): UsageGrouping {
  if ((usageGroupings as readonly string[]).includes(text)) return text as UsageGrouping;
  throw new AppError('E_USAGE', `--by expects one of ${usageGroupings.join(', ')}; got "${text}"`);
}

interface Aggregate {
  key: string;
  requests: number;
  input: number | null;
  output: number | null;
  cached: number | null;
  reasoning: number | null;
  cost: number | null;
  unpriced: number;
}

export function summarize(db: Database, since: number, by: UsageGrouping): UsageReport {
  const rows = db
    .prepare(
      `SELECT ${groupExpression[by]} AS key, COUNT(*) AS requests, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
              SUM(cached_tokens) AS cached, SUM(reasoning_tokens) AS reasoning, SUM(cost) AS cost,
              SUM(CASE WHEN cost IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL) THEN 1 ELSE 0 END) AS unpriced
       FROM requests WHERE ts >= ? GROUP BY 1 ORDER BY 1`,
    )
    .all(since) as Aggregate[];
  const total: UsageTotals = { requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, cost: 0, unpriced: 0 };
  const groups = rows.map((r) => {
    const g = { key: String(r.key), requests: r.requests, inputTokens: r.input ?? 0, outputTokens: r.output ?? 0, cachedTokens: r.cached ?? 0, reasoningTokens: r.reasoning ?? 0, cost: r.cost ?? 0, unpriced: r.unpriced };
    total.requests += g.requests;
    total.inputTokens += g.inputTokens;
    total.outputTokens += g.outputTokens;
    total.cachedTokens += g.cachedTokens;
    total.reasoningTokens += g.reasoningTokens;
    total.cost += g.cost;
    total.unpriced += g.unpriced;
    return g;
  });
  return { since, by, groups, total };
}

const usd = (value: number): string => `$${value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 6 : 2)}`;

/** The report as an aligned text table, a TOTAL line last. */
export function formatUsageTable(report: UsageReport): string {
  const header = [report.by === 'key' ? 'KEY' : report.by.toUpperCase(), 'REQUESTS', 'IN', 'OUT', 'CACHED', 'REASONING', 'COST', 'UNPRICED'];
  const line = (key: string, t: UsageTotals): string[] => [key, String(t.requests), String(t.inputTokens), String(t.outputTokens), String(t.cachedTokens), String(t.reasoningTokens), usd(t.cost), String(t.unpriced)];
  const rows = [header, ...report.groups.map((g) => line(g.key, g)), line('TOTAL', report.total)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  const out = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ').trimEnd());
  return `usage since ${new Date(report.since).toISOString()}\n${out.join('\n')}\n`;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Every row since `since` as CSV (a header line, then one line per request), written in pages so
 * that a year of records never sits in memory at once.
 */
export function exportCsv(db: Database, since: number, write: (chunk: string) => void): number {
  write(`${LEDGER_COLUMNS.join(',')}\n`);
  const statement = db.prepare(`SELECT ${LEDGER_COLUMNS.join(', ')} FROM requests WHERE ts >= ? ORDER BY ts`).raw(true);
  let count = 0;
  let page: string[] = [];
  for (const row of statement.iterate(since) as IterableIterator<unknown[]>) {
    page.push(row.map(csvCell).join(','));
    count++;
    if (page.length === 1000) {
      write(`${page.join('\n')}\n`);
      page = [];
    }
  }
  if (page.length > 0) write(`${page.join('\n')}\n`);
  return count;
}
