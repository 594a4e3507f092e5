/**
 * OpenAI Responses bodies → canonical: the client's request and the upstream's response.
 * Responses input is a flat list of items; consecutive assistant-side items (reasoning, message,
 * function_call) form one assistant turn, consecutive function_call_outputs one user turn.
 */
import type { ImagePart, Message, Part, Request, Response, TextPart, ToolCallPart, ToolChoice, ToolDefinition } from '../canonical.ts';
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
  // store, include, prompt_cache_key, client_metadata, text.verbosity, reasoning.summary and the
  // like ask OpenAI to keep, return or cache something; another provider answers the same without them.
  const request: Request = { system: [], messages: [], omitted: [] };
  const instructions = optString(body.instructions);
  if (instructions !== undefined && instructions !== '') request.system.push(instructions);
  const tools: ToolDefinition[] = [];

  if (typeof body.input === 'string') request.messages.push({ role: 'user', parts: [{ type: 'text', text: body.input }] });
  else {
    for (const [i, raw] of asArray(body.input, '`input`').entries()) readItem(request, tools, asObject(raw, `input[${i}]`), `input[${i}]`);
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
  // The top level's tools first, then those input items added (additional_tools, tool_search_output).
  if (Array.isArray(body.tools)) tools.unshift(...readTools(request, body.tools, 'tools'));
  if (tools.length > 0) request.tools = uniqueTools(tools);
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

/** A tool declared twice (at the top and again in a tool search's output) is one tool. */
function uniqueTools(tools: ToolDefinition[]): ToolDefinition[] {
  const seen = new Set<string>();
  return tools.filter((tool) => {
    const key = `${tool.namespace ?? ''}\u0000${tool.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The turn an item belongs to: the last one if it has the same role, else a new one. */
function turn(request: Request, role: 'user' | 'assistant'): Message {
  const last = request.messages.at(-1);
  if (last && last.role === role) return last;
  const message: Message = { role, parts: [] };
  request.messages.push(message);
  return message;
}

/**
 * OpenAI's default namespace: the model calls the tools of a namespace named `functions` without
 * a namespace (Codex's code mode declares its `exec` tool there and gets `custom_tool_call` with
 * no namespace back), so it is the same as none.
 */
function namespaceOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value !== 'functions' ? value : undefined;
}

function readItem(request: Request, tools: ToolDefinition[], item: JsonObject, where: string): void {
  const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message': {
      if (item.role === 'system' || item.role === 'developer') {
        const text = textOf(item.content, `${where}.content`);
        // Before the conversation: the system prompt. After its start: a message at its place.
        if (request.messages.length === 0) request.system.push(text);
        else request.messages.push(item.role === 'developer' ? { role: 'system', parts: [{ type: 'text', text }], developer: true } : { role: 'system', parts: [{ type: 'text', text }] });
        return;
      }
      if (item.role !== 'user' && item.role !== 'assistant') throw new TranslationError(`${where}.role "${String(item.role)}" cannot be translated.`);
      const message = turn(request, item.role);
      if (typeof item.content === 'string') message.parts.push({ type: 'text', text: item.content });
      else for (const [j, raw] of asArray(item.content, `${where}.content`).entries()) message.parts.push(readContentPart(asObject(raw, `${where}.content[${j}]`), `${where}.content[${j}]`));
      return;
    }
    case 'function_call':
    case 'custom_tool_call': {
      const callId = optString(item.call_id);
      const name = optString(item.name);
      if (callId === undefined || name === undefined) throw new TranslationError(`${where} needs a call_id and a name.`);
      // A custom tool is a function of one string `input` for every other provider (readTools).
      const call: ToolCallPart =
        type === 'function_call'
          ? { type: 'tool_call', id: callId, name, arguments: optString(item.arguments) ?? '' }
          : { type: 'tool_call', id: callId, name, kind: 'custom', arguments: JSON.stringify({ input: optString(item.input) ?? '' }) };
      const namespace = namespaceOf(item.namespace);
      if (namespace !== undefined) call.namespace = namespace;
      turn(request, 'assistant').parts.push(call);
      return;
    }
    case 'tool_search_call': {
      const callId = optString(item.call_id);
      // A search OpenAI ran itself (execution "server") has no call for another provider to answer.
      if (item.execution === 'server' || callId === undefined) {
        request.omitted.push('item:tool_search_call');
        return;
      }
      turn(request, 'assistant').parts.push({ type: 'tool_call', id: callId, name: 'tool_search', kind: 'tool_search', arguments: JSON.stringify(item.arguments ?? {}) });
      return;
    }
    case 'function_call_output':
    case 'custom_tool_call_output': {
      const callId = optString(item.call_id);
      if (callId === undefined) throw new TranslationError(`${where}.call_id must be a string.`);
      turn(request, 'user').parts.push({ type: 'tool_result', id: callId, content: readOutput(item.output, `${where}.output`) });
      return;
    }
    case 'tool_search_output': {
      const callId = optString(item.call_id);
      if (item.execution === 'server' || callId === undefined) {
        request.omitted.push('item:tool_search_output');
        return;
      }
      // The tools found join the request's tools; the result tells the model which they are.
      const found = readTools(request, asArray(item.tools ?? [], `${where}.tools`), `${where}.tools`, undefined, true);
      tools.push(...found);
      const names = found.map((tool) => (tool.namespace === undefined ? tool.name : `${tool.namespace}.${tool.name}`));
      turn(request, 'user').parts.push({ type: 'tool_result', id: callId, content: [{ type: 'text', text: names.length === 0 ? 'No tools found.' : `Tools now available: ${names.join(', ')}` }] });
      return;
    }
    case 'additional_tools':
      // Codex's code mode declares its tools in the input, not in `tools`: they join the request's tools.
      tools.push(...readTools(request, asArray(item.tools ?? [], `${where}.tools`), `${where}.tools`));
      return;
    case 'reasoning': {
      turn(request, 'assistant').parts.push(thinkingFromEncrypted(summaryText(item), optString(item.encrypted_content)));
      return;
    }
    case 'item_reference':
      throw new TranslationError(`${where}: item references need the items stored by OpenAI; send the items themselves.`);
    case 'compaction':
      // The conversation before it exists only in this item, encrypted for OpenAI: without it the request would mean something else.
      throw new TranslationError(`${where}: a compaction item holds the earlier conversation encrypted for OpenAI, which another provider cannot read; send the conversation itself.`);
    default:
      // Items of OpenAI's hosted tools (web_search_call, computer_call, mcp_call, …), whose calls
      // ran at OpenAI, and item types added after this was written: left out, and said.
      request.omitted.push(`item:${String(type)}`);
  }
}

function readOutput(output: unknown, where: string): Array<TextPart | ImagePart> {
  if (typeof output === 'string') return [{ type: 'text', text: output }];
  const content: Array<TextPart | ImagePart> = [];
  for (const [j, raw] of asArray(output, where).entries()) {
    const part = readContentPart(asObject(raw, `${where}[${j}]`), `${where}[${j}]`);
    if (part.type !== 'text' && part.type !== 'image') throw new TranslationError(`${where}[${j}] cannot be part of a tool result outside OpenAI.`);
    content.push(part);
  }
  return content;
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

const WEB_SEARCH_TOOLS: ReadonlySet<string> = new Set(['web_search', 'web_search_2025_08_26', 'web_search_preview', 'web_search_preview_2025_03_11']);

/**
 * Function tools as they are (deferred ones once a tool search found them); a namespace's tools flattened with their namespace (tool-names.ts
 * names them for the upstream) and its description; a custom tool as a function of one string; a
 * client-executed tool_search as a function; web search and the code interpreter as built-ins;
 * the other hosted tools (file search, computer use, MCP, image generation, shells…) left out,
 * and said.
 */
function readTools(request: Request, raw: unknown[], where: string, namespace?: { name: string | undefined; description: string }, found = false): ToolDefinition[] {
  const out: ToolDefinition[] = [];
  for (const [i, value] of raw.entries()) {
    const tool = asObject(value, `${where}[${i}]`);
    const type = tool.type;
    if (type === 'function' || type === 'custom') {
      const name = optString(tool.name);
      if (name === undefined) throw new TranslationError(`${where}[${i}].name must be a string.`);
      // A deferred tool is hidden from the model until a tool search finds it (its output's tools are `found`).
      if (tool.defer_loading === true && !found) continue;
      const def: ToolDefinition =
        type === 'function'
          ? { name, parameters: isObject(tool.parameters) ? tool.parameters : { type: 'object', properties: {} } }
          : { name, kind: 'custom', parameters: customParameters(tool.format) };
      const description = [namespace?.description ?? '', optString(tool.description) ?? ''].filter((d) => d !== '').join('\n\n');
      if (description !== '') def.description = description;
      const strict = optBoolean(tool.strict);
      if (strict !== undefined && type === 'function') def.strict = strict;
      if (namespace?.name !== undefined) def.namespace = namespace.name;
      out.push(def);
    } else if (type === 'namespace') {
      const name = optString(tool.name);
      if (name === undefined) throw new TranslationError(`${where}[${i}].name must be a string.`);
      out.push(...readTools(request, asArray(tool.tools ?? [], `${where}[${i}].tools`), `${where}[${i}].tools`, { name: namespaceOf(name), description: optString(tool.description) ?? '' }, found));
    } else if (type === 'tool_search' && tool.execution === 'client') {
      const def: ToolDefinition = { name: 'tool_search', kind: 'tool_search', parameters: isObject(tool.parameters) ? tool.parameters : { type: 'object', properties: {} } };
      const description = optString(tool.description);
      if (description !== undefined) def.description = description;
      out.push(def);
    } else if (typeof type === 'string' && WEB_SEARCH_TOOLS.has(type)) {
      const filters = isObject(tool.filters) ? tool.filters : undefined;
      const domains = Array.isArray(filters?.allowed_domains) ? filters.allowed_domains.filter((d): d is string => typeof d === 'string') : [];
      (request.builtins ??= []).push(domains.length > 0 ? { type: 'web_search', label: type, allowedDomains: domains } : { type: 'web_search', label: type });
    } else if (type === 'code_interpreter') {
      (request.builtins ??= []).push({ type: 'code_execution', label: type });
    } else {
      request.omitted.push(`tool:${String(type)}`);
    }
  }
  return out;
}

/** A custom tool takes free text, or text in a grammar: its one parameter says which, grammar included. */
function customParameters(format: unknown): Record<string, unknown> {
  let description = 'The input, as free-form text.';
  if (isObject(format) && format.type === 'grammar' && typeof format.definition === 'string') {
    description = `The input: text in this ${optString(format.syntax) ?? ''} grammar:\n${format.definition}`;
  }
  return { type: 'object', properties: { input: { type: 'string', description } }, required: ['input'] };
}

function readToolChoice(value: unknown): ToolChoice {
  if (value === 'none') return { type: 'none' };
  if (value === 'required') return { type: 'required' };
  if (isObject(value)) {
    if ((value.type === 'function' || value.type === 'custom') && typeof value.name === 'string') return { type: 'tool', name: value.name };
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
