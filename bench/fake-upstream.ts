/**
 * The bench's fake OpenAI-compatible upstream: as cheap per request as a Node server can be, so
 * that it is not what a proxy scenario measures. Non-streaming answers are one precomputed
 * buffer; streams are shaped by request headers (which every proxy under test forwards as they
 * are), so the body never needs parsing:
 *   x-bench-events: N      answer with an SSE stream of N chunk events, then `[DONE]`
 *   x-bench-interval: MS   pause between events (0: as fast as the socket takes them)
 *   x-bench-hold: 1        after the first event, keep the stream open until the client leaves
 *   x-bench-stamp: 1       each event carries process.hrtime (CLOCK_MONOTONIC, shared by every
 *                          process on the machine) of its write, for per-event delay
 * Started by bench/run.ts as its own process (bundled, plain node); prints `{"port":N}` when ready.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { COMPLETION_JSON } from './lib/payloads.ts';

const completion = Buffer.from(COMPLETION_JSON);
const jsonHeaders = ['content-type', 'application/json', 'content-length', String(completion.length)];
const sseHeaders = ['content-type', 'text/event-stream', 'cache-control', 'no-cache'];

const chunkPrefix = 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"content":"tok';
const plainEvent = Buffer.from(`${chunkPrefix}"},"finish_reason":null}]}\n\n`);
const done = Buffer.from(
  'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":14,"total_tokens":26}}\n\ndata: [DONE]\n\n',
);

function event(stamp: boolean, seq: number): Buffer | string {
  // The stamp sits inside the content so the event stays a valid chat chunk.
  return stamp ? `${chunkPrefix} #${seq} t=${process.hrtime.bigint()}"},"finish_reason":null}]}\n\n` : plainEvent;
}

function header(req: IncomingMessage, name: string): number {
  const value = req.headers[name];
  return typeof value === 'string' ? Number(value) : 0;
}

async function stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const events = header(req, 'x-bench-events');
  const interval = header(req, 'x-bench-interval');
  const hold = req.headers['x-bench-hold'] === '1';
  const stamp = req.headers['x-bench-stamp'] === '1';
  let closed = false;
  res.once('close', () => (closed = true));
  res.writeHead(200, sseHeaders);
  for (let i = 0; i < events && !closed; i++) {
    if (interval > 0 && i > 0) await new Promise((resolve) => setTimeout(resolve, interval));
    if (!res.write(event(stamp, i))) await new Promise((resolve) => res.once('drain', resolve));
    if (hold && i === 0) return; // held until the client goes away
  }
  if (!closed) res.end(done);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, jsonHeaders).end(completion);
    return;
  }
  req.on('end', () => {
    if (req.headers['x-bench-events'] !== undefined) void stream(req, res);
    else res.writeHead(200, jsonHeaders).end(completion);
  });
  req.resume();
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.maxHeadersCount = 0;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
