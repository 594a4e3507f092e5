/**
 * The request entry point: request id, dispatch by path, the access line when the response
 * closes. The snapshot is read once per request, so a reload never changes a request midway.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientFormatOf } from '../errors/client-error.ts';
import type { Gateway } from '../gateway.ts';
import { handleAdmin } from '../observability/admin.ts';
import type { Snapshot } from '../snapshot.ts';
import { formatAccessLine, newAccessRecord, type AccessRecord } from './access-log.ts';
import { listModels, retrieveModel } from './models.ts';
import type * as ModelRequests from './model-request.ts';
import type { ModelRequestContext } from './model-request.ts';
import { sendError, sendJson } from './respond.ts';
import { bodyModelRoutes, geminiRoute } from './routes.ts';
import { OMITTED_HEADER } from './omitted.ts';
import type { RequestTracker } from './tracker.ts';
import { isWebSocketUpgrade, refuseWebSocket } from './websocket-upgrade.ts';

type Pipeline = typeof ModelRequests;
/**
 * The model request pipeline (undici, the translators: most of the server's code) is loaded
 * right after the gateway reports ready rather than before, so a start does not wait for it.
 */
let pipeline: Pipeline | null = null;
let loading: Promise<Pipeline> | null = null;

export function loadPipeline(): Promise<Pipeline> {
  loading ??= import('./model-request.ts').then((loaded) => (pipeline = loaded));
  return loading;
}

const requestIdPattern = /^[\w.:-]{1,128}$/;

export function createRequestHandler(gateway: Gateway, tracker: RequestTracker): (req: IncomingMessage, res: ServerResponse) => void {
  const onStream = (open: boolean): void => (open ? tracker.streamStarted() : tracker.streamEnded());
  // The gateway's logger of the moment (a reload may replace it), looked up at each call.
  const warn = (message: string): void => {
    gateway.logger.warn(message);
  };

  return (req, res) => {
    const snapshot = gateway.snapshot;
    if (snapshot === null) return sendJson(res, 503, '{"error":"starting"}');
    const shutdown = tracker.begin(res);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const offered = req.headers['x-request-id'];
    const id = typeof offered === 'string' && requestIdPattern.test(offered) ? offered : randomUUID();
    res.setHeader('x-request-id', id);

    const record = newAccessRecord(id, req.method ?? 'GET', path);
    // The access line and metrics wait for the response to close and for the model handler to
    // finish: 'close' can fire (on a nextTick) before the handler's code after its last await has
    // filled in bytes, time to first byte, tokens and outcome.
    let pending = 1;
    let status = 499;
    const settle = (): void => {
      if (--pending === 0) finish(gateway, snapshot, record, status);
    };
    // 'close' is emitted once: `on` spares the wrapper `once` would allocate per request.
    res.on('close', () => {
      tracker.end(req, shutdown);
      status = res.headersSent ? res.statusCode : 499;
      // Answers the gateway wrote whole (errors, health, the mock) were not counted by the relay.
      if (record.bytes === 0) {
        const length = res.getHeader('content-length');
        if (typeof length === 'number') record.bytes = length;
        else if (typeof length === 'string') record.bytes = Number(length) || 0;
      }
      settle();
    });
    const cors = snapshot.config.server.cors;
    if (cors.enabled && applyCors(req, res, cors)) return;
    if (isWebSocketUpgrade(req)) return refuseWebSocket(req, res, path);

    if (req.method === 'GET') {
      switch (path) {
        case '/healthz':
          return sendJson(res, 200, '{"status":"ok"}');
        case '/readyz':
          return gateway.ready
            ? sendJson(res, 200, `{"status":"ready","generation":${snapshot.generation}}`)
            : sendJson(res, 503, '{"status":"stopping"}');
        case '/v1/models':
        case '/v1beta/models':
          return listModels(req, res, snapshot, path);
        case '/metrics':
          void gateway.metrics.registry.metrics().then((text) => {
            res.setHeader('content-type', gateway.metrics.registry.contentType);
            res.end(text);
          });
          return;
      }
      if (path.startsWith('/admin/')) return handleAdmin(req, res, snapshot, path, gateway.usage.ledger);
      if (path.startsWith('/v1/models/')) return retrieveModel(req, res, snapshot, decodeURIComponentSafe(path.slice('/v1/models/'.length)));
    }
    if (req.method === 'POST') {
      const bodyRoute = bodyModelRoutes.get(path);
      const gemini = bodyRoute === undefined ? geminiRoute(path) : null;
      const route = bodyRoute ?? gemini?.route;
      if (route !== undefined) {
        pending++;
        record.modelRequest = true;
        const context: ModelRequestContext = { req, res, snapshot, route, urlModel: gemini?.model ?? null, shutdown, record, metrics: gateway.metrics, onStream, warn };
        const failed = (error: unknown): void => {
          try {
            gateway.logger.error(`request ${id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
            if (!res.headersSent) sendError(res, route.client, 500, 'Internal error in the gateway; see its log.');
            else res.destroy();
          } finally {
            settle();
          }
        };
        // One then() rather than catch().finally(): two fewer promises per request.
        void (pipeline !== null ? pipeline.handleModelRequest(context) : loadPipeline().then((loaded) => loaded.handleModelRequest(context))).then(settle, failed);
        return;
      }
    }
    req.resume();
    const format = clientFormatOf(path) ?? 'openai';
    const allowed = allowedMethod(path);
    if (allowed !== null) return sendError(res, format, 405, `${req.method} is not allowed on ${path}; use ${allowed}.`, { headers: { allow: allowed } });
    sendError(res, format, 404, `No route for ${req.method} ${path}. Model endpoints: POST /v1/chat/completions, /v1/responses, /v1/messages, /v1beta/models/{model}:generateContent; GET /v1/models lists the models.`);
  };
}

/** The method a known path takes, for a 405 with `Allow` when another one was used; null for unknown paths (404). */
function allowedMethod(path: string): 'GET' | 'POST' | null {
  if (bodyModelRoutes.has(path) || geminiRoute(path) !== null) return 'POST';
  if (getRoutes.has(path) || path.startsWith('/admin/') || path.startsWith('/v1/models/')) return 'GET';
  return null;
}

const getRoutes: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/v1/models', '/v1beta/models']);

/** Paths served by name. Any other path is one label, so that scanners cannot grow the metric set without bound. */
const namedRoutes: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/v1/models', '/v1beta/models', '/admin/config', '/admin/routes', '/admin/credentials', '/admin/usage', '/admin/budgets', ...bodyModelRoutes.keys()]);

function routeLabel(path: string): string {
  if (namedRoutes.has(path)) return path;
  if (path.startsWith('/v1/models/')) return '/v1/models/{model}';
  return path.startsWith('/v1beta/models/') ? '/v1beta/models/{model}' : 'unmatched';
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Model labels: resolved ids only, and at most this many distinct ones; a glob in a provider's
 * model list lets clients name new ids, which must not grow the metric set without bound.
 */
const MODEL_LABEL_LIMIT = 500;
const modelLabels = new Set<string>();

function modelLabel(model: string | null): string {
  if (model === null) return 'none';
  if (modelLabels.has(model)) return model;
  if (modelLabels.size >= MODEL_LABEL_LIMIT) return 'other';
  modelLabels.add(model);
  return model;
}

/** Metrics and the access line, once per request when its response closes. */
function finish(gateway: Gateway, snapshot: Snapshot, record: AccessRecord, status: number): void {
  const now = Date.now();
  const metrics = gateway.metrics;
  const provider = record.provider ?? 'none';
  const route = routeLabel(record.path);
  const model = modelLabel(record.resolvedModel);
  metrics.requests.inc({ route, model, provider, status });
  metrics.duration.observe({ route, provider }, (now - record.startedAt) / 1000);
  if (record.inputTokens !== null) metrics.tokens.inc({ direction: 'in', model, provider }, record.inputTokens);
  if (record.outputTokens !== null) metrics.tokens.inc({ direction: 'out', model, provider }, record.outputTokens);
  if (record.modelRequest) gateway.usage.finish(snapshot, record, status, now, route, model);
  if (snapshot.config.log.access) gateway.output.droppable(gateway.accessPrefix + formatAccessLine(snapshot.config.log.format, record, status, now));
}

/** What a browser client may read: the gateway's own headers and its rate-limit state (auth/rate-limit.ts). */
const EXPOSED_HEADERS = [
  'x-request-id',
  'x-ai-proxy-model',
  'x-ai-proxy-provider',
  'x-ai-proxy-attempts',
  OMITTED_HEADER,
  'retry-after',
  ...['limit', 'remaining', 'reset'].flatMap((what) => [`x-ratelimit-${what}-requests`, `x-ratelimit-${what}-tokens`]),
].join(', ');

/** CORS for browser clients; true when the request was a preflight and is answered. */
function applyCors(req: IncomingMessage, res: ServerResponse, cors: Snapshot['config']['server']['cors']): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  const allowed = cors.origins.includes('*') || cors.origins.includes(origin);
  if (!allowed) return false;
  res.setHeader('access-control-allow-origin', cors.origins.includes('*') ? '*' : origin);
  res.setHeader('vary', 'origin');
  res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
  if (req.method !== 'OPTIONS') return false;
  res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
  res.setHeader('access-control-allow-headers', cors.headers.join(', '));
  res.setHeader('access-control-max-age', String(Math.floor(cors.maxAge / 1000)));
  res.statusCode = 204;
  res.end();
  return true;
}
