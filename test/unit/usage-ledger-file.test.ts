import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRow, LEDGER_SCHEMA_VERSION, openLedgerForRead, openLedgerForWrite, rowWriter, spendSince, type LedgerRow } from '../../src/shared/usage/ledger-file.ts';
import { exportCsv, formatUsageTable, parseGrouping, parseSince, summarize } from '../../src/shared/usage/usage-report.ts';

const T0 = Date.parse('2026-12-02T10:00:00Z');

function row(over: Partial<LedgerRow>): LedgerRow {
  return {
    ts: T0, requestId: 'r', client: 'alice', route: '/v1/chat/completions', model: 'gpt-4o', resolvedModel: 'gpt-4o', provider: 'openai', upstreamModel: 'gpt-4o',
    inputTokens: 10, outputTokens: 5, cachedTokens: 2, reasoningTokens: 1, cost: 0.5, status: 200, latencyMs: 12, ttfbMs: 3, attempts: 1, outcome: 'complete', ...over,
  };
}

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-ledger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'state', 'usage.db');
}

describe('the ledger file', () => {
  it('is created and migrated to the current schema, and reopened without migrating again', (t) => {
    const path = scratch(t);
    const db = openLedgerForWrite(path);
    rowWriter(db)([row({}), row({ requestId: 'odd "quoted", name\n', client: 'bob', cost: null })].map(encodeRow).join(','));
    db.close();
    const again = openLedgerForWrite(path);
    assert.equal((again.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, LEDGER_SCHEMA_VERSION);
    assert.equal((again.prepare('SELECT COUNT(*) AS n FROM requests').get() as { n: number }).n, 2);
    assert.deepEqual(spendSince(again, T0), [{ client: 'alice', usd: 0.5 }]);
    again.close();
  });

  it('refuses a file written by a newer release, for reading and for writing', (t) => {
    const path = scratch(t);
    const db = openLedgerForWrite(path);
    db.pragma(`user_version = ${LEDGER_SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => openLedgerForRead(path), /written by a newer ai-proxy/);
    assert.throws(() => openLedgerForWrite(path), /written by a newer ai-proxy/);
  });

  it('a missing file is a clear error for the reader, never created by it', (t) => {
    const path = scratch(t);
    assert.throws(() => openLedgerForRead(path), (e: Error & { code?: string }) => e.code === 'E_LEDGER' && /cannot open the usage ledger/.test(e.message));
  });

  it('summarizes per key, model, provider and day, and exports CSV with quoting', (t) => {
    const path = scratch(t);
    const db = openLedgerForWrite(path);
    const rows = [row({}), row({ client: 'bob', model: 'x', resolvedModel: 'x', upstreamModel: 'x', cost: null }), row({ ts: T0 + 86_400_000, provider: null, model: null, resolvedModel: null, inputTokens: null, outputTokens: null, cachedTokens: null, reasoningTokens: null, cost: null, status: 401 })];
    rowWriter(db)(rows.map(encodeRow).join(','));
    db.close();
    const reader = openLedgerForRead(path);
    const byKey = summarize(reader, 0, 'key');
    assert.deepEqual(byKey.groups.map((g) => [g.key, g.requests, g.inputTokens, g.cost, g.unpriced]), [['alice', 2, 10, 0.5, 0], ['bob', 1, 10, 0, 1]]);
    assert.deepEqual(byKey.total, { requests: 3, inputTokens: 20, outputTokens: 10, cachedTokens: 4, reasoningTokens: 2, cost: 0.5, unpriced: 1 });
    assert.deepEqual(summarize(reader, 0, 'day').groups.map((g) => [g.key, g.requests]), [['2026-12-02', 2], ['2026-12-03', 1]]);
    assert.deepEqual(summarize(reader, 0, 'provider').groups.map((g) => g.key), ['-', 'openai']);
    assert.deepEqual(summarize(reader, T0 + 1, 'model').groups.map((g) => g.key), ['-']);
    assert.match(formatUsageTable(byKey), /^TOTAL\s+3\s+20\s+10\s+4\s+2\s+\$0\.50\s+1$/m);
    let csv = '';
    assert.equal(exportCsv(reader, 0, (chunk) => (csv += chunk)), 3);
    reader.close();
    const lines = csv.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.ok(lines[0]?.startsWith('ts,request_id,client,'));
    assert.equal(lines[3]?.split(',').length, 18, 'nulls are empty cells');
  });
});

describe('usage command arguments', () => {
  it('--since takes a duration back from now or a date (UTC)', () => {
    assert.equal(parseSince('24h', T0), T0 - 86_400_000);
    assert.equal(parseSince('7d', T0), T0 - 7 * 86_400_000);
    assert.equal(parseSince('1h30m', T0), T0 - 5_400_000);
    assert.equal(parseSince('2026-12-01', T0), Date.parse('2026-12-01T00:00:00Z'));
    assert.equal(parseSince('2026-12-01T12:00', T0), Date.parse('2026-12-01T12:00:00Z'));
    assert.equal(parseSince('2026-12-01T12:00:00+02:00', T0), Date.parse('2026-12-01T10:00:00Z'));
    for (const bad of ['yesterday', '', '7x', '2026-13-45']) assert.throws(() => parseSince(bad, T0), /--since expects/, bad);
  });

  it('--by takes key, model, provider or day', () => {
    assert.equal(parseGrouping('day'), 'day');
    assert.throws(() => parseGrouping('user'), /--by expects one of key, model, provider, day/);
  });
});
