/**
 * Client keys, limits and refusals, each in the format of the API the client called (so its SDK
 * raises the usual typed error): missing, invalid and expired keys through every way a key can be
 * sent, per-key requests-per-minute with Retry-After and x-ratelimit-* headers, allowed-model
 * globs, and the body limit. A refused request never reaches an upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get, post } from '../helpers/cli.ts';
import { anthropicLike, fakeUpstream, geminiLike, openaiLike, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { assertRedacted, expectJson, rawRequest, startGateway } from './gateway-harness.ts';

const KEYS = {
  alice: 'client-key-alice-7a6b5c4d3e2f',
  limited: 'client-key-limited-1f2e3d4c5b6a',
  restricted: 'client-key-restricted-9a8b7c6d5e',
  expired: 'client-key-expired-0a1b2c3d4e5f',
  hashed: 'client-key-hashed-5e4d3c2b1a0f',
  tokens: 'client-key-tokens-6b5a4c3d2e1f',
  wrong: 'client-key-nobody-has-this-one-1234',
};
const UPSTREAM = { openai: 'sk-upstream-clients-openai-abcdef123456', anthropic: 'sk-ant-upstream-clients-abcdef123456', gemini: 'AIzaUpstreamClientsGemini-abcdef12' };
const SECRETS = [...Object.values(KEYS).filter((k) => k !== KEYS.wrong), ...Object.values(UPSTREAM)];

type Format = 'openai' | 'anthropic' | 'gemini';
type Carrier = 'bearer' | 'x-api-key' | 'x-goog-api-key' | 'query';

const carriers: readonly Carrier[] = ['bearer', 'x-api-key', 'x-goog-api-key', 'query'];

/** Asserts an error body is in `format`'s shape, with the status-specific type. */
function assertErrorShape(format: Format, status: number, body: Record<string, unknown>, expected: { openai: string; anthropic: string; gemini: string }): string {
  if (format === 'anthropic') {
    assert.equal(body.type, 'error');
    const error = body.error as Record<string, unknown>;
    assert.deepEqual(Object.keys(error).sort(), ['message', 'type']);
    assert.equal(error.type, expected.anthropic);
    return String(error.message);
  }
  const error = body.error as Record<string, unknown>;
  if (format === 'gemini') {
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'status']);
    assert.equal(error.code, status);
    assert.equal(error.status, expected.gemini);
  } else {
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(error.type, expected.openai);
  }
  return String(error.message);
}

test('gateway: client auth, per-key limits, allowed models and the body limit', async (t) => {
  const openai = await fakeUpstream(t, openaiLike());
  const anthropic = await fakeUpstream(t, anthropicLike());
  const gemini = await fakeUpstream(t, geminiLike());
  const upstreams: FakeUpstream[] = [openai, anthropic, gemini];
  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
server: { body-limit: 1KB }
client-keys:
  - { name: alice, key: "\${ALICE}" }
  - { name: limited, key: "\${LIMITED}", rpm: 2 }
  - { name: restricted, key: "\${RESTRICTED}", models: ["gpt-*", "gemini-2.5-*"] }
  - { name: expired, key: "\${EXPIRED}", expires: 2020-01-01 }
  - { name: tokens, key: "\${TOKENS}", tpm: 20 }
  - { name: hashed, sha256: ${createHash('sha256').update(KEYS.hashed).digest('hex')} }
providers:
  - { name: openai, type: openai, base-url: "${openai.url}/v1", api-keys: ["\${OPENAI_KEY}"], models: ["gpt-*", "o3"] }
  - { name: anthropic, type: anthropic, base-url: "${anthropic.url}", api-keys: ["\${ANTHROPIC_KEY}"], models: ["claude-*"] }
  - { name: gemini, type: gemini, base-url: "${gemini.url}", api-keys: ["\${GEMINI_KEY}"], models: ["gemini-*"] }
`,
    { ALICE: KEYS.alice, LIMITED: KEYS.limited, TOKENS: KEYS.tokens, RESTRICTED: KEYS.restricted, EXPIRED: KEYS.expired, OPENAI_KEY: UPSTREAM.openai, ANTHROPIC_KEY: UPSTREAM.anthropic, GEMINI_KEY: UPSTREAM.gemini },
  );
  const url = gateway.url;
  const upstreamCount = (): number => upstreams.reduce((n, u) => n + u.requests.length, 0);

  /** A request in `format` for `model`, with `key` sent the way `carrier` says (none when key is null). */
  const call = (format: Format, model: string, key: string | null, carrier: Carrier, extraBody: Record<string, unknown> = {}): Promise<Response> => {
    const headers: Record<string, string> = format === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {};
    let query = '';
    if (key !== null) {
      if (carrier === 'bearer') headers.authorization = `Bearer ${key}`;
      else if (carrier === 'query') query = `?key=${encodeURIComponent(key)}`;
      else headers[carrier] = key;
    }
    if (format === 'openai') return post(`${url}/v1/chat/completions${query}`, { model, messages: [{ role: 'user', content: 'hi' }], ...extraBody }, headers);
    if (format === 'anthropic') return post(`${url}/v1/messages${query}`, { model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...extraBody }, headers);
    return post(`${url}/v1beta/models/${model}:generateContent${query}`, { contents: [{ parts: [{ text: 'hi' }] }], ...extraBody }, headers);
  };
  const models: Record<Format, string> = { openai: 'gpt-4o', anthropic: 'claude-sonnet-4-5', gemini: 'gemini-2.5-flash' };
  const authErrors = { openai: 'invalid_request_error', anthropic: 'authentication_error', gemini: 'UNAUTHENTICATED' };

  await t.test('missing, invalid and expired keys → 401 in the client\'s format, for every way of sending a key; nothing goes upstream', async () => {
    const before = upstreamCount();
    for (const format of ['openai', 'anthropic', 'gemini'] as const) {
      const missing = await expectJson(await call(format, models[format], null, 'bearer'), 401);
      assert.match(assertErrorShape(format, 401, missing, authErrors), /No API key provided/);
      if (format === 'openai') assert.equal((missing.error as Record<string, unknown>).code, 'invalid_api_key');
      for (const carrier of carriers) {
        const invalid = await expectJson(await call(format, models[format], KEYS.wrong, carrier), 401);
        assert.match(assertErrorShape(format, 401, invalid, authErrors), /Invalid API key/, `${format} via ${carrier}`);
        const expired = await expectJson(await call(format, models[format], KEYS.expired, carrier), 401);
        assert.match(assertErrorShape(format, 401, expired, authErrors), /expired/, `${format} via ${carrier}`);
        assert.ok(!JSON.stringify(invalid).includes(KEYS.wrong), 'the presented key is not echoed');
      }
    }
    assert.equal(upstreamCount(), before);
  });

  await t.test('GET /v1/models and /v1beta/models refuse a bad key in their own shapes', async () => {
    const o = await expectJson(await get(`${url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.wrong}` } }), 401);
    assertErrorShape('openai', 401, o, authErrors);
    const a = await expectJson(await get(`${url}/v1/models`, { headers: { 'x-api-key': KEYS.wrong, 'anthropic-version': '2023-06-01' } }), 401);
    assertErrorShape('anthropic', 401, a, authErrors);
    const g = await expectJson(await get(`${url}/v1beta/models?key=${KEYS.wrong}`), 401);
    assertErrorShape('gemini', 401, g, authErrors);
  });

  await t.test('a valid key works through every way of sending it, and a key configured as sha256 works too', async () => {
    for (const format of ['openai', 'anthropic', 'gemini'] as const) {
      for (const carrier of carriers) {
        const r = await call(format, models[format], KEYS.alice, carrier);
        await expectJson(r, 200);
        assert.equal(r.headers.get('x-ai-proxy-provider'), format);
      }
      await expectJson(await call(format, models[format], KEYS.hashed, 'bearer'), 200);
    }
  });

  await t.test('rpm: 2 → two requests pass with the key\'s own x-ratelimit-* headers, the third gets 429 with Retry-After in each format', async () => {
    const before = upstreamCount();
    const first = await call('openai', 'gpt-4o', KEYS.limited, 'bearer');
    await expectJson(first, 200);
    assert.equal(first.headers.get('x-ratelimit-limit-requests'), '2', 'the client\'s limit, not the upstream account\'s');
    assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '1');
    const second = await call('anthropic', 'claude-sonnet-4-5', KEYS.limited, 'x-api-key');
    await expectJson(second, 200);
    assert.equal(second.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(upstreamCount(), before + 2);

    const expected = { openai: 'requests', anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' };
    for (const format of ['openai', 'anthropic', 'gemini'] as const) {
      const r = await call(format, models[format], KEYS.limited, format === 'gemini' ? 'query' : 'bearer');
      const body = await expectJson(r, 429);
      assert.match(assertErrorShape(format, 429, body, expected), /Rate limit exceeded for key 'limited'/);
      if (format === 'openai') assert.equal((body.error as Record<string, unknown>).code, 'rate_limit_exceeded');
      const retryAfter = Number(r.headers.get('retry-after'));
      assert.ok(retryAfter >= 29 && retryAfter <= 30, `retry-after ${retryAfter}`);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '2');
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.match(r.headers.get('x-ratelimit-reset-requests') ?? '', /^\d+(\.\d+)?s$|^1m/);
    }
    assert.equal(upstreamCount(), before + 2, 'refused requests never reach an upstream');
    const other = await call('openai', 'gpt-4o', KEYS.alice, 'bearer');
    await expectJson(other, 200);
    assert.equal(other.headers.get('x-ratelimit-limit-requests'), '10000', 'a key without limits sees the upstream\'s headers as they came');
  });

  await t.test('tpm: 20 → tokens counted from the upstream\'s reported usage (10 per answer here); the third request is refused for tokens', async () => {
    const before = upstreamCount();
    const first = await call('openai', 'gpt-4o', KEYS.tokens, 'bearer');
    await expectJson(first, 200);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '20');
    assert.equal(first.headers.get('x-ratelimit-remaining-tokens'), '20', 'nothing used before the first answer');
    const second = await call('openai', 'gpt-4o', KEYS.tokens, 'bearer');
    await expectJson(second, 200);
    assert.equal(second.headers.get('x-ratelimit-remaining-tokens'), '10', 'the first answer\'s usage (7 + 3) was counted');
    const third = await call('openai', 'gpt-4o', KEYS.tokens, 'bearer');
    const body = await expectJson(third, 429);
    assert.match(assertErrorShape('openai', 429, body, { openai: 'requests', anthropic: '', gemini: '' }), /tokens per minute/);
    assert.equal(third.headers.get('x-ratelimit-remaining-tokens'), '0');
    assert.ok(Number(third.headers.get('retry-after')) >= 1);
    assert.equal(upstreamCount(), before + 2);
  });

  await t.test('allowed-model globs: a restricted key gets 403 outside them, in the client\'s format, and its model list shows only what it may use', async () => {
    const before = upstreamCount();
    const denied = { openai: 'invalid_request_error', anthropic: 'permission_error', gemini: 'PERMISSION_DENIED' };
    const o = await expectJson(await call('openai', 'o3', KEYS.restricted, 'bearer'), 403);
    assert.match(assertErrorShape('openai', 403, o, denied), /may not use the model 'o3'/);
    assert.equal((o.error as Record<string, unknown>).code, 'model_not_allowed');
    const a = await expectJson(await call('anthropic', 'claude-sonnet-4-5', KEYS.restricted, 'x-api-key'), 403);
    assertErrorShape('anthropic', 403, a, denied);
    const g = await expectJson(await call('gemini', 'gemini-1.5-pro', KEYS.restricted, 'x-goog-api-key'), 403);
    assertErrorShape('gemini', 403, g, denied);
    assert.equal(upstreamCount(), before);
    await expectJson(await call('openai', 'gpt-4o', KEYS.restricted, 'bearer'), 200);
    await expectJson(await call('gemini', 'gemini-2.5-flash', KEYS.restricted, 'x-goog-api-key'), 200);
    const list = await expectJson(await get(`${url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.restricted}` } }), 200);
    const ids = (list.data as Array<{ id: string }>).map((m) => m.id);
    assert.ok(!ids.includes('o3'), `o3 is not listed for the restricted key: ${ids.join(', ')}`);
  });

  await t.test('body limit 1KB: a larger body gets 413 in the client\'s format, declared or chunked; nothing goes upstream', async () => {
    const before = upstreamCount();
    const big = { metadata: { padding: 'x'.repeat(2048) } };
    const tooLarge = { openai: 'invalid_request_error', anthropic: 'request_too_large', gemini: 'INVALID_ARGUMENT' };
    for (const format of ['openai', 'anthropic', 'gemini'] as const) {
      const body = await expectJson(await call(format, models[format], KEYS.alice, 'bearer', big), 413);
      assert.match(assertErrorShape(format, 413, body, tooLarge), /exceeds the limit of 1024 bytes/);
    }
    const chunked = await rawRequest(`${url}/v1/messages`, {
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'x-api-key': KEYS.alice, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'y'.repeat(4096) }] }),
    });
    assert.equal(chunked.status, 413, chunked.body);
    assertErrorShape('anthropic', 413, JSON.parse(chunked.body) as Record<string, unknown>, tooLarge);
    assert.equal(upstreamCount(), before);
    await expectJson(await call('openai', 'gpt-4o', KEYS.alice, 'bearer', { metadata: { padding: 'x'.repeat(700) } }), 200);
  });

  await t.test('a body that is not a JSON object, or has no model, gets 400 in the client\'s format; nothing goes upstream', async () => {
    const before = upstreamCount();
    const raw = (path: string, body: string, headers: Record<string, string>) => fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(10_000) });
    const o = await expectJson(await raw('/v1/chat/completions', '{"model": "gpt-4o", "messages": [', { authorization: `Bearer ${KEYS.alice}` }), 400);
    assert.match(assertErrorShape('openai', 400, o, { openai: 'invalid_request_error', anthropic: '', gemini: '' }), /not valid JSON/);
    const a = await expectJson(await raw('/v1/messages', '[1, 2]', { 'x-api-key': KEYS.alice, 'anthropic-version': '2023-06-01' }), 400);
    assertErrorShape('anthropic', 400, a, { openai: '', anthropic: 'invalid_request_error', gemini: '' });
    const g = await expectJson(await raw('/v1beta/models/gemini-2.5-flash:generateContent', 'contents=hi', { 'x-goog-api-key': KEYS.alice }), 400);
    assertErrorShape('gemini', 400, g, { openai: '', anthropic: '', gemini: 'INVALID_ARGUMENT' });
    const noModel = await expectJson(await raw('/v1/chat/completions', '{"messages": []}', { authorization: `Bearer ${KEYS.alice}` }), 400);
    assert.equal((noModel.error as Record<string, unknown>).param, 'model');
    assert.equal(upstreamCount(), before);
  });

  await t.test('the access log names the client key, never the key', async () => {
    await assertRedacted(gateway, SECRETS);
    const log = gateway.log();
    assert.match(log, /client=limited .* status=429/);
    assert.match(log, /client=restricted .* status=403/);
    assert.match(log, /client=alice .* status=413/);
  });
});
