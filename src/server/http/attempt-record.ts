/**
 * What a model request records as its attempts go: which upstream served it (access record and
 * `x-ai-proxy-*` headers), the tokens it used (access record and the client's tpm budget), and
 * the answer a forced stop gives a request that has not started its own.
 */
import type { ServerResponse } from 'node:http';
import type { Client } from '../auth/client-keys.ts';
import type { Attempt } from '../routing/attempt-plan.ts';
import type { Snapshot } from '../snapshot.ts';
import type { AccessRecord } from './access-log.ts';
import type { ModelRequestContext } from './model-request.ts';
import { sendError } from './respond.ts';
import type { ModelRoute } from './routes.ts';
import { extractUsage, type Usage } from './usage.ts';

export function setServedBy(res: ServerResponse, record: AccessRecord, attempt: Attempt): void {
  record.provider = attempt.candidate.provider.name;
  record.upstreamModel = attempt.candidate.upstreamModel;
  if (!res.headersSent) {
    res.setHeader('x-ai-proxy-provider', attempt.candidate.provider.name);
    res.setHeader('x-ai-proxy-model', attempt.candidate.upstreamModel);
  }
}

/** Usage read from the upstream's own answer (its tail, and its head for streams that report input tokens first). */
export function noteUsage(ctx: ModelRequestContext, client: Client, text: string, head?: string): void {
  const usage = extractUsage(text, head);
  if (usage !== null) recordUsage(ctx, client, usage);
}

/** Normalised as the ledger keeps them: input includes cached tokens, output includes reasoning tokens. */
export function recordUsage(ctx: ModelRequestContext, client: Client, usage: Usage): void {
  ctx.record.inputTokens = usage.input;
  ctx.record.outputTokens = usage.output;
  ctx.record.cachedTokens = usage.cached;
  ctx.record.reasoningTokens = usage.reasoning;
  recordTokens(ctx.snapshot, client, usage.input + usage.output);
}

export function recordTokens(snapshot: Snapshot, client: Client, tokens: number): void {
  if (client.tpm !== null && tokens > 0) snapshot.limits.recordTokens(client, tokens, Date.now());
}

/** A request the forced stop caught before its answer started gets an error it can act on (retry elsewhere), not a bare hang-up. */
export function answerShutdown(res: ServerResponse, format: ModelRoute['client']): void {
  if (res.headersSent || res.destroyed) return;
  res.shouldKeepAlive = false;
  sendError(res, format, 503, 'The gateway is shutting down; retry the request (against another instance).', { kind: 'overloaded' });
}
