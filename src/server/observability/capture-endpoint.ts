/**
 * POST /admin/capture: arms a capture and streams its records back as JSON lines
 * (application/x-ndjson), so the CLI (`ai-proxy debug capture`) can write them to a file:
 *
 *   {"type":"armed","count":2,"filter":{"model":null,"client":"claude"},"maxWaitMs":60000,"bodyLimit":65536}
 *   {"type":"exchange",…}                           one per captured request, as it completes
 *   {"type":"end","reason":"count","captured":2}    count | timeout | closed | shutdown
 *
 * The request body: {"model"?, "client"?, "count"? (1…1000, default 1), "maxWaitMs"? (1 s…1 h,
 * default 60 s)}. The capture ends when it has its count, at its deadline, when the gateway
 * stops, or when the caller hangs up.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http/body.ts';
import { sendError } from '../http/respond.ts';
import type { ShutdownSignal } from '../http/shutdown-signal.ts';
import { BODY_LIMIT, type CaptureFilter, type CaptureHub } from './capture.ts';

export const MAX_COUNT = 1_000;
export const DEFAULT_WAIT_MS = 60_000;
export const MAX_WAIT_MS = 3_600_000;
const REQUEST_LIMIT = 4 * 1024;

type Parsed = { ok: true; filter: CaptureFilter; count: number; maxWaitMs: number } | { ok: false; message: string };

export function parseCaptureRequest(text: string): Parsed {
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch (error) {
      return { ok: false, message: `The body is not valid JSON: ${(error as Error).message}` };
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, message: 'The body must be a JSON object: {"model"?, "client"?, "count"?, "maxWaitMs"?}.' };
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (!['model', 'client', 'count', 'maxWaitMs'].includes(key)) return { ok: false, message: `Unknown field "${key}"; the fields are model, client, count and maxWaitMs.` };
  const optionalName = (key: 'model' | 'client'): string | null | undefined => {
    const value = fields[key];
    if (value === undefined || value === null) return null;
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const model = optionalName('model');
  if (model === undefined) return { ok: false, message: '"model" must be a non-empty string.' };
  const client = optionalName('client');
  if (client === undefined) return { ok: false, message: '"client" must be a non-empty string (a client key\'s name).' };
  const count = fields.count ?? 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_COUNT) return { ok: false, message: `"count" must be an integer from 1 to ${MAX_COUNT}.` };
  const maxWaitMs = fields.maxWaitMs ?? DEFAULT_WAIT_MS;
  if (typeof maxWaitMs !== 'number' || !Number.isInteger(maxWaitMs) || maxWaitMs < 1_000 || maxWaitMs > MAX_WAIT_MS) return { ok: false, message: `"maxWaitMs" must be an integer from 1000 to ${MAX_WAIT_MS}.` };
  return { ok: true, filter: { model, client }, count, maxWaitMs };
}

export async function serveCapture(req: IncomingMessage, res: ServerResponse, hub: CaptureHub, shutdown: ShutdownSignal, log: (message: string) => void): Promise<void> {
  const read = await readBody(req, REQUEST_LIMIT, 10_000);
  if (!read.ok) return sendError(res, 'openai', read.status, read.message);
  const parsed = parseCaptureRequest(read.body.toString('utf8'));
  if (!parsed.ok) return sendError(res, 'openai', 400, parsed.message, { param: 'body' });
  if (res.destroyed) return;
  const { filter, count, maxWaitMs } = parsed;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const what = `count ${count}${filter.model === null ? '' : `, model ${filter.model}`}${filter.client === null ? '' : `, client ${filter.client}`}`;
  const session = hub.open(filter, count, maxWaitMs, {
    record: (line) => {
      res.write(`${line}\n`);
    },
    end: (reason, captured) => {
      log(`capture ended (${reason}): ${captured} of ${count} requests captured`);
      if (!res.destroyed) res.end(`${JSON.stringify({ type: 'end', reason, captured })}\n`);
    },
  });
  // Armed before the caller hears it: a request it sends next is taken.
  res.write(`${JSON.stringify({ type: 'armed', count, filter, maxWaitMs, bodyLimit: BODY_LIMIT })}\n`);
  log(`capture armed (${what}, up to ${Math.round(maxWaitMs / 1000)}s)`);
  res.once('close', () => session.end('closed'));
  shutdown.on(() => session.end('shutdown'));
}
