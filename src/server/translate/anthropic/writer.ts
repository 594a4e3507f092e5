/** Canonical → Anthropic Messages bodies: the upstream request and the client's response. */
import type { DocumentPart, ImagePart, Message, Part, Request, Response, ResponseContext } from '../canonical.ts';
import { emptyUsage } from '../canonical.ts';
import { compact, parseArguments, parseArgumentsLeniently, type JsonObject } from '../json-value.ts';
import { ANTHROPIC_IMAGE_TYPES } from '../media.ts';
import { budgetFor } from '../reasoning.ts';
import { signatureForSlot } from '../signatures.ts';
import { STRUCTURED_OUTPUT_DESCRIPTION, STRUCTURED_OUTPUT_TOOL, STRUCTURED_OUTPUT_WRAPPED_TOOL } from '../structured-output.ts';
import { anthropicBuiltinName } from '../builtin-tools.ts';
import { anthropicTakesSystemMessages, markedSystemText, systemText } from '../system-messages.ts';
import { anthropicSafeId } from '../tool-ids.ts';
import { TranslationError } from '../translation-error.ts';
import { writeAnthropicFinish, writeAnthropicUsage } from './vocabulary.ts';

/**
 * Anthropic requires max_tokens and the other formats do not. 4096 is the largest value every
 * Claude model accepts (Claude 3 Haiku and Opus cap output there), so a request that did not ask
 * for a limit never fails for asking too much; clients wanting long answers set their own.
 */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/** Anthropic's smallest thinking budget. */
const MIN_THINKING_BUDGET = 1024;

export function writeAnthropicRequest(request: Request, model: string, stream: boolean): JsonObject {
  const body: JsonObject = { model };
  let maxTokens = request.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS;
  const messages = writeMessages(request.messages, anthropicTakesSystemMessages(model));
  const system = [...request.system];

  let thinking = request.reasoning?.enabled === true;
  // With thinking on, Anthropic rejects an assistant turn that ends in tool use without its signed
  // thinking block, which a client of another format cannot have kept: answer without thinking.
  if (thinking && lastToolTurnLacksThinking(messages)) thinking = false;
  // Anthropic also rejects thinking with a forced tool choice; the client's tool contract wins.
  if (thinking && (request.toolChoice?.type === 'required' || request.toolChoice?.type === 'tool')) thinking = false;
  if (thinking && request.reasoning) {
    const budget = Math.max(MIN_THINKING_BUDGET, budgetFor(request.reasoning));
    // max_tokens must exceed the budget; a client limit at or below it is taken as the answer's own allowance.
    if (maxTokens <= budget) maxTokens += budget;
    body.thinking = { type: 'enabled', budget_tokens: budget };
  }
  body.max_tokens = maxTokens;
  body.messages = messages;

  const tools: JsonObject[] = (request.tools ?? []).map((tool) =>
    compact({ name: tool.name, description: tool.description, input_schema: objectSchema(tool.parameters), strict: tool.strict }),
  );
  for (const tool of request.builtins ?? []) {
    if (tool.type === 'code_execution') tools.push({ type: 'code_execution_20250825', name: anthropicBuiltinName(tool) });
    else tools.push(compact({ type: 'web_search_20250305', name: anthropicBuiltinName(tool), allowed_domains: tool.allowedDomains, blocked_domains: tool.allowedDomains === undefined ? tool.blockedDomains : undefined }));
  }
  let toolChoice: JsonObject | undefined;
  const choice = request.toolChoice;
  if (choice) {
    if (choice.type === 'required') toolChoice = { type: 'any' };
    else if (choice.type === 'tool') toolChoice = { type: 'tool', name: choice.name };
    else toolChoice = { type: choice.type };
  }
  const format = request.responseFormat;
  if (format) {
    const schema = format.type === 'json_schema' ? format.schema : { type: 'object' };
    const wrapped = schema.type !== undefined && schema.type !== 'object';
    const name = wrapped ? STRUCTURED_OUTPUT_WRAPPED_TOOL : STRUCTURED_OUTPUT_TOOL;
    tools.push({
      name,
      description: format.type === 'json_schema' && format.description ? `${STRUCTURED_OUTPUT_DESCRIPTION} ${format.description}` : STRUCTURED_OUTPUT_DESCRIPTION,
      input_schema: wrapped ? { type: 'object', properties: { value: schema }, required: ['value'] } : objectSchema(schema),
    });
    // Forcing a tool is not allowed with thinking, and would shut out the client's own tools.
    if (!thinking && (request.tools ?? []).length === 0) toolChoice = { type: 'tool', name };
    else system.push(`When you give your final answer, call the ${name} tool with it.`);
  }
  if (request.parallelToolCalls === false && tools.length > 0) {
    toolChoice = { ...(toolChoice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  }
  if (system.length > 0) body.system = system.length === 1 ? system[0] : system.map((text) => ({ type: 'text', text }));
  // Anthropic rejects stop sequences that are only whitespace ("\n\n" is common in OpenAI clients).
  const stop = request.stop?.filter((s) => s.trim() !== '');
  if (stop && stop.length > 0) body.stop_sequences = stop;
  if (!thinking) {
    // Anthropic's range is 0–1 (OpenAI's and Gemini's 0–2), and recent models reject temperature
    // and top_p together: temperature wins, as the more common knob.
    if (request.temperature !== undefined) body.temperature = Math.min(1, request.temperature);
    if (request.topP !== undefined && request.temperature === undefined) body.top_p = request.topP;
    body.top_k = request.topK;
  } else if (request.topP !== undefined && request.topP >= 0.95) {
    // With thinking, temperature and top_k are rejected and top_p must be at least 0.95.
    body.top_p = request.topP;
  }
  if (tools.length > 0) body.tools = tools;
  if (toolChoice && tools.length > 0) body.tool_choice = toolChoice;
  if (request.user !== undefined) body.metadata = { user_id: request.user };
  if (stream) body.stream = true;
  return compact(body);
}

/** Anthropic's input_schema must be an object schema. */
function objectSchema(schema: Record<string, unknown>): Record<string, unknown> {
  return schema.type === undefined ? { type: 'object', ...schema } : schema;
}

function lastToolTurnLacksThinking(messages: JsonObject[]): boolean {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role !== 'assistant' || !Array.isArray(message.content)) continue;
    const blocks = message.content as JsonObject[];
    if (!blocks.some((b) => b.type === 'tool_use')) return false;
    return blocks[0]?.type !== 'thinking' && blocks[0]?.type !== 'redacted_thinking';
  }
  return false;
}

/**
 * `systemMessages`: the model takes `role: "system"` messages mid-conversation; otherwise their
 * text goes into the user turn at that place, marked (system-messages.ts).
 */
function writeMessages(messages: Message[], systemMessages: boolean): JsonObject[] {
  const out: JsonObject[] = [];
  for (const message of messages) {
    if (message.role === 'system') {
      const text = systemText(message);
      if (text === '') continue;
      if (systemMessages) {
        out.push({ role: 'system', content: [{ type: 'text', text }] });
        continue;
      }
      const block = { type: 'text', text: markedSystemText(text) };
      const last = out.at(-1);
      if (last && last.role === 'user') (last.content as JsonObject[]).push(block);
      else out.push({ role: 'user', content: [block] });
      continue;
    }
    const blocks = message.role === 'assistant' ? assistantBlocks(message.parts) : userBlocks(message.parts);
    if (blocks.length === 0) continue;
    const last = out.at(-1);
    // Consecutive turns of one role (a tool-result turn then a text turn) are one Anthropic turn.
    if (last && last.role === message.role) (last.content as JsonObject[]).push(...blocks);
    else out.push({ role: message.role, content: blocks });
  }
  return out;
}

function assistantBlocks(parts: Part[]): JsonObject[] {
  const blocks: JsonObject[] = [];
  for (const part of parts) {
    switch (part.type) {
      case 'thinking':
        // Reasoning Anthropic did not sign (chat's reasoning_content, OpenAI's or Gemini's) would be
        // rejected: it is left out.
        if (part.redacted !== undefined) blocks.push({ type: 'redacted_thinking', data: part.redacted });
        else if (part.signature !== undefined && part.signer === 'anthropic') blocks.push({ type: 'thinking', thinking: part.text, signature: part.signature });
        break;
      case 'text':
        if (part.text !== '') blocks.push({ type: 'text', text: part.text });
        break;
      case 'tool_call':
        blocks.push({ type: 'tool_use', id: anthropicSafeId(part.id), name: part.name, input: parseArguments(part.arguments, part.name) });
        break;
      default:
        throw new TranslationError(`An assistant turn cannot hold a ${part.type} part for Anthropic.`);
    }
  }
  return blocks;
}

function userBlocks(parts: Part[]): JsonObject[] {
  const results: JsonObject[] = [];
  const blocks: JsonObject[] = [];
  for (const part of parts) {
    switch (part.type) {
      case 'tool_result': {
        const hasImage = part.content.some((c) => c.type === 'image');
        const content = hasImage
          ? part.content.map((c) => (c.type === 'text' ? { type: 'text', text: c.text } : imageBlock(c)))
          : part.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
        results.push(compact({ type: 'tool_result', tool_use_id: anthropicSafeId(part.id), content, is_error: part.isError }));
        break;
      }
      case 'text':
        if (part.text !== '') blocks.push({ type: 'text', text: part.text });
        break;
      case 'image':
        blocks.push(imageBlock(part));
        break;
      case 'document':
        blocks.push(documentBlock(part));
        break;
      case 'thinking':
        break;
      case 'tool_call':
        throw new TranslationError('A user turn cannot hold a tool call.');
    }
  }
  // Anthropic wants the results first in the turn that answers the tool calls.
  return results.length === 0 ? blocks : [...results, ...blocks];
}

function imageBlock(part: ImagePart): JsonObject {
  const source = part.source;
  if (source.kind === 'url') return { type: 'image', source: { type: 'url', url: source.url } };
  if (source.kind === 'text' || !ANTHROPIC_IMAGE_TYPES.has(source.mediaType)) {
    throw new TranslationError(`Anthropic models take JPEG, PNG, GIF and WebP images, not ${source.kind === 'text' ? 'text' : source.mediaType}.`);
  }
  return { type: 'image', source: { type: 'base64', media_type: source.mediaType, data: source.data } };
}

function documentBlock(part: DocumentPart): JsonObject {
  const source = part.source;
  let out: JsonObject;
  if (source.kind === 'text') out = { type: 'document', source: { type: 'text', media_type: 'text/plain', data: source.text } };
  else if (source.kind === 'url') out = { type: 'document', source: { type: 'url', url: source.url } };
  else if (source.mediaType === 'application/pdf') out = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: source.data } };
  else if (source.mediaType.startsWith('text/')) {
    out = { type: 'document', source: { type: 'text', media_type: 'text/plain', data: Buffer.from(source.data, 'base64').toString('utf8') } };
  } else {
    throw new TranslationError(`Anthropic models take PDF and plain-text documents, not ${source.mediaType}.`);
  }
  const title = part.title ?? part.filename;
  if (title !== undefined) out.title = title;
  return out;
}

export function writeAnthropicResponse(response: Response, ctx: ResponseContext): JsonObject {
  const content: JsonObject[] = [];
  for (const part of response.parts) {
    if (part.type === 'text') content.push({ type: 'text', text: part.text });
    else if (part.type === 'thinking') {
      const signature = part.signature === undefined ? '' : signatureForSlot('anthropic', part.signer ?? 'anthropic', part.signature);
      content.push(part.redacted !== undefined ? { type: 'redacted_thinking', data: part.redacted } : { type: 'thinking', thinking: part.text, signature });
    } else {
      content.push({ type: 'tool_use', id: part.id, name: part.name, input: parseArgumentsLeniently(part.arguments) });
    }
  }
  const stopReason = writeAnthropicFinish(response.finish, response.stopSequence);
  return {
    id: `msg_${ctx.requestId}`,
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content,
    stop_reason: stopReason,
    stop_sequence: stopReason === 'stop_sequence' ? (response.stopSequence ?? null) : null,
    usage: writeAnthropicUsage(response.usage ?? emptyUsage()),
  };
}
