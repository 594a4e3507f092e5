/**
 * OpenAI Responses bodies → canonical: the client's request and the upstream's response.
 * Responses input is a flat list of items; consecutive assistant-side items (reasoning, message,
 * function_call) form one assistant turn, consecutive function_call_outputs one user turn.
 */
import type { ImagePart, Message, Part, Request, Response, TextPart, ToolChoice, ToolDefinition } from '../canonical.ts';
import { linkToolResultNames } from '../canonical.ts';
import { asArray, asObject, isObject, optBoolean, optNumber, optString, type JsonObject } from '../json-value.ts';
import { sourceFromUrl } from '../media.ts';
import { parseEffort } from '../reasoning.ts';
import { TranslationError } from '../translation-error.ts';
import { readResponsesFinish, readResponsesUsage, thinkingFromEncrypted } from './vocabulary.ts';

export function readResponsesRequest(input: unknown): Request {
  const body = asObject(input, 'The request body');
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    throw new TranslationError('previous_response_id needs the conversation stored by OpenAI, which this model\'s provider does not have; send the full input instead.');
  }
  if (body.conversation !== undefined && body.conversation !== null) {
    throw new TranslationError('`conversation` needs a conversation stored by OpenAI, which this model\'s provider does not have; send the full input instead.');
  }
  if (body.prompt !== undefined && body.prompt !== null) throw new TranslationError('Stored prompts (`prompt`) exist only at OpenAI and cannot be translated.');
  const request: Request = { system: [], messages: [] };
  const instructions = optString(body.instructions);
  if (instructions !== undefined && instructions !== '') request.system.push(instructions);

  if (typeof body.input === 'string') request.messages.push({ role: 'user', parts: [{ type: 'text', text: body.input }] });
  else {
    for (const [i, raw] of asArray(body.input, '`input`').entries()) readItem(request, asObject(raw, `input[${i}]`), `input[${i}]`);
  }
  linkToolResultNames(request.messages);

  const maxTokens = optNumber(body.max_output_tokens);
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  const temperature = optNumber(body.temperature);
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optNumber(body.top_p);
  if (topP !== undefined) request.topP = topP;
  const user = optString(body.safety_identifier) ?? optString(body.user);
  if (user !== undefined) request.user = user;
  if (Array.isArray(body.tools)) request.tools = body.tools.map(readTool);
  if (body.tool_choice !== undefined) request.toolChoice = readToolChoice(body.tool_choice);
  const parallel = optBoolean(body.parallel_tool_calls);
  if (parallel !== undefined) request.parallelToolCalls = parallel;
  const format = isObject(body.text) && isObject(body.text.format) ? body.text.format : undefined;
  if (format?.type === 'json_object') request.responseFormat = { type: 'json_object' };
  else if (format?.type === 'json_schema') {
    request.responseFormat = { type: 'json_schema', name: optString(format.name) ?? 'response', schema: isObject(format.schema) ? format.schema : {} };
    const strict = optBoolean(format.strict);
    if (strict !== undefined) request.responseFormat.strict = strict;
    const description = optString(format.description);
    if (description !== undefined) request.responseFormat.description = description;
  }
  if (isObject(body.reasoning)) {
    const effort = parseEffort(body.reasoning.effort);
    request.reasoning = effort === undefined ? { enabled: true } : { enabled: effort !== 'none', effort };
  }
  return request;
}

/** The turn an item belongs to: the last one if it has the same role, else a new one. */
function turn(request: Request, role: Message['role']): Message {
  const last = request.messages.at(-1);
  if (last && last.role === role) return last;
  const message: Message = { role, parts: [] };
  request.messages.push(message);
  return message;
}

function readItem(request: Request, item: JsonObject, where: string): void {
  const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message': {
      if (item.role === 'system' || item.role === 'developer') {
        request.system.push(textOf(item.content, `${where}.content`));
        return;
      }
      if (item.role !== 'user' && item.role !== 'assistant') throw new TranslationError(`${where}.role "${String(item.role)}" cannot be translated.`);
      const message = turn(request, item.role);
      if (typeof item.content === 'string') message.parts.push({ type: 'text', text: item.content });
      else for (const [j, raw] of asArray(item.content, `${where}.content`).entries()) message.parts.push(readContentPart(asObject(raw, `${where}.content[${j}]`), `${where}.content[${j}]`));
      return;
    }
    case 'function_call': {
      const callId = optString(item.call_id);
      const name = optString(item.name);
      if (callId === undefined || name === undefined) throw new TranslationError(`${where} needs a call_id and a name.`);
      turn(request, 'assistant').parts.push({ type: 'tool_call', id: callId, name, arguments: optString(item.arguments) ?? '' });
      return;
    }
    case 'function_call_output': {
      const callId = optString(item.call_id);
      if (callId === undefined) throw new TranslationError(`${where}.call_id must be a string.`);
      const content: Array<TextPart | ImagePart> = [];
      if (typeof item.output === 'string') content.push({ type: 'text', text: item.output });
      else {
        for (const [j, raw] of asArray(item.output, `${where}.output`).entries()) {
          const part = readContentPart(asObject(raw, `${where}.output[${j}]`), `${where}.output[${j}]`);
          if (part.type !== 'text' && part.type !== 'image') throw new TranslationError(`${where}.output[${j}] cannot be part of a tool result outside OpenAI.`);
          content.push(part);
        }
      }
      turn(request, 'user').parts.push({ type: 'tool_result', id: callId, content });
      return;
    }
    case 'reasoning': {
      turn(request, 'assistant').parts.push(thinkingFromEncrypted(summaryText(item), optString(item.encrypted_content)));
      return;
    }
    case 'item_reference':
      throw new TranslationError(`${where}: item references need the items stored by OpenAI; send the items themselves.`);
    default:
      throw new TranslationError(`${where}: input item type "${String(type)}" cannot be translated to another provider.`);
  }
}

function summaryText(item: JsonObject): string {
  const pieces: string[] = [];
  const summary = Array.isArray(item.summary) ? item.summary : [];
  for (const s of summary) if (isObject(s) && typeof s.text === 'string') pieces.push(s.text);
  if (pieces.length === 0 && Array.isArray(item.content)) {
    for (const c of item.content) if (isObject(c) && typeof c.text === 'string') pieces.push(c.text);
  }
  return pieces.join('\n\n');
}

function textOf(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  return asArray(content, where)
    .map((part) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function readContentPart(part: JsonObject, where: string): Part {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
    case 'text':
      return { type: 'text', text: optString(part.text) ?? '' };
    case 'refusal':
      return { type: 'text', text: optString(part.refusal) ?? '' };
    case 'input_image': {
      const url = optString(part.image_url);
      if (url === undefined) throw new TranslationError(`${where}: OpenAI file ids cannot be sent to another provider; send the image as image_url.`);
      const image: ImagePart = { type: 'image', source: sourceFromUrl(url) };
      if (part.detail === 'low' || part.detail === 'high' || part.detail === 'auto') image.detail = part.detail;
      return image;
    }
    case 'input_file': {
      const filename = optString(part.filename);
      const data = optString(part.file_data);
      const url = optString(part.file_url);
      let source;
      if (data !== undefined) source = data.startsWith('data:') ? sourceFromUrl(data) : { kind: 'base64' as const, mediaType: 'application/pdf', data };
      else if (url !== undefined) source = sourceFromUrl(url);
      else throw new TranslationError(`${where}: OpenAI file ids cannot be sent to another provider; send the file as file_data.`);
      return filename === undefined ? { type: 'document', source } : { type: 'document', source, filename };
    }
    default:
      throw new TranslationError(`${where}: content type "${String(part.type)}" cannot be translated.`);
  }
}

function readTool(raw: unknown, i: number): ToolDefinition {
  const tool = asObject(raw, `tools[${i}]`);
  if (tool.type !== 'function') throw new TranslationError(`tools[${i}]: the OpenAI tool "${String(tool.type)}" cannot be translated to another provider; only function tools can.`);
  const name = optString(tool.name);
  if (name === undefined) throw new TranslationError(`tools[${i}].name must be a string.`);
  const out: ToolDefinition = { name, parameters: isObject(tool.parameters) ? tool.parameters : { type: 'object', properties: {} } };
  const description = optString(tool.description);
  if (description !== undefined) out.description = description;
  const strict = optBoolean(tool.strict);
  if (strict !== undefined) out.strict = strict;
  return out;
}

function readToolChoice(value: unknown): ToolChoice {
  if (value === 'none') return { type: 'none' };
  if (value === 'required') return { type: 'required' };
  if (isObject(value)) {
    if (value.type === 'function' && typeof value.name === 'string') return { type: 'tool', name: value.name };
    if (value.type === 'allowed_tools' && value.mode === 'required') return { type: 'required' };
  }
  return { type: 'auto' };
}

export function readResponsesResponse(input: unknown): Response {
  const body = asObject(input, 'The upstream response');
  const parts: Response['parts'] = [];
  let sawCall = false;
  for (const raw of Array.isArray(body.output) ? body.output : []) {
    if (!isObject(raw)) continue;
    if (raw.type === 'message') {
      for (const c of Array.isArray(raw.content) ? raw.content : []) {
        if (!isObject(c)) continue;
        const text = c.type === 'refusal' ? optString(c.refusal) : optString(c.text);
        if (text !== undefined) parts.push({ type: 'text', text });
      }
    } else if (raw.type === 'reasoning') {
      parts.push(thinkingFromEncrypted(summaryText(raw), optString(raw.encrypted_content)));
    } else if (raw.type === 'function_call') {
      sawCall = true;
      parts.push({ type: 'tool_call', id: optString(raw.call_id) ?? '', name: optString(raw.name) ?? '', arguments: optString(raw.arguments) ?? '' });
    }
  }
  const response: Response = { parts, finish: readResponsesFinish(body.status, body.incomplete_details, sawCall), usage: readResponsesUsage(body.usage) };
  const id = optString(body.id);
  if (id !== undefined) response.id = id;
  const model = optString(body.model);
  if (model !== undefined) response.model = model;
  return response;
}
