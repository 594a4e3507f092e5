/**
 * The fleet's usage totals in Redis: one hash per UTC day, `<prefix>usage:<YYYY-MM-DD>`, with
 * one field per client key and figure (`<client>\t<figure>`), incremented by every instance. The
 * server writes it (server/shared-state/usage-writer.ts); `ai-proxy usage --shared` reads it.
 * Shared by both sides so that the layout is written once.
 */

export const USAGE_FIGURES = ['requests', 'input_tokens', 'output_tokens', 'cost_usd'] as const;
export type UsageFigure = (typeof USAGE_FIGURES)[number];

/** Days kept in Redis: a quarter, longer than any budget period or `--since` anyone reads from Redis. */
export const USAGE_KEEP_DAYS = 92;

export function usageDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export function usageKey(prefix: string, day: string): string {
  return `${prefix}usage:${day}`;
}

export function usageField(client: string, figure: UsageFigure): string {
  return `${client}\t${figure}`;
}

export interface UsageRow {
  day: string;
  client: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** Null when no request of that day had a known cost. */
  costUsd: number | null;
}

/** One day's hash (HGETALL) as rows, one per client, sorted by client. */
export function usageRows(day: string, hash: Record<string, string>): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const [field, value] of Object.entries(hash)) {
    const tab = field.lastIndexOf('\t');
    if (tab <= 0) continue;
    const client = field.slice(0, tab);
    const figure = field.slice(tab + 1);
    let row = rows.get(client);
    if (row === undefined) {
      row = { day, client, requests: 0, inputTokens: 0, outputTokens: 0, costUsd: null };
      rows.set(client, row);
    }
    const n = Number(value);
    if (!Number.isFinite(n)) continue;
    if (figure === 'requests') row.requests = n;
    else if (figure === 'input_tokens') row.inputTokens = n;
    else if (figure === 'output_tokens') row.outputTokens = n;
    else if (figure === 'cost_usd') row.costUsd = n;
  }
  return [...rows.values()].sort((a, b) => a.client.localeCompare(b.client));
}

/** The UTC days from `since` to `until`, inclusive, oldest first (bounded: at most USAGE_KEEP_DAYS). */
export function usageDays(since: number, until: number): string[] {
  const days: string[] = [];
  const start = Date.parse(`${usageDay(Math.max(since, until - USAGE_KEEP_DAYS * 86_400_000))}T00:00:00Z`);
  for (let at = start; at <= until && days.length <= USAGE_KEEP_DAYS; at += 86_400_000) days.push(usageDay(at));
  return days;
}
