/**
 * What each request feature becomes in each target format, one behaviour per test: prompts,
 * history, sampling limits, media, tools and their ids, structured output and reasoning.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- translated bodies are inspected as plain JSON */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ANTHROPIC_MAX_TOKENS, TranslationError, translateRequest, translateResponse, type WireFormat } from '../../src/server/translate/index.ts';
import { FORMATS } from './fixtures.ts';

function to(from: WireFormat, target: WireFormat, body: unknown, stream = false, model = 'upstream-model'): any {
  return translateRequest(from, target, body, { model, stream }).body;
}

function refused(from: WireFormat, target: WireFormat, body: unknown, pattern: RegExp): void {
  assert.throws(
    () => to(from, target, body),
    (error: unknown) => error instanceof TranslationError && error.status === 400 && pattern.test(error.message),
  );
}

const user = (content: unknown): any => ({ model: 'm', messages: [{ role: 'user', content }] });

describe('prompts and history', () => {
  it('leading system and developer messages become each format’s system instruction, in order', () => {
    const body = { model: 'm', messages: [{ role: 'system', content: 'A' }, { role: 'developer', content: 'B' }, { role: 'user', content: 'hi' }] };
    assert.deepEqual(to('chat', 'anthropic', body).system, [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }]);
    assert.deepEqual(to('chat', 'gemini', body).systemInstruction, { parts: [{ text: 'A' }, { text: 'B' }] });
    assert.equal(to('chat', 'responses', body).instructions, 'A\n\nB');
    assert.deepEqual(to('anthropic', 'chat', { model: 'm', max_tokens: 5, system: 'S', messages: [{ role: 'user', content: 'hi' }] }).messages[0], { role: 'system', content: 'S' });
  });

  it('keeps multi-turn history in order with each format’s roles', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }] };
    assert.deepEqual(to('chat', 'gemini', body).contents.map((c: any) => [c.role, c.parts[0].text]), [['user', 'a'], ['model', 'b'], ['user', 'c']]);
    assert.deepEqual(to('chat', 'anthropic', body).messages.map((m: any) => [m.role, m.content[0].text]), [['user', 'a'], ['assistant', 'b'], ['user', 'c']]);
    assert.deepEqual(to('chat', 'responses', body).input.map((i: any) => [i.role, i.content[0].text]), [['user', 'a'], ['assistant', 'b'], ['user', 'c']]);
  });

  it('keeps participant names where the format has them (chat) and drops them elsewhere', () => {
    const body = { model: 'm', messages: [{ role: 'user', name: 'alice', content: 'hi' }] };
    assert.equal(to('chat', 'chat', body).messages[0].name, 'alice');
    assert.equal(JSON.stringify(to('chat', 'anthropic', body)).includes('alice'), false);
  });
});

describe('sampling and limits', () => {
  it('maps temperature, top_p, top_k, seed and max tokens to each format’s names', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5, top_p: 0.8, max_tokens: 100, seed: 3 };
    assert.deepEqual(to('chat', 'gemini', body).generationConfig, { maxOutputTokens: 100, temperature: 0.5, topP: 0.8, seed: 3 });
    const responses = to('chat', 'responses', body);
    assert.deepEqual([responses.temperature, responses.top_p, responses.max_output_tokens], [0.5, 0.8, 100]);
    assert.equal(to('chat', 'chat', body).max_completion_tokens, 100);
    const gemini = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { topK: 7, maxOutputTokens: 9 } };
    assert.deepEqual([to('gemini', 'anthropic', gemini).top_k, to('gemini', 'anthropic', gemini).max_tokens], [7, 9]);
  });

  it(`gives Anthropic the max_tokens it requires (${DEFAULT_ANTHROPIC_MAX_TOKENS} by default)`, () => {
    assert.equal(to('chat', 'anthropic', user('hi')).max_tokens, DEFAULT_ANTHROPIC_MAX_TOKENS);
  });

  it('clamps temperature to Anthropic’s 0–1 and sends it alone when top_p is also set', () => {
    const out = to('chat', 'anthropic', { ...user('hi'), temperature: 1.6, top_p: 0.9 });
    assert.equal(out.temperature, 1);
    assert.equal(out.top_p, undefined);
    assert.equal(to('chat', 'anthropic', { ...user('hi'), top_p: 0.9 }).top_p, 0.9);
  });

  it('raises a Responses max_output_tokens below its minimum of 16', () => {
    assert.equal(to('chat', 'responses', { ...user('hi'), max_tokens: 5 }).max_output_tokens, 16);
  });

  it('asks a chat upstream for usage in its stream', () => {
    assert.deepEqual(to('anthropic', 'chat', { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, true).stream_options, { include_usage: true });
  });

  it('maps stop sequences, drops whitespace-only ones for Anthropic, and refuses them for Responses', () => {
    const body = { ...user('hi'), stop: ['\n\n', 'END'] };
    assert.deepEqual(to('chat', 'anthropic', body).stop_sequences, ['END']);
    assert.deepEqual(to('chat', 'gemini', body).generationConfig.stopSequences, ['\n\n', 'END']);
    assert.deepEqual(to('anthropic', 'chat', { model: 'm', max_tokens: 5, stop_sequences: ['X'], messages: [{ role: 'user', content: 'hi' }] }).stop, ['X']);
    refused('chat', 'responses', body, /no stop parameter/);
  });

  it('refuses several choices per request outside chat', () => {
    refused('chat', 'anthropic', { ...user('hi'), n: 2 }, /n > 1/);
    refused('gemini', 'chat', { contents: [{ parts: [{ text: 'hi' }] }], generationConfig: { candidateCount: 2 } }, /candidateCount/);
  });
});

describe('images and documents', () => {
  const png = 'iVBORw0KGgo=';
  it('moves base64 and URL images between data URLs, base64 sources and Gemini parts', () => {
    const body = user([{ type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }, { type: 'image_url', image_url: { url: 'https://x.test/a.webp' } }]);
    assert.deepEqual(to('chat', 'anthropic', body).messages[0].content, [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
      { type: 'image', source: { type: 'url', url: 'https://x.test/a.webp' } },
    ]);
    assert.deepEqual(to('chat', 'gemini', body).contents[0].parts, [{ inlineData: { mimeType: 'image/png', data: png } }, { fileData: { mimeType: 'image/webp', fileUri: 'https://x.test/a.webp' } }]);
    const back = to('anthropic', 'chat', { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }] }] });
    assert.deepEqual(back.messages[0].content, [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }]);
  });

  it('refuses what the target cannot take, with a 400 that says why', () => {
    refused('anthropic', 'chat', { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://x.test/a.pdf' } }] }] }, /cannot fetch a document from a URL/);
    refused('chat', 'anthropic', user([{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }]), /not image\/bmp/);
    refused('gemini', 'anthropic', { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'video/mp4', data: 'AAAA' } }] }] }, /not video\/mp4/);
    refused('chat', 'gemini', user([{ type: 'image_url', image_url: { url: 'https://x.test/image?id=3' } }]), /media type/);
    refused('chat', 'anthropic', user([{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }]), /audio/);
    refused('chat', 'gemini', user([{ type: 'file', file: { file_id: 'file-123' } }]), /file ids/);
  });

  it('turns plain-text documents into text where there is no text document type', () => {
    const body = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'document', title: 'notes', source: { type: 'text', media_type: 'text/plain', data: 'ship Friday' } }] }] };
    assert.equal(to('anthropic', 'chat', body).messages[0].content, 'notes\n\nship Friday');
    assert.deepEqual(to('anthropic', 'gemini', body).contents[0].parts, [{ text: 'notes\n\nship Friday' }]);
  });
});

describe('tools', () => {
  const weather = { type: 'function', function: { name: 'get_weather', description: 'w', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } } };
  const noArgs = { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } };

  it('maps every tool_choice variant', () => {
    const choices: Array<[unknown, unknown, unknown, unknown]> = [
      ['auto', { type: 'auto' }, { mode: 'AUTO' }, 'auto'],
      ['none', { type: 'none' }, { mode: 'NONE' }, 'none'],
      ['required', { type: 'any' }, { mode: 'ANY' }, 'required'],
      [{ type: 'function', function: { name: 'get_weather' } }, { type: 'tool', name: 'get_weather' }, { mode: 'ANY', allowedFunctionNames: ['get_weather'] }, { type: 'function', name: 'get_weather' }],
    ];
    for (const [chat, anthropic, gemini, responses] of choices) {
      const body = { ...user('hi'), tools: [weather], tool_choice: chat };
      assert.deepEqual(to('chat', 'anthropic', body).tool_choice, anthropic);
      assert.deepEqual(to('chat', 'gemini', body).toolConfig.functionCallingConfig, gemini);
      assert.deepEqual(to('chat', 'responses', body).tool_choice, responses);
      assert.deepEqual(to('anthropic', 'chat', to('chat', 'anthropic', body)).tool_choice, chat, 'and back');
    }
  });

  it('carries parallel_tool_calls as Anthropic’s disable_parallel_tool_use and back', () => {
    const out = to('chat', 'anthropic', { ...user('hi'), tools: [weather], parallel_tool_calls: false });
    assert.deepEqual(out.tool_choice, { type: 'auto', disable_parallel_tool_use: true });
    assert.equal(to('anthropic', 'chat', out).parallel_tool_calls, false);
    assert.equal(to('anthropic', 'responses', out).parallel_tool_calls, false);
  });

  it('omits parameters Gemini would reject for a tool without any', () => {
    assert.deepEqual(to('chat', 'gemini', { ...user('hi'), tools: [noArgs] }).tools[0].functionDeclarations[0], { name: 'now' });
  });

  it('does not send Responses function tools as strict unless asked (Responses defaults to strict)', () => {
    assert.equal(to('chat', 'responses', { ...user('hi'), tools: [weather] }).tools[0].strict, false);
  });

  it('refuses Responses state another provider cannot have', () => {
    refused('responses', 'chat', { model: 'm', input: 'hi', previous_response_id: 'resp_1' }, /previous_response_id/);
  });

  it('rewrites tool ids Anthropic would reject, the same way on the call and on its result', () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'sunny' },
      ],
      tools: [weather],
    };
    const out = to('chat', 'anthropic', body);
    assert.equal(out.messages[1].content[0].id, 'functions_get_weather_0');
    assert.equal(out.messages[2].content[0].tool_use_id, 'functions_get_weather_0');
  });

  it('answers every parallel call in one turn, results first, for Anthropic and Gemini', () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'checking', tool_calls: ['a', 'b'].map((id) => ({ id, type: 'function', function: { name: 'get_weather', arguments: `{"city":"${id}"}` } })) },
        { role: 'tool', tool_call_id: 'a', content: '1' },
        { role: 'tool', tool_call_id: 'b', content: '2' },
        { role: 'user', content: 'thanks' },
      ],
    };
    const anthropic = to('chat', 'anthropic', body);
    assert.deepEqual(anthropic.messages[2].content.map((b: any) => b.type), ['tool_result', 'tool_result', 'text']);
    const gemini = to('chat', 'gemini', body);
    assert.deepEqual(gemini.contents[2].parts.map((p: any) => Object.keys(p)[0]), ['functionResponse', 'functionResponse', 'text']);
    assert.deepEqual(gemini.contents[2].parts.slice(0, 2).map((p: any) => p.functionResponse), [
      { name: 'get_weather', response: { output: '1' } },
      { name: 'get_weather', response: { output: '2' } },
    ]);
  });

  it('refuses a tool result Gemini cannot name (it answers no call in the conversation)', () => {
    refused('chat', 'gemini', { model: 'm', messages: [{ role: 'tool', tool_call_id: 'ghost', content: 'x' }] }, /Gemini needs the tool's name/);
  });

  it('gives Gemini calls deterministic ids and matches responses to them by name and order', () => {
    const body = {
      contents: [
        { role: 'model', parts: [{ functionCall: { name: 'f', args: { n: 1 } } }, { functionCall: { name: 'g', args: {} } }, { functionCall: { name: 'f', args: { n: 2 } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'g', response: { output: 'G' } } }, { functionResponse: { name: 'f', response: { output: 'F1' } } }, { functionResponse: { name: 'f', response: { output: 'F2' } } }] },
      ],
    };
    const out = to('gemini', 'chat', body);
    const calls = out.messages[0].tool_calls.map((c: any) => [c.id, c.function.arguments]);
    assert.deepEqual(calls, [['call_0_0', '{"n":1}'], ['call_0_1', '{}'], ['call_0_2', '{"n":2}']]);
    assert.deepEqual(out.messages.slice(1).map((m: any) => [m.tool_call_id, m.content]), [['call_0_1', 'G'], ['call_0_0', 'F1'], ['call_0_2', 'F2']]);
    assert.deepEqual(to('gemini', 'chat', body), to('gemini', 'chat', body), 'deterministic');
  });

  it('uses Gemini’s own call ids when it sends them', () => {
    const body = {
      contents: [
        { role: 'model', parts: [{ functionCall: { id: 'x1', name: 'f', args: {} } }, { functionCall: { id: 'x2', name: 'f', args: {} } }] },
        { role: 'user', parts: [{ functionResponse: { id: 'x2', name: 'f', response: { output: 'two' } } }, { functionResponse: { name: 'f', response: { output: 'one' } } }] },
      ],
    };
    const out = to('gemini', 'anthropic', body);
    assert.deepEqual(out.messages[1].content.map((b: any) => [b.tool_use_id, b.content]), [['x2', 'two'], ['x1', 'one']]);
  });

  it('returns a Gemini call’s thought signature to Gemini after a round trip through another client format', () => {
    const upstream = {
      candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'CiQB+Khc/g==' }] }, finishReason: 'STOP' }],
    };
    for (const client of ['chat', 'anthropic', 'responses'] as const) {
      const answer: any = translateResponse('gemini', client, upstream, { model: 'm', requestId: 'r1' });
      let history: any;
      if (client === 'chat') history = { model: 'm', messages: [{ role: 'user', content: 'hi' }, answer.choices[0].message, { role: 'tool', tool_call_id: answer.choices[0].message.tool_calls[0].id, content: 'sunny' }] };
      else if (client === 'anthropic') history = { model: 'm', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: answer.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: answer.content[0].id, content: 'sunny' }] }] };
      else history = { model: 'm', input: [{ role: 'user', content: 'hi' }, ...answer.output, { type: 'function_call_output', call_id: answer.output[0].call_id, output: 'sunny' }] };
      const back = to(client, 'gemini', history, false, 'gemini-2.5-flash');
      assert.equal(back.contents[1].parts[0].thoughtSignature, 'CiQB+Khc/g==', `via ${client}`);
      assert.deepEqual(back.contents[2].parts[0].functionResponse, { name: 'get_weather', response: { output: 'sunny' } });
    }
  });

  it('marks calls from other models for Gemini 3, which otherwise rejects them, and not for older models', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'a', content: 'x' }] };
    assert.equal(to('chat', 'gemini', body, false, 'gemini-3-pro-preview').contents[1].parts[0].thoughtSignature, 'skip_thought_signature_validator');
    assert.equal(to('chat', 'gemini', body, false, 'gemini-2.5-pro').contents[1].parts[0].thoughtSignature, undefined);
  });

  it('refuses history whose tool arguments are not a JSON object for formats that carry objects', () => {
    const body = { model: 'm', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{"broken' } }] }] };
    refused('chat', 'anthropic', body, /not valid JSON/);
    assert.equal(to('chat', 'responses', body).input[0].arguments, '{"broken', 'text formats pass it as is');
  });
});

describe('structured output', () => {
  const schema = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false };
  const body = { ...user('hi'), response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } } };

  it('becomes Gemini’s responseMimeType and responseSchema, and Responses’ text.format', () => {
    const gemini = to('chat', 'gemini', body);
    assert.equal(gemini.generationConfig.responseMimeType, 'application/json');
    assert.deepEqual(gemini.generationConfig.responseSchema, { type: 'OBJECT', properties: { name: { type: 'STRING' } }, required: ['name'] });
    assert.deepEqual(to('chat', 'responses', body).text.format, { type: 'json_schema', name: 'person', schema, strict: true });
    assert.deepEqual(to('gemini', 'chat', gemini).response_format.json_schema.schema, { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] });
  });

  it('becomes a forced tool for Anthropic, whose call comes back as the answer text', () => {
    const anthropic = to('chat', 'anthropic', body);
    assert.deepEqual(anthropic.tools, [{ name: 'json_response', description: anthropic.tools[0].description, input_schema: schema }]);
    assert.deepEqual(anthropic.tool_choice, { type: 'tool', name: 'json_response' });
    const reply = { id: 'msg', type: 'message', role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'json_response', input: { name: 'Ada' } }], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 1 } };
    const chat: any = translateResponse('anthropic', 'chat', reply, { model: 'm', requestId: 'r' });
    assert.deepEqual([chat.choices[0].message.content, chat.choices[0].finish_reason, chat.choices[0].message.tool_calls], ['{"name":"Ada"}', 'stop', undefined]);
  });

  it('wraps a non-object schema for Anthropic and unwraps the answer', () => {
    const gemini = { contents: [{ parts: [{ text: 'list' }] }], generationConfig: { responseMimeType: 'application/json', responseSchema: { type: 'ARRAY', items: { type: 'STRING' } } } };
    const anthropic = to('gemini', 'anthropic', gemini);
    assert.equal(anthropic.tools[0].name, 'json_response_value');
    assert.deepEqual(anthropic.tools[0].input_schema, { type: 'object', properties: { value: { type: 'array', items: { type: 'string' } } }, required: ['value'] });
    const reply = { content: [{ type: 'tool_use', id: 't', name: 'json_response_value', input: { value: ['a', 'b'] } }], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 1 } };
    const back: any = translateResponse('anthropic', 'gemini', reply, { model: 'm', requestId: 'r' });
    assert.deepEqual(back.candidates[0].content.parts, [{ text: '["a","b"]' }]);
  });

  it('keeps the client’s own tools callable next to the structured-output tool', () => {
    const out = to('chat', 'anthropic', { ...body, tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }] });
    assert.deepEqual(out.tools.map((t: any) => t.name), ['lookup', 'json_response']);
    assert.equal(out.tool_choice, undefined);
    assert.match(out.system, /json_response/);
  });
});

describe('reasoning', () => {
  it('maps effort to budgets and back', () => {
    const effort = (e: string): any => ({ ...user('hi'), reasoning_effort: e });
    assert.deepEqual(to('chat', 'anthropic', effort('high')).thinking, { type: 'enabled', budget_tokens: 24576 });
    assert.deepEqual(to('chat', 'gemini', effort('low')).generationConfig.thinkingConfig, { thinkingBudget: 2048, includeThoughts: true });
    assert.deepEqual(to('chat', 'gemini', effort('none')).generationConfig.thinkingConfig, { thinkingBudget: 0 });
    assert.deepEqual(to('chat', 'responses', effort('medium')).reasoning, { effort: 'medium', summary: 'auto' });
    const anthropic = { model: 'm', max_tokens: 9000, thinking: { type: 'enabled', budget_tokens: 8000 }, messages: [{ role: 'user', content: 'hi' }] };
    assert.equal(to('anthropic', 'chat', anthropic).reasoning_effort, 'medium');
    assert.equal(to('gemini', 'chat', { contents: [{ parts: [{ text: 'x' }] }], generationConfig: { thinkingConfig: { thinkingLevel: 'HIGH' } } }).reasoning_effort, 'high');
  });

  it('gives Anthropic a max_tokens above the thinking budget', () => {
    const out = to('chat', 'anthropic', { ...user('hi'), reasoning_effort: 'medium', max_completion_tokens: 1000 });
    assert.deepEqual([out.thinking.budget_tokens, out.max_tokens], [8192, 9192]);
  });

  it('does not think on Anthropic where it would be rejected: forced tools, or a tool turn without its signed thinking', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    assert.equal(to('chat', 'anthropic', { ...user('hi'), reasoning_effort: 'high', tools, tool_choice: 'required' }).thinking, undefined);
    const loop = {
      model: 'm',
      reasoning_effort: 'high',
      tools,
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, reasoning_content: 'hmm', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'a', content: 'x' }],
    };
    const out = to('chat', 'anthropic', loop);
    assert.equal(out.thinking, undefined);
    assert.deepEqual(out.messages[1].content.map((b: any) => b.type), ['tool_use'], 'unsigned reasoning is not sent');
  });

  it('joins a Gemini client’s streamed thought pieces into the one signed block Anthropic issued', () => {
    // As @google/genai hands back a streamed answer: one part per chunk, the signature on its own empty part.
    const parts = [
      { text: 'Check divisors ', thought: true },
      { text: 'up to 14.', thought: true },
      { text: '', thought: true, thoughtSignature: 'anthropic:SIG1' },
      { text: 'Again.', thought: true, thoughtSignature: 'anthropic:SIG2' },
      { text: '223 is prime.' },
    ];
    const body = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }, { role: 'model', parts }, { role: 'user', parts: [{ text: 'and 227?' }] }] };
    assert.deepEqual(to('gemini', 'anthropic', body).messages[1].content, [
      { type: 'thinking', thinking: 'Check divisors up to 14.', signature: 'SIG1' },
      { type: 'thinking', thinking: 'Again.', signature: 'SIG2' },
      { type: 'text', text: '223 is prime.' },
    ]);
  });

  it('sends Anthropic back only the thinking it signed itself, through any client format', () => {
    const reply = {
      content: [{ type: 'thinking', thinking: 'plan', signature: 'SIG' }, { type: 'redacted_thinking', data: 'RED' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }],
      stop_reason: 'tool_use',
      usage: { input_tokens: 1, output_tokens: 1 },
    };
    const viaResponses: any = translateResponse('anthropic', 'responses', reply, { model: 'm', requestId: 'r' });
    const next = { model: 'm', reasoning: { effort: 'high' }, tools: [{ type: 'function', name: 'f', parameters: { type: 'object', properties: {} } }], input: [{ role: 'user', content: 'hi' }, ...viaResponses.output, { type: 'function_call_output', call_id: 'toolu_1', output: 'ok' }] };
    const anthropic = to('responses', 'anthropic', next);
    assert.deepEqual(anthropic.messages[1].content.slice(0, 2), [{ type: 'thinking', thinking: 'plan', signature: 'SIG' }, { type: 'redacted_thinking', data: 'RED' }]);
    assert.ok(anthropic.thinking, 'thinking stays on: the tool turn kept its signed thinking');

    // OpenAI's own encrypted reasoning is not an Anthropic signature and is never sent there.
    const openai = { model: 'm', input: [{ role: 'user', content: 'hi' }, { type: 'reasoning', id: 'rs', summary: [{ type: 'summary_text', text: 'p' }], encrypted_content: 'gAAAA' }, { role: 'assistant', content: 'ok' }] };
    assert.deepEqual(to('responses', 'anthropic', openai).messages[1].content, [{ type: 'text', text: 'ok' }]);
  });

  it('never sends reasoning back as visible text', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', reasoning_content: 'SECRET', content: 'a' }, { role: 'user', content: 'q2' }] };
    for (const target of FORMATS) assert.equal(JSON.stringify(to('chat', target, body)).includes('SECRET'), false, target);
  });
});
