/**
 * The usage ledger's file: an SQLite database (through libsql, see docs/decisions.md, "Usage
 * ledger storage"), one row per finished model request. Shared by the server's writer (in a
 * worker thread) and `ai-proxy usage`, which reads the file directly.
 *
 * The schema is versioned with SQLite's `user_version`: each entry of `migrations` moves a file
 * one version on, inside one transaction, so a newer release opens an older file and upgrades
 * it; a file from a newer release than this one is refused rather than misread.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type LibsqlDatabase from 'libsql';
import { AppError } from '../errors.ts';

export type Database = LibsqlDatabase.Database;

/** One finished request, as the ledger keeps it. Never any prompt or answer content. */
export interface LedgerRow {
  /** When the request ended, epoch ms. */
  ts: number;
  requestId: string;
  client: string;
  route: string;
  /** The model the client asked for (null when the request failed before naming one). */
  model: string | null;
  /** The configured model id it resolved to. */
  resolvedModel: string | null;
  provider: string | null;
  upstreamModel: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  cachedTokens: number | null;
  reasoningTokens: number | null;
  /** USD; null when the model has no price (unknown, not free). */
  cost: number | null;
  status: number;
  latencyMs: number;
  ttfbMs: number | null;
  attempts: number;
  outcome: string | null;
}

/** Column order of the `requests` table, the order rows are bound in. */
export const LEDGER_COLUMNS = [
  'ts', 'request_id', 'client', 'route', 'model', 'resolved_model', 'provider', 'upstream_model',
  'input_tokens', 'output_tokens', 'cached_tokens', 'reasoning_tokens', 'cost', 'status', 'latency_ms', 'ttfb_ms', 'attempts', 'outcome',
] as const;

const migrations: readonly string[] = [
  // 1: the first schema.
  `CREATE TABLE requests (
     ts INTEGER NOT NULL, request_id TEXT NOT NULL, client TEXT NOT NULL, route TEXT NOT NULL,
     model TEXT, resolved_model TEXT, provider TEXT, upstream_model TEXT,
     input_tokens INTEGER, output_tokens INTEGER, cached_tokens INTEGER, reasoning_tokens INTEGER,
     cost REAL, status INTEGER NOT NULL, latency_ms INTEGER NOT NULL, ttfb_ms INTEGER, attempts INTEGER NOT NULL, outcome TEXT);
   CREATE INDEX requests_ts ON requests (ts);
   CREATE INDEX requests_client_ts ON requests (client, ts);`,
];

export const LEDGER_SCHEMA_VERSION = migrations.length;

// libsql is a native addon and stays outside the bundle (scripts/build.mjs); loaded on first use
// so that commands and servers without a ledger never pay for it.
const require = createRequire(import.meta.url);
let driver: typeof LibsqlDatabase | null = null;
function loadDriver(): typeof LibsqlDatabase {
  driver ??= require('libsql') as typeof LibsqlDatabase;
  return driver;
}

/** Opens (creating and migrating) the ledger for writing. Throws when it cannot. */
export function openLedgerForWrite(path: string): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const Driver = loadDriver();
  const db = new Driver(path);
  try {
    // WAL: readers (`ai-proxy usage`, a second server during a restart) never block the writer.
    db.pragma('journal_mode = WAL');
    // A process kill loses nothing committed (the WAL is in the page cache); only a power loss may drop the last transactions.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db, path);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Opens an existing ledger read-only (for `ai-proxy usage`). */
export function openLedgerForRead(path: string): Database {
  const Driver = loadDriver();
  let db: Database;
  try {
    db = new Driver(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new AppError('E_LEDGER', `cannot open the usage ledger ${path}: ${(error as Error).message}`);
  }
  db.pragma('busy_timeout = 5000');
  const version = userVersion(db);
  if (version === 0) {
    db.close();
    throw new AppError('E_LEDGER', `${path} has no usage ledger in it yet`);
  }
  if (version > LEDGER_SCHEMA_VERSION) {
    db.close();
    throw new AppError('E_LEDGER', `${path} was written by a newer ai-proxy (ledger schema ${version}, this release reads up to ${LEDGER_SCHEMA_VERSION})`);
  }
  return db;
}

function userVersion(db: Database): number {
  // libsql's pragma({ simple: true }) answers an object with metadata, not the bare value.
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number } | undefined;
  return Number(row?.user_version ?? 0);
}

function migrate(db: Database, path: string): void {
  const version = userVersion(db);
  if (version > LEDGER_SCHEMA_VERSION) {
    throw new AppError('E_LEDGER', `${path} was written by a newer ai-proxy (ledger schema ${version}, this release writes ${LEDGER_SCHEMA_VERSION})`);
  }
  for (let v = version; v < LEDGER_SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(migrations[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

const insertSql = `INSERT INTO requests (${LEDGER_COLUMNS.join(', ')}) VALUES (${LEDGER_COLUMNS.map(() => '?').join(', ')})`;

const text = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));
const num = (v: number | null): string => (v === null || !Number.isFinite(v) ? 'null' : String(v));

/**
 * One row as a JSON array in column order. Batches cross to the writer thread as one string of
 * such arrays: postMessage copies a string in one go, while cloning an object costs about 3 µs
 * per row of the event loop's time (bench/ledger-cost.ts).
 */
export function encodeRow(r: LedgerRow): string {
  return `[${r.ts},${text(r.requestId)},${text(r.client)},${text(r.route)},${text(r.model)},${text(r.resolvedModel)},${text(r.provider)},${text(r.upstreamModel)},${num(r.inputTokens)},${num(r.outputTokens)},${num(r.cachedTokens)},${num(r.reasoningTokens)},${num(r.cost)},${r.status},${r.latencyMs},${num(r.ttfbMs)},${r.attempts},${text(r.outcome)}]`;
}

/** A writer that inserts a batch (`encodeRow` texts joined by commas) in one transaction; returns how many rows. */
export function rowWriter(db: Database): (batch: string) => number {
  const insert = db.prepare(insertSql);
  const write = db.transaction((rows: unknown[][]) => {
    for (const r of rows) insert.run(...r);
  });
  return (batch) => {
    const rows = JSON.parse(`[${batch}]`) as unknown[][];
    write(rows);
    return rows.length;
  };
}

/** Deletes rows that ended before `before` (epoch ms); returns how many. */
export function pruneBefore(db: Database, before: number): number {
  return db.prepare('DELETE FROM requests WHERE ts < ?').run(before).changes;
}

/** Each client's spend (USD) since `since`, for seeding budgets. */
export function spendSince(db: Database, since: number): Array<{ client: string; usd: number }> {
  return db.prepare('SELECT client, SUM(cost) AS usd FROM requests WHERE ts >= ? AND cost IS NOT NULL GROUP BY client').all(since) as Array<{ client: string; usd: number }>;
}
