/**
 * The reference point: a bare http-proxy-3 forwarder (the library DESIGN §8 names), with a
 * keep-alive agent (its default is a new upstream connection per request) and nothing else: no
 * auth, no body parsing, no routing, no logs, no metrics. What ai-proxy costs beyond this is the
 * price of being a gateway. Started by bench/run.ts as its own process (bundled, plain node):
 *   forwarder <listen-port> <upstream-url>   prints `{"port":N}` when ready.
 */
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';

const target = process.argv[3] ?? 'http://127.0.0.1:1';
const proxy = createProxyServer({ target, agent: new Agent({ keepAlive: true, maxSockets: Infinity }), xfwd: false });
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
