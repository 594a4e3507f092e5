/**
 * The official SDKs as oracles: every upstream fixture, translated into every client format, is
 * served over HTTP to that format's own SDK (openai, @anthropic-ai/sdk, @google/genai), whose
 * parsers must reconstruct the same answer: the text, the reasoning kept apart from it, each tool
 * call's name and arguments (parsed as JSON), the usage and the finish reason. No network: the
 * SDKs talk to a local server that returns the translated bytes.
 */
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createStreamTranslator, translateError, translateResponse, type WireFormat } from '../../src/server/translate/index.ts';
import { anthropicResult, chatResult, geminiResult, responsesResult } from '../helpers/translate-clients.ts';
import { FINISH_NAMES, TEXT, THOUGHT, type Finish, type Reconstructed } from '../helpers/translate-upstreams.ts';
import { FakeUpstream } from './fake-upstream.ts';
import { CTX, FORMATS, fixtureNames, readBytes, readJson } from './fixtures.ts';

/** What each fixture should give a client: the counts this suite checks are input and output. */
interface Expected {
  text: string;
  thinking: string;
  calls: Array<{ id: string; name: string; args: unknown }>;
  usage: { input: number; output: number } | null;
  finish: string | null;
}


/** What each fixture says, whatever its format (the fixtures tell the same story in four formats). */
function expected(upstream: WireFormat, name: string, streaming: boolean): Expected {
  const base: Expected = { text: '', thinking: '', calls: [], usage: null, finish: 'stop' };
  switch (name) {
    case 'text':
      return { ...base, text: TEXT, usage: { input: 1117, output: 12 } };
    case 'tools': {
      const ids: Record<WireFormat, [string, string]> = {
        chat: ['call_abc123', 'call_def456'],
        responses: ['call_abc123', 'call_def456'],
        anthropic: ['toolu_01A09q90qw90lq917835lq9', 'toolu_01B12x45yz67ab89cd01ef2'],
        // Gemini has no ids: synthesized from the request id, the first carrying its thought signature.
        gemini: ['call_req_0001_0__ts_CiQBVKhc7g', 'call_req_0001_1'],
      };
      return {
        ...base,
        text: upstream === 'anthropic' || upstream === 'gemini' ? 'Let me check both.' : '',
        calls: [
          { id: ids[upstream][0], name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } },
          { id: ids[upstream][1], name: 'get_time', args: {} },
        ],
        usage: { input: 82, output: 40 },
        finish: 'tool_calls',
      };
    }
    case 'thinking':
      return {
        ...base,
        text: '223 is prime.',
        thinking: THOUGHT,
        usage: { input: upstream === 'anthropic' ? 25 : 20, output: 60 },
        finish: upstream === 'anthropic' ? 'stop_sequence' : upstream === 'responses' && !streaming ? 'length' : 'stop',
      };
    case 'structured':
      return { ...base, text: '{"name":"Ada Lovelace","born":1815}', usage: { input: 350, output: 30 } };
    default:
      throw new Error(`no expectation for fixture ${name}`);
  }
}

const upstream = new FakeUpstream();
let baseUrl = '';

before(async () => {
  baseUrl = await upstream.start();
});

after(async () => {
  await upstream.stop();
});

function streamBytes(from: WireFormat, to: WireFormat, name: string): string[] {
  const chunks: string[] = [];
  // The SDK call below asks for usage (stream_options.include_usage), so the gateway passes that on.
  const translator = createStreamTranslator(from, to, (s) => chunks.push(s), { ...CTX, includeUsage: true });
  translator.push(readBytes(`streams/${from}/${name}.sse`));
  translator.end();
  return chunks;
}

function serveStream(chunks: string[]): void {
  upstream.respond({ status: 200, contentType: 'text/event-stream', chunks });
}

function serveJson(status: number, body: unknown): void {
  upstream.respond({ status, contentType: 'application/json', chunks: [JSON.stringify(body)] });
}

const openai = (): OpenAI => new OpenAI({ apiKey: 'test', baseURL: `${baseUrl}/v1`, maxRetries: 0 });
const anthropic = (): Anthropic => new Anthropic({ apiKey: 'test', baseURL: baseUrl, maxRetries: 0 });
const gemini = (): GoogleGenAI => new GoogleGenAI({ apiKey: 'test', httpOptions: { baseUrl } });

async function viaSdk(client: WireFormat, streaming: boolean): Promise<Reconstructed> {
  const messages = [{ role: 'user' as const, content: 'hi' }];
  switch (client) {
    case 'chat': {
      if (!streaming) {
        const completion = await openai().chat.completions.create({ model: 'client-model', messages });
        const choice = completion.choices[0];
        assert.ok(choice);
        const reasoning = (choice.message as { reasoning_content?: string }).reasoning_content ?? '';
        return chatResult(choice.message, reasoning, completion.usage, choice.finish_reason);
      }
      const stream = openai().chat.completions.stream({ model: 'client-model', messages, stream_options: { include_usage: true } });
      let thinking = '';
      // The SDK keeps only the last reasoning_content delta; a client concatenates them as they come.
      stream.on('chunk', (chunk) => {
        const delta = chunk.choices[0]?.delta as { reasoning_content?: string } | undefined;
        if (delta?.reasoning_content) thinking += delta.reasoning_content;
      });
      const completion = await stream.finalChatCompletion();
      const choice = completion.choices[0];
      assert.ok(choice);
      return chatResult(choice.message, thinking, completion.usage, choice.finish_reason);
    }
    case 'responses': {
      if (!streaming) {
        const response = await openai().responses.create({ model: 'client-model', input: 'hi' });
        const result = responsesResult(response);
        assert.equal(response.output_text, result.text, 'the SDK’s output_text is the message text alone');
        return result;
      }
      return responsesResult(await openai().responses.stream({ model: 'client-model', input: 'hi' }).finalResponse());
    }
    case 'anthropic':
      if (!streaming) return anthropicResult(await anthropic().messages.create({ model: 'client-model', max_tokens: 100, messages }));
      return anthropicResult(await anthropic().messages.stream({ model: 'client-model', max_tokens: 100, messages }).finalMessage());
    case 'gemini': {
      if (!streaming) return geminiResult([(await gemini().models.generateContent({ model: 'client-model', contents: 'hi' }))]);
      const chunks: GenerateContentResponse[] = [];
      for await (const chunk of await gemini().models.generateContentStream({ model: 'client-model', contents: 'hi' })) chunks.push(chunk);
      return geminiResult(chunks);
    }
  }
}

function assertSame(actual: Reconstructed, upstreamFormat: WireFormat, client: WireFormat, name: string, streaming: boolean): void {
  const want = expected(upstreamFormat, name, streaming);
  if (name === 'structured') assert.deepEqual(JSON.parse(actual.text), JSON.parse(want.text), 'structured output arrives as JSON text');
  else assert.equal(actual.text, want.text, 'visible text (and no reasoning leaked into it)');
  assert.equal(actual.thinking, want.thinking, 'reasoning, kept apart from the text');
  const wantCalls = want.calls.map((c) => ({ ...c, id: client === 'gemini' ? c.id.replace(/__ts_.*$/, '') : c.id }));
  assert.deepEqual(actual.calls, wantCalls, 'tool calls: ids, names and arguments parsed as JSON');
  assert.deepEqual(actual.usage === null ? null : { input: actual.usage.input, output: actual.usage.output }, want.usage, 'usage');
  assert.equal(actual.finish, FINISH_NAMES[client][want.finish as Finish], 'finish reason');
}

describe('SDKs reconstruct translated streams', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('streams', from).filter((n) => n !== 'error')) {
      for (const to of FORMATS) {
        it(`${from} stream → ${to} SDK: ${name}`, async () => {
          serveStream(streamBytes(from, to, name));
          assertSame(await viaSdk(to, true), from, to, name, true);
        });
      }
    }
  }
});

describe('SDKs read translated non-streaming responses', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('responses', from)) {
      for (const to of FORMATS) {
        it(`${from} response → ${to} SDK: ${name}`, async () => {
          serveJson(200, translateResponse(from, to, readJson(`responses/${from}/${name}.json`), CTX));
          assertSame(await viaSdk(to, false), from, to, name, false);
        });
      }
    }
  }
});

describe('SDKs raise translated upstream errors', () => {
  for (const from of FORMATS) {
    const cases = readJson(`errors/${from}.json`) as Array<{ status: number; body: unknown }>;
    for (const to of FORMATS) {
      it(`${from} errors → ${to} SDK`, async () => {
        for (const c of cases) {
          const translated = translateError(from, to, c.status, c.body);
          serveJson(translated.status, translated.body);
          await assert.rejects(viaSdk(to, false), (error: unknown) => {
            const status = (error as { status?: number }).status;
            assert.equal(status, translated.status);
            return true;
          });
        }
      });
    }
  }
});

describe('an upstream error mid-stream reaches the client as an error, never as a success', () => {
  for (const to of FORMATS) {
    it(`anthropic overloaded mid-stream → ${to} client`, async () => {
      const chunks = streamBytes('anthropic', to, 'error');
      serveStream(chunks);
      if (to === 'gemini') {
        // @google/genai only raises errors that arrive outside SSE framing; the translated stream
        // ends with Gemini's error object and no finishReason, so the answer is visibly unfinished.
        const result = await viaSdk(to, true);
        assert.equal(result.text, 'Berlin');
        assert.equal(result.finish, null);
        assert.match(chunks.at(-1) ?? '', /^data: \{"error":\{"code":503,"message":"Overloaded","status":"UNAVAILABLE"\}\}/);
        return;
      }
      // The Responses SDK rejects with the error event itself, the others with an Error.
      await assert.rejects(viaSdk(to, true), (error: unknown) => {
        assert.match((error as { message?: string }).message ?? '', /Overloaded/);
        return true;
      });
    });
  }
});
