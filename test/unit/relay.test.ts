/**
 * The relay's last words on a real HTTP server and a raw TCP client, which sees the chunked
 * framing as sent: a stream that fails ends with the error event, and when the client needs a cut
 * connection to notice (cutOnFailure), the connection closes right after that event, without the
 * final chunk. The cut must not lose the event: ending the socket under the response drops what
 * the response still holds (Node 24 keeps a tick's chunked writes in the response itself).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ShutdownSignal } from '../../src/server/http/shutdown-signal.ts';
import { relay, type RelayOptions, type RelayResult, type RelaySource, type RelayTransform } from '../../src/server/proxy/relay.ts';
import type { BodySink } from '../../src/server/proxy/upstream-call.ts';

/** An upstream body the test drives by hand. */
class Source implements RelaySource {
  sink: BodySink | null = null;
  paused = false;
  aborted: Error | null = null;
  attach(sink: BodySink): void {
    this.sink = sink;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  abort(reason: Error): void {
    this.aborted = reason;
  }
}

interface Exchange {
  /** The response body, chunked framing removed. */
  body: string;
  /** Whether the final zero-length chunk came: a complete response, not a cut one. */
  complete: boolean;
  result: RelayResult;
}

/** Decodes a chunked body as far as it goes. */
function dechunk(raw: string): { body: string; complete: boolean } {
  let rest = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  let body = '';
  for (;;) {
    const line = rest.indexOf('\r\n');
    if (line === -1) return { body, complete: false };
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (size === 0) return { body, complete: true };
    body += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

const EVENT = 'data: {"candidates":[{"content":{"parts":[{"text":"Berlin"}],"role":"model"}}]}\n\n';

describe('relay: the end of a failed stream', () => {
  let server: Server;
  let port: number;
  let drive: (res: ServerResponse) => Promise<RelayResult> = () => Promise.reject(new Error('no handler'));
  let pending: Promise<RelayResult> | null = null;

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      pending = drive(res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** One request on a fresh connection, read until the server closes it or the response completes. */
  async function exchange(handler: (res: ServerResponse) => Promise<RelayResult>): Promise<Exchange> {
    drive = handler;
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    let raw = '';
    socket.write('GET / HTTP/1.1\r\nhost: test\r\n\r\n');
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (text: string) => {
        raw += text;
        if (dechunk(raw).complete) resolve();
      });
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    await done;
    socket.destroy();
    const result = await (pending as Promise<RelayResult>);
    return { ...dechunk(raw), result };
  }

  const options = (extra: Partial<RelayOptions> = {}): RelayOptions => ({ format: 'gemini', keepAliveMs: 0, eventStream: true, shutdown: new ShutdownSignal(), ...extra });

  /** One event, then (a tick later, as from a socket) the upstream fails. */
  function eventThenFailure(relayOptions: RelayOptions): (res: ServerResponse) => Promise<RelayResult> {
    return (res) => {
      const source = new Source();
      const relayed = relay(source, res, relayOptions);
      source.sink?.data(Buffer.from(EVENT));
      setImmediate(() => source.sink?.error(new Error('upstream reset')));
      return relayed;
    };
  }

  it('without cutOnFailure: the event, the error event, then the final chunk', async () => {
    const { body, complete, result } = await exchange(eventThenFailure(options()));
    assert.equal(result.outcome, 'upstream-failed');
    assert.ok(body.startsWith(EVENT), body);
    assert.match(body.slice(EVENT.length), /^data: \{"error":\{"code":502,.*upstream stream failed: upstream reset/);
    assert.ok(complete, 'the response ends cleanly');
  });

  it('with cutOnFailure: the event, the error event, then a cut connection without the final chunk', async () => {
    const { body, complete, result } = await exchange(eventThenFailure(options({ cutOnFailure: true })));
    assert.equal(result.outcome, 'upstream-failed');
    assert.ok(body.startsWith(EVENT), body);
    const last = body.slice(EVENT.length);
    assert.match(last, /^data: \{"error":\{"code":502,.*upstream stream failed: upstream reset.*\}\r\n\r\n$/, 'the error event arrives whole (ended like every Gemini event) before the cut');
    assert.ok(!complete, 'no final chunk: the client sees an incomplete response');
  });

  it('with cutOnFailure and a translator that reports an error in the stream: its error event arrives, then the cut', async () => {
    const errorEvent = 'data: {"error":{"code":500,"message":"overloaded","status":"INTERNAL"}}\n\n';
    const transform = (write: (text: string) => void): RelayTransform => {
      let failed = false;
      return {
        push: (chunk) => {
          // The upstream's own error event, translated: written and over in the same tick.
          if (chunk.toString().includes('error')) {
            write(errorEvent);
            failed = true;
          } else write(EVENT);
        },
        end: () => undefined,
        fail: (message) => {
          write(`data: ${JSON.stringify({ error: { code: 502, message } })}\n\n`);
          failed = true;
        },
        failed: () => failed,
      };
    };
    const source = new Source();
    const { body, complete, result } = await exchange((res) => {
      const relayed = relay(source, res, options({ cutOnFailure: true, transform }));
      source.sink?.data(Buffer.from('event one\n\n'));
      setImmediate(() => source.sink?.data(Buffer.from('event: error\n\n')));
      return relayed;
    });
    assert.equal(result.outcome, 'upstream-failed');
    assert.equal(body, EVENT + errorEvent);
    assert.ok(!complete, 'no final chunk');
    assert.ok(source.aborted !== null, 'the upstream exchange is stopped');
  });
});
