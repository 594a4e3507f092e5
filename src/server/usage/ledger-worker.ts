/**
 * The ledger's writer thread. libsql's API is synchronous (a commit blocks its caller for a
 * few milliseconds), so it runs here and the server's event loop only posts batches. Messages
 * are handled in order: the budget seed is summed before any batch of this process is written,
 * so no request is counted twice.
 *
 * Failures never reach a request: a file that cannot be opened or a batch that cannot be written
 * (full disk, read-only, corrupt) is reported to the main thread, which logs once and counts;
 * opening is tried again, at most every RETRY_OPEN_MS, when rows keep coming.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openLedgerForWrite, pruneBefore, rowWriter, spendSince, type Database } from '../../shared/usage/ledger-file.ts';
import { summarize } from '../../shared/usage/usage-report.ts';
import type { FromWorker, LedgerWorkerData, ToWorker } from './ledger-protocol.ts';

const RETRY_OPEN_MS = 30_000;
const PRUNE_EVERY_MS = 3_600_000;

const port = parentPort;
if (port === null) throw new Error('ledger-worker must run as a worker thread');
const data = workerData as LedgerWorkerData;
const post = (message: FromWorker): void => port.postMessage(message);

let db: Database | null = null;
let write: ((batch: string) => number) | null = null;
let lastOpenAttempt = 0;
let lastPrune = 0;
let seeded = false;

function open(): boolean {
  lastOpenAttempt = Date.now();
  try {
    db = openLedgerForWrite(data.path);
    write = rowWriter(db);
    prune();
    if (!seeded) {
      post(seed());
      seeded = true;
    }
    return true;
  } catch (error) {
    db = null;
    write = null;
    post({ type: 'open-failed', message: (error as Error).message });
    return false;
  }
}

function prune(): void {
  if (db === null || data.retentionMs <= 0) return;
  lastPrune = Date.now();
  pruneBefore(db, lastPrune - data.retentionMs);
}

function seed(): FromWorker {
  const rows: Array<{ client: string; periodStart: number; usd: number }> = [];
  if (db !== null) {
    for (const periodStart of data.seedPeriods) for (const s of spendSince(db, periodStart)) rows.push({ client: s.client, periodStart, usd: s.usd });
  }
  return { type: 'opened', seed: rows };
}

open();

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'rows': {
      if (write === null && (Date.now() - lastOpenAttempt < RETRY_OPEN_MS || !open())) {
        post({ type: 'write-failed', count: message.count, message: 'the ledger file is not open' });
        return;
      }
      try {
        (write as (batch: string) => number)(message.batch);
        post({ type: 'written', count: message.count });
        if (Date.now() - lastPrune > PRUNE_EVERY_MS) prune();
      } catch (error) {
        post({ type: 'write-failed', count: message.count, message: (error as Error).message });
      }
      return;
    }
    case 'query': {
      try {
        if (db === null) throw new Error('the ledger file is not open');
        post({ type: 'answer', id: message.id, report: summarize(db, message.since, message.by), error: null });
      } catch (error) {
        post({ type: 'answer', id: message.id, report: null, error: (error as Error).message });
      }
      return;
    }
    case 'close':
      try {
        db?.close();
      } catch {
        // Closing checkpoints the WAL; a failure leaves a WAL that the next open replays.
      }
      db = null;
      write = null;
      post({ type: 'closed' });
      port.close();
      return;
  }
});
