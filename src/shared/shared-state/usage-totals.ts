/**
 * The fleet's usage totals in Redis: one hash per UTC day, `<prefix>usage:<YYYY-MM-DD>`, with
 * one field per client key and figure (`<client>\t<figure>`), incremented by every instance. The
 * server writes it (server/shared-state/usage-writer.ts); `ai-proxy usage --shared` reads it.
 * Shared by both sides so that the layout is written once.
 */
import { Redis } from 'ioredis';
import type { UsageReport, UsageTotals } from '../usage/usage-report.ts';

export const USAGE_FIGURES = ['requests', 'input_tokens', 'output_tokens', 'cached_tokens', 'reasoning_tokens', 'cost_usd', 'unpriced'] as const;
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
  cachedTokens: number;
  reasoningTokens: number;
  /** Null when no request of that day had a known cost. */
  costUsd: number | null;
  /** Requests that used tokens of a model without a price. */
  unpriced: number;
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
      row = { day, client, requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, costUsd: null, unpriced: 0 };
      rows.set(client, row);
    }
    const n = Number(value);
    if (!Number.isFinite(n)) continue;
    if (figure === 'requests') row.requests = n;
    else if (figure === 'input_tokens') row.inputTokens = n;
    else if (figure === 'output_tokens') row.outputTokens = n;
    else if (figure === 'cached_tokens') row.cachedTokens = n;
    else if (figure === 'reasoning_tokens') row.reasoningTokens = n;
    else if (figure === 'cost_usd') row.costUsd = n;
    else if (figure === 'unpriced') row.unpriced = n;
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

/**
 * The fleet's totals per client and day from `since` to `until` (epoch ms), read from Redis: for
 * `ai-proxy usage --shared`. One HGETALL per day, bounded by `timeoutMs` each; a Redis that does
 * not answer is an error, never an empty report.
 */
export async function readFleetUsage(settings: { redis: string; prefix: string; timeoutMs: number }, since: number, until: number): Promise<UsageRow[]> {
  const redis = new Redis(settings.redis, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: settings.timeoutMs, connectTimeout: settings.timeoutMs, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const days = usageDays(since, until);
    const pipeline = redis.pipeline();
    for (const day of days) pipeline.hgetall(usageKey(settings.prefix, day));
    const replies = (await pipeline.exec()) ?? [];
    return days.flatMap((day, i) => {
      const [error, hash] = replies[i] ?? [null, {}];
      if (error !== null) throw error;
      return usageRows(day, hash as Record<string, string>);
    });
  } finally {
    redis.disconnect();
  }
}

/** The fleet's rows as the ledger's report (`ai-proxy usage --shared`): grouped by key or by day. */
export function fleetReport(rows: readonly UsageRow[], since: number, by: 'key' | 'day'): UsageReport {
  const groups = new Map<string, UsageReport['groups'][number]>();
  const total: UsageTotals = { requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, cost: 0, unpriced: 0 };
  for (const r of rows) {
    const key = by === 'key' ? r.client : r.day;
    let g = groups.get(key);
    if (g === undefined) {
      g = { key, requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, cost: 0, unpriced: 0 };
      groups.set(key, g);
    }
    for (const t of [g, total]) {
      t.requests += r.requests;
      t.inputTokens += r.inputTokens;
      t.outputTokens += r.outputTokens;
      t.cachedTokens += r.cachedTokens;
      t.reasoningTokens += r.reasoningTokens;
      t.cost += r.costUsd ?? 0;
      t.unpriced += r.unpriced;
    }
  }
  return { since: Date.parse(`${usageDay(since)}T00:00:00Z`), by, groups: [...groups.values()].sort((a, b) => a.key.localeCompare(b.key)), total };
}
