/** Small, allocation-lean response writers shared by the handlers. */
import type { ServerResponse } from 'node:http';
import { clientError, type ClientFormat } from '../errors/client-error.ts';
import type { ErrorOptions } from '../errors/vocabulary.ts';

export function sendJson(res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.statusCode = status;
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name] as string);
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/** An error in the client's own API format (its SDK raises its usual typed error). */
export function sendError(res: ServerResponse, format: ClientFormat, status: number, message: string, options?: ErrorOptions & { headers?: Record<string, string> }): void {
  const error = clientError(format, status, message, options);
  sendJson(res, error.status, error.body, options?.headers === undefined ? error.headers : { ...error.headers, ...options.headers });
}
