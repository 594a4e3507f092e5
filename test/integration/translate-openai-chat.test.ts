/**
 * An OpenAI Chat Completions client (the official `openai` SDK) uses models served by a
 * Responses API, an Anthropic and a Gemini upstream, through the real gateway, without noticing:
 * the SDK's own parsers rebuild the upstream's text, reasoning, tool calls (arguments as parsed
 * JSON), usage and finish reason, whole and streamed; a tool loop reaches the upstream with its ids
 * intact; upstream errors raise the SDK's typed errors; a stream that fails mid-way throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { chatStructured, askChat, chatToolLoop, limitOf, openai, type Ask, type ChatMode } from '../helpers/translate-clients.ts';
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

const UPSTREAMS: readonly Format[] = ['responses', 'anthropic', 'gemini'];
const MODES: readonly ChatMode[] = ['create', 'stream-helper', 'stream-iterate'];

test('an OpenAI chat client through the gateway to Responses, Anthropic and Gemini upstreams', async (t) => {
  const gw = await startTranslateGateway(t);
  const client = openai(gw.url);

  for (const upstream of UPSTREAMS) {
    await t.test(`chat → ${upstream}: text, tool calls and reasoning, whole and streamed, as the SDK rebuilds them`, async () => {
      for (const scenario of ['text', 'tools', 'thinking'] as const) {
        for (const mode of MODES) {
          const ask: Ask = { model: model(upstream, scenario), tools: scenario === 'tools', reasoning: scenario === 'thinking' };
          const result = await askChat(client, mode, ask);
          // Only stream-iterate leaves out stream_options.include_usage: no usage chunk, as from OpenAI.
          assertReconstructed(result, upstream, 'chat', scenario, mode !== 'create', mode !== 'stream-iterate');
          assertValidRequest(upstream, gw.last(upstream), { model: ask.model, stream: mode !== 'create', tools: ask.tools === true, maxTokens: limitOf(ask), reasoning: ask.reasoning });
        }
      }
    });

    await t.test(`chat → ${upstream}: a tool loop reaches the upstream with its calls and results linked`, async () => {
      const ask: Ask = { model: model(upstream, 'tools'), tools: true };
      const first = await askChat(client, 'stream-helper', ask);
      const reply = await chatToolLoop(client, { ...ask, model: model(upstream, 'text') }, first);
      assert.equal(reply, TEXT);
      const recorded = gw.last(upstream);
      assertValidRequest(upstream, recorded, { model: model(upstream, 'text'), stream: false, tools: true, maxTokens: limitOf(ask) });
      assertToolLoop(upstream, recorded, FIXTURE_CALLS[upstream].map((c, i) => ({ id: c.id ?? (first.calls[i]?.id as string), name: c.name, args: c.args, result: TOOL_RESULTS[c.name] as string })));
    });

    await t.test(`chat → ${upstream}: a request without a token limit stays without one (Anthropic gets its required default)`, async () => {
      const ask: Ask = { model: model(upstream, 'text'), maxTokens: null };
      assertReconstructed(await askChat(client, 'create', ask), upstream, 'chat', 'text', false);
      assertValidRequest(upstream, gw.last(upstream), { model: ask.model, stream: false, tools: false, maxTokens: undefined });
    });

    await t.test(`chat → ${upstream}: structured output: client.chat.completions.parse and the stream helper give message.parsed`, async () => {
      for (const streaming of [false, true]) {
        assert.deepEqual(await chatStructured(client, model(upstream, 'structured'), streaming), PERSON, `streaming: ${streaming}`);
        assertStructuredRequest(upstream, gw.last(upstream));
      }
    });

    await t.test(`chat → ${upstream}: the first text reaches the SDK while the upstream still holds the rest of its stream`, async () => {
      const stream = await client.chat.completions.create({ model: model(upstream, 'held'), messages: [{ role: 'user', content: 'hi' }], stream: true });
      let text = '';
      let whileHeld: boolean | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (whileHeld === null && text !== '') whileHeld = gw.release();
      }
      assert.equal(whileHeld, true, 'the first text arrived before the upstream sent more: nothing waits for a later event');
      assert.equal(text, TEXT);
    });

    await t.test(`chat → ${upstream}: what the upstream format cannot express is refused with BadRequestError saying why, and nothing goes upstream`, async () => {
      const before = gw.upstreams[upstream].requests.length;
      // Chat's legacy `functions`, and for a Responses upstream (which has no stop parameter) stop sequences.
      const refusals: Array<[Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming>, RegExp]> = [[{ functions: [{ name: 'f', parameters: { type: 'object', properties: {} } }] }, /functions/]];
      if (upstream === 'responses') refusals.push([{ stop: ['END'] }, /stop/i]);
      for (const [extra, why] of refusals) {
        await assert.rejects(client.chat.completions.create({ model: model(upstream, 'text'), messages: [{ role: 'user', content: 'hi' }], ...extra }), (error: unknown) => {
          assert.ok(error instanceof OpenAI.BadRequestError, String(error));
          assert.match(error.message, why);
          assert.doesNotMatch(error.message, /upstream provider answered/, 'no upstream answered anything');
          return true;
        });
      }
      assert.equal(gw.upstreams[upstream].requests.length, before, 'nothing reached the upstream');
    });

    await t.test(`chat → ${upstream}: the upstream's 429, 400 and 503 (Anthropic's 529) raise RateLimitError, BadRequestError and InternalServerError, streaming or not`, async () => {
      for (const [scenario, status, type] of [['e429', 429, OpenAI.RateLimitError], ['e400', 400, OpenAI.BadRequestError], ['e503', 503, OpenAI.InternalServerError]] as const) {
        for (const stream of [false, true]) {
          const params = { model: model(upstream, scenario), messages: [{ role: 'user' as const, content: 'hi' }] };
          await assert.rejects(stream ? client.chat.completions.create({ ...params, stream: true }) : client.chat.completions.create(params), (error: unknown) => {
            assert.ok(error instanceof type, `${upstream} ${status}: ${String(error)}`);
            assert.equal(error.status, status);
            assert.ok(error.message.includes(upstreamErrorMessage(upstream, status)), error.message);
            assert.equal(typeof (error.error as { message?: unknown } | undefined)?.message, 'string', 'an OpenAI error object');
            return true;
          });
        }
      }
    });

    await t.test(`chat → ${upstream}: a stream that fails mid-way throws APIError from the iteration, after the text that came`, async () => {
      for (const scenario of MID_STREAM_FAILURES) {
        const stream = await client.chat.completions.create({ model: model(upstream, scenario), messages: [{ role: 'user', content: 'hi' }], stream: true });
        let text = '';
        let finish: string | null = null;
        await assert.rejects(
          (async () => {
            for await (const chunk of stream) {
              text += chunk.choices[0]?.delta.content ?? '';
              finish ??= chunk.choices[0]?.finish_reason ?? null;
            }
          })(),
          (error: unknown) => {
            assert.ok(error instanceof OpenAI.APIError, String(error));
            assert.match(error.message, midStreamMessage(upstream, scenario));
            return true;
          },
        );
        assert.equal(text, 'Berlin', 'the text before the failure arrived');
        assert.equal(finish, null, 'no finish chunk: never a fake success');
        // The helper's final completion rejects the same way.
        await assert.rejects(client.chat.completions.stream({ model: model(upstream, scenario), messages: [{ role: 'user', content: 'hi' }] }).finalChatCompletion(), OpenAI.APIError);
      }
    });

    // Last for this upstream: its key cools down for RETRY_SECONDS afterwards.
    await t.test(`chat → ${upstream}: a 429 that says when to retry gives the SDK Retry-After; while the key cools down the gateway answers 503 itself`, async () => {
      await assert.rejects(client.chat.completions.create({ model: model(upstream, 'wait'), messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.RateLimitError, String(error));
        assert.equal(error.headers?.get('retry-after'), String(RETRY_SECONDS));
        assert.ok(error.message.includes(upstreamErrorMessage(upstream, 429)), error.message);
        return true;
      });
      const before = gw.upstreams[upstream].requests.length;
      await assert.rejects(client.chat.completions.create({ model: model(upstream, 'text'), messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.InternalServerError && error.status === 503, String(error));
        const wait = Number(error.headers?.get('retry-after'));
        assert.ok(wait >= 1 && wait <= RETRY_SECONDS, `retry-after ${wait}`);
        assert.match(error.message, /cooling down/);
        return true;
      });
      assert.equal(gw.upstreams[upstream].requests.length, before, 'nothing reached the cooling upstream');
    });
  }
});
