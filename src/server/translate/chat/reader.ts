/** OpenAI Chat Completions bodies → canonical: the client's request and the upstream's response. */
import type { ImagePart, Message, Part, Request, ResponseFormat, Response, TextPart, ToolChoice, ToolDefinition } from '../canonical.ts';
import { linkToolResultNames } from '../canonical.ts';
import { asArray, asObject, isObject, optBoolean, optNumber, optString, type JsonObject } from '../json-value.ts';
import { sourceFromUrl } from '../media.ts';
import { parseEffort } from '../reasoning.ts';
import { TranslationError } from '../translation-error.ts';
import { readChatFinish, readChatUsage } from './vocabulary.ts';

export function readChatRequest(input: unknown): Request {
  const body = asObject(input, 'The request body');
  const request: Request = { system: [], messages: [], omitted: [] };
  const n = optNumber(body.n);
  if (n !== undefined && n > 1) throw new TranslationError('n > 1 cannot be translated to this model\'s API; ask for one choice per request.');
  if (body.functions !== undefined || body.function_call !== undefined) {
    throw new TranslationError('The legacy `functions` parameters cannot be translated; use `tools` and `tool_choice`.');
  }

  for (const [i, raw] of asArray(body.messages, '`messages`').entries()) {
    const message = asObject(raw, `messages[${i}]`);
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content, `messages[${i}].content`);
        // Before the conversation: the system prompt. After its start: a message at its place.
        if (request.messages.length === 0) request.system.push(text);
        else request.messages.push(message.role === 'developer' ? { role: 'system', parts: [{ type: 'text', text }], developer: true } : { role: 'system', parts: [{ type: 'text', text }] });
        break;
      }
      case 'user':
        request.messages.push(withName({ role: 'user', parts: userParts(message.content, i) }, message));
        break;
      case 'assistant':
        request.messages.push(withName({ role: 'assistant', parts: assistantParts(message, i) }, message));
        break;
      case 'tool':
        addToolResult(request.messages, message, i);
        break;
      default:
        throw new TranslationError(`messages[${i}].role "${String(message.role)}" cannot be translated.`);
    }
  }
  linkToolResultNames(request.messages);

  const maxTokens = optNumber(body.max_completion_tokens) ?? optNumber(body.max_tokens);
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  setNumber(request, 'temperature', body.temperature);
  setNumber(request, 'topP', body.top_p);
  setNumber(request, 'seed', body.seed);
  setNumber(request, 'presencePenalty', body.presence_penalty);
  setNumber(request, 'frequencyPenalty', body.frequency_penalty);
  if (typeof body.stop === 'string') request.stop = [body.stop];
  else if (Array.isArray(body.stop)) request.stop = body.stop.filter((s): s is string => typeof s === 'string');
  const user = optString(body.user) ?? optString(body.safety_identifier);
  if (user !== undefined) request.user = user;

  if (body.tools !== undefined) request.tools = asArray(body.tools, '`tools`').map(readTool);
  if (body.tool_choice !== undefined) request.toolChoice = readToolChoice(body.tool_choice);
  const parallel = optBoolean(body.parallel_tool_calls);
  if (parallel !== undefined) request.parallelToolCalls = parallel;
  const format = readResponseFormat(body.response_format);
  if (format) request.responseFormat = format;
  // Search models' web search is a parameter, not a tool.
  if (isObject(body.web_search_options)) request.builtins = [{ type: 'web_search', label: 'web_search_options' }];
  const effort = parseEffort(body.reasoning_effort);
  if (effort !== undefined) request.reasoning = { enabled: effort !== 'none', effort };
  return request;
}

function setNumber(request: Request, key: 'temperature' | 'topP' | 'seed' | 'presencePenalty' | 'frequencyPenalty', value: unknown): void {
  const n = optNumber(value);
  if (n !== undefined) request[key] = n;
}

function withName(message: Message, raw: JsonObject): Message {
  const name = optString(raw.name);
  if (name !== undefined) message.name = name;
  return message;
}

/** System, tool and assistant content: a string or text parts. */
function textOf(content: unknown, what: string): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  const texts: string[] = [];
  for (const part of asArray(content, what)) {
    if (isObject(part) && (part.type === 'text' || part.type === 'refusal')) texts.push(optString(part.text) ?? optString(part.refusal) ?? '');
    else throw new TranslationError(`${what} may only hold text parts here.`);
  }
  return texts.join('');
}

function userParts(content: unknown, i: number): Part[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  const parts: Part[] = [];
  for (const [j, raw] of asArray(content, `messages[${i}].content`).entries()) {
    const part = asObject(raw, `messages[${i}].content[${j}]`);
    parts.push(readContentPart(part, `messages[${i}].content[${j}]`));
  }
  return parts;
}

function readContentPart(part: JsonObject, where: string): Part {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: optString(part.text) ?? '' };
    case 'image_url': {
      const image = isObject(part.image_url) ? part.image_url : { url: part.image_url };
      const url = optString(image.url);
      if (url === undefined) throw new TranslationError(`${where}.image_url.url must be a string.`);
      const out: ImagePart = { type: 'image', source: sourceFromUrl(url) };
      if (image.detail === 'low' || image.detail === 'high' || image.detail === 'auto') out.detail = image.detail;
      return out;
    }
    case 'file': {
      const file = asObject(part.file, `${where}.file`);
      const data = optString(file.file_data);
      if (data === undefined) {
        throw new TranslationError(`${where}: OpenAI file ids cannot be sent to another provider; send the file as file_data.`);
      }
      const filename = optString(file.filename);
      const source = data.startsWith('data:')
        ? sourceFromUrl(data)
        : { kind: 'base64' as const, mediaType: filename?.toLowerCase().endsWith('.pdf') === false ? 'application/octet-stream' : 'application/pdf', data };
      return filename === undefined ? { type: 'document', source } : { type: 'document', source, filename };
    }
    case 'input_audio':
      throw new TranslationError(`${where}: audio input cannot be translated to this model's API.`);
    default:
      throw new TranslationError(`${where}: content type "${String(part.type)}" cannot be translated.`);
  }
}

function assistantParts(message: JsonObject, i: number): Part[] {
  const parts: Part[] = [];
  // DeepSeek and vLLM put reasoning beside the content; it is history, never visible text.
  const reasoning = optString(message.reasoning_content) ?? optString(message.reasoning);
  if (reasoning) parts.push({ type: 'thinking', text: reasoning });
  const text = textOf(message.content, `messages[${i}].content`);
  if (text !== '') parts.push({ type: 'text', text });
  if (message.tool_calls !== undefined && message.tool_calls !== null) {
    for (const [j, raw] of asArray(message.tool_calls, `messages[${i}].tool_calls`).entries()) {
      const call = asObject(raw, `messages[${i}].tool_calls[${j}]`);
      const fn = asObject(call.function, `messages[${i}].tool_calls[${j}].function`);
      const name = optString(fn.name);
      const id = optString(call.id);
      if (name === undefined || id === undefined) throw new TranslationError(`messages[${i}].tool_calls[${j}] needs an id and a function name.`);
      parts.push({ type: 'tool_call', id, name, arguments: optString(fn.arguments) ?? '' });
    }
  }
  return parts;
}

/** Consecutive tool messages answer one assistant turn: they become one user turn of results. */
function addToolResult(messages: Message[], message: JsonObject, i: number): void {
  const id = optString(message.tool_call_id);
  if (id === undefined) throw new TranslationError(`messages[${i}].tool_call_id must be a string.`);
  const content: Array<TextPart | ImagePart> = [];
  if (typeof message.content === 'string') content.push({ type: 'text', text: message.content });
  else if (Array.isArray(message.content)) {
    for (const [j, raw] of message.content.entries()) {
      const part = readContentPart(asObject(raw, `messages[${i}].content[${j}]`), `messages[${i}].content[${j}]`);
      if (part.type !== 'text' && part.type !== 'image') throw new TranslationError(`messages[${i}].content[${j}] cannot be part of a tool result.`);
      content.push(part);
    }
  }
  const last = messages.at(-1);
  const part = { type: 'tool_result' as const, id, content };
  if (last && last.role === 'user' && last.parts.every((p) => p.type === 'tool_result')) last.parts.push(part);
  else messages.push({ role: 'user', parts: [part] });
}

function readTool(raw: unknown, i: number): ToolDefinition {
  const tool = asObject(raw, `tools[${i}]`);
  if (tool.type !== 'function') throw new TranslationError(`tools[${i}]: tool type "${String(tool.type)}" cannot be translated; only function tools can.`);
  const fn = asObject(tool.function, `tools[${i}].function`);
  const name = optString(fn.name);
  if (name === undefined) throw new TranslationError(`tools[${i}].function.name must be a string.`);
  const out: ToolDefinition = { name, parameters: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } };
  const description = optString(fn.description);
  if (description !== undefined) out.description = description;
  const strict = optBoolean(fn.strict);
  if (strict !== undefined) out.strict = strict;
  return out;
}

function readToolChoice(value: unknown): ToolChoice {
  if (value === 'none') return { type: 'none' };
  if (value === 'required') return { type: 'required' };
  if (isObject(value)) {
    if (value.type === 'function' && isObject(value.function) && typeof value.function.name === 'string') {
      return { type: 'tool', name: value.function.name };
    }
    // allowed_tools narrows the set, which only OpenAI can express: keep its mode.
    if (value.type === 'allowed_tools' && isObject(value.allowed_tools) && value.allowed_tools.mode === 'required') return { type: 'required' };
  }
  return { type: 'auto' };
}

function readResponseFormat(value: unknown): ResponseFormat | undefined {
  if (!isObject(value)) return undefined;
  if (value.type === 'json_object') return { type: 'json_object' };
  if (value.type === 'json_schema') {
    const spec = asObject(value.json_schema, '`response_format.json_schema`');
    const format: ResponseFormat = {
      type: 'json_schema',
      name: optString(spec.name) ?? 'response',
      schema: isObject(spec.schema) ? spec.schema : {},
    };
    const strict = optBoolean(spec.strict);
    if (strict !== undefined) format.strict = strict;
    const description = optString(spec.description);
    if (description !== undefined) format.description = description;
    return format;
  }
  return undefined;
}

export function readChatResponse(input: unknown): Response {
  const body = asObject(input, 'The upstream response');
  const choice = Array.isArray(body.choices) && isObject(body.choices[0]) ? body.choices[0] : {};
  const message = isObject(choice.message) ? choice.message : {};
  const parts: Response['parts'] = [];
  const reasoning = optString(message.reasoning_content) ?? optString(message.reasoning);
  if (reasoning) parts.push({ type: 'thinking', text: reasoning });
  const text = optString(message.content) ?? (Array.isArray(message.content) ? textOf(message.content, 'content') : undefined);
  if (text) parts.push({ type: 'text', text });
  const refusal = optString(message.refusal);
  if (refusal) parts.push({ type: 'text', text: refusal });
  if (Array.isArray(message.tool_calls)) {
    for (const raw of message.tool_calls) {
      if (!isObject(raw) || !isObject(raw.function)) continue;
      parts.push({ type: 'tool_call', id: optString(raw.id) ?? '', name: optString(raw.function.name) ?? '', arguments: optString(raw.function.arguments) ?? '' });
    }
  }
  const response: Response = { parts, finish: refusal ? 'refusal' : readChatFinish(choice.finish_reason), usage: readChatUsage(body.usage) };
  const id = optString(body.id);
  if (id !== undefined) response.id = id;
  const model = optString(body.model);
  if (model !== undefined) response.model = model;
  return response;
}
