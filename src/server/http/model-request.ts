/**
 * One model request, end to end: authenticate, read and parse the body once, resolve the model,
 * then walk the attempt plan (credentials → providers → fallback models) until an upstream
 * answers. Nothing reaches the client before an attempt has succeeded or the plan is done, so
 * every retry happens before the first byte (DESIGN §8). One attempt on an upstream is
 * upstream-attempt.ts's stages.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extractKey } from '../auth/extract-key.ts';
import { allowsModel } from '../auth/client-keys.ts';
import { rateLimitHeaders } from '../auth/rate-limit.ts';
import { clientResponseHeaders } from '../proxy/headers.ts';
import { createAttemptPlan, type Attempt } from '../routing/attempt-plan.ts';
import type { ResolvedModel } from '../routing/model-table.ts';
import type { CaptureHub, RequestTrace } from '../observability/capture.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Snapshot } from '../snapshot.ts';
import type { AccessRecord } from './access-log.ts';
import { answerShutdown, recordTokens, setServedBy } from './attempt-record.ts';
import { readBody } from './body.ts';
import { countAcrossFamilies, isCountRoute } from './count-tokens.ts';
import { sendError } from './respond.ts';
import type { ModelRoute } from './routes.ts';
import type { ShutdownSignal } from './shutdown-signal.ts';
import { tryUpstream } from './upstream-attempt.ts';
import { refuseOverBudget } from '../usage/budget-refusal.ts';

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
  /** The operators' captures; `armed` is the only thing the request path reads when none is. */
  capture: CaptureHub;
  /** This request's capture record, when a capture took it. */
  trace: RequestTrace | null;
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

  const presented = extractKey(req.headers, req.url ?? '')?.key ?? null;
  const auth = snapshot.clients.authenticate(presented);
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

  const decided = snapshot.limits.check(client, Date.now());
  // A promise only with shared-state, for a key with limits: one Redis round trip, bounded by command-timeout.
  const limit = decided instanceof Promise ? await decided : decided;
  const limitHeaders = limit.requests === null && limit.tokens === null ? null : rateLimitHeaders(limit);
  if (!limit.allowed) {
    return sendError(res, format, 429, `Rate limit exceeded for key '${client.name}' (${limit.limitedBy === 'tokens' ? 'tokens' : 'requests'} per minute); retry in ${limit.retryAfterSeconds}s.`, {
      code: 'rate_limit_exceeded',
      retryAfterSeconds: limit.retryAfterSeconds,
      headers: limitHeaders ?? {},
    });
  }
  if (limitHeaders !== null) for (const name in limitHeaders) res.setHeader(name, limitHeaders[name] as string);
  const budgetNow = snapshot.budgets.now();
  const budget = snapshot.budgets.check(client.name, budgetNow);
  if (!budget.allowed) return refuseOverBudget(res, format, client.name, budget, budgetNow, ctx.metrics);

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
  if (ctx.capture.armed) ctx.trace = ctx.capture.begin(snapshot.config, { id: record.id, client: client.name, model, presentedKey: presented, req, res, body: read.body });
  if (!allowsModel(client, model)) return sendError(res, format, 403, `The key '${client.name}' may not use the model '${model}'.`, { code: 'model_not_allowed' });

  const resolution = snapshot.models.resolve(model);
  if (!resolution.ok) return sendError(res, format, 404, resolution.message, { code: 'model_not_found' });
  record.resolvedModel = resolution.model;
  const servable = servableBy(resolution, route);
  if (servable === null) {
    if (isCountRoute(route)) return countAcrossFamilies(ctx, { body, raw: read.body, resolution });
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

