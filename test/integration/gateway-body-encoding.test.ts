/**
 * Compressed request bodies through the real daemon: a body sent with Content-Encoding gzip,
 * x-gzip, deflate, br or zstd (when this Node has it) reaches the upstream decoded, without
 * Content-Encoding and with the decoded Content-Length, on a passthrough route (chat → chat: the
 * client's bytes, decoded) and a translated one (Anthropic Messages → chat). Stacked codings are
 * undone last first; an unknown coding is 415 in the client's format, a corrupt stream 400, a
 * stalled one 408; decompression bombs are 413 having inflated no more than the limit plus one
 * 16 KiB decoder chunk (the count the 413 reports), at a small limit and at the default 32 MiB,
 * where the server's peak RSS shows it too. Nothing refused reaches the upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import * as zlib from 'node:zlib';
import { serverPidOf } from '../helpers/cli.ts';
import { fakeUpstream, openaiLike, type FakeUpstream, type RecordedRequest } from '../helpers/fake-upstream.ts';
import { rawRequest, startGateway, type RawResponse } from './gateway-harness.ts';

const CLIENT_KEY = 'client-key-encoding-8e21c4f0a9';
const LIMIT = 65_536;
/** zlib's output chunk: a decoder is stopped at most this far past the limit. */
const CHUNK = 16 * 1024;
const DEFAULT_LIMIT = 32 * 1024 * 1024;

/** zstd from Node 22.15 / 23.8 on; @types/node 20 does not declare it. */
const zstdCompressSync = (zlib as typeof zlib & { zstdCompressSync?: (data: Buffer) => Buffer }).zstdCompressSync;
const NO_ZSTD = zstdCompressSync === undefined ? `this Node (${process.version}) has no zstd in zlib (it came in 22.15 / 23.8)` : false;

const encoders: Record<string, (data: Buffer) => Buffer> = {
  gzip: (data) => zlib.gzipSync(data),
  'x-gzip': (data) => zlib.gzipSync(data),
  deflate: (data) => zlib.deflateSync(data),
  br: (data) => zlib.brotliCompressSync(data),
  zstd: (data) => (zstdCompressSync as (data: Buffer) => Buffer)(data),
};
const encode = (coding: string, text: string): Buffer => (encoders[coding] as (data: Buffer) => Buffer)(Buffer.from(text));

const openaiHeaders = (coding: string): Record<string, string> => ({ authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'content-encoding': coding });
const anthropicHeaders = (coding: string): Record<string, string> => ({ 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'content-encoding': coding });

const yaml = (server: string, upstream: FakeUpstream): string => `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
${server}
client-keys:
  - { name: encoding-tester, key: "\${CLIENT_KEY}" }
providers:
  - { name: chat-up, type: openai-compatible, wire-api: chat, base-url: "${upstream.url}/v1", api-keys: [upstream-key], models: [enc-model] }
`;

/** The one request `upstream` received while `call` ran. */
async function one(upstream: FakeUpstream, call: () => Promise<RawResponse>): Promise<{ response: RawResponse; recorded: RecordedRequest }> {
  const before = upstream.requests.length;
  const response = await call();
  assert.equal(response.status, 200, response.body);
  assert.equal(upstream.requests.length, before + 1, 'exactly one upstream request');
  return { response, recorded: upstream.requests[before] as RecordedRequest };
}

/** What every decoded body must look like upstream: no coding, the length of what it is. */
function assertDecodedUpstream(recorded: RecordedRequest): void {
  assert.equal(recorded.headers['content-encoding'], undefined, 'no content-encoding upstream');
  assert.equal(recorded.headers['content-length'], String(Buffer.byteLength(recorded.body)), 'the decoded body\'s content-length');
}

/** A refused request: the status, the client's error format, and nothing upstream. */
async function assertRefused(upstream: FakeUpstream, call: () => Promise<RawResponse>, status: number, format: 'openai' | 'anthropic', message: RegExp): Promise<RawResponse> {
  const before = upstream.requests.length;
  const response = await call();
  assert.equal(response.status, status, response.body);
  const body = JSON.parse(response.body) as { type?: string; error: { message: string; type: string } };
  if (format === 'anthropic') assert.equal(body.type, 'error');
  assert.equal(typeof body.error.type, 'string');
  assert.match(body.error.message, message);
  assert.equal(upstream.requests.length, before, 'nothing went upstream');
  return response;
}

/** Streams `size` zeros through gzip without ever holding them. */
async function gzipBomb(size: number): Promise<Buffer> {
  const gzip = zlib.createGzip();
  const zeros = Buffer.alloc(1024 * 1024);
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const ended = once(gzip, 'end');
  for (let written = 0; written < size; written += zeros.length) if (!gzip.write(zeros)) await once(gzip, 'drain');
  gzip.end();
  await ended;
  return Buffer.concat(out);
}

/** The bytes the 413 says were inflated when decoding stopped. */
function inflatedOf(response: RawResponse): number {
  const match = /decoding stopped after (\d+) bytes/.exec(response.body);
  assert.ok(match !== null, `the 413 says how much was decoded: ${response.body}`);
  return Number(match[1]);
}

/** VmHWM (peak resident set) of a process, in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match !== null, 'VmHWM in /proc/<pid>/status');
  return Number(match[1]) * 1024;
}

test('gateway: compressed request bodies are decoded, bounded and refused in the client\'s format', async (t) => {
  const upstream = await fakeUpstream(t, openaiLike('Decoded and served.'));
  const gateway = await startGateway(t, yaml(`server: { body-limit: ${LIMIT}, body-timeout: 1s }`, upstream), { CLIENT_KEY });
  const chat = `${gateway.url}/v1/chat/completions`;
  const messages = `${gateway.url}/v1/messages`;
  // Non-ASCII text, so that a body decoded to anything but its bytes would show.
  const chatText = (coding: string): string => JSON.stringify({ model: 'enc-model', messages: [{ role: 'user', content: `sent as ${coding}: grüße, 東京 `.repeat(40) }] });
  const messagesText = (coding: string): string => JSON.stringify({ model: 'enc-model', max_tokens: 32, messages: [{ role: 'user', content: `sent as ${coding}: grüße, 東京 `.repeat(40) }] });

  for (const coding of ['gzip', 'x-gzip', 'deflate', 'br', 'zstd']) {
    await t.test(`${coding}: passthrough (chat → chat) forwards the client's bytes decoded`, { skip: coding === 'zstd' ? NO_ZSTD : false }, async () => {
      const text = chatText(coding);
      const { response, recorded } = await one(upstream, () => rawRequest(chat, { headers: openaiHeaders(coding), body: encode(coding, text) }));
      assert.equal(recorded.body, text);
      assertDecodedUpstream(recorded);
      assert.match(response.body, /Decoded and served\./);
    });

    await t.test(`${coding}: translated (Anthropic Messages → chat) reaches the upstream decoded`, { skip: coding === 'zstd' ? NO_ZSTD : false }, async () => {
      const { response, recorded } = await one(upstream, () => rawRequest(messages, { headers: anthropicHeaders(coding), body: encode(coding, messagesText(coding)) }));
      assert.equal(recorded.path, '/v1/chat/completions');
      const sent = JSON.parse(recorded.body) as { messages: Array<{ role: string; content: unknown }> };
      assert.match(JSON.stringify(sent.messages), new RegExp(`sent as ${coding}: grüße, 東京`));
      assertDecodedUpstream(recorded);
      const answer = JSON.parse(response.body) as { type: string; content: Array<{ text: string }> };
      assert.equal(answer.type, 'message');
      assert.equal(answer.content[0]?.text, 'Decoded and served.');
    });
  }

  await t.test('stacked codings (gzip, br) are undone last first; identity is nothing', async () => {
    const text = chatText('gzip, br');
    const { recorded } = await one(upstream, () => rawRequest(chat, { headers: openaiHeaders('gzip, identity, br'), body: zlib.brotliCompressSync(zlib.gzipSync(Buffer.from(text))) }));
    assert.equal(recorded.body, text);
    assertDecodedUpstream(recorded);
    const plain = chatText('identity');
    const { recorded: identity } = await one(upstream, () => rawRequest(chat, { headers: openaiHeaders('identity'), body: plain }));
    assert.equal(identity.body, plain);
    assertDecodedUpstream(identity);
  });

  await t.test('an unknown coding is 415 in the client\'s format, naming it and the supported ones, with Accept-Encoding', async () => {
    for (const [url, headers, format] of [
      [chat, openaiHeaders('compress'), 'openai'],
      [messages, anthropicHeaders('compress'), 'anthropic'],
    ] as const) {
      const response = await assertRefused(upstream, () => rawRequest(url, { headers, body: chatText('compress') }), 415, format, /content coding 'compress' is not supported \(supported: gzip, x-gzip, deflate, br.*identity\)/);
      assert.match(String(response.headers['accept-encoding']), /^gzip, deflate, br(, zstd)?$/);
    }
  });

  await t.test('a corrupt stream is 400: it could not be decoded', async () => {
    await assertRefused(upstream, () => rawRequest(chat, { headers: openaiHeaders('gzip'), body: chatText('not really gzip') }), 400, 'openai', /could not be decoded as gzip: incorrect header check/);
    const br = encode('br', messagesText('br'));
    await assertRefused(upstream, () => rawRequest(messages, { headers: anthropicHeaders('br'), body: br.subarray(0, br.length - 4) }), 400, 'anthropic', /could not be decoded as br/);
  });

  await t.test('a bomb (10 MB of zeros as 10 KB of gzip) is 413 with at most limit + 16 KiB inflated', async (tt) => {
    const bomb = await gzipBomb(10 * 1024 * 1024);
    const response = await assertRefused(upstream, () => rawRequest(chat, { headers: openaiHeaders('gzip'), body: bomb }), 413, 'openai', /exceeds the limit of 65536 bytes once decoded \(gzip\)/);
    const inflated = inflatedOf(response);
    assert.ok(inflated > LIMIT && inflated <= LIMIT + CHUNK, `inflated ${inflated} bytes for a limit of ${LIMIT}`);
    tt.diagnostic(`bomb: ${bomb.length} bytes on the wire, ${inflated} inflated, limit ${LIMIT}`);
  });

  await t.test('an encoded body that falls silent is 408 after body-timeout', async () => {
    const gz = encode('gzip', chatText('stalled'));
    const before = upstream.requests.length;
    // Half the stream, then silence; the request stays open until the gateway answers (bounded).
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(chat, { method: 'POST', agent: false, headers: { ...openaiHeaders('gzip'), 'content-length': String(gz.length) } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(15_000, () => req.destroy(new Error('no answer to the stalled body within 15 s')));
      req.on('error', reject);
      req.write(gz.subarray(0, gz.length >> 1));
    });
    assert.equal(response.status, 408, response.body);
    assert.match(response.body, /stalled: no bytes for 1s/);
    assert.equal(upstream.requests.length, before);
  });

  await t.test('the gateway still serves afterwards', async () => {
    const { recorded } = await one(upstream, () => rawRequest(chat, { headers: openaiHeaders('gzip'), body: encode('gzip', chatText('after')) }));
    assertDecodedUpstream(recorded);
  });
});

test('gateway: at the default body-limit (32 MiB) a 128 MiB gzip bomb is 413 with 32 MiB + 16 KiB inflated at most', async (t) => {
  const upstream = await fakeUpstream(t, openaiLike());
  const gateway = await startGateway(t, yaml('', upstream), { CLIENT_KEY });
  const server = await serverPidOf(Number(readFileSync(gateway.inst.pidFile, 'utf8').trim()));
  // One ordinary request first, so the request pipeline is loaded before the baseline is read.
  await one(upstream, () => rawRequest(`${gateway.url}/v1/chat/completions`, { headers: openaiHeaders('gzip'), body: encode('gzip', JSON.stringify({ model: 'enc-model', messages: [{ role: 'user', content: 'warm up' }] })) }));
  const peakBefore = peakRss(server);
  const bomb = await gzipBomb(128 * 1024 * 1024);
  const response = await assertRefused(upstream, () => rawRequest(`${gateway.url}/v1/chat/completions`, { headers: openaiHeaders('gzip'), body: bomb }, 30_000), 413, 'openai', /exceeds the limit of 33554432 bytes once decoded/);
  const inflated = inflatedOf(response);
  assert.ok(inflated > DEFAULT_LIMIT && inflated <= DEFAULT_LIMIT + CHUNK, `inflated ${inflated} bytes for a limit of ${DEFAULT_LIMIT}`);
  // A second witness, independent of the gateway's own count: inflating the bomb whole would
  // raise the server's peak RSS by its 128 MiB at least; buffering up to the limit raises it by about 32.
  const growth = peakRss(server) - peakBefore;
  assert.ok(growth < 96 * 1024 * 1024, `the server's peak RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
  t.diagnostic(`bomb: ${bomb.length} bytes on the wire, ${inflated} inflated, limit ${DEFAULT_LIMIT}; server peak RSS +${(growth / 1048576).toFixed(1)} MiB`);
});
