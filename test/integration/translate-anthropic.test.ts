/**
 * An Anthropic Messages client (the official `@anthropic-ai/sdk`) uses models served by a chat
 * completions, a Responses API and a Gemini upstream, through the real gateway: the SDK rebuilds
 * the upstream's text, thinking, tool_use blocks (input as parsed JSON), usage and stop reason,
 * whole, through `messages.stream().finalMessage()` and by raw event iteration (whose grammar is
 * checked); a tool loop that sends the SDK's content back reaches the upstream with its ids
 * intact; upstream errors raise the SDK's typed errors; a stream that fails mid-way throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { anthropicStructured, anthropic, anthropicToolLoop, askAnthropic, limitOf, messageParams, type AnthropicMode, type Ask } from '../helpers/translate-clients.ts';
import {
  assertReconstructed,
  assertStructuredRequest,
  assertToolLoop,
  assertValidRequest,
  FIXTURE_CALLS,
  MID_STREAM_FAILURES,
  midStreamMessage,
  model,
  RETRY_SECONDS,
  PERSON,
  TEXT,
  TOOL_RESULTS,
  upstreamErrorMessage,
  startTranslateGateway,
  type Format,
} from '../helpers/translate-upstreams.ts';

const UPSTREAMS: readonly Format[] = ['chat', 'responses', 'gemini'];
const MODES: readonly AnthropicMode[] = ['create', 'stream-helper', 'stream-iterate'];

test('an Anthropic client through the gateway to chat, Responses and Gemini upstreams', async (t) => {
  const gw = await startTranslateGateway(t);
  const client = anthropic(gw.url);

  for (const upstream of UPSTREAMS) {
    await t.test(`anthropic → ${upstream}: text, tool_use and thinking, whole and streamed, as the SDK rebuilds them`, async () => {
      for (const scenario of ['text', 'tools', 'thinking'] as const) {
        for (const mode of MODES) {
          const ask: Ask = { model: model(upstream, scenario), tools: scenario === 'tools', reasoning: scenario === 'thinking' };
          const { result } = await askAnthropic(client, mode, ask);
          assertReconstructed(result, upstream, 'anthropic', scenario, mode !== 'create');
          assertValidRequest(upstream, gw.last(upstream), { model: ask.model, stream: mode !== 'create', tools: ask.tools === true, maxTokens: limitOf(ask), reasoning: ask.reasoning });
        }
      }
    });

    await t.test(`anthropic → ${upstream}: a tool loop sending the SDK's content back reaches the upstream with calls and results linked`, async () => {
      const ask: Ask = { model: model(upstream, 'tools'), tools: true };
      const { result: first, message } = await askAnthropic(client, 'stream-helper', ask);
      const reply = await anthropicToolLoop(client, { ...ask, model: model(upstream, 'text') }, message, first);
      assert.equal(reply, TEXT);
      const recorded = gw.last(upstream);
      assertValidRequest(upstream, recorded, { model: model(upstream, 'text'), stream: false, tools: true, maxTokens: limitOf(ask) });
      assertToolLoop(upstream, recorded, FIXTURE_CALLS[upstream].map((c, i) => ({ id: c.id ?? (first.calls[i]?.id as string), name: c.name, args: c.args, result: TOOL_RESULTS[c.name] as string })));
    });

    await t.test(`anthropic → ${upstream}: structured output: messages.parse and the stream helper give parsed_output (output_config.format)`, async () => {
      for (const streaming of [false, true]) {
        assert.deepEqual(await anthropicStructured(client, model(upstream, 'structured'), streaming), PERSON, `streaming: ${streaming}`);
        assertStructuredRequest(upstream, gw.last(upstream));
      }
    });

    await t.test(`anthropic → ${upstream}: the first text reaches the SDK while the upstream still holds the rest of its stream`, async () => {
      let text = '';
      let whileHeld: boolean | null = null;
      for await (const event of await client.messages.create({ ...messageParams({ model: model(upstream, 'held') }), stream: true })) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
        if (whileHeld === null && text !== '') whileHeld = gw.release();
      }
      assert.equal(whileHeld, true, 'the first text arrived before the upstream sent more: nothing waits for a later event');
      assert.equal(text, TEXT);
    });

    await t.test(`anthropic → ${upstream}: the web search server tool becomes the upstream's own web search, or is left out and named where it has none`, async () => {
      const { data, response } = await client.messages.create({ ...messageParams({ model: model(upstream, 'text') }), tools: [{ type: 'web_search_20250305', name: 'web_search' }] }).withResponse();
      assert.equal(data.content.map((block) => (block.type === 'text' ? block.text : '')).join(''), TEXT);
      const sent = JSON.parse(gw.last(upstream).body) as { tools?: unknown };
      const expected = { chat: undefined, responses: [{ type: 'web_search' }], gemini: [{ googleSearch: {} }] }[upstream as 'chat' | 'responses' | 'gemini'];
      assert.deepEqual(sent.tools, expected, 'what the upstream was given');
      assert.equal(response.headers.get('x-ai-proxy-omitted'), upstream === 'chat' ? 'tool:web_search_20250305' : null);
    });

    await t.test(`anthropic → ${upstream}: the upstream's 429, 400 and 503 (Anthropic's 529) raise RateLimitError, BadRequestError and InternalServerError, streaming or not`, async () => {
      for (const [scenario, status, type] of [['e429', 429, Anthropic.RateLimitError], ['e400', 400, Anthropic.BadRequestError], ['e503', 503, Anthropic.InternalServerError]] as const) {
        const params = messageParams({ model: model(upstream, scenario) });
        for (const call of [() => client.messages.create(params), () => client.messages.create({ ...params, stream: true }), () => client.messages.stream(params).finalMessage()]) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof type, `${upstream} ${status}: ${String(error)}`);
            assert.equal(error.status, status);
            assert.ok(error.message.includes(upstreamErrorMessage(upstream, status)), error.message);
            assert.equal((error.error as { type?: unknown } | undefined)?.type, 'error', 'an Anthropic error object');
            return true;
          });
        }
      }
    });

    await t.test(`anthropic → ${upstream}: a stream that fails mid-way throws APIError from the iteration, after the text that came`, async () => {
      for (const scenario of MID_STREAM_FAILURES) {
        const stream = await client.messages.create({ ...messageParams({ model: model(upstream, scenario) }), stream: true });
        const types: string[] = [];
        let text = '';
        await assert.rejects(
          (async () => {
            for await (const event of stream) {
              types.push(event.type);
              if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
            }
          })(),
          (error: unknown) => {
            assert.ok(error instanceof Anthropic.APIError, String(error));
            assert.match(error.message, midStreamMessage(upstream, scenario));
            return true;
          },
        );
        assert.equal(text, 'Berlin', 'the text before the failure arrived');
        assert.ok(!types.includes('message_delta') && !types.includes('message_stop'), `never a fake success: ${types.join(', ')}`);
        // The helper's final message rejects the same way.
        await assert.rejects(client.messages.stream(messageParams({ model: model(upstream, scenario) })).finalMessage(), (error: unknown) => {
          assert.ok(error instanceof Anthropic.APIError, String(error));
          assert.match(error.message, midStreamMessage(upstream, scenario));
          return true;
        });
      }
    });

    // Last for this upstream: its key cools down for RETRY_SECONDS afterwards.
    await t.test(`anthropic → ${upstream}: a 429 that says when to retry gives the SDK Retry-After; while the key cools down the gateway answers 503 itself`, async () => {
      await assert.rejects(client.messages.create(messageParams({ model: model(upstream, 'wait') })), (error: unknown) => {
        assert.ok(error instanceof Anthropic.RateLimitError, String(error));
        assert.equal(error.headers?.get('retry-after'), String(RETRY_SECONDS));
        assert.ok(error.message.includes(upstreamErrorMessage(upstream, 429)), error.message);
        return true;
      });
      const before = gw.upstreams[upstream].requests.length;
      await assert.rejects(client.messages.create(messageParams({ model: model(upstream, 'text') })), (error: unknown) => {
        assert.ok(error instanceof Anthropic.InternalServerError && error.status === 503, String(error));
        const wait = Number(error.headers?.get('retry-after'));
        assert.ok(wait >= 1 && wait <= RETRY_SECONDS, `retry-after ${wait}`);
        assert.match(error.message, /cooling down/);
        return true;
      });
      assert.equal(gw.upstreams[upstream].requests.length, before, 'nothing reached the cooling upstream');
    });
  }
});
