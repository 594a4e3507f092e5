/**
 * One access line per request (DESIGN §7): request id, client key name (never the key), route,
 * model, provider, status, latency, time to first byte, tokens, bytes. Written without tslog:
 * this runs once per request, so the line is built in one template string and goes out through
 * the droppable path of the bounded output.
 */
import type { LogFormat } from '../../shared/logger.ts';

export interface AccessRecord {
  id: string;
  method: string;
  path: string;
  startedAt: number;
  client: string | null;
  model: string | null;
  /** The model id after alias resolution; only set once resolved, so metric labels stay bounded. */
  resolvedModel: string | null;
  provider: string | null;
  upstreamModel: string | null;
  attempts: number;
  ttfbMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  /** Within inputTokens / outputTokens (OpenAI's convention); for the ledger. */
  cachedTokens: number | null;
  reasoningTokens: number | null;
  /** A model endpoint's request: the usage ledger records it. */
  modelRequest: boolean;
  bytes: number;
  outcome: string | null;
}

export function newAccessRecord(id: string, method: string, path: string): AccessRecord {
  return { id, method, path, startedAt: Date.now(), client: null, model: null, resolvedModel: null, provider: null, upstreamModel: null, attempts: 0, ttfbMs: null, inputTokens: null, outputTokens: null, cachedTokens: null, reasoningTokens: null, modelRequest: false, bytes: 0, outcome: null };
}

const dash = (value: string | number | null): string | number => (value === null ? '-' : value);

export function formatAccessLine(format: LogFormat, r: AccessRecord, status: number, now: number): string {
  const ms = now - r.startedAt;
  if (format === 'json') {
    return JSON.stringify({
      message: 'access', level: 'INFO', time: new Date(now).toISOString(), id: r.id, client: r.client, method: r.method, path: r.path,
      model: r.model, provider: r.provider, upstreamModel: r.upstreamModel, status, ms, ttfbMs: r.ttfbMs, attempts: r.attempts,
      inputTokens: r.inputTokens, outputTokens: r.outputTokens, bytes: r.bytes, outcome: r.outcome,
    });
  }
  return `${new Date(now).toISOString()} INFO access id=${r.id} client=${dash(r.client)} ${r.method} ${r.path} model=${dash(r.model)} provider=${dash(r.provider)} status=${status} ms=${ms} ttfb=${dash(r.ttfbMs)} attempts=${r.attempts} in=${dash(r.inputTokens)} out=${dash(r.outputTokens)} bytes=${r.bytes}${r.outcome !== null && r.outcome !== 'complete' ? ` outcome=${r.outcome}` : ''}`;
}
