/**
 * UpstreamCall against a real undici Agent and a real HTTP server on 127.0.0.1: the body reaches
 * the sink whole and in order, backpressure really stops the socket, and every way an exchange
 * can end (complete, upstream error, abort before the response, abort between the response and
 * the sink, abort mid-body, a body over its limit) ends it exactly once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { UpstreamCall, type BodySink } from '../../src/server/proxy/upstream-call.ts';
import { waitUntil } from '../helpers/cli.ts';


interface Recorder extends BodySink {
  chunks: Buffer[];
  ends: number;
  errors: Error[];
  settled: Promise<void>;
}

function recorder(): Recorder {
  let done!: () => void;
  let timer: NodeJS.Timeout | undefined;
  const settled = new Promise<void>((resolve, reject) => {
    done = () => {
      clearTimeout(timer);
      resolve();
    };
    timer = setTimeout(() => reject(new Error('the sink heard neither end nor error in time')), 20_000);
  });
  const r: Recorder = {
    chunks: [],
    ends: 0,
    errors: [],
    settled,
    data: (chunk) => void r.chunks.push(chunk),
    end: () => {
      r.ends++;
      done();
    },
    error: (error) => {
      r.errors.push(error);
      done();
    },
  };
  return r;
}

describe('UpstreamCall', () => {
  let server: Server;
  let origin: string;
  let agent: Agent;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  /** Requests whose connection the server saw close, by path. */
  const closed = new Set<string>();

  before(async () => {
    server = createServer((req, res) => {
      res.once('close', () => closed.add(req.url ?? ''));
      handler(req, res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = new Agent({ keepAliveTimeout: 1_000 });
  });
  after(async () => {
    await agent.destroy();
    server.closeAllConnections();
    server.close();
  });

  const start = (path: string, body = Buffer.from('{}')): ReturnType<typeof UpstreamCall.start> =>
    UpstreamCall.start(agent, { url: `${origin}${path}`, method: 'POST', headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body });

  it('sends the request as given and relays status, headers and the whole body in order', async () => {
    let seen: { method?: string; url?: string; header?: string; body?: string } = {};
    const parts = Array.from({ length: 50 }, (_, i) => `part ${i};`);
    handler = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        seen = { method: req.method, url: req.url, header: req.headers['x-test'] as string, body: Buffer.concat(chunks).toString() };
        res.writeHead(201, { 'content-type': 'text/plain', 'x-upstream': ['a', 'b'] });
        for (const part of parts) {
          res.write(part);
          await new Promise((resolve) => setImmediate(resolve));
        }
        res.end();
      });
    };
    const { response } = start('/ok?x=1', Buffer.from('{"model":"m"}'));
    const call = await response;
    assert.equal(call.statusCode, 201);
    assert.equal(call.headers['content-type'], 'text/plain');
    assert.deepEqual(call.headers['x-upstream'], ['a', 'b']);
    const sink = recorder();
    call.attach(sink);
    await sink.settled;
    assert.deepEqual(seen, { method: 'POST', url: '/ok?x=1', header: 'yes', body: '{"model":"m"}' });
    assert.equal(Buffer.concat(sink.chunks).toString(), parts.join(''));
    assert.ok(sink.chunks.length > 1, 'chunks are delivered as they come, not gathered');
    assert.equal(sink.ends, 1);
    assert.deepEqual(sink.errors, []);
  });

  it('keeps what arrived before the sink attached and delivers it, then the end, on attach', async () => {
    handler = (_req, res) => res.end('small answer');
    const { response } = start('/early');
    const call = await response;
    // Let the socket's read (headers, body and end in one packet) be parsed with no sink attached.
    await waitUntil('the body to be buffered', () => call.buffered > 0);
    const sink = recorder();
    call.attach(sink);
    await sink.settled;
    assert.equal(Buffer.concat(sink.chunks).toString(), 'small answer');
    assert.equal(call.buffered, 0);
    assert.equal(sink.ends, 1);
  });

  it('pause() stops the socket: the upstream fills its buffers and waits until resume()', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const total = 400; // 25 MB: far more than socket buffers hold
    let written = 0;
    let upstreamBlocked = false;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (written < total) {
          written++;
          if (!res.write(chunk)) {
            upstreamBlocked = true;
            res.once('drain', () => {
              upstreamBlocked = false;
              pump();
            });
            return;
          }
        }
        res.end();
      };
      pump();
    };
    const { response } = start('/big');
    const call = await response;
    let received = 0;
    let pausedOnce = false;
    const sink = recorder();
    sink.data = (c) => {
      received += c.length;
      if (received >= 1024 * 1024 && !pausedOnce) {
        pausedOnce = true;
        call.pause();
      }
    };
    call.attach(sink);
    // Socket buffers (grown by loopback autotuning) take a few MB; then the upstream must stall.
    let last = -1;
    let stableSince = Date.now();
    await waitUntil(
      'the upstream to stall behind a paused reader',
      () => {
        if (written !== last) {
          last = written;
          stableSince = Date.now();
        }
        return call.paused && upstreamBlocked && Date.now() - stableSince >= 300;
      },
      20_000,
    );
    const receivedWhilePaused = received;
    assert.ok(written < total, `the upstream could not finish while paused (${written}/${total} chunks written)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(received, receivedWhilePaused, 'nothing reached the sink while paused');
    call.resume();
    await sink.settled;
    assert.equal(received, total * chunk.length);
    assert.equal(sink.ends, 1);
  });

  it('an abort before the response rejects its promise with the reason and closes the upstream request', async () => {
    let arrived = false;
    handler = () => void (arrived = true); // never answers
    const { call, response } = start('/never');
    await waitUntil('the request to reach the upstream', () => arrived);
    const reason = new Error('client disconnected');
    call.abort(reason);
    await assert.rejects(response, (error) => error === reason);
    await waitUntil('the upstream to see the request closed', () => closed.has('/never'));
  });

  it('an abort before the request is even written (no connection yet) rejects with the reason, and nothing is sent', async () => {
    let arrived = false;
    handler = (_req, res) => {
      arrived = true;
      res.end();
    };
    // A fresh agent has no connection: the request waits for one, and is aborted before it is written.
    const fresh = new Agent();
    const request = { url: `${origin}/too-early`, method: 'POST', headers: {}, body: Buffer.from('{}') };
    const { call, response } = UpstreamCall.start(fresh, request);
    const reason = new Error('client disconnected');
    call.abort(reason);
    await assert.rejects(response, (error) => error === reason);
    // The same request on the same agent, not aborted, is served: the earlier one would have been too.
    const later = await UpstreamCall.start(fresh, { ...request, url: `${origin}/after` }).response;
    await later.collect(1024);
    await fresh.destroy();
    assert.equal(arrived, true);
    assert.equal(closed.has('/too-early'), false, 'the aborted request never reached the upstream');
  });

  it('an abort between the response and attach reaches the sink as its error, once', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('first');
    };
    const { call, response } = start('/between');
    await response;
    const reason = new Error('the gateway is shutting down');
    call.abort(reason);
    const sink = recorder();
    call.attach(sink);
    await sink.settled;
    assert.deepEqual(sink.errors, [reason]);
    assert.equal(sink.ends, 0);
    assert.deepEqual(sink.chunks, [], 'nothing is relayed after an abort');
    await waitUntil('the upstream to see the request closed', () => closed.has('/between'));
  });

  it('an abort mid-body stops the body at once and reaches the sink as its error', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
    };
    const { call, response } = start('/mid');
    await response;
    const sink = recorder();
    call.attach(sink);
    await waitUntil('the first event', () => sink.chunks.length === 1);
    const reason = new Error('client disconnected');
    call.abort(reason);
    call.abort(new Error('a second abort is ignored'));
    await sink.settled;
    assert.deepEqual(sink.errors, [reason]);
    await waitUntil('the upstream to see the request closed', () => closed.has('/mid'));
  });

  it('an upstream that dies mid-body reaches the sink as an error after the bytes that came', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n', () => setImmediate(() => res.socket?.destroy()));
    };
    const { response } = start('/dies');
    const call = await response;
    const sink = recorder();
    call.attach(sink);
    await sink.settled;
    assert.equal(Buffer.concat(sink.chunks).toString(), 'data: 1\n\n');
    assert.equal(sink.errors.length, 1);
    assert.equal(sink.ends, 0);
  });

  it('a refused connection rejects the response promise', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    const { response } = UpstreamCall.start(agent, { url: `http://127.0.0.1:${port}/x`, method: 'POST', headers: {}, body: Buffer.from('{}') });
    await assert.rejects(response, /ECONNREFUSED|connect/);
  });

  it('collect() returns the whole body, or its first `limit` bytes and aborts the rest', async () => {
    handler = (req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(req.url === '/error-small' ? '{"error":"boom"}' : 'y'.repeat(200_000));
    };
    const small = await start('/error-small').response;
    assert.equal((await small.collect(1024)).toString(), '{"error":"boom"}');
    const big = await start('/error-big').response;
    const head = await big.collect(1000);
    assert.equal(head.length, 1000);
    assert.equal(head.toString(), 'y'.repeat(1000));
  });
});
