/**
 * Hostile HTTP input (issue 5): a corpus of malformed requests, sent over raw TCP where no HTTP
 * client would send them. Each gets the right 4xx in the client's own error format (by path:
 * OpenAI, Anthropic or Gemini), or a clean close when it is not HTTP at all; the server never
 * crashes (same pid, /healthz answers afterwards), others are served while slow clients trickle,
 * and no configured secret appears in any response or in the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get, instance, runCli, serverPidOf, SLACK_MS, startDaemon } from '../helpers/cli.ts';
import { fakeUpstream, json } from '../helpers/fake-upstream.ts';
import { exchange, rawExchange, scriptedChat, scriptedUpstream, type RawResponse, type RawResult, killInstanceOnExit } from '../helpers/reliability.ts';

const CLIENT_KEY = 'sk-hostile-client-7c41d2e9b0';
const ADMIN_KEY = 'sk-hostile-admin-3f8a61c5d2';
const UPSTREAM_KEY = 'sk-hostile-upstream-b93e0a4f17';
const GEMINI_KEY = 'AIza-hostile-gemini-5d0c2b7e';
const SECRETS = [CLIENT_KEY, ADMIN_KEY, UPSTREAM_KEY, GEMINI_KEY];
const BODY_LIMIT = 64 * 1024;

type Format = 'openai' | 'anthropic' | 'gemini';

interface Case {
  name: string;
  parts: Array<string | Buffer>;
  /** Expected status, and the error format of its body; 'close' = answered 400 or closed, nothing else. */
  status: number;
  format: Format | 'any' | null;
  gapMs?: number;
  /** How many responses to wait for (pipelining). */
  responses?: number;
}

const auth = `authorization: Bearer ${CLIENT_KEY}\r\n`;
const req = (method: string, path: string, body: string | Buffer | null, headers = ''): Buffer => {
  const bytes = body === null ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const length = body === null ? '' : `content-length: ${bytes.length}\r\ncontent-type: application/json\r\n`;
  return Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n${auth}${length}${headers}\r\n`, 'latin1'), bytes]);
};
const post = (path: string, body: string | Buffer, headers = ''): Buffer => req('POST', path, body, headers);

const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';
const GEMINI = '/v1beta/models/rel-model:generateContent';
const chatBody = (extra: Record<string, unknown>): string => JSON.stringify({ model: 'rel-model', messages: [{ role: 'user', content: 'script {"id":"hostile"}' }], ...extra });
const messagesBody = (extra: Record<string, unknown>): string => JSON.stringify({ model: 'rel-model', max_tokens: 16, messages: [{ role: 'user', content: 'script {"id":"hostile"}' }], ...extra });

function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (name: string, parts: Array<string | Buffer> | Buffer | string, status: number, format: Case['format'], extra: Partial<Case> = {}): void => {
    cases.push({ name, parts: Array.isArray(parts) ? parts : [parts], status, format, ...extra });
  };
  // Bodies that are not the JSON object each API expects.
  for (const [path, format] of [[CHAT, 'openai'], [MESSAGES, 'anthropic'], [GEMINI, 'gemini']] as const) {
    add(`bad JSON on ${path}`, post(path, '{"model": "rel-model", "messages": ['), 400, format);
    add(`a JSON array on ${path}`, post(path, '[{"model":"rel-model"}]'), 400, format);
    add(`a JSON string on ${path}`, post(path, '"rel-model"'), 400, format);
    add(`JSON null on ${path}`, post(path, 'null'), 400, format);
    add(`an empty body on ${path}`, post(path, ''), 400, format);
    add(`a body over the limit (content-length) on ${path}`, post(path, Buffer.alloc(BODY_LIMIT + 1, 'x')), 413, format);
    add(`a body over the limit (chunked) on ${path}`, [
      `POST ${path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n${auth}transfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n`,
      ...Array.from({ length: 9 }, () => `2000\r\n${'y'.repeat(0x2000)}\r\n`),
      '0\r\n\r\n',
    ], 413, format);
    add(`invalid UTF-8 in the body on ${path}`, post(path, Buffer.concat([Buffer.from('{"model":"rel-model","max_tokens":16,"messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}]}')])), 400, format);
    add(`no API key on ${path}`, Buffer.from(post(path, chatBody({})).toString('latin1').replace(auth, ''), 'latin1'), 401, format);
    add(`a wrong API key on ${path}`, Buffer.from(post(path, chatBody({})).toString('latin1').replace(CLIENT_KEY, 'sk-wrong'), 'latin1'), 401, format);
    add(`thousands of headers on ${path}`, post(path, chatBody({}), Array.from({ length: 3_000 }, (_, i) => `x-flood-${i}: ${i}\r\n`).join('')), 431, format);
    add(`a 100 KB header value on ${path}`, post(path, chatBody({}), `x-huge: ${'h'.repeat(100_000)}\r\n`), 431, format);
  }
  // Wrong types where the gateway reads the field, and where it translates the body.
  add('model: 42', post(CHAT, chatBody({ model: 42 })), 400, 'openai');
  add('model: null (Anthropic)', post(MESSAGES, messagesBody({ model: null })), 400, 'anthropic');
  add('model: "" ', post(CHAT, chatBody({ model: '' })), 400, 'openai');
  add('no model (Anthropic)', post(MESSAGES, JSON.stringify({ max_tokens: 5, messages: [] })), 400, 'anthropic');
  add('stream: "yes"', post(CHAT, chatBody({ stream: 'yes' })), 400, 'openai');
  add('stream: 1 (Anthropic)', post(MESSAGES, messagesBody({ stream: 1 })), 400, 'anthropic');
  add('messages: {} (passthrough: the upstream refuses it)', post(CHAT, chatBody({ messages: {} })), 400, 'openai');
  add('messages: {} (translated from Anthropic)', post(MESSAGES, messagesBody({ messages: {} })), 400, 'anthropic');
  add('messages: "hi" (translated from Anthropic)', post(MESSAGES, messagesBody({ messages: 'hi' })), 400, 'anthropic');
  add('contents: {} (translated from Gemini)', post(GEMINI, JSON.stringify({ contents: {} })), 400, 'gemini');
  add('an unknown model', post(CHAT, chatBody({ model: 'no-such-model' })), 404, 'openai');
  // Path tricks.
  add('/v1/../admin/config with the admin key', req('GET', '/v1/../admin/config', null, `x-api-key: ${ADMIN_KEY}\r\n`), 404, 'openai');
  add('/v1/%2e%2e/admin/config', req('GET', '/v1/%2e%2e/admin/config', null), 404, 'openai');
  add('//v1/chat/completions', post('//v1/chat/completions', chatBody({})), 404, 'openai');
  add('/v1/chat/completions%00', post('/v1/chat/completions%00', chatBody({})), 404, 'openai');
  add('/v1/chat/completions/ (trailing slash)', post('/v1/chat/completions/', chatBody({})), 404, 'openai');
  add('/v1/messages?x=%ZZ', post('/v1/messages?x=%ZZ', messagesBody({ model: 'no-such-model' })), 404, 'anthropic');
  add('encoded slashes in a Gemini model (traversal)', post('/v1beta/models/gem-a%2F..%2F..%2Fadmin%2Fconfig:generateContent', JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] })), 404, 'gemini');
  // A model id with a slash is legitimate (gem-* matches it); upstream, it stays encoded (checked below).
  add('an encoded slash in a Gemini model served by a glob', post('/v1beta/models/gem-a%2Fb:generateContent', JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] })), 200, null);
  add('a broken percent-encoding in a Gemini model', post('/v1beta/models/%E0%A4%A:generateContent', '{}'), 404, 'gemini');
  add('a 10 KB URL', req('GET', `/v1/${'a'.repeat(10_000)}`, null), 404, 'openai');
  add('a 100 KB URL', req('GET', `/v1/${'a'.repeat(100_000)}`, null), 414, 'openai');
  add('a 100 KB Gemini URL', req('POST', `/v1beta/models/${'g'.repeat(100_000)}:generateContent`, '{}'), 414, 'gemini');
  // Wrong methods.
  add('PUT /v1/chat/completions', req('PUT', CHAT, chatBody({})), 405, 'openai');
  add('GET /v1/messages', req('GET', MESSAGES, null), 405, 'anthropic');
  add('DELETE on a Gemini model', req('DELETE', GEMINI, null), 405, 'gemini');
  add('POST /healthz', req('POST', '/healthz', '{}'), 405, 'openai');
  // Broken framing, old and odd HTTP.
  add('content-length: abc', `POST ${CHAT} HTTP/1.1\r\nhost: g\r\ncontent-length: abc\r\n\r\n{}`, 400, 'openai');
  add('content-length: -1', `POST ${MESSAGES} HTTP/1.1\r\nhost: g\r\ncontent-length: -1\r\n\r\n`, 400, 'anthropic');
  add('two different content-lengths', `POST ${CHAT} HTTP/1.1\r\nhost: g\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}`, 400, 'openai');
  add('content-length and chunked together', `POST ${CHAT} HTTP/1.1\r\nhost: g\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'openai');
  add('a bad chunk size', `POST ${CHAT} HTTP/1.1\r\nhost: g\r\n${auth}transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 400, 'openai');
  add('a NUL in a header value', `GET /healthz HTTP/1.1\r\nhost: g\r\nx-bad: a\0b\r\n\r\n`, 400, 'openai');
  add('a header without a colon', `GET /healthz HTTP/1.1\r\nhost: g\r\nno colon here\r\n\r\n`, 400, 'openai');
  add('HTTP/1.0 without a host', 'GET /healthz HTTP/1.0\r\n\r\n', 200, null);
  add('HTTP/1.0 model request', Buffer.concat([Buffer.from(`POST ${CHAT} HTTP/1.0\r\n${auth}content-length: ${Buffer.byteLength(chatBody({}))}\r\n\r\n`), Buffer.from(chatBody({}))]), 200, null);
  add('HTTP/9.9', 'GET /healthz HTTP/9.9\r\nhost: g\r\n\r\n', 400, 'any');
  add('a request line that is not HTTP', 'HELLO WORLD\r\n\r\n', 400, 'any');
  add('a TLS ClientHello', Buffer.from('160301020001000200030300000000000000000000000000000000000000000000000000', 'hex'), 400, 'any');
  add('binary garbage', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256)), 400, 'any');
  // Empty lines before a request line are allowed (RFC 9112 §2.2): then no request comes, and the header timeout (2 s) cuts it.
  add('empty lines then nothing', '\r\n\r\n', 408, 'any');
  return cases;
}

function assertErrorShape(format: Format | 'any', status: number, body: Buffer, name: string): void {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    assert.fail(`${name}: the ${status} body is not JSON: ${body.toString('latin1').slice(0, 200)}`);
  }
  const error = parsed.error as Record<string, unknown> | undefined;
  assert.ok(error !== undefined && typeof error === 'object', `${name}: an error object: ${JSON.stringify(parsed)}`);
  if (format === 'any') return;
  if (format === 'openai') {
    assert.equal(typeof error.message, 'string', `${name}: OpenAI error.message`);
    assert.equal(typeof error.type, 'string', `${name}: OpenAI error.type`);
    assert.ok('param' in error && 'code' in error, `${name}: OpenAI error.param and error.code: ${JSON.stringify(parsed)}`);
    assert.equal(parsed.type, undefined, `${name}: not the Anthropic envelope`);
  } else if (format === 'anthropic') {
    assert.equal(parsed.type, 'error', `${name}: Anthropic envelope: ${JSON.stringify(parsed)}`);
    assert.equal(typeof error.type, 'string', `${name}: Anthropic error.type`);
    assert.equal(typeof error.message, 'string', `${name}: Anthropic error.message`);
  } else {
    assert.equal(error.code, status, `${name}: Gemini error.code is the status: ${JSON.stringify(parsed)}`);
    assert.equal(typeof error.status, 'string', `${name}: Gemini error.status`);
    assert.equal(typeof error.message, 'string', `${name}: Gemini error.message`);
  }
}

test('hostile HTTP input: every malformed request gets its 4xx in the client format, the server survives, no secret leaks', { timeout: 120_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  // Like the real API, the upstream refuses a chat body whose messages are not a list.
  up.upstream.setHandler((request, response, recorded) => {
    const body = JSON.parse(recorded.body) as { messages?: unknown };
    if (!Array.isArray(body.messages)) return json(response, 400, { error: { message: "Invalid type for 'messages': expected an array.", type: 'invalid_request_error', param: 'messages', code: 'invalid_type' } });
    return up.handler(request, response, recorded);
  });
  const gemini = await fakeUpstream(t, (_request, response) => json(response, 200, { candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] }));
  const yaml = [
    'listen:\n  host: 127.0.0.1\n  port: 0',
    `server:\n  body-limit: ${BODY_LIMIT}\n  header-timeout: 2s\n  body-timeout: 1s`,
    'client-keys:\n  - name: hostile\n    key: ${H_CLIENT_KEY}',
    'admin:\n  key: ${H_ADMIN_KEY}',
    'providers:',
    `  - name: up\n    type: openai-compatible\n    base-url: ${up.url}/v1\n    api-keys: ["\${H_UPSTREAM_KEY}"]\n    models: [rel-model]`,
    `  - name: gem\n    type: gemini\n    base-url: ${gemini.url}\n    api-keys: ["\${H_GEMINI_KEY}"]\n    models: ["gem-*"]`,
    '  - name: mock\n    type: mock\n    models: [mock]',
    '',
  ].join('\n');
  const inst = instance(t, yaml, { H_CLIENT_KEY: CLIENT_KEY, H_ADMIN_KEY: ADMIN_KEY, H_UPSTREAM_KEY: UPSTREAM_KEY, H_GEMINI_KEY: GEMINI_KEY });
  killInstanceOnExit(t, inst.dir);
  const { pid, url } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  const port = Number(new URL(url).port);
  const seen: string[] = [];

  // --- the corpus -------------------------------------------------------------------------
  const failures: string[] = [];
  const cases = corpus();
  for (const c of cases) {
    const result = await rawExchange(port, c.parts, { timeoutMs: 10_000, expectResponses: c.responses ?? 1 });
    seen.push(result.raw.toString('latin1'));
    const response = result.responses[0];
    try {
      assert.ok(response !== undefined, `${c.name}: a response (got ${result.end} after ${result.ms} ms: ${JSON.stringify(result.raw.toString('latin1').slice(0, 200))})`);
      assert.equal(response.status, c.status, `${c.name}: status ${response.status}: ${response.body.toString('utf8').slice(0, 300)}`);
      if (c.format !== null) assertErrorShape(c.format, c.status, response.body, c.name);
      if (c.status === 405) assert.ok(response.headers.allow !== undefined, `${c.name}: an Allow header`);
    } catch (error) {
      failures.push((error as Error).message.split('\n')[0] as string);
    }
  }

  // Pipelined requests are answered in order on one connection.
  const pipelined = await rawExchange(port, [
    Buffer.concat([
      Buffer.from('GET /healthz HTTP/1.1\r\nhost: g\r\n\r\n'),
      Buffer.from(post(CHAT, chatBody({})).toString('latin1').replace('connection: close\r\n', ''), 'latin1'),
      Buffer.from('GET /nowhere HTTP/1.1\r\nhost: g\r\n\r\n'),
      Buffer.from(`GET /readyz HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n`),
    ]),
  ], { timeoutMs: 10_000, expectResponses: 4 });
  seen.push(pipelined.raw.toString('latin1'));
  assert.deepEqual(pipelined.responses.map((r: RawResponse) => r.status), [200, 200, 404, 200], `pipelined: ${pipelined.raw.toString('latin1').slice(0, 500)}`);
  assert.match(pipelined.responses[1]?.body.toString('utf8') ?? '', /reply to hostile/);

  // --- slow clients never hold up the others ----------------------------------------------
  const slowBody = Buffer.from(JSON.stringify({ model: 'mock', messages: [] }));
  const slowHead = Buffer.from(`POST ${CHAT} HTTP/1.1\r\nhost: g\r\nconnection: close\r\n${auth}content-length: ${slowBody.length}\r\n\r\n`);
  // Headers, then the body one byte per 100 ms (~3 s): answered once it is all there.
  const slowlorisBody: Promise<RawResult> = rawExchange(port, [slowHead, ...[...slowBody].map((b) => Buffer.from([b]))], { gapMs: 100, timeoutMs: 3 * SLACK_MS, expectResponses: 1 });
  // Half a body, then silence: given up at body-timeout (1 s) with 408 in the client's format.
  const stalledBody: Promise<RawResult> = rawExchange(port, [slowHead, slowBody.subarray(0, slowBody.length >> 1)], { timeoutMs: 15_000 });
  // Headers themselves one byte per 100 ms, never finished: cut at header-timeout (2 s) with 408.
  const slowlorisHead: Promise<RawResult> = rawExchange(port, [...`GET /healthz HTTP/1.1\r\nhost: g\r\nx-slow: ${'s'.repeat(60)}`].map((ch) => ch), { gapMs: 100, timeoutMs: 15_000 });
  // Meanwhile others are served, promptly.
  const others: number[] = [];
  const othersStart = Date.now();
  while (Date.now() - othersStart < 2_500) {
    const started = Date.now();
    const r = await exchange(`${url}${CHAT}`, scriptedChat('rel-model', { id: `other-${others.length}` }, false), { headers: { authorization: `Bearer ${CLIENT_KEY}` }, timeoutMs: 3 * SLACK_MS });
    assert.equal(r.status, 200, `another client is served while slow clients trickle: ${r.error} ${r.body.toString('utf8').slice(0, 200)}`);
    others.push(Date.now() - started);
  }
  const [body, head, stalled] = await Promise.all([slowlorisBody, slowlorisHead, stalledBody]);
  seen.push(body.raw.toString('latin1'), head.raw.toString('latin1'), stalled.raw.toString('latin1'));
  assert.equal(stalled.responses[0]?.status, 408, `the stalled body is given up with 408: ${stalled.end} after ${stalled.ms} ms: ${stalled.raw.toString('latin1').slice(0, 300)}`);
  assertErrorShape('openai', 408, stalled.responses[0]?.body ?? Buffer.alloc(0), 'stalled body');
  // Without the body-timeout, Node's requestTimeout (300 s) would end it, beyond this exchange's 15 s.
  assert.ok(stalled.end === 'closed' && stalled.ms >= 1_000 && stalled.ms < 1_000 + SLACK_MS, `closed soon after the 1 s body timeout (${stalled.ms} ms)`);
  assert.equal(body.responses[0]?.status, 200, `the slow body is answered once complete: ${body.raw.toString('latin1').slice(0, 300)}`);
  assert.ok(body.ms >= 2_500, `the slow body took its time (${body.ms} ms)`);
  assert.equal(head.responses[0]?.status, 408, `the slow headers are cut with 408: ${head.end} after ${head.ms} ms: ${head.raw.toString('latin1').slice(0, 200)}`);
  // Node sweeps every header-timeout/4, so the cut comes by 2.5 s (2.0-2.5 s seen, idle and under
  // load). Before the fix Node's default 30 s sweep cut it anywhere up to 32 s (21-30 s seen): the
  // slack is sized for a loaded machine and keeps most of that range beyond the bound.
  assert.ok(head.end === 'closed' && head.ms < 2_000 + 6_000, `cut near the 2 s header timeout (${head.ms} ms)`);
  others.sort((a, b) => a - b);

  // --- the server survived, and told nobody a secret ----------------------------------------
  assert.deepEqual(gemini.requests.map((r) => r.path), ['/v1beta/models/gem-a%2Fb:generateContent'], 'the Gemini upstream saw only the slashed model, still encoded, and no traversal');
  assert.equal(await serverPidOf(pid), server, 'the same server process');
  assert.equal((await get(`${url}/healthz`)).status, 200);
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  const log = readFileSync(inst.logFile, 'utf8');
  for (const secret of SECRETS) {
    assert.ok(!log.includes(secret), `the log holds a secret (${secret.slice(0, 10)}…)`);
    assert.ok(!seen.some((text) => text.includes(secret)), `a response holds a secret (${secret.slice(0, 10)}…)`);
  }
  assert.doesNotMatch(log, /server bug|request \S+ failed|uncaught/i, 'no request hit an internal error');

  t.diagnostic(`corpus: ${cases.length} malformed requests + 4 pipelined + 2 slowloris + 1 stalled body; answered as expected: ${cases.length - failures.length}/${cases.length}; others served during the slowloris: ${others.length} (p50 ${others[Math.floor(others.length / 2)]} ms, max ${others[others.length - 1]} ms); slow headers cut with 408 after ${head.ms} ms, the stalled body after ${stalled.ms} ms; server pid unchanged; secrets leaked: 0`);
  assert.equal(failures.length, 0, `requests not answered as expected:\n${failures.join('\n')}`);
});

