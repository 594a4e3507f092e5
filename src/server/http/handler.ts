/**
 * The request entry point: request id, dispatch by path, the access line when the response
 * closes. The snapshot is read once per request, so a reload never changes a request midway.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientFormatOf } from '../errors/client-error.ts';
import type { Gateway } from '../gateway.ts';
import { formatAccessLine, newAccessRecord } from './access-log.ts';
import { listModels } from './models.ts';
import { handleModelRequest } from './model-request.ts';
import { sendError, sendJson } from './respond.ts';
import { bodyModelRoutes, geminiRoute } from './routes.ts';
import type { RequestTracker } from './tracker.ts';

const requestIdPattern = /^[\w.:-]{1,128}$/;

export function createRequestHandler(gateway: Gateway, tracker: RequestTracker): (req: IncomingMessage, res: ServerResponse) => void {
  const onStream = (open: boolean): void => (open ? tracker.streamStarted() : tracker.streamEnded());

  return (req, res) => {
    const snapshot = gateway.snapshot;
    if (snapshot === null) return sendJson(res, 503, '{"error":"starting"}');
    const shutdown = tracker.begin(req, res);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const offered = req.headers['x-request-id'];
    const id = typeof offered === 'string' && requestIdPattern.test(offered) ? offered : randomUUID();
    res.setHeader('x-request-id', id);

    const record = newAccessRecord(id, req.method ?? 'GET', path);
    if (snapshot.config.log.access) {
      res.once('close', () => gateway.output.droppable(formatAccessLine(snapshot.config.log.format, record, res.headersSent ? res.statusCode : 499, Date.now())));
    }

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
      }
    }
    if (req.method === 'POST') {
      const bodyRoute = bodyModelRoutes.get(path);
      const gemini = bodyRoute === undefined ? geminiRoute(path) : null;
      const route = bodyRoute ?? gemini?.route;
      if (route !== undefined) {
        void handleModelRequest({ req, res, snapshot, route, urlModel: gemini?.model ?? null, shutdown, record, onStream }).catch((error: unknown) => {
          gateway.logger.error(`request ${id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          if (!res.headersSent) sendError(res, route.client, 500, 'Internal error in the gateway; see its log.');
          else res.destroy();
        });
        return;
      }
    }
    req.resume();
    const format = clientFormatOf(path) ?? 'openai';
    sendError(res, format, 404, `No route for ${req.method} ${path}. Model endpoints: POST /v1/chat/completions, /v1/responses, /v1/messages, /v1beta/models/{model}:generateContent; GET /v1/models lists the models.`);
  };
}
