/**
 * `/admin/*` (DESIGN §8): the redacted config, how model ids resolve, and credential health.
 * Behind `admin.key`, which is distinct from client keys; without it the admin API does not exist.
 * Nothing here ever prints a secret: keys are masked or replaced before serialisation.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extractKey } from '../auth/extract-key.ts';
import type { Config } from '../../shared/config/schema.ts';
import { sendError, sendJson } from '../http/respond.ts';
import type { Snapshot } from '../snapshot.ts';

const REDACTED = '[redacted]';
/** Maps whose keys are the user's own words: keep them as written. */
const recordFields = new Set(['headers', 'aliases', 'fallbacks']);
const secretFields = new Set(['key', 'sha256', 'apiKeys']);
const secretHeader = /authorization|api-key|token|secret|cookie/i;

export function handleAdmin(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, path: string): void {
  const verdict = snapshot.admin.check(extractKey(req.headers, req.url ?? '')?.key ?? null);
  if (verdict === 'not-configured') return sendError(res, 'openai', 404, 'The admin API is disabled; set admin.key in the config to enable it.');
  if (verdict !== 'ok') return sendError(res, 'openai', 401, verdict === 'missing' ? 'The admin API needs the admin key.' : 'Invalid admin key.');
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
    default:
      return sendError(res, 'openai', 404, 'Admin endpoints: GET /admin/config, /admin/routes[?model=ID], /admin/credentials.');
  }
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
    if (secretFields.has(key)) {
      out[kebab(key)] = key === 'apiKeys' && Array.isArray(inner) ? inner.map((entry) => (typeof entry === 'string' ? REDACTED : { ...walk(entry, 'apiKey') as object, key: REDACTED })) : REDACTED;
      continue;
    }
    out[kebab(key)] = walk(inner, key);
  }
  return out;
}
