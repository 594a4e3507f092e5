/**
 * One model request, end to end: authenticate, read and parse the body once, resolve the model,
 * then walk the attempt plan (credentials → providers → fallback models) until an upstream
 * answers. Nothing reaches the client before an attempt has succeeded or the plan is done, so
 * every retry happens before the first byte (DESIGN §8). Same-family bodies are forwarded as the
 * original bytes unless the model id must be rewritten.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { extractKey } from '../auth/extract-key.ts';
import { allowsModel, type Client } from '../auth/client-keys.ts';
import { rateLimitHeaders } from '../auth/rate-limit.ts';
import { clientErrorBody } from '../errors/client-error.ts';
import { baseUrlOf } from '../providers/registry.ts';
import { upstreamRequestHeaders, clientResponseHeaders } from '../proxy/headers.ts';
import { createDispatcher } from '../proxy/dispatcher.ts';
import { relay } from '../proxy/relay.ts';
import { UpstreamCall } from '../proxy/upstream-call.ts';
import { createAttemptPlan, type Attempt } from '../routing/attempt-plan.ts';
import type { ResolvedModel } from '../routing/model-table.ts';
import type { WireFormat } from '../../shared/wire-format.ts';
import { createStreamTranslator, isTranslationError, translateError, translateRequest, translateResponse, type ToolNames } from '../translate/index.ts';
import { SUCCESS, type UpstreamOutcome } from '../routing/outcome.ts';
import { upstreamWaitMs } from '../routing/retry-after.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Snapshot } from '../snapshot.ts';
import type { AccessRecord } from './access-log.ts';
import { readBody } from './body.ts';
import { reportOmitted } from './omitted.ts';
import { sendError } from './respond.ts';
import type { ModelRoute } from './routes.ts';
import type { ShutdownSignal } from './shutdown-signal.ts';
import { extractUsage } from './usage.ts';

/** Error bodies are read to classify and relay them; more than this is not an error message. */
const ERROR_BODY_LIMIT = 64 * 1024;

export interface ModelRequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  snapshot: Snapshot;
  route: ModelRoute;
  /** The model id from the URL (Gemini), else null. */
  urlModel: string | null;
  /** Raised when the gateway forces its shutdown. */
  shutdown: ShutdownSignal;
  record: AccessRecord;
  metrics: Metrics;
  onStream: (open: boolean) => void;
  /** The gateway's warning log line (what a translation left out). */
  warn: (message: string) => void;
}

export function handleModelRequest(ctx: ModelRequestContext): Promise<void> {
  // Leased before the first await and held to the end: a reload must not close the upstream pool
  // this request will dispatch on (its body may still be arriving).
  const release = ctx.snapshot.upstreams.lease();
  return serveModelRequest(ctx).then(release, (error: unknown) => {
    release();
    throw error;
  });
}

async function serveModelRequest(ctx: ModelRequestContext): Promise<void> {
  const { req, res, snapshot, route, record } = ctx;
  const format = route.client;

  const auth = snapshot.clients.authenticate(extractKey(req.headers, req.url ?? '')?.key ?? null);
  if (!auth.ok) {
    const message =
      auth.reason === 'missing'
        ? 'No API key provided. Send your ai-proxy client key as "Authorization: Bearer <key>", "x-api-key" or "x-goog-api-key".'
        : auth.reason === 'expired'
          ? 'This API key has expired.'
          : 'Invalid API key.';
    return sendError(res, format, 401, message, { code: 'invalid_api_key' });
  }
  const client = auth.client;
  record.client = client.name;

  const limit = snapshot.limits.check(client, Date.now());
  const limitHeaders = limit.requests === null && limit.tokens === null ? null : rateLimitHeaders(limit);
  if (!limit.allowed) {
    return sendError(res, format, 429, `Rate limit exceeded for key '${client.name}' (${limit.limitedBy === 'tokens' ? 'tokens' : 'requests'} per minute); retry in ${limit.retryAfterSeconds}s.`, {
      code: 'rate_limit_exceeded',
      retryAfterSeconds: limit.retryAfterSeconds,
      headers: limitHeaders ?? {},
    });
  }
  if (limitHeaders !== null) for (const name in limitHeaders) res.setHeader(name, limitHeaders[name] as string);

  const read = await readBody(req, snapshot.config.server.bodyLimit, snapshot.config.server.bodyTimeout);
  if (!read.ok) {
    // The rest of an oversized or stalled body is not worth reading: answer, then close the connection.
    res.shouldKeepAlive = false;
    return sendError(res, format, read.status, read.message, read.headers === undefined ? undefined : { headers: read.headers });
  }
  // JSON is UTF-8 (RFC 8259); decoding would silently turn invalid bytes into U+FFFD and forward them.
  if (!isUtf8(read.body)) return sendError(res, format, 400, 'The request body is not valid UTF-8; JSON must be encoded in UTF-8.');
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(read.body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object');
    body = parsed as Record<string, unknown>;
  } catch (error) {
    return sendError(res, format, 400, `The request body is not valid JSON: ${(error as Error).message}`);
  }
  // The gateway decides by this field whether to relay a stream; "yes" or 1 must not mean one thing here and another upstream.
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return sendError(res, format, 400, `"stream" must be true or false, not ${JSON.stringify(body.stream).slice(0, 40)}.`, { param: 'stream' });
  }

  const model = ctx.urlModel ?? body.model;
  if (typeof model !== 'string' || model === '') return sendError(res, format, 400, 'The request needs a "model" (a string naming the model to use).', { param: 'model' });
  record.model = model;
  if (!allowsModel(client, model)) return sendError(res, format, 403, `The key '${client.name}' may not use the model '${model}'.`, { code: 'model_not_allowed' });

  const resolution = snapshot.models.resolve(model);
  if (!resolution.ok) return sendError(res, format, 404, resolution.message, { code: 'model_not_found' });
  record.resolvedModel = resolution.model;
  const servable = servableBy(resolution, route);
  if (servable === null) {
    return sendError(res, format, 400, `The model '${model}' is served by a provider of another API family, and ${req.url?.split('?')[0]} has no cross-format translation; use that provider's own endpoint.`);
  }
  const stream = body.stream === true || route.endpoint === 'stream-generate-content';
  const configured = snapshot.models.fallbacks(resolution.requested);
  const fallbacks = configured.length === 0 ? configured : configured.filter((id) => allowsModel(client, id));
  const plan = createAttemptPlan({ resolution: servable, table: snapshot.models, fallbacks, pool: snapshot.credentials, policy: snapshot.retry });

  let step = plan.next();
  let lastError: { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer } | null = null;
  while (!step.done) {
    if (step.delayMs > 0) await sleep(step.delayMs, ctx.shutdown);
    if (ctx.shutdown.aborted) return answerShutdown(res, route.client);
    if (res.destroyed) return;
    record.attempts = step.number;
    const attempt: Attempt = step;
    res.setHeader('x-ai-proxy-attempts', String(attempt.number));
    const serveLocally = attempt.candidate.provider.descriptor.serveLocally;
    if (serveLocally !== null) {
      setServedBy(res, record, attempt);
      const mock = await serveLocally(attempt.candidate.provider.config, { route, model: attempt.candidate.upstreamModel, body, stream, signal: abortOnClose(res, ctx.shutdown) }, res);
      record.inputTokens = mock.inputTokens;
      record.outputTokens = mock.outputTokens;
      recordTokens(snapshot, client, mock.inputTokens + mock.outputTokens);
      return;
    }
    if (attempt.number > 1) ctx.metrics.retries.inc({ provider: attempt.candidate.provider.name });
    const outcome = await tryUpstream(ctx, attempt, body, read.body, stream, client);
    // Returned, not awaited: a stream can last minutes, and this frame (the parsed body, the
    // plan) need not live that long.
    if (outcome.kind === 'relaying') return outcome.done;
    ctx.metrics.attempts.inc({ provider: attempt.candidate.provider.name, outcome: outcome.label });
    if (outcome.kind === 'relayed') return;
    if (outcome.kind === 'http') lastError = { status: outcome.status, headers: outcome.headers, body: outcome.body };
    else lastError = null;
    step = plan.next(outcome.outcome, { firstByteSent: false });
  }

  record.attempts = step.attempts;
  if (step.reason === 'unavailable') {
    return sendError(res, format, 503, `Every upstream credential for '${model}' is cooling down after errors; retry later.`, { kind: 'overloaded', ...(step.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: step.retryAfterSeconds }) });
  }
  if (lastError !== null && (lastError.status === 401 || lastError.status === 402 || lastError.status === 403)) {
    // The upstream refused the gateway's own key(s): not the client's fault, so not its auth error
    // (its SDK would raise AuthenticationError), and the upstream's message may quote part of our key.
    return sendError(res, format, 502, `The upstream provider refused the gateway's credentials for '${model}' (HTTP ${lastError.status}); the operator must check that provider's api-keys.`, { kind: 'server' });
  }
  if (lastError !== null) {
    const type = lastError.headers['content-type'];
    const contentType = (Array.isArray(type) ? type[0] : type) ?? '';
    if (!/\bjson\b/i.test(contentType)) {
      // Not the API's answer (an HTML page from a proxy or load balancer in between): the client gets its own format.
      const retryAfter = Number(lastError.headers['retry-after']);
      return sendError(res, format, lastError.status, `The upstream for '${model}' answered ${lastError.status} with ${contentType === '' ? 'no content type' : contentType} instead of an API response.`, Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {});
    }
    // The upstream's own answer, in the client's own format (same family): relay it as it came.
    res.statusCode = lastError.status;
    const headers = clientResponseHeaders(lastError.headers);
    // The gateway's own headers (x-request-id, the client's x-ratelimit-*, x-ai-proxy-*) win.
    for (const name in headers) if (!res.hasHeader(name)) res.setHeader(name, headers[name] as string | string[]);
    res.setHeader('content-length', lastError.body.length);
    res.end(lastError.body);
    return;
  }
  sendError(res, format, step.status, `No upstream could serve '${model}': ${step.message}`);
}

type TryResult =
  | { kind: 'relayed'; label: string }
  /** The answer is being relayed; `done` settles when it ends, its attempt counted. */
  | { kind: 'relaying'; done: Promise<void> }
  | { kind: 'http'; label: string; outcome: UpstreamOutcome; status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }
  | { kind: 'failed'; label: string; outcome: UpstreamOutcome };

/**
 * Null: forward as is (same family). Otherwise the upstream's wire format to translate to. OpenAI
 * itself serves both of its APIs, so chat and Responses pass through to it; an OpenAI-compatible
 * upstream speaks the one its `wire-api` names, and the other is translated.
 */
function upstreamWireFor(route: ModelRoute, attempt: Attempt): WireFormat | null {
  const provider = attempt.candidate.provider;
  // Only the mock answers `any`, and it is served before this is asked.
  const target = provider.wire as WireFormat;
  if (provider.descriptor.family !== route.family) return target;
  if (route.wire !== null && !provider.speaks.includes(route.wire)) return target;
  return null;
}

async function tryUpstream(ctx: ModelRequestContext, attempt: Attempt, body: Record<string, unknown>, raw: Buffer, stream: boolean, client: Client): Promise<TryResult> {
  const { req, res, snapshot, route, record } = ctx;
  const provider = attempt.candidate.provider.config;
  const descriptor = attempt.candidate.provider.descriptor;
  const upstreamModel = attempt.candidate.upstreamModel;
  const dispatcher = snapshot.upstreams.dispatcher(provider.name, createDispatcher) as Dispatcher;
  const headers = upstreamRequestHeaders(req.headers, provider.headers);
  const key = attempt.credential.secret();
  descriptor.applyCredential(headers, key === '' ? null : key, provider);
  headers['content-type'] = 'application/json';

  const from = route.wire as WireFormat;
  const upstreamWire = upstreamWireFor(route, attempt);
  let url: string;
  let payload: Buffer;
  let tools: ToolNames | undefined;
  if (upstreamWire === null) {
    url = descriptor.passthroughUrl(baseUrlOf(provider), route, upstreamModel, stream, route.endpoint !== 'stream-generate-content' || /[?&]alt=sse(?:&|$)/.test(req.url ?? ''));
    // Forward the client's bytes untouched unless the model id must change (Gemini keeps it in the URL).
    payload = route.family === 'gemini' || body.model === upstreamModel ? raw : Buffer.from(JSON.stringify({ ...body, model: upstreamModel }));
    reportOmitted(res, [], ctx.warn, '');
  } else {
    try {
      const translated = translateRequest(from, upstreamWire, body, { model: upstreamModel, stream, unsupported: snapshot.config.translation.unsupported });
      payload = Buffer.from(JSON.stringify(translated.body));
      tools = translated.tools;
      reportOmitted(res, translated.omitted, ctx.warn, `request ${record.id} (${from} → ${upstreamWire}, ${provider.name}/${upstreamModel})`);
    } catch (error) {
      if (!isTranslationError(error)) throw error;
      // Nothing went upstream: the request cannot be said in this upstream's format, and the
      // client's answer says why (in its own format), not that an upstream refused it.
      const answer = Buffer.from(clientErrorBody(route.client, error.status, error.message));
      return { kind: 'http', label: 'untranslatable', outcome: { kind: 'http', status: error.status, body: error.message }, status: error.status, headers: { 'content-type': 'application/json' }, body: answer };
    }
    url = descriptor.translatedUrl(baseUrlOf(provider), upstreamWire, upstreamModel, stream);
    // A translated request must not carry the client family's version headers to another family.
    delete headers['anthropic-beta'];
    if (descriptor.family !== 'anthropic') delete headers['anthropic-version'];
  }

  const sentAt = Date.now();
  const { call, response } = UpstreamCall.start(dispatcher, { url, method: 'POST', headers, body: payload });
  let aborted = false;
  const abort = (reason: Error): void => {
    aborted = true;
    call.abort(reason);
  };
  const onClose = (): void => abort(new Error('client disconnected'));
  res.once('close', onClose);
  const onShutdown = (): void => abort(new Error('the gateway is shutting down'));
  ctx.shutdown.on(onShutdown);
  const cleanup = (): void => {
    res.off('close', onClose);
    ctx.shutdown.off(onShutdown);
  };
  // timeouts.total bounds the whole upstream exchange, the relay included.
  let timedOut = false;
  const totalMs = provider.timeouts.total;
  const totalTimer =
    totalMs > 0
      ? setTimeout(() => {
          timedOut = true;
          abort(new Error(`the upstream exceeded its total timeout of ${totalMs} ms`));
        }, totalMs)
      : null;
  const stopTimer = (): void => {
    if (totalTimer !== null) clearTimeout(totalTimer);
  };

  // Whatever ends the exchange before a relay owns it: the client leaving, the shutdown, a timeout
  // or the upstream failing, while waiting for the head or while reading a body to translate.
  const ended = (error: unknown): TryResult => {
    cleanup();
    stopTimer();
    if (timedOut) return { kind: 'failed', label: 'timeout', outcome: { kind: 'timeout' } };
    if (aborted) {
      if (ctx.shutdown.aborted) answerShutdown(res, route.client);
      return { kind: 'relayed', label: 'aborted' };
    }
    const timeout = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
    return timeout ? { kind: 'failed', label: 'timeout', outcome: { kind: 'timeout' } } : { kind: 'failed', label: 'network_error', outcome: { kind: 'network', error } };
  };

  try {
    await response;
  } catch (error) {
    return ended(error);
  }

  if (call.statusCode >= 400) {
    let errorBody: Buffer;
    try {
      errorBody = await call.collect(ERROR_BODY_LIMIT);
    } catch (error) {
      return ended(error);
    }
    cleanup();
    stopTimer();
    const outcome: UpstreamOutcome = { kind: 'http', status: call.statusCode, headers: call.headers, body: errorBody.toString('utf8') };
    setServedBy(res, record, attempt);
    let status = call.statusCode;
    let outHeaders = call.headers;
    if (upstreamWire !== null) {
      // The client gets the upstream's error in its own format, and when to retry as Retry-After,
      // whichever way the upstream said it (OpenAI's reset headers, Gemini's RetryInfo in the body).
      const translated = translateError(upstreamWire, from, status, parseJson(errorBody));
      status = translated.status;
      errorBody = Buffer.from(JSON.stringify(translated.body));
      const waitMs = status === 429 || status === 503 ? upstreamWaitMs(call.headers, outcome.body, Date.now()) : null;
      const retryAfter = waitMs === null ? call.headers['retry-after'] : String(Math.max(1, Math.ceil(waitMs / 1000)));
      outHeaders = { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) };
    }
    return { kind: 'http', label: `http_${call.statusCode}`, outcome, status, headers: outHeaders, body: errorBody };
  }

  // Success: from here on the client has this response; no retry can follow.
  setServedBy(res, record, attempt);
  snapshot.credentials.report(attempt.credential, SUCCESS);
  res.statusCode = call.statusCode;
  const contentType = String(call.headers['content-type'] ?? '');
  const eventStream = contentType.startsWith('text/event-stream');
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  const responseContext = {
    model: typeof ctx.urlModel === 'string' ? ctx.urlModel : (body.model as string),
    requestId: record.id,
    // As OpenAI does: the usage chunk only when the chat client asked for it.
    includeUsage: streamOptions?.include_usage === true,
    // The answer's calls go back under the client's tool names (built from this request alone).
    tools,
  };

  if (upstreamWire !== null && !eventStream) {
    let whole: Buffer;
    try {
      whole = await call.collect(Number.MAX_SAFE_INTEGER);
    } catch (error) {
      return ended(error);
    }
    cleanup();
    stopTimer();
    const translated = Buffer.from(JSON.stringify(translateResponse(upstreamWire, from, parseJson(whole), responseContext)));
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', translated.length);
    res.end(translated);
    record.ttfbMs = Date.now() - sentAt;
    record.bytes = translated.length;
    noteUsage(ctx, client, whole.toString('utf8'));
    return { kind: 'relayed', label: 'success' };
  }

  if (upstreamWire === null) {
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
  cleanup();
  let translator: ReturnType<typeof createStreamTranslator> | null = null;
  const relayed = relay(call, res, {
    format: route.client,
    responses: route.wire === 'responses',
    keepAliveMs: snapshot.config.server.streamKeepalive,
    eventStream,
    shutdown: ctx.shutdown,
    // @google/genai ignores an error event: only a response cut short makes it throw.
    cutOnFailure: route.client === 'gemini',
    ...(upstreamWire === null ? {} : { transform: (write: (text: string) => void) => (translator = createStreamTranslator(upstreamWire, from, write, responseContext)) }),
  });
  const done = relayed.then((result) => {
    stopTimer();
    if (eventStream) ctx.onStream(false);
    record.ttfbMs = result.firstByteAt === 0 ? null : result.firstByteAt - sentAt;
    record.bytes = result.bytes;
    record.outcome = result.outcome;
    // Counted as a success when the headers came; a stream that broke later still marks the key.
    if (result.outcome === 'upstream-failed') snapshot.credentials.report(attempt.credential, { kind: 'network' });
    const translatedUsage = (translator as ReturnType<typeof createStreamTranslator> | null)?.usage() ?? null;
    if (translatedUsage !== null) {
      recordUsage(ctx, client, translatedUsage.inputTokens, translatedUsage.outputTokens);
    } else {
      noteUsage(ctx, client, result.tail, result.head);
    }
    if (result.firstByteAt !== 0) ctx.metrics.ttfb.observe({ route: route.endpoint, provider: provider.name }, (result.firstByteAt - sentAt) / 1000);
    ctx.metrics.attempts.inc({ provider: attempt.candidate.provider.name, outcome: result.outcome === 'complete' ? 'success' : result.outcome.replace('-', '_') });
  });
  return { kind: 'relaying', done };
}

function noteUsage(ctx: ModelRequestContext, client: Client, text: string, head?: string): void {
  const usage = extractUsage(text, head);
  if (usage !== null) recordUsage(ctx, client, usage.input, usage.output);
}

function recordUsage(ctx: ModelRequestContext, client: Client, input: number, output: number): void {
  ctx.record.inputTokens = input;
  ctx.record.outputTokens = output;
  recordTokens(ctx.snapshot, client, input + output);
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return { error: { message: bytes.toString('utf8').slice(0, 500) } };
  }
}

/** A request the forced stop caught before its answer started gets an error it can act on (retry elsewhere), not a bare hang-up. */
function answerShutdown(res: ServerResponse, format: ModelRoute['client']): void {
  if (res.headersSent || res.destroyed) return;
  res.shouldKeepAlive = false;
  sendError(res, format, 503, 'The gateway is shutting down; retry the request (against another instance).', { kind: 'overloaded' });
}

function setServedBy(res: ServerResponse, record: AccessRecord, attempt: Attempt): void {
  record.provider = attempt.candidate.provider.name;
  record.upstreamModel = attempt.candidate.upstreamModel;
  if (!res.headersSent) {
    res.setHeader('x-ai-proxy-provider', attempt.candidate.provider.name);
    res.setHeader('x-ai-proxy-model', attempt.candidate.upstreamModel);
  }
}

function recordTokens(snapshot: Snapshot, client: Client, tokens: number): void {
  if (client.tpm !== null && tokens > 0) snapshot.limits.recordTokens(client, tokens, Date.now());
}

/**
 * Candidates that can take this route: the same API family (passthrough), the mock, or, for
 * endpoints a translator carries (chat, responses, messages, generateContent), any family.
 */
function servableBy(resolution: ResolvedModel, route: ModelRoute): ResolvedModel | null {
  // The usual answer, without allocating: a translator carries every family, or all candidates fit.
  if (route.wire !== null) return resolution;
  let all = true;
  for (const candidate of resolution.candidates) all &&= servesFamily(candidate, route);
  if (all) return resolution;
  const candidates = resolution.candidates.filter((c) => servesFamily(c, route));
  if (candidates.length === 0) return null;
  return candidates.length === resolution.candidates.length ? resolution : { ...resolution, candidates };
}

function servesFamily(candidate: ResolvedModel['candidates'][number], route: ModelRoute): boolean {
  const family = candidate.provider.descriptor.family;
  return family === 'any' || family === route.family;
}

function abortOnClose(res: ServerResponse, shutdown: ShutdownSignal): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  shutdown.on(() => controller.abort());
  return controller.signal;
}

function sleep(ms: number, signal: ShutdownSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.off(wake);
      resolve();
    }, ms);
    signal.on(wake);
  });
}

