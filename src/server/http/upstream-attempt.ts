/**
 * One attempt on an upstream, as stages with one job each (STYLE: handlers stack, after undici's
 * DecoratorHandler): prepare the request (upstream-request.ts), run the exchange
 * (upstream-exchange.ts), then, by what came back, read the error for the attempt plan, answer a
 * translated whole body, or hand the answer to the relay and account for it when it ends.
 */
import type { Dispatcher } from 'undici';
import type { Client } from '../auth/client-keys.ts';
import { clientErrorBody } from '../errors/client-error.ts';
import { createDispatcher } from '../proxy/dispatcher.ts';
import { clientResponseHeaders } from '../proxy/headers.ts';
import { relay, type RelayResult } from '../proxy/relay.ts';
import type { Attempt } from '../routing/attempt-plan.ts';
import { SUCCESS, type UpstreamOutcome } from '../routing/outcome.ts';
import { clientStatus, errorBody } from '../translate/error-bodies.ts';
import { createStreamTranslator, isTranslationError, translateResponse, type ResponseContext, type StreamTranslator } from '../translate/index.ts';
import type { WireFormat } from '../../shared/wire-format.ts';
import { answerShutdown, noteUsage, recordUsage, setServedBy } from './attempt-record.ts';
import { stripUsageChunk } from '../usage/include-usage.ts';
import type { ModelRequestContext } from './model-request.ts';
import { UpstreamExchange, type ExchangeEnd } from './upstream-exchange.ts';
import { prepareUpstreamRequest, type PreparedRequest } from './upstream-request.ts';

/** Error bodies are read to classify and relay them; more than this is not an error message. */
const ERROR_BODY_LIMIT = 64 * 1024;

export type TryResult =
  | { kind: 'relayed'; label: string }
  /** The answer is being relayed; `done` settles when it ends, its attempt counted. */
  | { kind: 'relaying'; done: Promise<void> }
  | { kind: 'http'; label: string; outcome: UpstreamOutcome; status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }
  | { kind: 'failed'; label: string; outcome: UpstreamOutcome };

const TIMEOUT: TryResult = Object.freeze({ kind: 'failed', label: 'timeout', outcome: Object.freeze({ kind: 'timeout' }) });
const ABORTED: TryResult = Object.freeze({ kind: 'relayed', label: 'aborted' });
const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json' });

export async function tryUpstream(ctx: ModelRequestContext, attempt: Attempt, body: Record<string, unknown>, raw: Buffer, stream: boolean, client: Client): Promise<TryResult> {
  const prepared = prepareUpstreamRequest(ctx, attempt, body, raw, stream);
  if (isTranslationError(prepared)) {
    // Nothing went upstream: the request cannot be said in this upstream's format, and the
    // client's answer says why (in its own format), not that an upstream refused it.
    const answer = Buffer.from(clientErrorBody(ctx.route.client, prepared.status, prepared.message));
    return { kind: 'http', label: 'untranslatable', outcome: { kind: 'http', status: prepared.status, body: prepared.message }, status: prepared.status, headers: JSON_HEADERS, body: answer };
  }
  const provider = attempt.candidate.provider.config;
  ctx.trace?.upstream({ provider: provider.name, model: attempt.candidate.upstreamModel, method: 'POST', url: prepared.url, headers: prepared.headers, body: prepared.payload, secret: attempt.credential.secret() });
  const dispatcher = ctx.snapshot.upstreams.dispatcher(provider.name, createDispatcher) as Dispatcher;
  const exchange = new UpstreamExchange(dispatcher, prepared, ctx.res, ctx.shutdown, provider.timeouts.total);
  try {
    await exchange.response;
  } catch (error) {
    return ended(ctx, exchange.end(error), error);
  }
  ctx.trace?.upstreamHead(exchange.call.statusCode, exchange.call.headers);
  if (exchange.call.statusCode >= 400) return readUpstreamError(ctx, attempt, exchange, prepared.wire);

  // Success: from here on the client has this response; no retry can follow.
  setServedBy(ctx.res, ctx.record, attempt);
  ctx.snapshot.credentials.report(attempt.credential, SUCCESS);
  ctx.res.statusCode = exchange.call.statusCode;
  const eventStream = String(exchange.call.headers['content-type'] ?? '').startsWith('text/event-stream');
  const answer = responseContext(ctx, body, prepared);
  if (prepared.wire !== null && !eventStream) return answerTranslated(ctx, client, exchange, prepared.wire, answer);
  return { kind: 'relaying', done: relayAnswer(ctx, attempt, client, exchange, prepared.wire, eventStream && prepared.stripUsage, eventStream, answer) };
}

/** What ended an exchange before a relay owned it, as the attempt plan reads it. */
function ended(ctx: ModelRequestContext, end: ExchangeEnd, error?: unknown): TryResult {
  ctx.trace?.upstreamFailed(error instanceof Error ? error.message : String(error));
  if (end === 'timeout') return TIMEOUT;
  if (end === 'aborted') {
    if (ctx.shutdown.aborted) answerShutdown(ctx.res, ctx.route.client);
    return ABORTED;
  }
  return { kind: 'failed', label: 'network_error', outcome: { kind: 'network', error } };
}

/**
 * An error answer, read (bounded) for the attempt plan. A translated request's client gets the
 * upstream's error in its own format, and when to retry as Retry-After, whichever way the
 * upstream said it (OpenAI's reset headers, Gemini's RetryInfo in the body).
 */
async function readUpstreamError(ctx: ModelRequestContext, attempt: Attempt, exchange: UpstreamExchange, wire: WireFormat | null): Promise<TryResult> {
  const call = exchange.call;
  let bytes: Buffer;
  try {
    bytes = await call.collect(ERROR_BODY_LIMIT);
  } catch (error) {
    return ended(ctx, exchange.end(error), error);
  }
  exchange.settle();
  ctx.trace?.upstreamBody(bytes);
  const text = bytes.toString('utf8');
  const outcome: UpstreamOutcome = { kind: 'http', status: call.statusCode, headers: call.headers, body: text };
  setServedBy(ctx.res, ctx.record, attempt);
  const label = `http_${call.statusCode}`;
  if (wire === null) return { kind: 'http', label, outcome, status: call.statusCode, headers: call.headers, body: bytes };
  const descriptor = attempt.candidate.provider.descriptor;
  const upstream = descriptor.readError(call.statusCode, parseJson(bytes));
  const client = ctx.route.wire as WireFormat;
  const status = clientStatus(client, upstream.status);
  const translated = errorBody(client, status, upstream.message);
  const waitMs = status === 429 || status === 503 ? descriptor.waitMs(call.headers, text, Date.now()) : null;
  const retryAfter = waitMs === null ? call.headers['retry-after'] : String(Math.max(1, Math.ceil(waitMs / 1000)));
  const headers = retryAfter === undefined ? JSON_HEADERS : { 'content-type': 'application/json', 'retry-after': retryAfter };
  return { kind: 'http', label, outcome, status, headers, body: Buffer.from(JSON.stringify(translated)) };
}

/** What the translators need to write the answer: the client's model id, its tools, whether it asked for usage. */
function responseContext(ctx: ModelRequestContext, body: Record<string, unknown>, prepared: PreparedRequest): ResponseContext {
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  return {
    model: typeof ctx.urlModel === 'string' ? ctx.urlModel : (body.model as string),
    requestId: ctx.record.id,
    // As OpenAI does: the usage chunk only when the chat client asked for it.
    includeUsage: streamOptions?.include_usage === true,
    // The answer's calls go back under the client's tool names (built from this request alone).
    tools: prepared.tools,
  };
}

/** A translated answer that is not a stream: read it whole, translate it, answer. */
async function answerTranslated(ctx: ModelRequestContext, client: Client, exchange: UpstreamExchange, wire: WireFormat, answer: ResponseContext): Promise<TryResult> {
  let whole: Buffer;
  try {
    whole = await exchange.call.collect(Number.MAX_SAFE_INTEGER);
  } catch (error) {
    return ended(ctx, exchange.end(error), error);
  }
  exchange.settle();
  const { res, record } = ctx;
  const translated = Buffer.from(JSON.stringify(translateResponse(wire, ctx.route.wire as WireFormat, parseJson(whole), answer)));
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', translated.length);
  res.end(translated);
  record.ttfbMs = Date.now() - exchange.sentAt;
  record.bytes = translated.length;
  noteUsage(ctx, client, whole.toString('utf8'));
  return { kind: 'relayed', label: 'success' };
}

/** Streams the answer to the client (translated on the way when `wire` is set); settles when the relay ends, accounted. */
function relayAnswer(ctx: ModelRequestContext, attempt: Attempt, client: Client, exchange: UpstreamExchange, wire: WireFormat | null, stripUsage: boolean, eventStream: boolean, answer: ResponseContext): Promise<void> {
  const { res, route, snapshot } = ctx;
  const call = exchange.call;
  if (wire === null) {
    const outHeaders = clientResponseHeaders(call.headers);
    for (const name in outHeaders) if (!res.hasHeader(name)) res.setHeader(name, outHeaders[name] as string | string[]);
  } else {
    res.setHeader('content-type', 'text/event-stream');
    res.setHeader('cache-control', 'no-cache');
  }
  if (eventStream) {
    res.removeHeader('content-length');
    ctx.onStream(true);
    // A stream's client sees the headers at once, together with the first event when the
    // upstream sent both in one go (it is already buffered: one write, one wake-up for the
    // client). Any other answer sends them with its body: alone they cost one more write.
    if (call.buffered === 0) res.flushHeaders();
  }
  exchange.detach();
  let translator: StreamTranslator | null = null;
  const relayed = relay(call, res, {
    format: route.client,
    responses: route.wire === 'responses',
    keepAliveMs: snapshot.config.server.streamKeepalive,
    eventStream,
    shutdown: ctx.shutdown,
    // @google/genai ignores an error event: only a response cut short makes it throw.
    cutOnFailure: route.client === 'gemini',
    ...(wire !== null
      ? { transform: (write: (text: string) => void) => (translator = createStreamTranslator(wire, route.wire as WireFormat, write, answer)) }
      : stripUsage
        ? { transform: stripUsageChunk }
        : {}),
  });
  return relayed.then((result) => {
    exchange.stopTimer();
    accountRelay(ctx, attempt, client, exchange, result, eventStream, translator);
  });
}

/** The relay ended: the access record, the key's health, usage and the attempt's metrics. */
function accountRelay(ctx: ModelRequestContext, attempt: Attempt, client: Client, exchange: UpstreamExchange, result: RelayResult, eventStream: boolean, translator: StreamTranslator | null): void {
  const { record, snapshot } = ctx;
  const sentAt = exchange.sentAt;
  if (eventStream) ctx.onStream(false);
  record.ttfbMs = result.firstByteAt === 0 ? null : result.firstByteAt - sentAt;
  record.bytes = result.bytes;
  record.outcome = result.outcome;
  // Counted as a success when the headers came; a stream that broke later still marks the key.
  if (result.outcome === 'upstream-failed') snapshot.credentials.report(attempt.credential, { kind: 'network' });
  const translatedUsage = translator?.usage() ?? null;
  if (translatedUsage !== null) recordUsage(ctx, client, { input: translatedUsage.inputTokens, output: translatedUsage.outputTokens, cached: translatedUsage.cachedInputTokens, reasoning: translatedUsage.reasoningTokens });
  else noteUsage(ctx, client, result.tail, result.head);
  const provider = attempt.candidate.provider.name;
  if (result.firstByteAt !== 0) ctx.metrics.ttfb.observe({ route: ctx.route.endpoint, provider }, (result.firstByteAt - sentAt) / 1000);
  ctx.metrics.attempts.inc({ provider, outcome: result.outcome === 'complete' ? 'success' : result.outcome.replace('-', '_') });
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return { error: { message: bytes.toString('utf8').slice(0, 500) } };
  }
}
