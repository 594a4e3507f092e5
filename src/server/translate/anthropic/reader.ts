/** Anthropic Messages bodies → canonical: the client's request and the upstream's response. */
import type { BuiltinTool, DocumentPart, ImagePart, MediaSource, Message, Part, Request, ReasoningConfig, Response, TextPart, ThinkingPart, ToolDefinition } from '../canonical.ts';
import { linkToolResultNames } from '../canonical.ts';
import { asArray, asObject, isObject, optBoolean, optNumber, optString, type JsonObject } from '../json-value.ts';
import { parseEffort } from '../reasoning.ts';
import { signatureFromSlot } from '../signatures.ts';
import { isStructuredOutputTool, structuredOutputText } from '../structured-output.ts';
import { TranslationError } from '../translation-error.ts';
import { fullUsage, readAnthropicFinish, readAnthropicUsage } from './vocabulary.ts';

export function readAnthropicRequest(input: unknown): Request {
  const body = asObject(input, 'The request body');
  // context_management, cache_control, container, service_tier and thinking.display tune how
  // Anthropic serves the request; another provider answers the same without them.
  const request: Request = { system: readSystem(body.system), messages: [], omitted: [] };
  const loaded = new Set<string>();
  for (const [i, raw] of asArray(body.messages, '`messages`').entries()) {
    const message = asObject(raw, `messages[${i}]`);
    const where = `messages[${i}].content`;
    if (message.role === 'system') {
      // Mid-conversation system messages (Claude Code puts its environment after the prompt).
      const text = readContent(message.content, where, request, loaded)
        .map((part) => (part.type === 'text' ? part.text : ''))
        .join('');
      if (request.messages.length === 0) request.system.push(text);
      else request.messages.push({ role: 'system', parts: [{ type: 'text', text }] });
      continue;
    }
    if (message.role !== 'user' && message.role !== 'assistant') throw new TranslationError(`messages[${i}].role must be "user", "assistant" or "system".`);
    request.messages.push({ role: message.role, parts: readContent(message.content, where, request, loaded) } satisfies Message);
  }
  linkToolResultNames(request.messages);

  const maxTokens = optNumber(body.max_tokens);
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  const temperature = optNumber(body.temperature);
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optNumber(body.top_p);
  if (topP !== undefined) request.topP = topP;
  const topK = optNumber(body.top_k);
  if (topK !== undefined) request.topK = topK;
  if (Array.isArray(body.stop_sequences)) request.stop = body.stop_sequences.filter((s): s is string => typeof s === 'string');
  const user = isObject(body.metadata) ? optString(body.metadata.user_id) : undefined;
  if (user !== undefined) request.user = user;

  if (Array.isArray(body.tools)) {
    const tools = readTools(request, body.tools, loaded);
    if (tools.length > 0) request.tools = tools;
  }
  if (Array.isArray(body.mcp_servers) && body.mcp_servers.length > 0) request.omitted.push('tool:mcp_servers');
  if (isObject(body.tool_choice)) {
    const choice = body.tool_choice;
    if (choice.type === 'any') request.toolChoice = { type: 'required' };
    else if (choice.type === 'none') request.toolChoice = { type: 'none' };
    else if (choice.type === 'tool' && typeof choice.name === 'string') request.toolChoice = { type: 'tool', name: choice.name };
    else request.toolChoice = { type: 'auto' };
    const disable = optBoolean(choice.disable_parallel_tool_use);
    if (disable !== undefined) request.parallelToolCalls = !disable;
  }
  const outputConfig = isObject(body.output_config) ? body.output_config : undefined;
  const reasoning = readThinking(body.thinking, outputConfig?.effort);
  if (reasoning) request.reasoning = reasoning;
  const format = isObject(outputConfig?.format) ? outputConfig.format : isObject(body.output_format) ? body.output_format : undefined;
  if (format?.type === 'json_schema' && isObject(format.schema)) request.responseFormat = { type: 'json_schema', name: 'response', schema: format.schema };
  return request;
}

function readSystem(system: unknown): string[] {
  if (system === undefined || system === null) return [];
  if (typeof system === 'string') return [system];
  return asArray(system, '`system`').map((block, i) => {
    const b = asObject(block, `system[${i}]`);
    if (b.type !== 'text') throw new TranslationError(`system[${i}] must be a text block.`);
    return optString(b.text) ?? '';
  });
}

function readThinking(thinking: unknown, effort: unknown): ReasoningConfig | undefined {
  if (!isObject(thinking)) return undefined;
  if (thinking.type === 'disabled') return { enabled: false };
  const config: ReasoningConfig = { enabled: true };
  const budget = optNumber(thinking.budget_tokens);
  if (budget !== undefined) config.budgetTokens = budget;
  const parsed = effort === 'max' ? 'xhigh' : parseEffort(effort);
  if (parsed !== undefined) config.effort = parsed;
  return config;
}

/**
 * Blocks of Anthropic's server tools (their calls and results, run at Anthropic): no other
 * provider can take them; they are left out, and said.
 */
const SERVER_TOOL_BLOCKS: ReadonlySet<string> = new Set([
  'server_tool_use',
  'web_search_tool_result',
  'web_fetch_tool_result',
  'code_execution_tool_result',
  'bash_code_execution_tool_result',
  'text_editor_code_execution_tool_result',
  'tool_search_tool_result',
  'container_upload',
  'mcp_tool_use',
  'mcp_tool_result',
]);

/** `loaded` collects the deferred tools a tool_reference block made available. */
function readContent(content: unknown, where: string, request: Request, loaded: Set<string>): Part[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  const parts: Part[] = [];
  for (const [j, raw] of asArray(content, where).entries()) {
    const block = asObject(raw, `${where}[${j}]`);
    if (typeof block.type === 'string' && SERVER_TOOL_BLOCKS.has(block.type)) request.omitted.push(`block:${block.type}`);
    else parts.push(readBlock(block, `${where}[${j}]`, loaded));
  }
  return parts;
}

function readSource(source: JsonObject, where: string): MediaSource {
  switch (source.type) {
    case 'base64':
      return { kind: 'base64', mediaType: optString(source.media_type) ?? 'application/octet-stream', data: optString(source.data) ?? '' };
    case 'url':
      return { kind: 'url', url: optString(source.url) ?? '' };
    case 'text':
      return { kind: 'text', text: optString(source.data) ?? '' };
    case 'file':
      throw new TranslationError(`${where}: Anthropic file ids cannot be sent to another provider; send the file inline.`);
    default:
      throw new TranslationError(`${where}: source type "${String(source.type)}" cannot be translated.`);
  }
}

function readBlock(block: JsonObject, where: string, loaded: Set<string>): Part {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: optString(block.text) ?? '' };
    case 'image':
      return { type: 'image', source: readSource(asObject(block.source, `${where}.source`), where) } satisfies ImagePart;
    case 'document': {
      const source = asObject(block.source, `${where}.source`);
      if (source.type === 'content') throw new TranslationError(`${where}: custom-content documents cannot be translated; send text or PDF.`);
      const part: DocumentPart = { type: 'document', source: readSource(source, where) };
      const title = optString(block.title);
      if (title !== undefined) part.title = title;
      return part;
    }
    case 'tool_use': {
      const id = optString(block.id);
      const name = optString(block.name);
      if (id === undefined || name === undefined) throw new TranslationError(`${where} needs an id and a name.`);
      return { type: 'tool_call', id, name, arguments: JSON.stringify(block.input ?? {}) };
    }
    case 'tool_result': {
      const id = optString(block.tool_use_id);
      if (id === undefined) throw new TranslationError(`${where}.tool_use_id must be a string.`);
      const content: Array<TextPart | ImagePart> = [];
      if (typeof block.content === 'string') content.push({ type: 'text', text: block.content });
      else if (Array.isArray(block.content)) {
        for (const [k, raw] of block.content.entries()) {
          const item = asObject(raw, `${where}.content[${k}]`);
          if (item.type === 'tool_reference' && typeof item.tool_name === 'string') {
            // Claude Code's ToolSearch answers with references that load deferred tools (readTools).
            loaded.add(item.tool_name);
            content.push({ type: 'text', text: `Tool loaded: ${item.tool_name}` });
            continue;
          }
          const part = readBlock(item, `${where}.content[${k}]`, loaded);
          if (part.type !== 'text' && part.type !== 'image') throw new TranslationError(`${where}.content[${k}] cannot be part of a tool result outside Anthropic.`);
          content.push(part);
        }
      }
      return block.is_error === true ? { type: 'tool_result', id, content, isError: true } : { type: 'tool_result', id, content };
    }
    case 'thinking':
      return thinkingPart(optString(block.thinking) ?? '', optString(block.signature));
    case 'redacted_thinking':
      return { type: 'thinking', text: '', redacted: optString(block.data) ?? '' };
    default:
      throw new TranslationError(`${where}: content block "${String(block.type)}" cannot be translated to another provider.`);
  }
}

/** A thinking block; its signature may be another provider's that a client kept (signatures.ts). */
function thinkingPart(text: string, value: string | undefined): ThinkingPart {
  if (value === undefined || value === '') return { type: 'thinking', text };
  const { signer, signature } = signatureFromSlot('anthropic', value);
  return { type: 'thinking', text, signature, signer };
}

/**
 * Client tools as they are. A deferred tool (`defer_loading`, loaded by a tool_reference from a
 * tool search) is invisible to the model until then, so it is sent only once loaded. Web search
 * and code execution become built-ins; the other server tools (web fetch, bash, text editor,
 * memory, computer use, tool search…) are left out, and said.
 */
function readTools(request: Request, raw: unknown[], loaded: ReadonlySet<string>): ToolDefinition[] {
  const tools: ToolDefinition[] = [];
  for (const [i, value] of raw.entries()) {
    const tool = asObject(value, `tools[${i}]`);
    const type = tool.type;
    if (type === undefined || type === null || type === 'custom') {
      const name = optString(tool.name);
      if (name === undefined) throw new TranslationError(`tools[${i}].name must be a string.`);
      if (tool.defer_loading === true && !loaded.has(name)) continue;
      const out: ToolDefinition = { name, parameters: isObject(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} } };
      const description = optString(tool.description);
      if (description !== undefined) out.description = description;
      const strict = optBoolean(tool.strict);
      if (strict !== undefined) out.strict = strict;
      tools.push(out);
    } else if (typeof type === 'string' && type.startsWith('web_search_')) {
      const web: BuiltinTool = { type: 'web_search', label: type };
      const allowed = stringList(tool.allowed_domains);
      if (allowed !== undefined) web.allowedDomains = allowed;
      const blocked = stringList(tool.blocked_domains);
      if (blocked !== undefined) web.blockedDomains = blocked;
      (request.builtins ??= []).push(web);
    } else if (typeof type === 'string' && type.startsWith('code_execution_')) {
      (request.builtins ??= []).push({ type: 'code_execution', label: type });
    } else {
      request.omitted.push(`tool:${String(type)}`);
    }
  }
  return tools;
}

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list = value.filter((v): v is string => typeof v === 'string');
  return list.length > 0 ? list : undefined;
}

export function readAnthropicResponse(input: unknown): Response {
  const body = asObject(input, 'The upstream response');
  const parts: Response['parts'] = [];
  let structured = false;
  for (const raw of Array.isArray(body.content) ? body.content : []) {
    if (!isObject(raw)) continue;
    switch (raw.type) {
      case 'text':
        parts.push({ type: 'text', text: optString(raw.text) ?? '' });
        break;
      case 'thinking':
        parts.push(thinkingPart(optString(raw.thinking) ?? '', optString(raw.signature)));
        break;
      case 'redacted_thinking':
        parts.push({ type: 'thinking', text: '', redacted: optString(raw.data) ?? '' });
        break;
      case 'tool_use': {
        const name = optString(raw.name) ?? '';
        if (isStructuredOutputTool(name)) {
          structured = true;
          parts.push({ type: 'text', text: structuredOutputText(name, raw.input) });
        } else {
          parts.push({ type: 'tool_call', id: optString(raw.id) ?? '', name, arguments: JSON.stringify(raw.input ?? {}) });
        }
        break;
      }
      default:
        // Server tool blocks (web search, code execution) have no equivalent elsewhere.
        break;
    }
  }
  let finish = readAnthropicFinish(body.stop_reason);
  if (structured && finish === 'tool_calls' && !parts.some((p) => p.type === 'tool_call')) finish = 'stop';
  const response: Response = { parts, finish, usage: fullUsage(readAnthropicUsage(body.usage)) };
  const stopSequence = optString(body.stop_sequence);
  if (stopSequence !== undefined) response.stopSequence = stopSequence;
  const id = optString(body.id);
  if (id !== undefined) response.id = id;
  const model = optString(body.model);
  if (model !== undefined) response.model = model;
  return response;
}
