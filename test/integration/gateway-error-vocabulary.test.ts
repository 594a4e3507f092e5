/**
 * One error vocabulary per client format, through the real CLI: the 404 and the 429 the gateway
 * raises itself (an unknown path, a client key over its rpm) and the same 404 and 429 answered by
 * an upstream of another API family, translated, reach an OpenAI, an Anthropic and a Gemini client
 * as the same body. The fake upstreams echo the gateway's own message so the bodies can be
 * compared byte for byte. (The stream events are compared in test/unit/errors-vocabulary.test.ts:
 * a gateway-made 404 or 429 cannot happen mid-stream.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { post } from '../helpers/cli.ts';
import { fakeUpstream, json } from '../helpers/fake-upstream.ts';
import { assertRedacted, startGateway } from './gateway-harness.ts';

const KEYS = { alice: 'client-key-alice-vocab-1a2b3c4d', limited: 'client-key-limited-vocab-5e6f7a8b' };
const UPSTREAM = { anthropic: 'sk-ant-upstream-vocab-0123456789', gemini: 'AIzaUpstreamVocabGemini-0123456789' };

type Format = 'openai' | 'anthropic' | 'gemini';
const FORMATS: readonly Format[] = ['openai', 'anthropic', 'gemini'];

/** What the fakes answer next: the status and the message the gateway itself used. */
const next = { status: 500, message: '' };

test('gateway: its own 404 and 429 and translated upstream ones read the same in each client format', async (t) => {
  const anthropic = await fakeUpstream(t, (_req, res) =>
    json(res, next.status, { type: 'error', error: { type: next.status === 429 ? 'rate_limit_error' : 'not_found_error', message: next.message } }, next.status === 429 ? { 'retry-after': '7' } : {}),
  );
  const gemini = await fakeUpstream(t, (_req, res) =>
    json(res, next.status, { error: { code: next.status, message: next.message, status: next.status === 429 ? 'RESOURCE_EXHAUSTED' : 'NOT_FOUND' } }, next.status === 429 ? { 'retry-after': '7' } : {}),
  );
  // A translated 429 cools its provider's only key down, so each format gets a provider of its own.
  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
retry: { attempts: 1 }
client-keys:
  - { name: alice, key: "\${ALICE}" }
  - { name: limited, key: "\${LIMITED}", rpm: 1 }
providers:
  - { name: for-openai, type: anthropic, base-url: "${anthropic.url}", api-keys: ["\${ANTHROPIC_KEY}"], models: ["claude-for-openai"] }
  - { name: for-anthropic, type: gemini, base-url: "${gemini.url}", api-keys: ["\${GEMINI_KEY}"], models: ["gemini-for-anthropic"] }
  - { name: for-gemini, type: anthropic, base-url: "${anthropic.url}", api-keys: ["\${ANTHROPIC_KEY}"], models: ["claude-for-gemini"] }
  - { name: local, type: mock, models: ["mock-ok"] }
`,
    { ALICE: KEYS.alice, LIMITED: KEYS.limited, ANTHROPIC_KEY: UPSTREAM.anthropic, GEMINI_KEY: UPSTREAM.gemini },
  );
  const models: Record<Format, string> = { openai: 'claude-for-openai', anthropic: 'gemini-for-anthropic', gemini: 'claude-for-gemini' };

  /** A model request in `format`; `path` replaces the endpoint (for the unknown-path 404). */
  const call = (format: Format, model: string, key: string, path?: string): Promise<Response> => {
    const headers = { authorization: `Bearer ${key}` };
    if (format === 'anthropic') {
      return post(`${gateway.url}${path ?? '/v1/messages'}`, { model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }, { ...headers, 'anthropic-version': '2023-06-01' });
    }
    if (format === 'gemini') return post(`${gateway.url}${path ?? `/v1beta/models/${model}:generateContent`}`, { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, headers);
    return post(`${gateway.url}${path ?? '/v1/chat/completions'}`, { model, messages: [{ role: 'user', content: 'hi' }] }, headers);
  };
  const messageOf = (format: Format, body: string): string => {
    const parsed = JSON.parse(body) as { error: { message: string } };
    return parsed.error.message;
  };
  const unknownPath: Record<Format, string> = { openai: '/v1/chat/nowhere', anthropic: '/v1/messages/nowhere', gemini: '/v1beta/models/m:nowhere' };

  await t.test('404: the gateway\'s (no such path) and the upstream\'s (translated) are the same body', async () => {
    for (const format of FORMATS) {
      const own = await call(format, 'mock-ok', KEYS.alice, unknownPath[format]);
      const ownBody = await own.text();
      assert.equal(own.status, 404, ownBody);
      next.status = 404;
      next.message = messageOf(format, ownBody);
      const translated = await call(format, models[format], KEYS.alice);
      const translatedBody = await translated.text();
      assert.equal(translated.status, 404, translatedBody);
      assert.equal(translated.headers.get('x-ai-proxy-provider'), `for-${format}`, 'the answer came from the upstream');
      assert.equal(translatedBody, ownBody, `${format}: the same 404 from both paths`);
    }
  });

  await t.test('429: the gateway\'s (client key over its rpm) and the upstream\'s (translated) are the same body, both with Retry-After', async () => {
    const first = await call('openai', 'mock-ok', KEYS.limited);
    assert.equal(first.status, 200, await first.text());
    for (const format of FORMATS) {
      const own = await call(format, 'mock-ok', KEYS.limited);
      const ownBody = await own.text();
      assert.equal(own.status, 429, ownBody);
      assert.ok(Number(own.headers.get('retry-after')) > 0);
      next.status = 429;
      next.message = messageOf(format, ownBody);
      const translated = await call(format, models[format], KEYS.alice);
      const translatedBody = await translated.text();
      assert.equal(translated.status, 429, translatedBody);
      assert.equal(translated.headers.get('retry-after'), '7', 'the upstream\'s hint reaches the client');
      assert.equal(translatedBody, ownBody, `${format}: the same 429 from both paths`);
    }
  });

  await assertRedacted(gateway, [...Object.values(KEYS), ...Object.values(UPSTREAM)]);
});
