/** Messages between the server's main thread and the ledger worker (./ledger-worker.ts). */
import type { UsageGrouping, UsageReport } from '../../shared/usage/usage-report.ts';

export interface LedgerWorkerData {
  path: string;
  /** 0 keeps records forever. */
  retentionMs: number;
  /** Period starts (epoch ms) whose spend per client seeds the budgets. */
  seedPeriods: number[];
}

export type ToWorker =
  /** `count` rows, each an `encodeRow` text, joined by commas. */
  | { type: 'rows'; count: number; batch: string }
  | { type: 'query'; id: number; since: number; by: UsageGrouping }
  | { type: 'close' };

export type FromWorker =
  | { type: 'opened'; seed: Array<{ client: string; periodStart: number; usd: number }> }
  | { type: 'open-failed'; message: string }
  | { type: 'written'; count: number }
  | { type: 'write-failed'; count: number; message: string }
  | { type: 'answer'; id: number; report: UsageReport | null; error: string | null }
  | { type: 'closed' };
