/**
 * Token counts across API families: Claude Code's `POST /v1/messages/count_tokens` and Gemini
 * CLI's `:countTokens` for a model another family serves. Same-family counts pass through like
 * any request (model-request.ts); this module answers the rest, and never with an error an agent
 * would stop on:
 *
 *   - the upstream's own count API where its type has one (its descriptor's `countTokens`:
 *     Anthropic count_tokens, Gemini countTokens, OpenAI's Responses input_tokens), the request
 *     translated to its format by the same translators as a generation, the count back in the
 *     client's shape;
 *   - an estimate (token-estimate.ts) where it has none (an OpenAI-compatible server), or when
 *     the count call fails, is refused, or takes longer than COUNT_TIMEOUT_MS. The answer says
 *     which in `x-ai-proxy-token-count: upstream | estimated`.
 *
 * One attempt, no retry or failover: a count is advisory and the agent waits on it, so a failure
 * costs an estimate, not a backoff. An upstream's refusal still cools its key like any other.
 */
import type { Dispatcher } from 'undici';
import type { WireFormat } from '../../shared/wire-format.ts';
import type { CountTokensApi } from '../providers/count-tokens-api.ts';
import { baseUrlOf } from '../providers/registry.ts';
import { createDispatcher } from '../proxy/dispatcher.ts';
import { upstreamRequestHeaders } from '../proxy/headers.ts';
import { UpstreamCall } from '../proxy/upstream-call.ts';
import { createAttemptPlan, type Attempt } from '../routing/attempt-plan.ts';
import type { ResolvedModel } from '../routing/model-table.ts';
import { SUCCESS, type UpstreamOutcome } from '../routing/outcome.ts';
import { isTranslationError, readCanonicalRequest, translateRequest } from '../translate/index.ts';
import { estimateRawTokens, estimateRequestTokens } from '../translate/token-estimate.ts';
import type { ModelRequestContext } from './model-request.ts';
import { sendJson } from './respond.ts';
import type { ModelRoute } from './routes.ts';

export const TOKEN_COUNT_HEADER = 'x-ai-proxy-token-count';

/** An agent waits on its count; past this an estimate serves it better than the upstream's figure. */
export const COUNT_TIMEOUT_MS = 10_000;
/** A count answer is a few dozen bytes. */
const ANSWER_LIMIT = 64 * 1024;

export function isCountRoute(route: ModelRoute): boolean {
  return route.endpoint === 'count-tokens' || route.endpoint === 'gemini-count-tokens';
}

export interface CountInput {
  body: Record<string, unknown>;
  raw: Buffer;
  resolution: ResolvedModel;
}

/** Answers a count whose model no provider of the client's family serves. */
export async function countAcrossFamilies(ctx: ModelRequestContext, input: CountInput): Promise<void> {
  const { snapshot, route, record } = ctx;
  const from: WireFormat = route.family === 'anthropic' ? 'anthropic' : 'gemini';
  const request = from === 'gemini' ? geminiCountRequest(input.body) : input.body;
  const plan = createAttemptPlan({ resolution: input.resolution, table: snapshot.models, fallbacks: [], pool: snapshot.credentials, policy: snapshot.retry });
  const step = plan.next();
  if (step.done) return answer(ctx, estimate(from, request, input.raw), 'estimated');
  record.attempts = 1;
  record.provider = step.candidate.provider.name;
  record.upstreamModel = step.candidate.upstreamModel;
  ctx.res.setHeader('x-ai-proxy-provider', step.candidate.provider.name);
  ctx.res.setHeader('x-ai-proxy-model', step.candidate.upstreamModel);
  ctx.res.setHeader('x-ai-proxy-attempts', '1');
  // Each provider type's descriptor says where it counts (providers/types/); null: nowhere.
  const api = step.candidate.provider.descriptor.countTokens;
  const counted = api === null ? undefined : await countUpstream(ctx, api, step, from, request);
  if (counted !== undefined) return answer(ctx, counted, 'upstream');
  answer(ctx, estimate(from, request, input.raw), 'estimated');
}

/** A countTokens body is `{contents}` or `{generateContentRequest}`: either way a generateContent body. */
function geminiCountRequest(body: Record<string, unknown>): Record<string, unknown> {
  const inner = body.generateContentRequest;
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? (inner as Record<string, unknown>) : body;
}

function estimate(from: WireFormat, body: Record<string, unknown>, raw: Buffer): number {
  try {
    return estimateRequestTokens(readCanonicalRequest(from, body));
  } catch (error) {
    if (!isTranslationError(error)) throw error;
    // A body no reader takes still deserves a number rather than an error: its size.
    return estimateRawTokens(raw.length);
  }
}

function answer(ctx: ModelRequestContext, tokens: number, source: 'upstream' | 'estimated'): void {
  ctx.res.setHeader(TOKEN_COUNT_HEADER, source);
  sendJson(ctx.res, 200, ctx.route.family === 'anthropic' ? `{"input_tokens":${tokens}}` : `{"totalTokens":${tokens}}`);
}

/** The upstream's count, or undefined (logged) when it cannot give one. */
async function countUpstream(ctx: ModelRequestContext, api: CountTokensApi, attempt: Attempt, from: WireFormat, request: Record<string, unknown>): Promise<number | undefined> {
  const { req, res, snapshot, record } = ctx;
  const { config: provider, descriptor } = attempt.candidate.provider;
  const model = attempt.candidate.upstreamModel;
  const label = `count ${record.id} (${from} → ${api.wire}, ${provider.name}/${model})`;
  let payload: Buffer;
  try {
    // Always 'omit': a count of what can go upstream is still the right count, never a 400.
    const translated = translateRequest(from, api.wire, request, { model, stream: false, unsupported: 'omit' });
    payload = Buffer.from(JSON.stringify(api.body(translated.body as Record<string, unknown>, model)));
  } catch (error) {
    if (!isTranslationError(error)) throw error;
    ctx.warn(`${label}: not translatable (${error.message}); answered with an estimate`);
    return undefined;
  }
  const headers = upstreamRequestHeaders(req.headers, provider.headers);
  const key = attempt.credential.secret();
  descriptor.applyCredential(headers, key === '' ? null : key, provider);
  headers['content-type'] = 'application/json';
  // The client family's version headers mean nothing to another family.
  delete headers['anthropic-beta'];
  if (descriptor.family !== 'anthropic') delete headers['anthropic-version'];
  const url = api.url(baseUrlOf(provider), model);
  ctx.trace?.upstream({ provider: provider.name, model, method: 'POST', url, headers, body: payload, secret: key });

  const dispatcher = snapshot.upstreams.dispatcher(provider.name, createDispatcher) as Dispatcher;
  const { call, response } = UpstreamCall.start(dispatcher, { url, method: 'POST', headers, body: payload });
  let abandoned = false;
  const abort = (): void => {
    abandoned = true;
    call.abort(new Error('the count was abandoned'));
  };
  const timer = setTimeout(abort, COUNT_TIMEOUT_MS);
  res.once('close', abort);
  ctx.shutdown.on(abort);
  let outcome: UpstreamOutcome;
  let body: Buffer | null = null;
  try {
    await response;
    ctx.trace?.upstreamHead(call.statusCode, call.headers);
    body = await call.collect(ANSWER_LIMIT);
    ctx.trace?.upstreamBody(body);
    outcome = call.statusCode < 400 ? SUCCESS : { kind: 'http', status: call.statusCode, headers: call.headers, body: body.toString('utf8') };
  } catch (error) {
    ctx.trace?.upstreamFailed(error instanceof Error ? error.message : String(error));
    outcome = { kind: 'network', error };
  } finally {
    clearTimeout(timer);
    res.off('close', abort);
    ctx.shutdown.off(abort);
  }
  // The gateway's own give-up (its timeout, the client gone, the stop) says nothing about the key.
  if (!abandoned) snapshot.credentials.report(attempt.credential, outcome);
  if (outcome.kind === 'success' && body !== null) {
    const counted = api.read(parseJson(body));
    if (counted !== undefined) return counted;
    ctx.warn(`${label}: the upstream's answer holds no count; answered with an estimate`);
    return undefined;
  }
  if (!res.destroyed) ctx.warn(`${label}: ${outcome.kind === 'http' ? `the upstream answered HTTP ${outcome.status}` : abandoned ? `no answer within ${COUNT_TIMEOUT_MS} ms` : 'the upstream could not be reached'}; answered with an estimate`);
  return undefined;
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}
