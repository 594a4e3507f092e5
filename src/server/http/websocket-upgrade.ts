/**
 * A WebSocket upgrade is answered at once with 426 and a closed connection: the gateway serves
 * HTTP only, and 426 is the one refusal Codex falls back from at once (its first HTTP request
 * follows within ~0.4 s; 404, 405, 501 or a closed connection cost it 6 s of retries, a 400 fails
 * its turn; test/fixtures/agents/FINDINGS.md). Why not carry the WebSocket: docs/decisions.md.
 *
 * With no 'upgrade' listener on the server, Node hands such a request to the request handler as
 * an ordinary one, so it gets its request id and its access line like any other answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientFormatOf } from '../errors/client-error.ts';
import { sendError } from './respond.ts';

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

export function refuseWebSocket(req: IncomingMessage, res: ServerResponse, path: string): void {
  req.resume();
  // Nothing may follow on this connection: the client may already be sending frames.
  res.shouldKeepAlive = false;
  sendError(res, clientFormatOf(path) ?? 'openai', 426, `This gateway does not serve the WebSocket transport; send the request over HTTP (POST ${path}).`);
}
