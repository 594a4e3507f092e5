/**
 * An OpenAI Responses API client (the official `openai` SDK) uses models served by a chat
 * completions, an Anthropic and a Gemini upstream, through the real gateway: the SDK rebuilds the
 * upstream's text, reasoning summary, function calls (arguments as parsed JSON), usage and status,
 * whole and streamed (typed events with sequence numbers); a tool loop that sends the SDK's own
 * output items back reaches the upstream with its ids intact; upstream errors raise the SDK's
 * typed errors; a stream that fails mid-way ends with the typed `error` event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { responsesStructured, askResponses, limitOf, openai, responsesParams, responsesToolLoop, type Ask, type ResponsesMode } from '../helpers/translate-clients.ts';
import {
  assertReconstructed,
  assertStructuredRequest,
  assertSignedThinkingBack,
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

const UPSTREAMS: readonly Format[] = ['chat', 'anthropic', 'gemini'];
const MODES: readonly ResponsesMode[] = ['create', 'stream-helper', 'stream-iterate'];

test('an OpenAI Responses client through the gateway to chat, Anthropic and Gemini upstreams', async (t) => {
  const gw = await startTranslateGateway(t);
  const client = openai(gw.url);

  for (const upstream of UPSTREAMS) {
    await t.test(`responses → ${upstream}: text, function calls and reasoning, whole and streamed, as the SDK rebuilds them`, async () => {
      for (const scenario of ['text', 'tools', 'thinking'] as const) {
        for (const mode of MODES) {
          const ask: Ask = { model: model(upstream, scenario), tools: scenario === 'tools', reasoning: scenario === 'thinking' };
          const { result } = await askResponses(client, mode, ask);
          assertReconstructed(result, upstream, 'responses', scenario, mode !== 'create');
          assertValidRequest(upstream, gw.last(upstream), { model: ask.model, stream: mode !== 'create', tools: ask.tools === true, maxTokens: limitOf(ask), reasoning: ask.reasoning });
        }
      }
    });

    await t.test(`responses → ${upstream}: a tool loop sending the SDK's output items back reaches the upstream with calls and results linked`, async () => {
      const ask: Ask = { model: model(upstream, 'tools'), tools: true };
      const { result: first, response } = await askResponses(client, 'stream-helper', ask);
      const reply = await responsesToolLoop(client, { ...ask, model: model(upstream, 'text') }, response, first);
      assert.equal(reply, TEXT);
      const recorded = gw.last(upstream);
      assertValidRequest(upstream, recorded, { model: model(upstream, 'text'), stream: false, tools: true, maxTokens: limitOf(ask) });
      assertToolLoop(upstream, recorded, FIXTURE_CALLS[upstream].map((c, i) => ({ id: c.id ?? (first.calls[i]?.id as string), name: c.name, args: c.args, result: TOOL_RESULTS[c.name] as string })));
    });

    if (upstream === 'anthropic') {
      await t.test("responses → anthropic: the SDK's reasoning items, sent back, return Anthropic's signed thinking (and redacted thinking) to it", async () => {
        for (const mode of MODES) {
          const { response } = await askResponses(client, mode, { model: model(upstream, 'thinking'), reasoning: true });
          const params = responsesParams({ model: model(upstream, 'text'), reasoning: true });
          (params.input as OpenAI.Responses.ResponseInputItem[]).push(...(response.output as OpenAI.Responses.ResponseInputItem[]), { role: 'user', content: 'And 227?' });
          assert.equal((await client.responses.create(params)).output_text, TEXT);
          assertSignedThinkingBack(gw.last(upstream), true);
        }
      });
    }

    await t.test(`responses → ${upstream}: structured output: responses.parse and the stream helper give output_parsed`, async () => {
      for (const streaming of [false, true]) {
        assert.deepEqual(await responsesStructured(client, model(upstream, 'structured'), streaming), PERSON, `streaming: ${streaming}`);
        assertStructuredRequest(upstream, gw.last(upstream));
      }
    });

    await t.test(`responses → ${upstream}: the first text reaches the SDK while the upstream still holds the rest of its stream`, async () => {
      let text = '';
      let whileHeld: boolean | null = null;
      for await (const event of await client.responses.create({ ...responsesParams({ model: model(upstream, 'held') }), stream: true })) {
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (whileHeld === null && text !== '') whileHeld = gw.release();
      }
      assert.equal(whileHeld, true, 'the first text arrived before the upstream sent more: nothing waits for a later event');
      assert.equal(text, TEXT);
    });

    await t.test(`responses → ${upstream}: Responses state the upstream cannot hold is refused with BadRequestError saying why, and nothing goes upstream`, async () => {
      const before = gw.upstreams[upstream].requests.length;
      await assert.rejects(client.responses.create({ ...responsesParams({ model: model(upstream, 'text') }), previous_response_id: 'resp_earlier' }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.match(error.message, /previous_response_id/);
        assert.doesNotMatch(error.message, /upstream provider answered/, 'no upstream answered anything');
        return true;
      });
      assert.equal(gw.upstreams[upstream].requests.length, before, 'nothing reached the upstream');
    });

    await t.test(`responses → ${upstream}: the upstream's 429, 400 and 503 (Anthropic's 529) raise RateLimitError, BadRequestError and InternalServerError, streaming or not`, async () => {
      for (const [scenario, status, type] of [['e429', 429, OpenAI.RateLimitError], ['e400', 400, OpenAI.BadRequestError], ['e503', 503, OpenAI.InternalServerError]] as const) {
        const params = responsesParams({ model: model(upstream, scenario) });
        for (const call of [() => client.responses.create(params), () => client.responses.create({ ...params, stream: true }), () => client.responses.stream(params).finalResponse()]) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof type, `${upstream} ${status}: ${String(error)}`);
            assert.equal(error.status, status);
            assert.ok(error.message.includes(upstreamErrorMessage(upstream, status)), error.message);
            return true;
          });
        }
      }
    });

    await t.test(`responses → ${upstream}: a stream that fails mid-way ends with the typed error event after the text that came`, async () => {
      for (const scenario of MID_STREAM_FAILURES) {
        const events: OpenAI.Responses.ResponseStreamEvent[] = [];
        for await (const event of await client.responses.create({ ...responsesParams({ model: model(upstream, scenario) }), stream: true })) events.push(event);
        const last = events.at(-1);
        assert.equal(last?.type, 'error', `the stream ends with an error event: ${events.map((e) => e.type).join(', ')}`);
        assert.match((last as OpenAI.Responses.ResponseErrorEvent).message, midStreamMessage(upstream, scenario));
        assert.ok(!events.some((e) => e.type === 'response.completed' || e.type === 'response.incomplete'), 'never a fake success');
        const text = events.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
        assert.equal(text, 'Berlin', 'the text before the failure arrived');
        events.forEach((e, i) => assert.equal(e.sequence_number, i, 'sequence numbers run on into the error event'));
        // The helper's final response rejects with the error event itself (a plain object, not an
        // Error), as it does for OpenAI's own failed streams.
        await assert.rejects(client.responses.stream(responsesParams({ model: model(upstream, scenario) })).finalResponse(), (error: unknown) => {
          assert.ok(!(error instanceof Error), String(error));
          const event = error as OpenAI.Responses.ResponseErrorEvent;
          assert.equal(event.type, 'error');
          assert.match(event.message, midStreamMessage(upstream, scenario));
          return true;
        });
      }
    });

    // Last for this upstream: its key cools down for RETRY_SECONDS afterwards.
    await t.test(`responses → ${upstream}: a 429 that says when to retry gives the SDK Retry-After; while the key cools down the gateway answers 503 itself`, async () => {
      await assert.rejects(client.responses.create(responsesParams({ model: model(upstream, 'wait') })), (error: unknown) => {
        assert.ok(error instanceof OpenAI.RateLimitError, String(error));
        assert.equal(error.headers?.get('retry-after'), String(RETRY_SECONDS));
        assert.ok(error.message.includes(upstreamErrorMessage(upstream, 429)), error.message);
        return true;
      });
      const before = gw.upstreams[upstream].requests.length;
      await assert.rejects(client.responses.create(responsesParams({ model: model(upstream, 'text') })), (error: unknown) => {
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
