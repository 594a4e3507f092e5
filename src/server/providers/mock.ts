/**
 * The built-in `mock` provider (DESIGN §8): answers every inbound format natively with
 * deterministic text, at a configurable latency and token rate, streaming or not, with a tool
 * call when the request offers tools, and with an injected error for model ids `mock-error-<status>`.
 * It exists for demos, client CI and benchmarks, so it is written for speed: each streamed event
 * is one preformatted write.
 */
import type { ServerResponse } from 'node:http';
import type { ProviderConfig } from '../../shared/config/schema.ts';
import type { ModelRoute } from '../http/routes.ts';
import { sendError, sendJson } from '../http/respond.ts';

export interface MockRequest {
  route: ModelRoute;
  model: string;
  body: Record<string, unknown>;
  stream: boolean;
  signal: AbortSignal;
}

export interface MockResult {
  status: number;
  inputTokens: number;
  outputTokens: number;
}

const wait = (ms: number, signal: AbortSignal): Promise<void> =>
  ms <= 0
    ? Promise.resolve()
    : new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });

let sequence = 0;
const nextId = (): string => `${Date.now().toString(36)}${(sequence++).toString(36)}`;

function hasTools(body: Record<string, unknown>): string | null {
  const tools = body.tools;
  if (!Array.isArray(tools) || tools.length === 0) return null;
  const lastRoleIsTool = JSON.stringify(body.messages ?? body.contents ?? body.input ?? '').includes('"tool');
  if (lastRoleIsTool) return null;
  const first = tools[0] as Record<string, unknown>;
  const fn = (first.function as Record<string, unknown> | undefined)?.name ?? first.name ?? (first.functionDeclarations as Array<{ name?: string }> | undefined)?.[0]?.name;
  return typeof fn === 'string' ? fn : null;
}

export async function serveMock(provider: ProviderConfig, request: MockRequest, res: ServerResponse): Promise<MockResult> {
  const { route, model, body, stream, signal } = request;
  const inputTokens = Math.max(1, Math.ceil(JSON.stringify(body).length / 4));
  const injected = /^mock-error-(\d{3})$/.exec(model);
  await wait(provider.mock.latency, signal);
  if (signal.aborted) return { status: 499, inputTokens, outputTokens: 0 };
  if (injected !== null) {
    const status = Number(injected[1]);
    sendError(res, route.client, status, `mock provider: injected error ${status}`, status === 429 ? { retryAfterSeconds: 1 } : undefined);
    return { status, inputTokens, outputTokens: 0 };
  }
  const words = provider.mock.reply.split(/(?<= )/);
  const tool = hasTools(body);
  const outputTokens = tool !== null ? 5 : words.length;
  const usage = { inputTokens, outputTokens };

  switch (route.endpoint) {
    case 'embeddings': {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      sendJson(res, 200, JSON.stringify({ object: 'list', model, data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: vector(index) })), usage: { prompt_tokens: inputTokens, total_tokens: inputTokens } }));
      return { status: 200, inputTokens, outputTokens: 0 };
    }
    case 'embed-content':
      sendJson(res, 200, JSON.stringify({ embedding: { values: vector(0) } }));
      return { status: 200, inputTokens, outputTokens: 0 };
    case 'count-tokens':
      sendJson(res, 200, JSON.stringify({ input_tokens: inputTokens }));
      return { status: 200, inputTokens, outputTokens: 0 };
    case 'gemini-count-tokens':
      sendJson(res, 200, JSON.stringify({ totalTokens: inputTokens }));
      return { status: 200, inputTokens, outputTokens: 0 };
    case 'completions':
      sendJson(res, 200, JSON.stringify({ id: `cmpl-mock-${nextId()}`, object: 'text_completion', created: now(), model, choices: [{ index: 0, text: provider.mock.reply, finish_reason: 'stop', logprobs: null }], usage: openaiUsage(usage) }));
      return { status: 200, ...usage };
    default:
      break;
  }

  const writer = writers[route.endpoint === 'stream-generate-content' || route.endpoint === 'generate-content' ? 'gemini' : route.endpoint === 'messages' ? 'anthropic' : route.endpoint === 'responses' ? 'responses' : 'chat'];
  const isStream = stream || route.endpoint === 'stream-generate-content';
  if (!isStream) {
    sendJson(res, 200, writer.whole(model, provider.mock.reply, tool, usage));
    return { status: 200, ...usage };
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const pace = provider.mock.tokensPerSecond > 0 ? 1000 / provider.mock.tokensPerSecond : 0;
  const state: StreamState = { id: nextId(), model, seq: 0, text: '' };
  res.write(writer.start(state, usage));
  if (tool !== null) {
    res.write(writer.tool(state, tool));
  } else {
    for (let i = 0; i < words.length; i++) {
      if (pace > 0) await wait(pace, signal);
      if (signal.aborted || res.destroyed) return { status: 499, inputTokens, outputTokens: i };
      state.text += words[i] as string;
      res.write(writer.delta(state, words[i] as string, i));
    }
  }
  res.end(writer.end(state, tool, usage));
  return { status: 200, ...usage };
}

const now = (): number => Math.floor(Date.now() / 1000);
const vector = (seed: number): number[] => Array.from({ length: 8 }, (_, i) => Math.round(Math.sin(seed + i + 1) * 1e6) / 1e6);
const openaiUsage = (u: { inputTokens: number; outputTokens: number }) => ({ prompt_tokens: u.inputTokens, completion_tokens: u.outputTokens, total_tokens: u.inputTokens + u.outputTokens });
const sse = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

interface StreamState {
  id: string;
  model: string;
  seq: number;
  /** The text streamed so far: the Responses API repeats it in its `done` events. */
  text: string;
}
type Usage = { inputTokens: number; outputTokens: number };
interface Writer {
  whole(model: string, text: string, tool: string | null, usage: Usage): string;
  start(state: StreamState, usage: Usage): string;
  delta(state: StreamState, text: string, index: number): string;
  tool(state: StreamState, name: string): string;
  end(state: StreamState, tool: string | null, usage: Usage): string;
}

const TOOL_ARGS = '{"query":"mock"}';

const chatChunk = (s: StreamState, delta: Record<string, unknown>, finish: string | null): string =>
  sse({ id: `chatcmpl-mock-${s.id}`, object: 'chat.completion.chunk', created: now(), model: s.model, choices: [{ index: 0, delta, finish_reason: finish }] });

const writers: Record<'chat' | 'anthropic' | 'gemini' | 'responses', Writer> = {
  chat: {
    whole: (model, text, tool, usage) =>
      JSON.stringify({
        id: `chatcmpl-mock-${nextId()}`,
        object: 'chat.completion',
        created: now(),
        model,
        choices: [
          {
            index: 0,
            message: tool === null ? { role: 'assistant', content: text } : { role: 'assistant', content: null, tool_calls: [{ id: 'call_mock_0', type: 'function', function: { name: tool, arguments: TOOL_ARGS } }] },
            finish_reason: tool === null ? 'stop' : 'tool_calls',
          },
        ],
        usage: openaiUsage(usage),
      }),
    start: (s) => chatChunk(s, { role: 'assistant', content: '' }, null),
    delta: (s, text) => chatChunk(s, { content: text }, null),
    tool: (s, name) => chatChunk(s, { tool_calls: [{ index: 0, id: 'call_mock_0', type: 'function', function: { name, arguments: TOOL_ARGS } }] }, null),
    end: (s, tool, usage) =>
      chatChunk(s, {}, tool === null ? 'stop' : 'tool_calls') +
      sse({ id: `chatcmpl-mock-${s.id}`, object: 'chat.completion.chunk', created: now(), model: s.model, choices: [], usage: openaiUsage(usage) }) +
      'data: [DONE]\n\n',
  },
  anthropic: {
    whole: (model, text, tool, usage) =>
      JSON.stringify({
        id: `msg_mock_${nextId()}`,
        type: 'message',
        role: 'assistant',
        model,
        content: tool === null ? [{ type: 'text', text }] : [{ type: 'tool_use', id: 'toolu_mock_0', name: tool, input: JSON.parse(TOOL_ARGS) }],
        stop_reason: tool === null ? 'end_turn' : 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
      }),
    start: (s, usage) =>
      event('message_start', { type: 'message_start', message: { id: `msg_mock_${s.id}`, type: 'message', role: 'assistant', model: s.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.inputTokens, output_tokens: 1 } } }),
    delta: (_s, text, index) =>
      (index === 0 ? event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) : '') +
      event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    tool: (_s, name) =>
      event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_mock_0', name, input: {} } }) +
      event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: TOOL_ARGS } }),
    end: (_s, tool, usage) =>
      event('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      event('message_delta', { type: 'message_delta', delta: { stop_reason: tool === null ? 'end_turn' : 'tool_use', stop_sequence: null }, usage: { output_tokens: usage.outputTokens } }) +
      event('message_stop', { type: 'message_stop' }),
  },
  gemini: {
    whole: (model, text, tool, usage) => JSON.stringify(geminiChunk(model, tool === null ? [{ text }] : [{ functionCall: { name: tool, args: JSON.parse(TOOL_ARGS) } }], 'STOP', usage)),
    start: () => '',
    delta: (s, text) => `data: ${JSON.stringify(geminiChunk(s.model, [{ text }], null, null))}\r\n\r\n`,
    tool: (s, name) => `data: ${JSON.stringify(geminiChunk(s.model, [{ functionCall: { name, args: JSON.parse(TOOL_ARGS) } }], null, null))}\r\n\r\n`,
    end: (s, _tool, usage) => `data: ${JSON.stringify(geminiChunk(s.model, [{ text: '' }], 'STOP', usage))}\r\n\r\n`,
  },
  responses: {
    whole: (model, text, tool, usage) => JSON.stringify(responseObject(`resp_mock_${nextId()}`, model, 'completed', tool === null ? [messageItem(text, 'msg_mock_0')] : [toolItem(tool)], usage)),
    start: (s) => {
      const created = responseObject(`resp_mock_${s.id}`, s.model, 'in_progress', [], null);
      return responsesEvent(s, 'response.created', { response: created }) + responsesEvent(s, 'response.in_progress', { response: created });
    },
    delta: (s, text, index) =>
      (index === 0
        ? responsesEvent(s, 'response.output_item.added', { output_index: 0, item: { ...messageItem('', `msg_mock_${s.id}`), status: 'in_progress', content: [] } }) +
          responsesEvent(s, 'response.content_part.added', { item_id: `msg_mock_${s.id}`, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } })
        : '') + responsesEvent(s, 'response.output_text.delta', { item_id: `msg_mock_${s.id}`, output_index: 0, content_index: 0, delta: text }),
    tool: (s, name) =>
      responsesEvent(s, 'response.output_item.added', { output_index: 0, item: { ...toolItem(name), arguments: '', status: 'in_progress' } }) +
      responsesEvent(s, 'response.function_call_arguments.delta', { item_id: 'fc_mock_0', output_index: 0, delta: TOOL_ARGS }) +
      responsesEvent(s, 'response.function_call_arguments.done', { item_id: 'fc_mock_0', output_index: 0, arguments: TOOL_ARGS }),
    end: (s, tool, usage) => {
      const text = s.text;
      const item = tool === null ? messageItem(text, `msg_mock_${s.id}`) : toolItem(tool);
      const done = tool === null ? responsesEvent(s, 'response.output_text.done', { item_id: `msg_mock_${s.id}`, output_index: 0, content_index: 0, text }) + responsesEvent(s, 'response.content_part.done', { item_id: `msg_mock_${s.id}`, output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } }) : '';
      return done + responsesEvent(s, 'response.output_item.done', { output_index: 0, item }) + responsesEvent(s, 'response.completed', { response: responseObject(`resp_mock_${s.id}`, s.model, 'completed', [item], usage) });
    },
  },
};

function geminiChunk(model: string, parts: unknown[], finish: string | null, usage: Usage | null): Record<string, unknown> {
  const chunk: Record<string, unknown> = { candidates: [{ content: { role: 'model', parts }, ...(finish === null ? {} : { finishReason: finish }), index: 0 }], modelVersion: model };
  if (usage !== null) chunk.usageMetadata = { promptTokenCount: usage.inputTokens, candidatesTokenCount: usage.outputTokens, totalTokenCount: usage.inputTokens + usage.outputTokens };
  return chunk;
}

const messageItem = (text: string, id: string) => ({ type: 'message', id, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] });
const toolItem = (name: string) => ({ type: 'function_call', id: 'fc_mock_0', call_id: 'call_mock_0', name, arguments: TOOL_ARGS, status: 'completed' });

function responseObject(id: string, model: string, status: string, output: unknown[], usage: Usage | null): Record<string, unknown> {
  return {
    id,
    object: 'response',
    created_at: now(),
    status,
    model,
    output,
    usage: usage === null ? null : { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens },
  };
}

function responsesEvent(s: StreamState, type: string, fields: Record<string, unknown>): string {
  return event(type, { type, sequence_number: s.seq++, ...fields });
}
