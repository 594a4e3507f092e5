/**
 * Header hygiene at the proxy boundary: hop-by-hop headers never cross (RFC 9110 §7.6.1), the
 * client's credentials are never forwarded upstream, and upstream cookies never reach clients.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { CLIENT_KEY_HEADERS } from '../auth/extract-key.ts';

/** Request headers that never go upstream. */
const dropRequest = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host', 'content-length', 'expect',
  // The client's own credentials: the upstream gets the provider's key instead.
  ...CLIENT_KEY_HEADERS, 'cookie',
  // Bytes must arrive as sent so streams can be relayed, inspected and translated.
  'accept-encoding',
  // readBody decoded the client's body: what goes upstream is that (or a translation of it), never the client's encoding.
  'content-encoding',
]);

/** Response headers that never go back to the client. */
const dropResponse = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'set-cookie',
]);

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, extra: Readonly<Record<string, string>>): Record<string, string> {
  const headers: Record<string, string> = {};
  // Headers the client named in Connection are hop-by-hop too; the usual values name none.
  const connection = incoming.connection;
  const named = connection === undefined || connection === 'keep-alive' || connection === 'close' ? null : new Set(connection.split(',').map((s) => s.trim().toLowerCase()));
  for (const name in incoming) {
    if (dropRequest.has(name) || named?.has(name) === true || name.startsWith('x-ai-proxy-')) continue;
    const value = incoming[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  for (const name in extra) headers[name.toLowerCase()] = extra[name] as string;
  headers['accept-encoding'] = 'identity';
  return headers;
}

export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in upstream) {
    if (dropResponse.has(name)) continue;
    const value = upstream[name];
    // The client's request id is the gateway's; the upstream's own id stays available for support tickets.
    if (value !== undefined) headers[name === 'x-request-id' ? 'x-upstream-request-id' : name] = value;
  }
  return headers;
}
