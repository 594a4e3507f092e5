/**
 * The official SDKs as clients, pointed at the gateway in front of fake upstreams: what users
 * actually run. `openai` (v6) and `@anthropic-ai/sdk` (v1), streaming and not, their typed errors
 * for gateway refusals, and a stream cut mid-way surfacing as the SDK's own error; plus
 * `@google/genai` for the Gemini routes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import { anthropicLike, anthropicStream, bodyOf, fakeUpstream, geminiLike, geminiStream, openaiLike, openaiStream, responsesStream, type Handler, type RecordedRequest } from '../helpers/fake-upstream.ts';
import { assertRedacted, startGateway } from './gateway-harness.ts';

const CLIENT_KEY = 'client-key-sdk-2b3c4d5e6f7a';
const LIMITED_KEY = 'client-key-sdk-limited-8a9b0c1d';
const UPSTREAM = { openai: 'sk-upstream-sdk-openai-112233445566', anthropic: 'sk-ant-upstream-sdk-778899aabbcc', gemini: 'AIzaUpstreamSdkGemini-ddeeff0011' };
const SECRETS = [CLIENT_KEY, LIMITED_KEY, ...Object.values(UPSTREAM)];

/** Models named `*-broken` stream two events and then lose their connection. */
function breaksMidStream(handler: Handler, events: (model: string) => string[]): Handler {
  return (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => {
    const model = String(bodyOf(recorded).model ?? decodeURIComponent(recorded.path));
    if (!model.includes('broken')) return handler(req, res, recorded);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(events(model).slice(0, 2).join(''));
    setImmediate(() => res.socket?.destroy());
  };
}

test('gateway: the official OpenAI, Anthropic and Gemini SDKs through the gateway', async (t) => {
  const openai = await fakeUpstream(t, breaksMidStream(openaiLike('Hello from the fake OpenAI.'), (model) => (model.startsWith('gpt-4.1') ? responsesStream(model, ['Hel', 'lo']) : openaiStream(model, ['Hel', 'lo']))));
  const anthropic = await fakeUpstream(t, breaksMidStream(anthropicLike('Hello from the fake Anthropic.'), (model) => anthropicStream(model, ['Hel', 'lo'])));
  const gemini = await fakeUpstream(t, breaksMidStream(geminiLike('Hello from the fake Gemini.'), (model) => geminiStream(model, ['Hel', 'lo', '!'])));
  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
client-keys:
  - { name: sdk, key: "\${CLIENT_KEY}" }
  - { name: sdk-limited, key: "\${LIMITED_KEY}", rpm: 1 }
# A cut stream would cool its key; these tests want every key every time.
cooldown: { network-error: 0s }
providers:
  - { name: openai, type: openai, base-url: "${openai.url}/v1", api-keys: ["\${OPENAI_KEY}"], models: ["gpt-*", "text-embedding-*"] }
  - { name: anthropic, type: anthropic, base-url: "${anthropic.url}", api-keys: ["\${ANTHROPIC_KEY}"], models: ["claude-*"] }
  - { name: gemini, type: gemini, base-url: "${gemini.url}", api-keys: ["\${GEMINI_KEY}"], models: ["gemini-*"] }
models:
  aliases: { sonnet: claude-sonnet-4-5 }
`,
    { CLIENT_KEY, LIMITED_KEY, OPENAI_KEY: UPSTREAM.openai, ANTHROPIC_KEY: UPSTREAM.anthropic, GEMINI_KEY: UPSTREAM.gemini },
  );
  const url = gateway.url;
  // The SDKs' request timeout only guards against a hang: sized for a loaded machine.
  const oa = (apiKey = CLIENT_KEY) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
  const an = (apiKey = CLIENT_KEY) => new Anthropic({ baseURL: url, apiKey, maxRetries: 0, timeout: 60_000 });
  const messages = [{ role: 'user' as const, content: 'Say hello.' }];

  await t.test('openai: chat.completions.create, with the gateway\'s headers on the raw response', async () => {
    const { data, response } = await oa().chat.completions.create({ model: 'gpt-4o', messages }).withResponse();
    assert.equal(data.choices[0]?.message.content, 'Hello from the fake OpenAI.');
    assert.equal(data.usage?.total_tokens, 10);
    assert.equal(response.headers.get('x-ai-proxy-provider'), 'openai');
    assert.equal(response.headers.get('x-ai-proxy-model'), 'gpt-4o');
    const recorded = openai.requests[openai.requests.length - 1] as RecordedRequest;
    assert.equal(recorded.headers.authorization, `Bearer ${UPSTREAM.openai}`);
    assert.match(String(recorded.headers['user-agent']), /OpenAI\/JS/);
  });

  await t.test('openai: stream: true iterates the chunks, usage in the last one', async () => {
    const stream = await oa().chat.completions.create({ model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'Hello from the fake OpenAI.');
    assert.equal(chunks, 4);
    assert.equal(usage?.prompt_tokens, 11);
  });

  await t.test('openai: responses.create (plain and streamed), embeddings.create, models.list', async () => {
    const response = await oa().responses.create({ model: 'gpt-4.1', input: 'Say hello.' });
    assert.equal(response.output_text, 'Hello from the fake OpenAI.');
    const events: string[] = [];
    for await (const event of await oa().responses.create({ model: 'gpt-4.1', input: 'Say hello.', stream: true })) events.push(event.type);
    assert.deepEqual(events, ['response.created', 'response.output_item.added', 'response.output_text.delta', 'response.output_text.done', 'response.output_item.done', 'response.completed']);
    const embedding = await oa().embeddings.create({ model: 'text-embedding-3-small', input: 'hello', encoding_format: 'float' });
    assert.deepEqual(embedding.data[0]?.embedding, [0.1, -0.2, 0.3]);
    const ids: string[] = [];
    for await (const model of oa().models.list()) ids.push(model.id);
    assert.ok(ids.includes('sonnet'), ids.join(', '));
  });

  await t.test('openai: typed errors for gateway refusals: NotFoundError, AuthenticationError, RateLimitError', async () => {
    await assert.rejects(oa().chat.completions.create({ model: 'no-such-model', messages }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.match(e.message, /GET \/v1\/models/);
      assert.match(String(e.requestID ?? e.headers?.get('x-request-id')), /^[0-9a-f-]{36}$/);
      return true;
    });
    await assert.rejects(oa('not-a-valid-client-key').chat.completions.create({ model: 'gpt-4o', messages }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
      assert.equal(e.code, 'invalid_api_key');
      return true;
    });
    await oa(LIMITED_KEY).chat.completions.create({ model: 'gpt-4o', messages });
    await assert.rejects(oa(LIMITED_KEY).chat.completions.create({ model: 'gpt-4o', messages }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      assert.equal(e.code, 'rate_limit_exceeded');
      assert.ok(Number(e.headers?.get('retry-after')) > 0);
      return true;
    });
  });

  await t.test('openai: a chat stream cut mid-way raises APIError after the chunks that arrived; a Responses stream ends with its error event', async () => {
    const stream = await oa().chat.completions.create({ model: 'gpt-4o-broken', messages, stream: true });
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) got.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /upstream stream failed/.test(e.message),
    );
    assert.deepEqual(got, ['', 'Hel']);
    // The Responses API reports a failed stream as a typed `error` event, which the SDK yields
    // (ResponseErrorEvent) rather than throws.
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await oa().responses.create({ model: 'gpt-4.1-broken', input: 'hi', stream: true })) events.push(event);
    assert.deepEqual(events.map((e) => e.type), ['response.created', 'response.output_item.added', 'error']);
    const error = events[2] as OpenAI.Responses.ResponseErrorEvent;
    assert.match(error.message, /upstream stream failed/);
    assert.equal(error.sequence_number, 2);
  });

  await t.test('anthropic: messages.create (through the sonnet alias) and messages.countTokens', async () => {
    const { data, response } = await an().messages.create({ model: 'sonnet', max_tokens: 64, messages }).withResponse();
    assert.deepEqual(data.content, [{ type: 'text', text: 'Hello from the fake Anthropic.' }]);
    assert.equal(data.model, 'claude-sonnet-4-5');
    assert.equal(response.headers.get('x-ai-proxy-model'), 'claude-sonnet-4-5');
    const recorded = anthropic.requests[anthropic.requests.length - 1] as RecordedRequest;
    assert.equal(recorded.headers['x-api-key'], UPSTREAM.anthropic);
    assert.ok(typeof recorded.headers['anthropic-version'] === 'string');
    const counted = await an().messages.countTokens({ model: 'claude-sonnet-4-5', messages });
    assert.equal(counted.input_tokens, 42);
  });

  await t.test('anthropic: messages.stream(...).finalMessage() and raw event iteration', async () => {
    const deltas: string[] = [];
    const stream = an().messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages });
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    assert.equal(final.content.length, 1);
    assert.equal(final.content[0]?.type, 'text');
    assert.equal((final.content[0] as { text: string }).text, 'Hello from the fake Anthropic.');
    assert.equal(final.usage.output_tokens, 6);
    assert.equal(final.stop_reason, 'end_turn');
    assert.deepEqual(deltas, ['Hello from the fake Anthropic.']);
    const types: string[] = [];
    for await (const event of await an().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages, stream: true })) types.push(event.type);
    assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  });

  await t.test('anthropic: models.list in Anthropic\'s shape; AuthenticationError, NotFoundError; a cut stream rejects finalMessage()', async () => {
    await assert.rejects(an('not-a-valid-client-key').messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages }), (e: unknown) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, String(e));
      assert.equal(e.status, 401);
      assert.equal((e.error as { error: { type: string } }).error.type, 'authentication_error');
      return true;
    });
    await assert.rejects(an().messages.create({ model: 'opus-unknown', max_tokens: 8, messages }), (e: unknown) => {
      assert.ok(e instanceof Anthropic.NotFoundError, String(e));
      assert.equal((e.error as { error: { type: string } }).error.type, 'not_found_error');
      return true;
    });
    const ids: string[] = [];
    for await (const model of an().models.list()) ids.push(model.id);
    assert.ok(ids.includes('sonnet'), `the SDK pages through the Anthropic-shaped list: ${ids.join(', ')}`);
    await assert.rejects(an().messages.stream({ model: 'claude-sonnet-4-5-broken', max_tokens: 8, messages }).finalMessage(), (e: unknown) => {
      assert.ok(e instanceof Anthropic.APIError, String(e));
      assert.match(e.message, /api_error/);
      assert.match(e.message, /upstream stream failed/);
      return true;
    });
  });

  await t.test('@google/genai: generateContent, generateContentStream (whole and cut), countTokens, and ApiError for a bad key', async () => {
    const ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: url } });
    const result = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Say hello.' });
    assert.equal(result.text, 'Hello from the fake Gemini.');
    let streamed = '';
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello.' })) streamed += chunk.text ?? '';
    assert.equal(streamed, 'Hello from the fake Gemini.');
    const counted = await ai.models.countTokens({ model: 'gemini-2.5-flash', contents: 'Say hello.' });
    assert.equal(counted.totalTokens, 5);
    const recorded = gemini.requests[gemini.requests.length - 1] as RecordedRequest;
    assert.equal(recorded.headers['x-goog-api-key'], UPSTREAM.gemini);
    let before = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-broken', contents: 'hi' })) before += chunk.text ?? '';
      })(),
      'a stream cut mid-way throws in the SDK',
    );
    assert.equal(before, 'Hello', 'after the chunks that arrived');
    const bad = new GoogleGenAI({ apiKey: 'not-a-valid-client-key', httpOptions: { baseUrl: url } });
    await assert.rejects(bad.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }), (e: unknown) => {
      assert.ok(e instanceof ApiError, String(e));
      assert.equal(e.status, 401);
      assert.match(e.message, /UNAUTHENTICATED/);
      return true;
    });
  });

  await t.test('no secret in any log line', async () => {
    await assertRedacted(gateway, SECRETS);
  });
});
