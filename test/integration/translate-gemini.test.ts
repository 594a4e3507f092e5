/**
 * A Gemini client (the official `@google/genai` SDK) uses models served by a chat completions, a
 * Responses API and an Anthropic upstream, through the real gateway: the SDK rebuilds the
 * upstream's text, thoughts, function calls (args as objects), usage and finish reason, from
 * `generateContent` and chunk by chunk from `generateContentStream`; a tool loop that sends the
 * SDK's own model content back reaches the upstream with its ids intact; upstream errors raise
 * `ApiError` with the status; a stream that fails mid-way makes the iteration throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, type Content } from '@google/genai';
import { post, StreamingRequest } from '../helpers/cli.ts';
import { geminiStructured, askGemini, geminiParams, geminiToolLoop, genai, limitOf, type Ask, type GeminiMode } from '../helpers/translate-clients.ts';
import {
  assertReconstructed,
  assertStructuredRequest,
  assertSignedThinkingBack,
  assertToolLoop,
  assertValidRequest,
  CLIENT_KEY,
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

const UPSTREAMS: readonly Format[] = ['chat', 'responses', 'anthropic'];
const MODES: readonly GeminiMode[] = ['generate', 'stream'];

test('a Gemini client through the gateway to chat, Responses and Anthropic upstreams', async (t) => {
  const gw = await startTranslateGateway(t);
  const client = genai(gw.url);

  for (const upstream of UPSTREAMS) {
    await t.test(`gemini → ${upstream}: text, function calls and thoughts, whole and streamed, as the SDK rebuilds them`, async () => {
      for (const scenario of ['text', 'tools', 'thinking'] as const) {
        for (const mode of MODES) {
          const ask: Ask = { model: model(upstream, scenario), tools: scenario === 'tools', reasoning: scenario === 'thinking' };
          const { result, chunks } = await askGemini(client, mode, ask);
          assertReconstructed(result, upstream, 'gemini', scenario, mode === 'stream');
          assertValidRequest(upstream, gw.last(upstream), { model: ask.model, stream: mode === 'stream', tools: ask.tools === true, maxTokens: limitOf(ask), reasoning: ask.reasoning });
          // Only the last chunk says why the model stopped.
          assert.deepEqual(chunks.map((c) => c.candidates?.[0]?.finishReason !== undefined), chunks.map((_, i) => i === chunks.length - 1), 'finishReason on the last chunk only');
          if (scenario === 'tools') assert.deepEqual(chunks.flatMap((c) => c.functionCalls ?? []).map((c) => c.name), ['get_weather', 'get_time'], "the SDK's functionCalls");
        }
      }
    });

    await t.test(`gemini → ${upstream}: a tool loop sending the SDK's model content back reaches the upstream with calls and results linked`, async () => {
      const ask: Ask = { model: model(upstream, 'tools'), tools: true };
      const { result: first, chunks } = await askGemini(client, 'stream', ask);
      const reply = await geminiToolLoop(client, { ...ask, model: model(upstream, 'text') }, chunks, first);
      assert.equal(reply, TEXT);
      const recorded = gw.last(upstream);
      assertValidRequest(upstream, recorded, { model: model(upstream, 'text'), stream: false, tools: true, maxTokens: limitOf(ask) });
      assertToolLoop(upstream, recorded, FIXTURE_CALLS[upstream].map((c, i) => ({ id: c.id ?? (first.calls[i]?.id as string), name: c.name, args: c.args, result: TOOL_RESULTS[c.name] as string })));
    });

    await t.test(`gemini → ${upstream}: a request without a token limit stays without one (Anthropic gets its required default)`, async () => {
      const ask: Ask = { model: model(upstream, 'text'), maxTokens: null };
      assertReconstructed((await askGemini(client, 'generate', ask)).result, upstream, 'gemini', 'text', false);
      assertValidRequest(upstream, gw.last(upstream), { model: ask.model, stream: false, tools: false, maxTokens: undefined });
    });

    if (upstream === 'anthropic') {
      await t.test("gemini → anthropic: the SDK's model content, sent back (streamed thoughts in pieces included), returns Anthropic's signed thinking to it", async () => {
        for (const mode of MODES) {
          const { chunks } = await askGemini(client, mode, { model: model(upstream, 'thinking'), reasoning: true });
          const params = geminiParams({ model: model(upstream, 'text'), reasoning: true });
          (params.contents as Content[]).push({ role: 'model', parts: chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []) }, { role: 'user', parts: [{ text: 'And 227?' }] });
          assert.equal((await client.models.generateContent(params)).text, TEXT);
          // Gemini has no slot for Anthropic's redacted thinking: it does not come back.
          assertSignedThinkingBack(gw.last(upstream), false);
        }
      });
    }

    await t.test(`gemini → ${upstream}: structured output: responseSchema answers parse as the object, whole and streamed`, async () => {
      for (const streaming of [false, true]) {
        assert.deepEqual(await geminiStructured(client, model(upstream, 'structured'), streaming), PERSON, `streaming: ${streaming}`);
        assertStructuredRequest(upstream, gw.last(upstream));
      }
    });

    await t.test(`gemini → ${upstream}: the first text reaches the SDK while the upstream still holds the rest of its stream`, async () => {
      let text = '';
      let whileHeld: boolean | null = null;
      for await (const chunk of await client.models.generateContentStream(geminiParams({ model: model(upstream, 'held') }))) {
        text += chunk.text ?? '';
        if (whileHeld === null && text !== '') whileHeld = gw.release();
      }
      assert.equal(whileHeld, true, 'the first text arrived before the upstream sent more: nothing waits for a later event');
      assert.equal(text, TEXT);
    });

    await t.test(`gemini → ${upstream}: Google Search becomes the upstream's own web search, or is left out and named where it has none`, async () => {
      const params = geminiParams({ model: model(upstream, 'text') });
      const result = await client.models.generateContent({ ...params, config: { ...params.config, tools: [{ googleSearch: {} }] } });
      assert.equal(result.text, TEXT);
      const sent = JSON.parse(gw.last(upstream).body) as { tools?: unknown };
      const expected = { chat: undefined, responses: [{ type: 'web_search' }], anthropic: [{ type: 'web_search_20250305', name: 'web_search' }] }[upstream as 'chat' | 'responses' | 'anthropic'];
      assert.deepEqual(sent.tools, expected, 'what the upstream was given');
      assert.equal(result.sdkHttpResponse?.headers?.['x-ai-proxy-omitted'], upstream === 'chat' ? 'tool:googleSearch' : undefined);
    });

    await t.test(`gemini → ${upstream}: the upstream's 429, 400 and 503 (Anthropic's 529) raise ApiError with the status, streaming or not`, async () => {
      for (const [scenario, status, code] of [['e429', 429, 'RESOURCE_EXHAUSTED'], ['e400', 400, 'INVALID_ARGUMENT'], ['e503', 503, 'UNAVAILABLE']] as const) {
        const params = geminiParams({ model: model(upstream, scenario) });
        for (const call of [() => client.models.generateContent(params), () => client.models.generateContentStream(params)]) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof ApiError, `${upstream} ${status}: ${String(error)}`);
            assert.equal(error.status, status);
            assert.ok(error.message.includes(upstreamErrorMessage(upstream, status)), error.message);
            assert.ok(error.message.includes(code), `a Gemini error object with status ${code}: ${error.message}`);
            return true;
          });
        }
      }
    });

    await t.test(`gemini → ${upstream}: a stream that fails mid-way ends with Gemini's error object and a cut connection, so the iteration throws`, async () => {
      for (const scenario of MID_STREAM_FAILURES) {
        const message = midStreamMessage(upstream, scenario);
        // On the wire: the text, then Gemini's error object, then the connection ends without the
        // chunked terminator (genai ignores an SSE-framed error; only a cut makes it throw).
        const raw = new StreamingRequest(`${gw.url}/v1beta/models/${model(upstream, scenario)}:streamGenerateContent?alt=sse`, { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': CLIENT_KEY });
        t.after(() => raw.destroy());
        const { complete, body } = await raw.done;
        assert.equal(complete, false, 'the response is cut short');
        const last = JSON.parse(body.trim().split(/\r?\n\r?\n/).at(-1)?.replace(/^data: /, '') ?? '') as { error?: { code?: number; message?: string; status?: string } };
        assert.equal(typeof last.error?.code, 'number', `the last event is Gemini's error object: ${body}`);
        assert.match(last.error?.message ?? '', message);
        assert.doesNotMatch(body, /finishReason/, 'never a fake success');

        let text = '';
        await assert.rejects(
          (async () => {
            for await (const chunk of await client.models.generateContentStream(geminiParams({ model: model(upstream, scenario) }))) text += chunk.text ?? '';
          })(),
          (error: unknown) => {
            // undici's fetch reports the cut as TypeError('terminated'); genai passes it on as is.
            assert.ok(error instanceof TypeError, String(error));
            assert.equal(error.message, 'terminated');
            return true;
          },
        );
        assert.equal(text, 'Berlin', 'the text before the failure arrived');
      }
    });

    // Last for this upstream: its key cools down for RETRY_SECONDS afterwards.
    await t.test(`gemini → ${upstream}: a 429 that says when to retry carries Retry-After; while the key cools down the gateway answers 503 UNAVAILABLE itself`, async () => {
      // genai's ApiError has no headers: the first answer is read raw.
      const url = (id: string): string => `${gw.url}/v1beta/models/${id}:generateContent`;
      const limited = await post(url(model(upstream, 'wait')), { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': CLIENT_KEY });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), String(RETRY_SECONDS));
      const body = (await limited.json()) as { error?: { status?: string; message?: string } };
      assert.equal(body.error?.status, 'RESOURCE_EXHAUSTED');
      assert.ok(body.error?.message?.includes(upstreamErrorMessage(upstream, 429)), body.error?.message);
      const before = gw.upstreams[upstream].requests.length;
      await assert.rejects(client.models.generateContent(geminiParams({ model: model(upstream, 'text') })), (error: unknown) => {
        assert.ok(error instanceof ApiError && error.status === 503, String(error));
        assert.match(error.message, /UNAVAILABLE/);
        assert.match(error.message, /cooling down/);
        return true;
      });
      const cooling = await post(url(model(upstream, 'text')), { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': CLIENT_KEY });
      assert.equal(cooling.status, 503);
      const wait = Number(cooling.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= RETRY_SECONDS, `retry-after ${wait}`);
      assert.equal(gw.upstreams[upstream].requests.length, before, 'nothing reached the cooling upstream');
    });
  }
});
