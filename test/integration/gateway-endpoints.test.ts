/**
 * Every inbound endpoint against a fake upstream of its own family, through the real daemon:
 * the upstream gets the right path and its own auth convention, never the client's key, no
 * hop-by-hop headers, plus the provider's extra headers; the client gets the upstream's answer
 * without its cookies, with the x-ai-proxy-* headers and its own x-request-id. Then model
 * resolution (alias, prefix, glob, exclude, rename, disabled) and the 404 for unknown models in
 * each client's format, and the three shapes of the model list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, post } from '../helpers/cli.ts';
import { anthropicLike, bodyOf, fakeProxy, fakeUpstream, geminiLike, openaiLike, type FakeUpstream, type RecordedRequest } from '../helpers/fake-upstream.ts';
import { assertRedacted, expectJson, rawRequest, startGateway } from './gateway-harness.ts';

const CLIENT_KEY = 'client-key-endpoints-5f1c9a7e3b';
const OPENAI_KEY = 'sk-upstream-openai-endpoints-9d8c7b6a5f4e';
const ANTHROPIC_KEY = 'sk-ant-upstream-endpoints-1a2b3c4d5e6f';
const GEMINI_KEY = 'AIzaUpstreamGeminiEndpoints0x7e6d5c';
const DEEPSEEK_KEY = 'sk-upstream-deepseek-endpoints-44aa55bb';
const PROXIED_KEY = 'sk-upstream-proxied-endpoints-66cc77dd';
const SECRETS = [CLIENT_KEY, OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY, DEEPSEEK_KEY, PROXIED_KEY];

const openaiAuth = { authorization: `Bearer ${CLIENT_KEY}` };
const anthropicAuth = { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
const geminiAuth = { 'x-goog-api-key': CLIENT_KEY };

/** The one request `upstream` received while `call` ran. */
async function one<T>(upstream: FakeUpstream, call: () => Promise<T>): Promise<{ result: T; recorded: RecordedRequest }> {
  const before = upstream.requests.length;
  const result = await call();
  assert.equal(upstream.requests.length, before + 1, 'exactly one upstream request');
  return { result, recorded: upstream.requests[before] as RecordedRequest };
}

/** Nothing of the client's credentials reached the upstream, under any header or in the URL. */
function assertNoClientKey(recorded: RecordedRequest): void {
  assert.ok(!JSON.stringify(recorded.headers).includes(CLIENT_KEY), `client key in upstream headers: ${JSON.stringify(recorded.headers)}`);
  assert.ok(!recorded.path.includes(CLIENT_KEY) && !/[?&]key=/.test(recorded.path), `client key in upstream URL: ${recorded.path}`);
  assert.ok(!recorded.body.includes(CLIENT_KEY), 'client key in upstream body');
}

function assertConvention(recorded: RecordedRequest, convention: 'bearer' | 'anthropic' | 'gemini', key: string): void {
  const h = recorded.headers;
  assertNoClientKey(recorded);
  switch (convention) {
    case 'bearer':
      assert.equal(h.authorization, `Bearer ${key}`);
      assert.equal(h['x-api-key'], undefined);
      assert.equal(h['x-goog-api-key'], undefined);
      return;
    case 'anthropic':
      assert.equal(h['x-api-key'], key);
      assert.equal(h['anthropic-version'], '2023-06-01');
      assert.equal(h.authorization, undefined);
      assert.equal(h['x-goog-api-key'], undefined);
      return;
    case 'gemini':
      assert.equal(h['x-goog-api-key'], key);
      assert.equal(h.authorization, undefined);
      assert.equal(h['x-api-key'], undefined);
  }
}

/** The client-facing side of a passthrough: the upstream's body, no cookies, who served it. */
async function assertServed(response: Response, provider: string, model: string, attempts = '1'): Promise<Record<string, unknown>> {
  const body = await expectJson(response, 200);
  assert.equal(response.headers.get('x-ai-proxy-provider'), provider);
  assert.equal(response.headers.get('x-ai-proxy-model'), model);
  assert.equal(response.headers.get('x-ai-proxy-attempts'), attempts);
  assert.equal(response.headers.get('set-cookie'), null, 'upstream set-cookie is dropped');
  assert.match(response.headers.get('x-request-id') ?? '', /^[\w.:-]+$/);
  return body;
}

test('gateway: every endpoint, header hygiene and model resolution', async (t) => {
  const openai = await fakeUpstream(t, openaiLike());
  const anthropic = await fakeUpstream(t, anthropicLike());
  const gemini = await fakeUpstream(t, geminiLike());
  const deepseek = await fakeUpstream(t, openaiLike('Hello from the fake DeepSeek.'));
  const retired = await fakeUpstream(t, openaiLike());
  const behindProxy = await fakeUpstream(t, openaiLike('Hello through the outbound proxy.'));
  const proxy = await fakeProxy(t);
  const ollama = await fakeUpstream(t, openaiLike('Hello from the fake Ollama.'));

  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
log: { level: debug }
client-keys:
  - name: endpoints-tester
    key: \${CLIENT_KEY}
providers:
  - name: openai
    type: openai
    base-url: ${openai.url}/v1
    api-keys: ["\${OPENAI_KEY}"]
    models: [gpt-4o, "gpt-4.1*", "text-embedding-*", gpt-3.5-turbo-instruct, { id: gpt-latest, upstream: gpt-4o }]
    exclude: ["gpt-4.1-nano*", "gpt-4.1-old*"]
    headers: { OpenAI-Organization: org-fake, X-Extra-Header: from-the-openai-provider }
  - name: anthropic
    type: anthropic
    base-url: ${anthropic.url}
    api-keys: ["\${ANTHROPIC_KEY}"]
    models: ["claude-*"]
    headers: { anthropic-beta: fake-beta-2025-01-01 }
    anthropic-version: "2023-01-01"
  - name: gemini
    type: gemini
    base-url: ${gemini.url}
    api-keys: ["\${GEMINI_KEY}"]
    models: ["gemini-*"]
    headers: { X-Goog-User-Project: fake-project }
  - name: deepseek
    type: openai-compatible
    base-url: ${deepseek.url}/v1
    api-keys: ["\${DEEPSEEK_KEY}"]
    models: [deepseek-chat, "gpt-4.1-nano*"]
  - name: retired
    type: openai-compatible
    base-url: ${retired.url}/v1
    models: ["legacy-*"]
    disabled: true
  - name: proxied
    type: openai-compatible
    base-url: ${behindProxy.url}/v1
    proxy: ${proxy.url}
    api-keys: ["\${PROXIED_KEY}"]
    models: [proxied-model]
  - name: ollama
    type: openai-compatible
    base-url: ${ollama.url}/v1
    models: ["llama*"]
models:
  aliases: { sonnet: claude-sonnet-4-5, fast: gpt-4.1-mini }
`,
    { CLIENT_KEY, OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY, DEEPSEEK_KEY, PROXIED_KEY },
  );
  const url = gateway.url;
  const chat = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] };
  const message = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] };
  const contents = { contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] };

  await t.test('POST /v1/chat/completions → OpenAI /v1/chat/completions with Bearer and the provider headers', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/chat/completions`, chat, openaiAuth));
    const body = await assertServed(result, 'openai', 'gpt-4o');
    assert.equal((body.choices as Array<{ message: { content: string } }>)[0]?.message.content, 'Hello from the fake OpenAI.');
    assert.equal(recorded.method, 'POST');
    assert.equal(recorded.path, '/v1/chat/completions');
    assertConvention(recorded, 'bearer', OPENAI_KEY);
    assert.equal(recorded.headers['openai-organization'], 'org-fake');
    assert.equal(recorded.headers['x-extra-header'], 'from-the-openai-provider');
    assert.equal(recorded.headers['content-type'], 'application/json');
    assert.deepEqual(bodyOf(recorded), chat);
  });

  await t.test('the client body is forwarded byte for byte when the model id is unchanged', async () => {
    const text = '{\n  "model" : "gpt-4o",\n  "messages": [{"role":"user","content":"spacing \\u00e9 kept"}], "x_unknown_field": [1, 2.50]\n}';
    const { result, recorded } = await one(openai, () => fetch(`${url}/v1/chat/completions`, { method: 'POST', body: text, headers: { 'content-type': 'application/json', ...openaiAuth }, signal: AbortSignal.timeout(10_000) }));
    await assertServed(result, 'openai', 'gpt-4o');
    assert.equal(recorded.body, text);
  });

  await t.test('POST /v1/completions → OpenAI /v1/completions', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/completions`, { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' }, openaiAuth));
    const body = await assertServed(result, 'openai', 'gpt-3.5-turbo-instruct');
    assert.equal(body.object, 'text_completion');
    assert.equal(recorded.path, '/v1/completions');
    assertConvention(recorded, 'bearer', OPENAI_KEY);
  });

  await t.test('POST /v1/embeddings → OpenAI /v1/embeddings (glob text-embedding-*)', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/embeddings`, { model: 'text-embedding-3-small', input: 'hello' }, openaiAuth));
    const body = await assertServed(result, 'openai', 'text-embedding-3-small');
    assert.deepEqual((body.data as Array<{ embedding: number[] }>)[0]?.embedding, [0.1, -0.2, 0.3]);
    assert.equal(recorded.path, '/v1/embeddings');
    assertConvention(recorded, 'bearer', OPENAI_KEY);
  });

  await t.test('POST /v1/responses → OpenAI /v1/responses', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/responses`, { model: 'gpt-4o', input: 'Hello' }, openaiAuth));
    const body = await assertServed(result, 'openai', 'gpt-4o');
    assert.equal(body.object, 'response');
    assert.equal(recorded.path, '/v1/responses');
    assertConvention(recorded, 'bearer', OPENAI_KEY);
  });

  await t.test('POST /v1/messages → Anthropic /v1/messages with x-api-key and anthropic-version', async () => {
    const { result, recorded } = await one(anthropic, () => post(`${url}/v1/messages`, message, anthropicAuth));
    const body = await assertServed(result, 'anthropic', 'claude-sonnet-4-5');
    assert.equal(body.type, 'message');
    assert.deepEqual(body.content, [{ type: 'text', text: 'Hello from the fake Anthropic.' }]);
    assert.equal(recorded.path, '/v1/messages');
    assertConvention(recorded, 'anthropic', ANTHROPIC_KEY);
    assert.equal(recorded.headers['anthropic-beta'], 'fake-beta-2025-01-01');
  });

  await t.test('an Anthropic client sending Authorization: Bearer still reaches the upstream with x-api-key only', async () => {
    const { result, recorded } = await one(anthropic, () => post(`${url}/v1/messages`, message, { ...openaiAuth, 'anthropic-version': '2023-06-01' }));
    await assertServed(result, 'anthropic', 'claude-sonnet-4-5');
    assertConvention(recorded, 'anthropic', ANTHROPIC_KEY);
  });

  await t.test('an Anthropic request without anthropic-version gets the provider\'s configured one upstream', async () => {
    const { result, recorded } = await one(anthropic, () => post(`${url}/v1/messages`, message, { 'x-api-key': CLIENT_KEY }));
    await assertServed(result, 'anthropic', 'claude-sonnet-4-5');
    assert.equal(recorded.headers['anthropic-version'], '2023-01-01');
    assert.equal(recorded.headers['x-api-key'], ANTHROPIC_KEY);
  });

  await t.test('POST /v1/messages/count_tokens → Anthropic /v1/messages/count_tokens', async () => {
    const { result, recorded } = await one(anthropic, () => post(`${url}/v1/messages/count_tokens`, { model: 'claude-sonnet-4-5', messages: message.messages }, anthropicAuth));
    const body = await assertServed(result, 'anthropic', 'claude-sonnet-4-5');
    assert.deepEqual(body, { input_tokens: 42 });
    assert.equal(recorded.path, '/v1/messages/count_tokens');
    assertConvention(recorded, 'anthropic', ANTHROPIC_KEY);
  });

  await t.test('POST /v1beta/models/{m}:generateContent → Gemini with x-goog-api-key', async () => {
    const { result, recorded } = await one(gemini, () => post(`${url}/v1beta/models/gemini-2.5-flash:generateContent`, contents, geminiAuth));
    const body = await assertServed(result, 'gemini', 'gemini-2.5-flash');
    assert.equal((body.candidates as Array<{ content: { parts: Array<{ text: string }> } }>)[0]?.content.parts[0]?.text, 'Hello from the fake Gemini.');
    assert.equal(recorded.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assertConvention(recorded, 'gemini', GEMINI_KEY);
    assert.equal(recorded.headers['x-goog-user-project'], 'fake-project');
    assert.deepEqual(bodyOf(recorded), contents);
  });

  await t.test('POST :generateContent?key=… (the key in the URL) → the upstream URL carries no key', async () => {
    const { result, recorded } = await one(gemini, () => post(`${url}/v1beta/models/gemini-2.5-flash:generateContent?key=${CLIENT_KEY}`, contents));
    await assertServed(result, 'gemini', 'gemini-2.5-flash');
    assert.equal(recorded.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assertConvention(recorded, 'gemini', GEMINI_KEY);
  });

  await t.test('POST :streamGenerateContent?alt=sse → Gemini streamGenerateContent?alt=sse, relayed as SSE', async () => {
    const { result, recorded } = await one(gemini, () => post(`${url}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse`, contents, geminiAuth));
    assert.equal(result.status, 200);
    assert.match(result.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(result.headers.get('x-ai-proxy-provider'), 'gemini');
    assert.equal(result.headers.get('set-cookie'), null);
    const text = await result.text();
    assert.match(text, /^data: \{"candidates"/);
    assert.match(text, /"usageMetadata"/);
    assert.equal(recorded.path, '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
    assertConvention(recorded, 'gemini', GEMINI_KEY);
  });

  await t.test('POST :streamGenerateContent without alt=sse → the same, relayed as the JSON array Gemini streams', async () => {
    const { result, recorded } = await one(gemini, () => post(`${url}/v1beta/models/gemini-2.5-pro:streamGenerateContent`, contents, geminiAuth));
    assert.equal(result.status, 200);
    assert.match(result.headers.get('content-type') ?? '', /^application\/json/);
    const chunks = (await result.json()) as Array<{ candidates: unknown[] }>;
    assert.ok(Array.isArray(chunks) && chunks.length > 0 && Array.isArray(chunks[0]?.candidates));
    assert.equal(recorded.path, '/v1beta/models/gemini-2.5-pro:streamGenerateContent');
  });

  await t.test('POST :countTokens and :embedContent → the same Gemini methods', async () => {
    const counted = await one(gemini, () => post(`${url}/v1beta/models/gemini-2.5-flash:countTokens`, contents, geminiAuth));
    assert.equal((await assertServed(counted.result, 'gemini', 'gemini-2.5-flash')).totalTokens, 5);
    assert.equal(counted.recorded.path, '/v1beta/models/gemini-2.5-flash:countTokens');
    assertConvention(counted.recorded, 'gemini', GEMINI_KEY);
    const embedded = await one(gemini, () => post(`${url}/v1beta/models/gemini-embedding-001:embedContent`, { content: { parts: [{ text: 'hi' }] } }, geminiAuth));
    assert.deepEqual((await assertServed(embedded.result, 'gemini', 'gemini-embedding-001')).embedding, { values: [0.5, -0.25, 0.125] });
    assert.equal(embedded.recorded.path, '/v1beta/models/gemini-embedding-001:embedContent');
    assertConvention(embedded.recorded, 'gemini', GEMINI_KEY);
  });

  await t.test('a client key sent every way at once (Bearer, x-api-key, x-goog-api-key, ?key=) reaches no upstream', async () => {
    const all = { ...openaiAuth, 'x-api-key': CLIENT_KEY, 'x-goog-api-key': CLIENT_KEY };
    const g = await one(gemini, () => post(`${url}/v1beta/models/gemini-2.5-flash:generateContent?key=${CLIENT_KEY}&alt=json`, contents, all));
    await assertServed(g.result, 'gemini', 'gemini-2.5-flash');
    assertConvention(g.recorded, 'gemini', GEMINI_KEY);
    const o = await one(openai, () => post(`${url}/v1/chat/completions?key=${CLIENT_KEY}`, chat, all));
    await assertServed(o.result, 'openai', 'gpt-4o');
    assertConvention(o.recorded, 'bearer', OPENAI_KEY);
    const a = await one(anthropic, () => post(`${url}/v1/messages?key=${CLIENT_KEY}`, message, { ...all, 'anthropic-version': '2023-06-01' }));
    await assertServed(a.result, 'anthropic', 'claude-sonnet-4-5');
    assertConvention(a.recorded, 'anthropic', ANTHROPIC_KEY);
  });

  await t.test('hop-by-hop request headers are stripped, end-to-end ones forwarded; upstream set-cookie is dropped', async () => {
    const body = JSON.stringify(chat);
    const { result, recorded } = await one(openai, () =>
      rawRequest(`${url}/v1/chat/completions`, {
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          ...openaiAuth,
          connection: 'keep-alive, X-Hop-Custom',
          'x-hop-custom': 'named-by-connection',
          'keep-alive': 'timeout=99, max=7',
          te: 'trailers',
          'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
          'proxy-connection': 'keep-alive',
          cookie: 'session=client-cookie',
          'x-end-to-end': 'kept',
          'user-agent': 'gateway-endpoints-test/1.0',
        },
        body,
      }),
    );
    assert.equal(result.status, 200, result.body);
    const h = recorded.headers;
    for (const name of ['x-hop-custom', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'cookie', 'upgrade']) assert.equal(h[name], undefined, `${name} must not reach the upstream`);
    assert.ok(h.connection === undefined || !/x-hop-custom/i.test(h.connection), `connection: ${h.connection}`);
    assert.equal(h['x-end-to-end'], 'kept');
    assert.equal(h['user-agent'], 'gateway-endpoints-test/1.0');
    assert.equal(h.host, new URL(openai.url).host, 'the upstream gets its own Host');
    assertConvention(recorded, 'bearer', OPENAI_KEY);
    assert.equal(result.headers['set-cookie'], undefined, 'upstream set-cookie is dropped');
    assert.equal(result.headers['openai-processing-ms'], '12', 'end-to-end upstream headers reach the client');
    assert.equal(result.headers['x-ai-proxy-provider'], 'openai');
  });

  await t.test('x-request-id: the client\'s id is returned (not the upstream\'s), and one is made up otherwise', async () => {
    const mine = await post(`${url}/v1/chat/completions`, chat, { ...openaiAuth, 'x-request-id': 'client-chosen-id.42' });
    await assertServed(mine, 'openai', 'gpt-4o');
    assert.equal(mine.headers.get('x-request-id'), 'client-chosen-id.42');
    assert.equal(mine.headers.get('x-upstream-request-id'), 'req_openai_upstream', 'the upstream\'s own id stays available under another name');
    const made = await post(`${url}/v1/messages`, message, anthropicAuth);
    await assertServed(made, 'anthropic', 'claude-sonnet-4-5');
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-/);
    const error = await post(`${url}/v1/chat/completions`, { ...chat, model: 'no-such-model' }, { ...openaiAuth, 'x-request-id': 'err-id-7' });
    assert.equal(error.status, 404);
    assert.equal(error.headers.get('x-request-id'), 'err-id-7');
    const bad = await post(`${url}/v1/chat/completions`, chat, { ...openaiAuth, 'x-request-id': 'has spaces and "quotes"' });
    await assertServed(bad, 'openai', 'gpt-4o');
    assert.notEqual(bad.headers.get('x-request-id'), 'has spaces and "quotes"', 'an id that is not a token is replaced');
  });

  await t.test('alias: sonnet → claude-sonnet-4-5 on the Anthropic upstream', async () => {
    const { result, recorded } = await one(anthropic, () => post(`${url}/v1/messages`, { ...message, model: 'sonnet' }, anthropicAuth));
    await assertServed(result, 'anthropic', 'claude-sonnet-4-5');
    assert.equal(bodyOf(recorded).model, 'claude-sonnet-4-5');
  });

  await t.test('alias to a glob-served id: fast → gpt-4.1-mini on OpenAI', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'fast' }, openaiAuth));
    await assertServed(result, 'openai', 'gpt-4.1-mini');
    assert.equal(bodyOf(recorded).model, 'gpt-4.1-mini');
  });

  await t.test('provider prefix: deepseek/deepseek-chat → the deepseek provider, model deepseek-chat, Bearer with its key', async () => {
    const { result, recorded } = await one(deepseek, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'deepseek/deepseek-chat' }, openaiAuth));
    const body = await assertServed(result, 'deepseek', 'deepseek-chat');
    assert.equal((body.choices as Array<{ message: { content: string } }>)[0]?.message.content, 'Hello from the fake DeepSeek.');
    assert.equal(bodyOf(recorded).model, 'deepseek-chat');
    assert.equal(recorded.path, '/v1/chat/completions');
    assertConvention(recorded, 'bearer', DEEPSEEK_KEY);
  });

  await t.test('a provider\'s own name as prefix: openai/gpt-4o → openai, model gpt-4o', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'openai/gpt-4o' }, openaiAuth));
    await assertServed(result, 'openai', 'gpt-4o');
    assert.equal(bodyOf(recorded).model, 'gpt-4o');
  });

  await t.test('glob lists: gpt-4.1-mini matches "gpt-4.1*"; an excluded glob routes gpt-4.1-nano to deepseek instead', async () => {
    const glob = await one(openai, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'gpt-4.1-mini' }, openaiAuth));
    await assertServed(glob.result, 'openai', 'gpt-4.1-mini');
    const excluded = await one(deepseek, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'gpt-4.1-nano-2025' }, openaiAuth));
    await assertServed(excluded.result, 'deepseek', 'gpt-4.1-nano-2025');
  });

  await t.test('a renamed entry: gpt-latest is sent upstream as gpt-4o', async () => {
    const { result, recorded } = await one(openai, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'gpt-latest' }, openaiAuth));
    await assertServed(result, 'openai', 'gpt-4o');
    assert.equal(bodyOf(recorded).model, 'gpt-4o');
  });

  await t.test('unknown, excluded-everywhere and disabled-provider models: 404 in each client\'s format, no upstream request', async () => {
    const before = [openai, anthropic, gemini, deepseek, retired].map((u) => u.requests.length);
    for (const model of ['no-such-model', 'gpt-4.1-old-1', 'legacy-1', 'retired/legacy-1']) {
      const o = await expectJson(await post(`${url}/v1/chat/completions`, { ...chat, model }, openaiAuth), 404);
      const error = o.error as Record<string, unknown>;
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.code, 'model_not_found');
      assert.match(String(error.message), new RegExp(`'${model}'.*GET /v1/models`));
    }
    const anth = await expectJson(await post(`${url}/v1/messages`, { ...message, model: 'opus-unknown' }, anthropicAuth), 404);
    assert.equal(anth.type, 'error');
    assert.equal((anth.error as Record<string, unknown>).type, 'not_found_error');
    assert.match(String((anth.error as Record<string, unknown>).message), /GET \/v1\/models/);
    const gem = await expectJson(await post(`${url}/v1beta/models/palm-unknown:generateContent`, contents, geminiAuth), 404);
    assert.deepEqual(Object.keys(gem.error as object).sort(), ['code', 'message', 'status']);
    assert.equal((gem.error as Record<string, unknown>).code, 404);
    assert.equal((gem.error as Record<string, unknown>).status, 'NOT_FOUND');
    assert.deepEqual([openai, anthropic, gemini, deepseek, retired].map((u) => u.requests.length), before, 'no upstream request');
    assert.equal(retired.requests.length, 0, 'a disabled provider gets nothing');
  });

  await t.test('GET /v1/models: OpenAI shape; with anthropic-version the Anthropic shape; /v1beta/models the Gemini shape', async () => {
    const o = await expectJson(await get(`${url}/v1/models`, { headers: openaiAuth }), 200);
    assert.equal(o.object, 'list');
    const ids = (o.data as Array<{ id: string; object: string; owned_by: string }>).map((m) => m.id);
    for (const id of ['gpt-4o', 'gpt-3.5-turbo-instruct', 'gpt-latest', 'deepseek-chat', 'sonnet', 'fast']) assert.ok(ids.includes(id), `${id} listed in ${ids.join(', ')}`);
    assert.ok(!ids.some((id) => id.includes('*')), 'globs are not listed as ids');
    assert.ok(!ids.some((id) => id.startsWith('legacy')), 'a disabled provider lists nothing');
    const first = (o.data as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(first).sort(), ['created', 'id', 'object', 'owned_by']);
    assert.equal(first.object, 'model');

    const a = await expectJson(await get(`${url}/v1/models`, { headers: anthropicAuth }), 200);
    assert.equal(a.has_more, false);
    const data = a.data as Array<Record<string, unknown>>;
    assert.equal(data[0]?.type, 'model');
    assert.equal(a.first_id, data[0]?.id);
    assert.equal(a.last_id, data[data.length - 1]?.id);
    assert.match(String(data[0]?.created_at), /^\d{4}-\d{2}-\d{2}T/);
    assert.ok(data.some((m) => m.id === 'sonnet'));

    const g = await expectJson(await get(`${url}/v1beta/models`, { headers: geminiAuth }), 200);
    const models = g.models as Array<Record<string, unknown>>;
    assert.ok(models.some((m) => m.name === 'models/gpt-4o'));
    assert.ok(Array.isArray(models[0]?.supportedGenerationMethods));
    const byQuery = await get(`${url}/v1beta/models?key=${CLIENT_KEY}`);
    assert.equal(byQuery.status, 200);
    await byQuery.body?.cancel();
  });

  await t.test('GET /v1/models/{id} (models.retrieve): a routable id in the asking SDK\'s shape, 404 otherwise', async () => {
    const o = await expectJson(await get(`${url}/v1/models/gpt-4o`, { headers: openaiAuth }), 200);
    assert.deepEqual(Object.keys(o).sort(), ['created', 'id', 'object', 'owned_by']);
    assert.equal(o.id, 'gpt-4o');
    const a = await expectJson(await get(`${url}/v1/models/sonnet`, { headers: anthropicAuth }), 200);
    assert.equal(a.type, 'model');
    assert.equal(a.id, 'sonnet');
    const missing = await get(`${url}/v1/models/no-such-model`, { headers: openaiAuth });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'model_not_found');
    const anonymous = await get(`${url}/v1/models/gpt-4o`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
  });

  await t.test('a provider with an outbound proxy reaches its upstream through a CONNECT tunnel', async () => {
    const { result, recorded } = await one(behindProxy, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'proxied-model' }, openaiAuth));
    const body = await assertServed(result, 'proxied', 'proxied-model');
    assert.equal((body.choices as Array<{ message: { content: string } }>)[0]?.message.content, 'Hello through the outbound proxy.');
    assert.deepEqual(proxy.tunnels, [new URL(behindProxy.url).host]);
    assert.deepEqual(proxy.authorizations, [undefined], 'no credential goes to the proxy');
    assertConvention(recorded, 'bearer', PROXIED_KEY);
  });

  await t.test('a keyless provider (a local Ollama) gets no credential at all, and still none of the client\'s', async () => {
    const { result, recorded } = await one(ollama, () => post(`${url}/v1/chat/completions`, { ...chat, model: 'llama3.2' }, { ...openaiAuth, 'x-api-key': CLIENT_KEY }));
    await assertServed(result, 'ollama', 'llama3.2');
    assert.equal(recorded.headers.authorization, undefined);
    assert.equal(recorded.headers['x-api-key'], undefined);
    assertNoClientKey(recorded);
  });

  await t.test('CORS is off by default: no access-control headers, and a preflight is not answered', async () => {
    const response = await post(`${url}/v1/chat/completions`, chat, { ...openaiAuth, origin: 'https://app.example' });
    await assertServed(response, 'openai', 'gpt-4o');
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    const preflight = await get(`${url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    // Without CORS an OPTIONS is just a method the endpoint does not take.
    assert.equal(preflight.status, 405);
    assert.equal(preflight.headers.get('allow'), 'POST');
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    await preflight.body?.cancel();
  });

  await t.test('/admin answers 404 when no admin key is configured, whatever key is sent', async () => {
    for (const key of [null, CLIENT_KEY]) {
      const r = await gateway.admin('/admin/config', key);
      assert.equal(r.status, 404);
      assert.match(r.body, /admin API is disabled/);
    }
  });

  await t.test('unknown paths answer 404 in the format of their API', async () => {
    const o = await expectJson(await post(`${url}/v1/nothing-here`, {}, openaiAuth), 404);
    assert.equal((o.error as Record<string, unknown>).type, 'invalid_request_error');
    const g = await expectJson(await post(`${url}/v1beta/models/gemini-2.5-flash:unknownAction`, {}, geminiAuth), 404);
    assert.equal((g.error as Record<string, unknown>).status, 'NOT_FOUND');
  });

  await t.test('no secret in any log line or admin response', async () => {
    await assertRedacted(gateway, SECRETS);
  });
});
