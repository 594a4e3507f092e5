/**
 * readBody against real HTTP requests on 127.0.0.1 (a real IncomingMessage, a real socket, so
 * backpressure and chunking are what the gateway sees): every content coding decodes, stacked
 * codings are undone last first, unknown codings get 415 naming the supported ones, corrupt
 * streams 400, and decompression bombs 413 with a counted bound on what was inflated: the limit
 * plus one decoder output chunk (16 KiB), whatever the bomb's size. The idle timeout still
 * applies to an encoded body.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { readBody, SUPPORTED_CODINGS, type BodyResult } from '../../src/server/http/body.ts';

/** zlib's output chunk (zlib.constants.Z_DEFAULT_CHUNK): a decoder is stopped at most this far past the limit. */
const CHUNK = 16 * 1024;
const LIMIT = 64 * 1024;
const DEFAULT_LIMIT = 32 * 1024 * 1024;

/** zstd from Node 22.15 / 23.8 on; @types/node 20 does not declare it. */
const zstd = zlib as typeof zlib & { zstdCompressSync?: (data: Buffer) => Buffer };
const zstdCompressSync = zstd.zstdCompressSync;
const NO_ZSTD = zstdCompressSync === undefined ? `this Node (${process.version}) has no zstd in zlib (it came in 22.15 / 23.8)` : false;

const encoders: Record<string, (data: Buffer) => Buffer> = {
  gzip: (data) => zlib.gzipSync(data),
  'x-gzip': (data) => zlib.gzipSync(data),
  deflate: (data) => zlib.deflateSync(data),
  br: (data) => zlib.brotliCompressSync(data),
  zstd: (data) => (zstdCompressSync as (data: Buffer) => Buffer)(data),
};

/** Streams `size` zeros through a compressor without ever holding them: the bomb, compressed. */
async function bomb(compressor: zlib.Gzip | zlib.BrotliCompress | zlib.Deflate, size: number): Promise<Buffer> {
  const zeros = Buffer.alloc(1024 * 1024);
  const out: Buffer[] = [];
  compressor.on('data', (c: Buffer) => out.push(c));
  const ended = once(compressor, 'end');
  for (let written = 0; written < size; written += zeros.length) {
    if (!compressor.write(zeros)) await once(compressor, 'drain');
  }
  compressor.end();
  await ended;
  return Buffer.concat(out);
}

describe('readBody: content codings', () => {
  let server: Server;
  let origin: string;
  /** The next request's limit and idle timeout, and where its result goes. */
  let limit = LIMIT;
  let idleMs = 5_000;
  const results: Array<(result: BodyResult) => void> = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      void readBody(req, limit, idleMs).then((result) => {
        results.shift()?.(result);
        res.shouldKeepAlive = false;
        res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  /** Sends `parts` (with a pause hook between them) and resolves with what readBody returned. */
  function send(headers: Record<string, string>, parts: Buffer[], between?: (i: number) => Promise<void>): Promise<BodyResult> {
    const result = new Promise<BodyResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('readBody gave no result within 20 s')), 20_000);
      results.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    const req = request(`${origin}/`, { method: 'POST', agent: false, headers });
    // The server may answer (and close) before the whole body went out: that is the point of a 413.
    req.on('error', () => undefined);
    req.on('response', (res) => res.resume());
    void (async () => {
      for (let i = 0; i < parts.length; i++) {
        if (!req.write(parts[i] as Buffer)) await Promise.race([once(req, 'drain'), result]);
        if (between !== undefined) await between(i);
      }
      req.end();
    })();
    return result;
  }

  const json = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'héllo, wörld '.repeat(500) }] }));

  for (const coding of ['gzip', 'x-gzip', 'deflate', 'br', 'zstd']) {
    it(`decodes ${coding}`, { skip: coding === 'zstd' ? NO_ZSTD : false }, async () => {
      const encoded = (encoders[coding] as (data: Buffer) => Buffer)(json);
      // Sent in small pieces, so the decoder sees a stream, not one buffer.
      const parts = Array.from({ length: Math.ceil(encoded.length / 100) }, (_, i) => encoded.subarray(i * 100, (i + 1) * 100));
      const result = await send({ 'content-encoding': coding.toUpperCase() }, parts);
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(result.body, json);
    });
  }

  it('lists zstd as supported exactly when this Node has it', () => {
    assert.equal(SUPPORTED_CODINGS.includes('zstd'), zstdCompressSync !== undefined);
  });

  it('undoes stacked codings last first, skips identity and empty list elements', async () => {
    const encoded = zlib.brotliCompressSync(zlib.gzipSync(json));
    const result = await send({ 'content-encoding': 'identity, gzip,, br' }, [encoded]);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.body, json);
    const wrongOrder = await send({ 'content-encoding': 'br, gzip' }, [encoded]);
    assert.equal(wrongOrder.ok, false);
    assert.equal(!wrongOrder.ok && wrongOrder.status, 400);
  });

  it('takes identity alone as no coding', async () => {
    const result = await send({ 'content-encoding': 'identity' }, [json]);
    assert.ok(result.ok);
    assert.deepEqual(result.body, json);
  });

  it('answers an unknown coding with 415 naming it and the supported ones, and Accept-Encoding', async () => {
    const result = await send({ 'content-encoding': 'gzip, compress' }, [json]);
    assert.ok(!result.ok);
    assert.equal(result.status, 415);
    assert.match(result.message, /content coding 'compress' is not supported/);
    assert.match(result.message, /supported: gzip, x-gzip, deflate, br/);
    assert.equal(result.headers?.['accept-encoding'], SUPPORTED_CODINGS.filter((c) => c !== 'x-gzip').join(', '));
  });

  it('refuses more than three stacked codings with 415 (each holds a decoder)', async () => {
    const result = await send({ 'content-encoding': 'gzip, gzip, gzip, gzip' }, [zlib.gzipSync(zlib.gzipSync(zlib.gzipSync(zlib.gzipSync(json))))]);
    assert.ok(!result.ok);
    assert.equal(result.status, 415);
    assert.match(result.message, /4 content codings stacked; at most 3/);
  });

  it('answers a corrupt or truncated stream with 400 saying it could not be decoded', async () => {
    const garbage = await send({ 'content-encoding': 'gzip' }, [Buffer.from('{"model":"not gzip at all"}')]);
    assert.ok(!garbage.ok);
    assert.equal(garbage.status, 400);
    assert.match(garbage.message, /could not be decoded as gzip: incorrect header check/);
    const gz = zlib.gzipSync(json);
    const truncated = await send({ 'content-encoding': 'gzip' }, [gz.subarray(0, gz.length - 10)]);
    assert.ok(!truncated.ok);
    assert.equal(truncated.status, 400);
    assert.match(truncated.message, /could not be decoded as gzip: unexpected end of file/);
    const badBrotli = await send({ 'content-encoding': 'br' }, [Buffer.from([0xff, 0xff, 0xff, 0xff])]);
    assert.ok(!badBrotli.ok);
    assert.equal(badBrotli.status, 400);
    assert.match(badBrotli.message, /could not be decoded as br/);
  });

  for (const [coding, make] of [
    ['gzip', () => zlib.createGzip()],
    ['deflate', () => zlib.createDeflate()],
    ['br', () => zlib.createBrotliCompress()],
  ] as const) {
    it(`stops a ${coding} bomb (10 MB of zeros) at the limit: 413, at most one 16 KiB chunk inflated past ${LIMIT} bytes`, async (t) => {
      const compressed = await bomb(make(), 10 * 1024 * 1024);
      assert.ok(compressed.length < LIMIT / 2, `the bomb is small on the wire (${compressed.length} bytes)`);
      const result = await send({ 'content-encoding': coding, 'content-length': String(compressed.length) }, [compressed]);
      assert.ok(!result.ok);
      assert.equal(result.status, 413, result.message);
      assert.match(result.message, /exceeds the limit of 65536 bytes once decoded/);
      assert.ok(result.inflated !== undefined && result.inflated > LIMIT && result.inflated <= LIMIT + CHUNK, `inflated ${result.inflated} bytes for a limit of ${LIMIT}`);
      assert.match(result.message, new RegExp(`decoding stopped after ${result.inflated} bytes`));
      t.diagnostic(`${coding}: ${compressed.length} bytes on the wire, ${result.inflated} inflated, limit ${LIMIT}`);
    });
  }

  it('stops a zstd bomb at the limit too', { skip: NO_ZSTD }, async (t) => {
    const compressed = (zstdCompressSync as (data: Buffer) => Buffer)(Buffer.alloc(10 * 1024 * 1024));
    const result = await send({ 'content-encoding': 'zstd' }, [compressed]);
    assert.ok(!result.ok);
    assert.equal(result.status, 413, result.message);
    assert.ok(result.inflated !== undefined && result.inflated <= LIMIT + CHUNK, `inflated ${result.inflated} bytes for a limit of ${LIMIT}`);
    t.diagnostic(`zstd: ${compressed.length} bytes on the wire, ${result.inflated} inflated, limit ${LIMIT}`);
  });

  it('refuses a zstd frame whose window is over RFC 9659\'s 8 MB (the decoder would reserve it whatever the output): 400', { skip: NO_ZSTD }, async () => {
    const zstdWith = zlib as typeof zlib & { zstdCompressSync: (data: Buffer, options: { params: Record<number, number> }) => Buffer; constants: { ZSTD_c_windowLog: number } };
    const wide = zstdWith.zstdCompressSync(Buffer.alloc(16 * 1024 * 1024), { params: { [zstdWith.constants.ZSTD_c_windowLog]: 27 } });
    const result = await send({ 'content-encoding': 'zstd' }, [wide]);
    assert.ok(!result.ok);
    assert.equal(result.status, 400, result.message);
    assert.match(result.message, /could not be decoded as zstd: .*too much memory/i);
  });

  it('counts every stage: an inner layer of 100,000 empty gzip members (2 MB, decoding to nothing) is 413', async () => {
    const empty = zlib.gzipSync(Buffer.alloc(0));
    const inner = Buffer.concat(Array.from({ length: 100_000 }, () => empty));
    const outer = zlib.gzipSync(inner);
    assert.ok(outer.length < LIMIT, `the bomb is small on the wire (${outer.length} bytes)`);
    const result = await send({ 'content-encoding': 'gzip, gzip' }, [outer]);
    assert.ok(!result.ok);
    assert.equal(result.status, 413, result.message);
    assert.ok(result.inflated !== undefined && result.inflated <= LIMIT + CHUNK, `inflated ${result.inflated} bytes`);
  });

  it(`stops a 128 MiB gzip bomb at the default limit (32 MiB) having inflated at most 32 MiB + 16 KiB`, async (t) => {
    limit = DEFAULT_LIMIT;
    try {
      const compressed = await bomb(zlib.createGzip(), 128 * 1024 * 1024);
      const result = await send({ 'content-encoding': 'gzip' }, [compressed]);
      assert.ok(!result.ok);
      assert.equal(result.status, 413, result.message);
      assert.ok(result.inflated !== undefined && result.inflated > DEFAULT_LIMIT && result.inflated <= DEFAULT_LIMIT + CHUNK, `inflated ${result.inflated} bytes for a limit of ${DEFAULT_LIMIT}`);
      t.diagnostic(`gzip 128 MiB: ${compressed.length} bytes on the wire, ${result.inflated} inflated, limit ${DEFAULT_LIMIT}`);
    } finally {
      limit = LIMIT;
    }
  });

  it('bounds the bytes on the wire too: 5,000 empty gzip members (100 KB, decoding to nothing), chunked', async () => {
    const empty = zlib.gzipSync(Buffer.alloc(0));
    const wire = Buffer.concat(Array.from({ length: 5_000 }, () => empty));
    const result = await send({ 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' }, [wire]);
    assert.ok(!result.ok);
    assert.equal(result.status, 413);
    assert.equal(result.message, `request body exceeds the limit of ${LIMIT} bytes`);
    assert.equal(result.inflated, 0);
  });

  it('accepts a decoded body of exactly the limit', async () => {
    const exact = Buffer.alloc(LIMIT, 'a');
    const result = await send({ 'content-encoding': 'gzip' }, [zlib.gzipSync(exact)]);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.message));
    assert.equal(result.body.length, LIMIT);
  });

  it('gives an encoded body that falls silent 408', async () => {
    idleMs = 300;
    try {
      const gz = zlib.gzipSync(json);
      // Half the stream, then nothing: the idle timer fires, although the decoder has all it was given.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const result = await send({ 'content-encoding': 'gzip' }, [gz.subarray(0, gz.length >> 1), gz.subarray(gz.length >> 1)], (i) => (i === 0 ? held : Promise.resolve()));
      release();
      assert.ok(!result.ok);
      assert.equal(result.status, 408);
      assert.match(result.message, /stalled: no bytes for 0.3s/);
    } finally {
      idleMs = 5_000;
    }
  });

  it('lets an encoded body trickle in for longer than the idle timeout: each piece restarts the timer', async () => {
    idleMs = 1_000;
    try {
      const gz = zlib.gzipSync(json);
      // 12 pieces 150 ms apart: 1.8 s in all, each gap far inside the 1 s timeout.
      const parts = Array.from({ length: 12 }, (_, i) => gz.subarray(Math.floor((i * gz.length) / 12), Math.floor(((i + 1) * gz.length) / 12)));
      const trickled = await send({ 'content-encoding': 'gzip' }, parts, () => new Promise((resolve) => setTimeout(resolve, 150)));
      assert.ok(trickled.ok, JSON.stringify(!trickled.ok && trickled.message));
      assert.deepEqual(trickled.body, json);
    } finally {
      idleMs = 5_000;
    }
  });
});
