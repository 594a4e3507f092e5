/**
 * The official SDKs as clients of the translate-* integration tests: each asks the same question
 * (system prompt, user turn, two tools, limits, optionally reasoning) in its own format, through
 * every way it has to read an answer (whole, its streaming helper, raw stream iteration), and
 * reduces what its own parser built to one comparable shape. A tool loop sends the calls back with
 * their results, as a user of that SDK would (the previous output as the SDK returned it).
 */
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, Type, type Content, type GenerateContentParameters, type GenerateContentResponse } from '@google/genai';
import OpenAI from 'openai';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';
import { z } from 'zod';
import { CLIENT_KEY, MAX_TOKENS, PERSON_SCHEMA, QUESTION, SYSTEM, TEMPERATURE, TOOL_RESULTS, WEATHER_PARAMS, type Call, type Reconstructed, type Usage } from './translate-upstreams.ts';

export interface Ask {
  model: string;
  tools?: boolean;
  /** Defaults to MAX_TOKENS; null sends no limit (where the format allows). */
  maxTokens?: number | null;
  /** Ask for low-effort reasoning (2048 budget), without temperature and with room above the budget. */
  reasoning?: boolean;
}

export const REASONING_MAX_TOKENS = 4000;

/** The token limit a request carries, for the upstream check. */
export function limitOf(ask: Ask): number | undefined {
  if (ask.reasoning === true) return REASONING_MAX_TOKENS;
  return ask.maxTokens === null ? undefined : (ask.maxTokens ?? MAX_TOKENS);
}

/** The SDKs' request timeout: a hang guard, beyond the held stream's 30 s (translate-upstreams.ts) and any delay of a loaded machine. */
const TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions

type ChatParams = Omit<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming, 'stream'>;

export function openai(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: TIMEOUT_MS });
}

export function chatParams(ask: Ask): ChatParams {
  const limit = limitOf(ask);
  return {
    model: ask.model,
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: QUESTION },
    ],
    ...(limit === undefined ? {} : { max_completion_tokens: limit }),
    ...(ask.reasoning === true ? { reasoning_effort: 'low' as const } : { temperature: TEMPERATURE }),
    ...(ask.tools === true
      ? {
          tools: [
            { type: 'function' as const, function: { name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER_PARAMS } },
            { type: 'function' as const, function: { name: 'get_time', description: 'Local time', parameters: { type: 'object', properties: {} } } },
          ],
        }
      : {}),
  };
}

export function chatResult(message: OpenAI.Chat.Completions.ChatCompletionMessage, thinking: string, usage: OpenAI.CompletionUsage | undefined | null, finish: string | null): Reconstructed {
  const calls: Call[] = [];
  for (const call of message.tool_calls ?? []) {
    assert.equal(call.type, 'function');
    if (call.type === 'function') calls.push({ id: call.id, name: call.function.name, args: JSON.parse(call.function.arguments) });
  }
  return { text: message.content ?? '', thinking, calls, usage: usage ? chatUsage(usage) : null, finish };
}

function chatUsage(usage: OpenAI.CompletionUsage): Usage {
  return { input: usage.prompt_tokens, output: usage.completion_tokens, cached: usage.prompt_tokens_details?.cached_tokens ?? 0, reasoning: usage.completion_tokens_details?.reasoning_tokens ?? 0 };
}

export type ChatMode = 'create' | 'stream-helper' | 'stream-iterate';

/**
 * - `create`: a whole completion.
 * - `stream-helper`: `chat.completions.stream(...).finalChatCompletion()`, usage asked for.
 * - `stream-iterate`: `create({ stream: true })` iterated chunk by chunk without asking for usage,
 *   checking OpenAI's chunk contract on the way (one role, a call's id and name once, one finish).
 */
export async function askChat(client: OpenAI, mode: ChatMode, ask: Ask): Promise<Reconstructed> {
  const params = chatParams(ask);
  if (mode === 'create') {
    const completion = await client.chat.completions.create(params);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, ask.model, 'the client model name, not the upstream one');
    const choice = completion.choices[0];
    assert.ok(choice);
    const reasoning = (choice.message as { reasoning_content?: string }).reasoning_content ?? '';
    return chatResult(choice.message, reasoning, completion.usage, choice.finish_reason);
  }
  if (mode === 'stream-helper') {
    const stream = client.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
    let thinking = '';
    // The SDK keeps only the last reasoning_content delta; a client concatenates them as they come.
    stream.on('chunk', (chunk) => {
      const delta = chunk.choices[0]?.delta as { reasoning_content?: string } | undefined;
      if (delta?.reasoning_content) thinking += delta.reasoning_content;
    });
    const completion = await stream.finalChatCompletion();
    const choice = completion.choices[0];
    assert.ok(choice);
    assert.equal(completion.model, ask.model);
    return chatResult(choice.message, thinking, completion.usage, choice.finish_reason);
  }
  const stream = await client.chat.completions.create({ ...params, stream: true });
  const result: Reconstructed = { text: '', thinking: '', calls: [], usage: null, finish: null };
  const args: string[] = [];
  let roles = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, ask.model);
    if (chunk.usage) result.usage = chatUsage(chunk.usage);
    const choice = chunk.choices[0];
    if (choice === undefined) continue;
    assert.equal(result.finish, null, 'nothing after the finish chunk but usage');
    const delta = choice.delta as OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string | null };
    if (delta.role) roles++;
    result.text += delta.content ?? '';
    result.thinking += delta.reasoning_content ?? '';
    for (const call of delta.tool_calls ?? []) {
      if (call.index === result.calls.length) {
        // OpenAI announces a call once, with its id and whole name; clients that concatenate names rely on it.
        assert.ok(call.id && call.function?.name, `a new call announces its id and name: ${JSON.stringify(call)}`);
        result.calls.push({ id: call.id, name: call.function.name, args: null });
        args.push('');
      } else {
        assert.ok(call.index < result.calls.length, `call index ${call.index} in order`);
        assert.equal(call.id, undefined, 'a call id is sent once');
        assert.ok(!call.function?.name, 'a call name is sent once');
      }
      args[call.index] += call.function?.arguments ?? '';
    }
    if (choice.finish_reason) result.finish = choice.finish_reason;
  }
  assert.equal(roles, 1, 'one chunk carries the role');
  result.calls.forEach((c, i) => (c.args = JSON.parse(args[i] as string)));
  return result;
}

/** The second turn of a tool loop: the calls back with their results. */
export async function chatToolLoop(client: OpenAI, ask: Ask, first: Reconstructed): Promise<string> {
  const params = chatParams({ ...ask, tools: true });
  params.messages.push(
    { role: 'assistant', content: first.text === '' ? null : first.text, tool_calls: first.calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.args) } })) },
    ...first.calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: TOOL_RESULTS[c.name] as string })),
  );
  const completion = await client.chat.completions.create(params);
  return completion.choices[0]?.message.content ?? '';
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses

type ResponsesParams = Omit<OpenAI.Responses.ResponseCreateParamsNonStreaming, 'stream'>;

export function responsesParams(ask: Ask): ResponsesParams {
  const limit = limitOf(ask);
  return {
    model: ask.model,
    instructions: SYSTEM,
    input: [{ role: 'user', content: QUESTION }],
    ...(limit === undefined ? {} : { max_output_tokens: limit }),
    ...(ask.reasoning === true ? { reasoning: { effort: 'low' as const } } : { temperature: TEMPERATURE }),
    ...(ask.tools === true
      ? {
          tools: [
            { type: 'function' as const, name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER_PARAMS, strict: false },
            { type: 'function' as const, name: 'get_time', description: 'Local time', parameters: { type: 'object', properties: {} }, strict: false },
          ],
        }
      : {}),
  };
}

export function responsesResult(response: OpenAI.Responses.Response): Reconstructed {
  const result: Reconstructed = { text: '', thinking: '', calls: [], usage: null, finish: response.status ?? null };
  for (const item of response.output) {
    if (item.type === 'message') for (const c of item.content) result.text += c.type === 'output_text' ? c.text : '';
    else if (item.type === 'reasoning') result.thinking += item.summary.map((s) => s.text).join('');
    else if (item.type === 'function_call') result.calls.push({ id: item.call_id, name: item.name, args: JSON.parse(item.arguments) });
  }
  const u = response.usage;
  if (u) result.usage = { input: u.input_tokens, output: u.output_tokens, cached: u.input_tokens_details?.cached_tokens ?? 0, reasoning: u.output_tokens_details?.reasoning_tokens ?? 0 };
  return result;
}

export type ResponsesMode = 'create' | 'stream-helper' | 'stream-iterate';

/**
 * - `create`: a whole response (and `output_text`, the SDK's own concatenation, agrees).
 * - `stream-helper`: `responses.stream(...).finalResponse()`.
 * - `stream-iterate`: `create({ stream: true })` event by event: sequence numbers count up from 0,
 *   the deltas rebuild what `response.completed` holds.
 */
export async function askResponses(client: OpenAI, mode: ResponsesMode, ask: Ask): Promise<{ result: Reconstructed; response: OpenAI.Responses.Response }> {
  const params = responsesParams(ask);
  if (mode === 'create') {
    const response = await client.responses.create(params);
    assert.equal(response.model, ask.model);
    const result = responsesResult(response);
    assert.equal(response.output_text, result.text, 'output_text is the message text alone');
    return { result, response };
  }
  if (mode === 'stream-helper') {
    const response = await client.responses.stream(params).finalResponse();
    assert.equal(response.model, ask.model);
    return { result: responsesResult(response), response };
  }
  const stream = await client.responses.create({ ...params, stream: true });
  let sequence = 0;
  let text = '';
  let thinking = '';
  const args = new Map<string, string>();
  let completed: OpenAI.Responses.Response | null = null;
  for await (const event of stream) {
    assert.equal(event.sequence_number, sequence++, `sequence number of ${event.type}`);
    assert.equal(completed, null, 'nothing after response.completed');
    switch (event.type) {
      case 'response.output_text.delta':
        text += event.delta;
        break;
      case 'response.reasoning_summary_text.delta':
        thinking += event.delta;
        break;
      case 'response.function_call_arguments.delta':
        args.set(event.item_id, (args.get(event.item_id) ?? '') + event.delta);
        break;
      case 'response.completed':
      case 'response.incomplete':
        completed = event.response;
        break;
      case 'error':
      case 'response.failed':
        assert.fail(`unexpected ${event.type}: ${JSON.stringify(event)}`);
    }
  }
  assert.ok(completed, 'the stream ends with response.completed');
  const result = responsesResult(completed);
  assert.equal(text, result.text, 'the text deltas add up to the completed text');
  assert.equal(thinking, result.thinking, 'the reasoning deltas add up to the completed summary');
  const calls = completed.output.filter((i): i is OpenAI.Responses.ResponseFunctionToolCall => i.type === 'function_call');
  assert.deepEqual(
    calls.map((c) => JSON.parse(args.get(c.id ?? '') ?? '""') as unknown),
    calls.map((c) => JSON.parse(c.arguments) as unknown),
    'the argument deltas add up to each completed call',
  );
  return { result, response: completed };
}

/** The second turn of a tool loop: the previous output as the SDK returned it, then the results. */
export async function responsesToolLoop(client: OpenAI, ask: Ask, previous: OpenAI.Responses.Response, first: Reconstructed): Promise<string> {
  const params = responsesParams({ ...ask, tools: true });
  const input = params.input as OpenAI.Responses.ResponseInputItem[];
  input.push(
    ...(previous.output as OpenAI.Responses.ResponseInputItem[]),
    ...first.calls.map((c) => ({ type: 'function_call_output' as const, call_id: c.id, output: TOOL_RESULTS[c.name] as string })),
  );
  return (await client.responses.create(params)).output_text;
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

type MessageParams = Omit<Anthropic.MessageCreateParamsNonStreaming, 'stream'>;

export function anthropic(url: string): Anthropic {
  return new Anthropic({ baseURL: url, apiKey: CLIENT_KEY, maxRetries: 0, timeout: TIMEOUT_MS });
}

export function messageParams(ask: Ask): MessageParams {
  return {
    model: ask.model,
    system: SYSTEM,
    messages: [{ role: 'user', content: QUESTION }],
    max_tokens: limitOf(ask) ?? MAX_TOKENS,
    ...(ask.reasoning === true ? { thinking: { type: 'enabled' as const, budget_tokens: 2048 } } : { temperature: TEMPERATURE }),
    ...(ask.tools === true
      ? {
          tools: [
            { name: 'get_weather', description: 'Current weather in a city', input_schema: WEATHER_PARAMS as Anthropic.Tool.InputSchema },
            { name: 'get_time', description: 'Local time', input_schema: { type: 'object' as const, properties: {} } },
          ],
        }
      : {}),
  };
}

export function anthropicResult(message: Anthropic.Message): Reconstructed {
  const result: Reconstructed = { text: '', thinking: '', calls: [], usage: null, finish: message.stop_reason };
  for (const block of message.content) {
    if (block.type === 'text') result.text += block.text;
    else if (block.type === 'thinking') result.thinking += block.thinking;
    else if (block.type === 'tool_use') result.calls.push({ id: block.id, name: block.name, args: block.input });
  }
  const u = message.usage;
  result.usage = { input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0), output: u.output_tokens, cached: u.cache_read_input_tokens ?? 0, reasoning: null };
  return result;
}

export type AnthropicMode = 'create' | 'stream-helper' | 'stream-iterate';

/**
 * - `create`: a whole message.
 * - `stream-helper`: `messages.stream(...).finalMessage()`.
 * - `stream-iterate`: `create({ stream: true })` event by event, checking the event grammar
 *   (message_start, blocks opened and closed in order, one message_delta, message_stop last).
 */
export async function askAnthropic(client: Anthropic, mode: AnthropicMode, ask: Ask): Promise<{ result: Reconstructed; message: Anthropic.Message }> {
  const params = messageParams(ask);
  if (mode === 'create') {
    const message = await client.messages.create(params);
    assert.equal(message.model, ask.model);
    return { result: anthropicResult(message), message };
  }
  if (mode === 'stream-helper') {
    const message = await client.messages.stream(params).finalMessage();
    assert.equal(message.model, ask.model);
    return { result: anthropicResult(message), message };
  }
  const stream = await client.messages.create({ ...params, stream: true });
  const types: string[] = [];
  let open: number | null = null;
  let next = 0;
  let message = null as Anthropic.Message | null;
  const json = new Map<number, string>();
  for await (const event of stream) {
    types.push(event.type);
    switch (event.type) {
      case 'message_start':
        assert.equal(types.length, 1, 'message_start comes first');
        message = { ...event.message, content: [] };
        break;
      case 'content_block_start':
        assert.equal(open, null, 'blocks do not nest');
        assert.equal(event.index, next++, 'block indexes count up');
        open = event.index;
        message?.content.push(structuredClone(event.content_block));
        break;
      case 'content_block_delta': {
        assert.equal(event.index, open, 'a delta belongs to the open block');
        const block: Anthropic.ContentBlock | undefined = message?.content[event.index];
        if (event.delta.type === 'text_delta' && block?.type === 'text') block.text += event.delta.text;
        else if (event.delta.type === 'thinking_delta' && block?.type === 'thinking') block.thinking += event.delta.thinking;
        else if (event.delta.type === 'signature_delta' && block?.type === 'thinking') block.signature += event.delta.signature;
        else if (event.delta.type === 'input_json_delta' && block?.type === 'tool_use') json.set(event.index, (json.get(event.index) ?? '') + event.delta.partial_json);
        else assert.fail(`a ${event.delta.type} in a ${block?.type} block`);
        break;
      }
      case 'content_block_stop':
        assert.equal(event.index, open);
        open = null;
        break;
      case 'message_delta':
        assert.ok(message);
        assert.equal(open, null, 'message_delta after the last block closed');
        message.stop_reason = event.delta.stop_reason;
        message.usage = { ...message.usage, ...Object.fromEntries(Object.entries(event.usage).filter(([, v]) => v !== null)) };
        break;
      case 'message_stop':
        break;
    }
  }
  assert.equal(types.at(-1), 'message_stop', 'message_stop ends the stream');
  assert.equal(types.filter((t) => t === 'message_delta').length, 1, 'one message_delta');
  assert.ok(message);
  for (const [index, text] of json) {
    const block = message.content[index];
    if (block?.type === 'tool_use') block.input = text === '' ? {} : JSON.parse(text);
  }
  assert.equal(message.model, ask.model);
  return { result: anthropicResult(message), message };
}

/** The second turn of a tool loop: the assistant's content as the SDK returned it, then the results. */
export async function anthropicToolLoop(client: Anthropic, ask: Ask, previous: Anthropic.Message, first: Reconstructed): Promise<string> {
  const params = messageParams({ ...ask, tools: true });
  params.messages.push(
    { role: 'assistant', content: previous.content },
    { role: 'user', content: first.calls.map((c) => ({ type: 'tool_result' as const, tool_use_id: c.id, content: TOOL_RESULTS[c.name] as string })) },
  );
  const message = await client.messages.create(params);
  return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

// ---------------------------------------------------------------------------------------------
// Gemini generateContent

export function genai(url: string): GoogleGenAI {
  return new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: url, timeout: TIMEOUT_MS } });
}

export function geminiParams(ask: Ask): GenerateContentParameters {
  const limit = limitOf(ask);
  return {
    model: ask.model,
    contents: [{ role: 'user', parts: [{ text: QUESTION }] }],
    config: {
      systemInstruction: SYSTEM,
      ...(limit === undefined ? {} : { maxOutputTokens: limit }),
      ...(ask.reasoning === true ? { thinkingConfig: { thinkingBudget: 2048, includeThoughts: true } } : { temperature: TEMPERATURE }),
      ...(ask.tools === true
        ? {
            tools: [
              {
                functionDeclarations: [
                  // Gemini's own schema dialect (OpenAPI subset, upper-case types), as genai users write it.
                  {
                    name: 'get_weather',
                    description: 'Current weather in a city',
                    parameters: {
                      type: Type.OBJECT,
                      properties: { city: { type: Type.STRING, description: 'City name' }, unit: { type: Type.STRING, enum: ['celsius', 'fahrenheit'] } },
                      required: ['city'],
                    },
                  },
                  { name: 'get_time', description: 'Local time' },
                ],
              },
            ],
          }
        : {}),
    },
  };
}

export function geminiResult(chunks: GenerateContentResponse[]): Reconstructed {
  const result: Reconstructed = { text: '', thinking: '', calls: [], usage: null, finish: null };
  for (const chunk of chunks) {
    const candidate = chunk.candidates?.[0];
    for (const part of candidate?.content?.parts ?? []) {
      if (part.functionCall) result.calls.push({ id: part.functionCall.id ?? '', name: part.functionCall.name ?? '', args: part.functionCall.args ?? {} });
      else if (part.thought) result.thinking += part.text ?? '';
      else result.text += part.text ?? '';
    }
    if (candidate?.finishReason) result.finish = candidate.finishReason;
    const u = chunk.usageMetadata;
    if (u) result.usage = { input: u.promptTokenCount ?? 0, output: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0), cached: u.cachedContentTokenCount ?? 0, reasoning: u.thoughtsTokenCount ?? 0 };
  }
  return result;
}

export type GeminiMode = 'generate' | 'stream';

/** `models.generateContent`, or `models.generateContentStream` iterated chunk by chunk. */
export async function askGemini(client: GoogleGenAI, mode: GeminiMode, ask: Ask): Promise<{ result: Reconstructed; chunks: GenerateContentResponse[] }> {
  const params = geminiParams(ask);
  if (mode === 'generate') {
    const response = await client.models.generateContent(params);
    return { result: geminiResult([response]), chunks: [response] };
  }
  const chunks: GenerateContentResponse[] = [];
  for await (const chunk of await client.models.generateContentStream(params)) chunks.push(chunk);
  return { result: geminiResult(chunks), chunks };
}

/** The second turn of a tool loop: the model's content as the SDK returned it, then the function responses. */
export async function geminiToolLoop(client: GoogleGenAI, ask: Ask, chunks: GenerateContentResponse[], first: Reconstructed): Promise<string> {
  const params = geminiParams({ ...ask, tools: true });
  const parts = chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []);
  const contents = params.contents as Content[];
  contents.push(
    { role: 'model', parts },
    {
      role: 'user',
      parts: first.calls.map((c) => {
        const result = TOOL_RESULTS[c.name] as string;
        return { functionResponse: { id: c.id, name: c.name, response: result.startsWith('{') ? (JSON.parse(result) as Record<string, unknown>) : { output: result } } };
      }),
    },
  );
  const response = await client.models.generateContent(params);
  return response.text ?? '';
}

// ---------------------------------------------------------------------------------------------
// Structured output, parsed by each SDK's own helper where it has one.

const STRUCTURED_QUESTION = 'Who wrote the first program? Answer as JSON.';

/** As users declare it: a zod schema, turned into each SDK's format by its own zod helper. */
const Person = z.object({ name: z.string(), born: z.number().int() });

/** `chat.completions.parse` or the stream helper's final completion, with a zod format: `message.parsed`. */
export async function chatStructured(client: OpenAI, model: string, streaming: boolean): Promise<unknown> {
  const params = { model, messages: [{ role: 'user' as const, content: STRUCTURED_QUESTION }], response_format: zodResponseFormat(Person, 'person') };
  const completion = streaming ? await client.chat.completions.stream(params).finalChatCompletion() : await client.chat.completions.parse(params);
  return completion.choices[0]?.message.parsed;
}

/** `responses.parse` or the stream helper's final response, with a zod format: `output_parsed`. */
export async function responsesStructured(client: OpenAI, model: string, streaming: boolean): Promise<unknown> {
  const params = { model, input: STRUCTURED_QUESTION, text: { format: zodTextFormat(Person, 'person') } };
  const response = streaming ? await client.responses.stream(params).finalResponse() : await client.responses.parse(params);
  return response.output_parsed;
}

/** `messages.parse` or the stream helper's final message, with `output_config.format` from a JSON schema: `parsed_output`. */
export async function anthropicStructured(client: Anthropic, model: string, streaming: boolean): Promise<unknown> {
  const params = { model, max_tokens: MAX_TOKENS, messages: [{ role: 'user' as const, content: STRUCTURED_QUESTION }], output_config: { format: jsonSchemaOutputFormat(PERSON_SCHEMA) } };
  const message = streaming ? await client.messages.stream(params).finalMessage() : await client.messages.parse(params);
  return message.parsed_output;
}

/** `responseMimeType` + Gemini's `responseSchema`; the SDK has no parser: the text, parsed. */
export async function geminiStructured(client: GoogleGenAI, model: string, streaming: boolean): Promise<unknown> {
  const params: GenerateContentParameters = {
    model,
    contents: STRUCTURED_QUESTION,
    config: {
      responseMimeType: 'application/json',
      responseSchema: { type: Type.OBJECT, properties: { name: { type: Type.STRING }, born: { type: Type.INTEGER } }, required: ['name', 'born'] },
    },
  };
  if (!streaming) return JSON.parse((await client.models.generateContent(params)).text ?? '');
  let text = '';
  for await (const chunk of await client.models.generateContentStream(params)) text += chunk.text ?? '';
  return JSON.parse(text);
}
