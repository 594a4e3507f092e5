/**
 * The usage ledger's main-thread side: finished requests are queued and posted in batches to
 * the writer thread (./ledger-worker.ts), so a request never waits on the disk and the event
 * loop never runs a commit.
 *
 * What a SIGKILL may lose: the rows not yet posted (at most BATCH_ROWS − 1, and at most
 * FLUSH_MS of traffic) plus the batches posted and not yet committed (normally the one being
 * written: a batch commits in about 2 ms). A graceful stop flushes everything (`close`).
 *
 * A full disk or a broken file costs one log line when writing starts failing (and one when it
 * recovers) and the `ai_proxy_ledger_*` metrics, never a failed request.
 */
import { Worker } from 'node:worker_threads';
import { encodeRow, type LedgerRow } from '../../shared/usage/ledger-file.ts';
import type { UsageGrouping, UsageReport } from '../../shared/usage/usage-report.ts';
import type { FromWorker, LedgerWorkerData, ToWorker } from './ledger-protocol.ts';
import type { SpendSeed } from './spend-store.ts';

const BATCH_ROWS = 256;
const FLUSH_MS = 1000;
/** Rows posted and not yet acknowledged beyond which new rows are dropped (a stalled disk must not grow memory). */
const MAX_UNACKNOWLEDGED = 50_000;
const QUERY_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

export interface LedgerEvents {
  /** The budget seed, once the file is open. */
  seeded(seed: SpendSeed[]): void;
  /** Writing started failing (once per failing spell) or recovered. */
  health(ok: boolean, message: string): void;
  written(count: number): void;
  dropped(count: number, reason: 'write_failed' | 'backlog'): void;
}

export class Ledger {
  readonly #worker: Worker;
  readonly #events: LedgerEvents;
  /** Rows as `encodeRow` texts. */
  #pending: string[] = [];
  #timer: NodeJS.Timeout | null = null;
  #unacknowledged = 0;
  #healthy = true;
  #closing: Promise<void> | null = null;
  #nextQuery = 1;
  readonly #queries = new Map<number, { resolve: (report: UsageReport) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  #closed: (() => void) | null = null;
  #settleOpen: ((seeded: boolean) => void) | null = null;
  /** Settles when the file is open and the seed posted (true) or opening failed (false). */
  readonly opened: Promise<boolean>;

  constructor(data: LedgerWorkerData, events: LedgerEvents) {
    this.#events = events;
    this.opened = new Promise((resolve) => (this.#settleOpen = resolve));
    // From dist/ the worker is its own bundle entry beside this chunk. From source (a bench or a
    // test under tsx) it is the .ts file, which a worker can load only once tsx is registered in it.
    const source = import.meta.url.endsWith('.ts');
    this.#worker = source
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./ledger-worker.ts', import.meta.url).href)}); })`, { eval: true, workerData: data })
      : new Worker(new URL('./ledger-worker.js', import.meta.url), { workerData: data });
    // The worker must not keep a stopping server alive; close() waits for it on purpose.
    this.#worker.unref();
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => {
      this.#setHealth(false, `the ledger writer failed: ${error.message}`);
      this.#settleOpen?.(false);
    });
    this.#worker.on('exit', () => {
      this.#closed?.();
      for (const [id, q] of this.#queries) {
        clearTimeout(q.timer);
        q.reject(new Error('the ledger writer stopped'));
        this.#queries.delete(id);
      }
    });
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  /** Queues one finished request. Cheap: a push, and a post once per batch. */
  record(row: LedgerRow): void {
    if (this.#closing !== null) return;
    if (this.#unacknowledged >= MAX_UNACKNOWLEDGED) {
      this.#events.dropped(1, 'backlog');
      return;
    }
    this.#pending.push(encodeRow(row));
    if (this.#pending.length >= BATCH_ROWS) this.flush();
    else if (this.#timer === null) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.#timer.unref();
    }
  }

  flush(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#pending.length === 0) return;
    const count = this.#pending.length;
    const batch = this.#pending.join(',');
    this.#pending = [];
    this.#unacknowledged += count;
    this.#post({ type: 'rows', count, batch });
  }

  query(since: number, by: UsageGrouping): Promise<UsageReport> {
    const id = this.#nextQuery++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#queries.delete(id);
        reject(new Error(`the ledger did not answer within ${QUERY_TIMEOUT_MS} ms`));
      }, QUERY_TIMEOUT_MS);
      this.#queries.set(id, { resolve, reject, timer });
      this.#post({ type: 'query', id, since, by });
    });
  }

  /** Writes what is queued, closes the file and ends the worker; bounded by CLOSE_TIMEOUT_MS. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.flush();
      const timer = setTimeout(() => void this.#worker.terminate().then(() => resolve()), CLOSE_TIMEOUT_MS);
      this.#closed = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#post({ type: 'close' });
    });
    return this.#closing;
  }

  #post(message: ToWorker): void {
    try {
      this.#worker.postMessage(message);
    } catch (error) {
      if (message.type === 'rows') this.#lost(message.count, (error as Error).message);
    }
  }

  #lost(count: number, message: string): void {
    this.#unacknowledged = Math.max(0, this.#unacknowledged - count);
    this.#events.dropped(count, 'write_failed');
    this.#setHealth(false, message);
  }

  #setHealth(ok: boolean, message: string): void {
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    this.#events.health(ok, message);
  }

  #onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'opened':
        this.#setHealth(true, 'the usage ledger is writable again');
        this.#events.seeded(message.seed);
        this.#settleOpen?.(true);
        return;
      case 'open-failed':
        this.#setHealth(false, `cannot open the usage ledger: ${message.message}`);
        this.#settleOpen?.(false);
        return;
      case 'written':
        this.#unacknowledged = Math.max(0, this.#unacknowledged - message.count);
        this.#setHealth(true, 'the usage ledger is writable again');
        this.#events.written(message.count);
        return;
      case 'write-failed':
        this.#lost(message.count, `cannot write the usage ledger (${message.count} records lost): ${message.message}`);
        return;
      case 'answer': {
        const q = this.#queries.get(message.id);
        if (q === undefined) return;
        this.#queries.delete(message.id);
        clearTimeout(q.timer);
        if (message.report !== null) q.resolve(message.report);
        else q.reject(new Error(message.error ?? 'the ledger query failed'));
        return;
      }
      case 'closed':
        return;
    }
  }
}
