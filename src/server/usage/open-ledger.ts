/**
 * Starts the usage ledger for a gateway: where the file is, what seeds the budgets, and how
 * its health reaches the log and the metrics. Null when `usage.ledger` is off.
 */
import type { Config } from '../../shared/config/schema.ts';
import type { AppLogger } from '../../shared/logger.ts';
import { defaultLedgerFile } from '../../shared/paths.ts';
import type { Metrics } from '../observability/metrics.ts';
import { PERIODS, periodStart } from './budget.ts';
import { Ledger } from './ledger.ts';
import { InMemorySpendStore, type SpendStore } from './spend-store.ts';

export function ledgerPath(config: Config): string {
  return config.usage.file ?? defaultLedgerFile();
}

export function openLedger(config: Config, store: SpendStore, metrics: Metrics, logger: () => AppLogger): Ledger | null {
  // A shared store (Redis) keeps its own totals; only the local one is seeded from this file.
  const local = store instanceof InMemorySpendStore ? store : null;
  if (!config.usage.ledger) {
    metrics.ledgerUp.set(0);
    return null;
  }
  // Until the seed arrives the local store does not know the spend: fail-closed budgets wait for it.
  if (local !== null) local.available = false;
  const now = Date.now();
  metrics.ledgerUp.set(1);
  return new Ledger(
    { path: ledgerPath(config), retentionMs: config.usage.retention, seedPeriods: PERIODS.map((p) => periodStart(p, now)) },
    {
      seeded(seed) {
        if (local === null) return;
        local.seed(seed);
        local.available = true;
      },
      health(ok, message) {
        metrics.ledgerUp.set(ok ? 1 : 0);
        if (ok) logger().info(message);
        else logger().warn(`${message}; requests are served, their usage is not recorded`);
      },
      written(count) {
        metrics.ledgerRecords.inc({ outcome: 'written' }, count);
      },
      dropped(count, reason) {
        metrics.ledgerRecords.inc({ outcome: reason }, count);
      },
    },
  );
}
