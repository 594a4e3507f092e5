/**
 * `/admin/*` (DESIGN §8): the redacted config, how model ids resolve, and credential health.
 * Behind `admin.key`, which is distinct from client keys; without it the admin API does not exist.
 * Nothing here ever prints a secret: keys are masked or replaced before serialisation.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extractKey } from '../auth/extract-key.ts';
import type { Config } from '../../shared/config/schema.ts';
import { sendError, sendJson } from '../http/respond.ts';
import type { ShutdownSignal } from '../http/shutdown-signal.ts';
import type { Snapshot } from '../snapshot.ts';
import type { Ledger } from '../usage/ledger.ts';
import { parseGrouping, parseSince } from '../../shared/usage/usage-report.ts';
import type { CaptureHub } from './capture.ts';
import { serveCapture } from './capture-endpoint.ts';

const REDACTED = '[redacted]';
/** Maps whose keys are the user's own words: keep them as written. */
const recordFields = new Set(['headers', 'aliases', 'fallbacks']);
const secretFields = new Set(['key', 'sha256', 'apiKeys']);
const secretHeader = /authorization|api-key|token|secret|cookie/i;

/** What POST /admin/capture needs besides the snapshot. */
export interface AdminCaptureContext {
  capture: CaptureHub;
  shutdown: ShutdownSignal;
  log: (message: string) => void;
  /** False once the gateway is stopping: a capture armed then would hold up the drain. */
  accepting: () => boolean;
}

export function handleAdmin(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, path: string, ledger: Ledger | null, captures: AdminCaptureContext): void {
  const verdict = snapshot.admin.check(extractKey(req.headers, req.url ?? '')?.key ?? null);
  if (verdict === 'not-configured') return sendError(res, 'openai', 404, 'The admin API is disabled; set admin.key in the config to enable it.');
  if (verdict !== 'ok') return sendError(res, 'openai', 401, verdict === 'missing' ? 'The admin API needs the admin key.' : 'Invalid admin key.');
  if (path === '/admin/capture') {
    if (req.method !== 'POST') return sendError(res, 'openai', 405, 'POST /admin/capture arms a capture; see docs/operations.md.', { headers: { allow: 'POST' } });
    if (!captures.accepting()) return sendError(res, 'openai', 503, 'The gateway is stopping; it arms no capture now.', { kind: 'overloaded' });
    void serveCapture(req, res, captures.capture, captures.shutdown, captures.log);
    return;
  }
  req.resume();
  const url = new URL(req.url ?? '/', 'http://admin');
  switch (path) {
    case '/admin/config':
      return sendJson(res, 200, JSON.stringify({ generation: snapshot.generation, hash: snapshot.hash, path: snapshot.path, config: redact(snapshot.config) }, null, 2));
    case '/admin/routes': {
      const model = url.searchParams.get('model');
      if (model !== null) return sendJson(res, 200, JSON.stringify(snapshot.models.explain(model), null, 2));
      return sendJson(res, 200, JSON.stringify({ models: snapshot.models.listModels(), globs: snapshot.models.listGlobs(), aliases: snapshot.config.models.aliases, fallbacks: snapshot.config.models.fallbacks }, null, 2));
    }
    case '/admin/credentials':
      return sendJson(res, 200, JSON.stringify({ credentials: snapshot.credentials.snapshot() }, null, 2));
    case '/admin/budgets':
      return sendJson(res, 200, JSON.stringify({ budgets: snapshot.budgets.report(snapshot.budgets.now()), available: snapshot.budgets.status.available }, null, 2));
    case '/admin/usage':
      return serveUsage(res, snapshot, url, ledger);
    default:
      return sendError(res, 'openai', 404, 'Admin endpoints: GET /admin/config, /admin/routes[?model=ID], /admin/credentials, /admin/usage[?since=24h&by=key|model|provider|day], /admin/budgets; POST /admin/capture.');
  }
}

/** The ledger's summary (what `ai-proxy usage --json` prints), with spend against each budget. */
function serveUsage(res: ServerResponse, snapshot: Snapshot, url: URL, ledger: Ledger | null): void {
  if (ledger === null) return sendError(res, 'openai', 404, 'The usage ledger is off (usage.ledger: false).');
  const now = Date.now();
  let since: number;
  let by: ReturnType<typeof parseGrouping>;
  try {
    since = parseSince(url.searchParams.get('since') ?? '24h', now);
    by = parseGrouping(url.searchParams.get('by') ?? 'key');
  } catch (error) {
    return sendError(res, 'openai', 400, (error as Error).message.replace(/--(since|by)/, '$1'));
  }
  // Rows of the last second may still be queued here: send them first, the worker answers in order.
  ledger.flush();
  ledger.query(since, by).then(
    (report) => sendJson(res, 200, JSON.stringify({ ...report, budgets: snapshot.budgets.report(snapshot.budgets.now()) }, null, 2)),
    (error: unknown) => sendError(res, 'openai', 503, `The usage ledger cannot answer: ${(error as Error).message}`, { kind: 'overloaded' }),
  );
}

/** The config with every secret replaced, keys back in the kebab-case the file uses. */
export function redact(config: Config): unknown {
  return walk(config, null);
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function walk(value: unknown, field: string | null): unknown {
  if (Array.isArray(value)) return value.map((item) => walk(item, field));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (field !== null && recordFields.has(field)) {
      out[key] = field === 'headers' && secretHeader.test(key) ? REDACTED : inner;
      continue;
    }
    if (key === 'redis' && field === 'sharedState' && typeof inner === 'string') {
      out[key] = redactUrlPassword(inner);
      continue;
    }
    if (secretFields.has(key)) {
      out[kebab(key)] = key === 'apiKeys' && Array.isArray(inner) ? inner.map((entry) => (typeof entry === 'string' ? REDACTED : { ...walk(entry, 'apiKey') as object, key: REDACTED })) : REDACTED;
      continue;
    }
    out[kebab(key)] = walk(inner, key);
  }
  return out;
}

/** A Redis URL may carry a password (redis://:secret@host): keep where it points, not how it logs in. */
function redactUrlPassword(text: string): string {
  return text.replace(/^(rediss?:\/\/)[^@/]*@/, `$1${REDACTED}@`);
}
