/** Canonical → OpenAI Responses bodies: the upstream request and the client's response. */
import type { FinishReason, MediaSource, Message, Request, Response, ResponseContext, ToolCallPart, Usage } from '../canonical.ts';
import { argumentsText } from '../canonical.ts';
import { compact, parseArgumentsLeniently, type JsonObject } from '../json-value.ts';
import { dataUrl } from '../media.ts';
import { effortFor } from '../reasoning.ts';
import { systemText } from '../system-messages.ts';
import { TranslationError } from '../translation-error.ts';
import { openaiUser } from '../user-id.ts';
import { encryptedContentOf, writeResponsesStatus, writeResponsesUsage } from './vocabulary.ts';

export function writeResponsesRequest(request: Request, model: string, stream: boolean): JsonObject {
  if (request.stop && request.stop.length > 0) {
    throw new TranslationError('Stop sequences cannot be sent to an OpenAI Responses model: the Responses API has no stop parameter.');
  }
  const input: JsonObject[] = [];
  for (const message of request.messages) writeItems(input, message);
  const body: JsonObject = { model };
  if (request.system.length > 0) body.instructions = request.system.join('\n\n');
  body.input = input;
  // Responses clamps below 16; a smaller client limit is raised rather than rejected.
  if (request.maxTokens !== undefined) body.max_output_tokens = Math.max(16, request.maxTokens);
  body.temperature = request.temperature;
  body.top_p = request.topP;
  const tools: JsonObject[] = [];
  // Responses makes function tools strict by default, which rejects ordinary schemas: only a
  // client that asked for strict gets it.
  for (const tool of request.tools ?? []) tools.push(compact({ type: 'function', name: tool.name, description: tool.description, parameters: tool.parameters, strict: tool.strict ?? false }));
  for (const tool of request.builtins ?? []) {
    if (tool.type === 'code_execution') tools.push({ type: 'code_interpreter', container: { type: 'auto' } });
    else tools.push(tool.allowedDomains === undefined ? { type: 'web_search' } : { type: 'web_search', filters: { allowed_domains: tool.allowedDomains } });
  }
  if (tools.length > 0) body.tools = tools;
  const choice = request.toolChoice;
  if (choice && tools.length > 0) body.tool_choice = choice.type === 'tool' ? { type: 'function', name: choice.name } : choice.type;
  if (request.parallelToolCalls !== undefined && tools.length > 0) body.parallel_tool_calls = request.parallelToolCalls;
  const format = request.responseFormat;
  if (format?.type === 'json_object') body.text = { format: { type: 'json_object' } };
  else if (format?.type === 'json_schema') {
    body.text = { format: compact({ type: 'json_schema', name: format.name, description: format.description, schema: format.schema, strict: format.strict }) };
  }
  // A summary is what the client's reasoning/thinking fields are made from. Reasoning turned off
  // is left unsaid: non-reasoning models reject the parameter altogether.
  if (request.reasoning?.enabled) body.reasoning = { effort: effortFor(request.reasoning), summary: 'auto' };
  if (request.user !== undefined) body.user = openaiUser(request.user);
  // The client sent the whole conversation, as every other format does: nothing to keep at OpenAI.
  body.store = false;
  if (stream) body.stream = true;
  return compact(body);
}

function writeItems(input: JsonObject[], message: Message): void {
  if (message.role === 'system') {
    input.push({ type: 'message', role: message.developer === true ? 'developer' : 'system', content: [{ type: 'input_text', text: systemText(message) }] });
    return;
  }
  if (message.role === 'assistant') {
    const texts: JsonObject[] = [];
    const flushText = (): void => {
      if (texts.length === 0) return;
      input.push({ type: 'message', role: 'assistant', content: texts.splice(0) });
    };
    for (const part of message.parts) {
      if (part.type === 'text') {
        if (part.text !== '') texts.push({ type: 'output_text', text: part.text, annotations: [] });
      } else if (part.type === 'tool_call') {
        flushText();
        input.push({ type: 'function_call', call_id: part.id, name: part.name, arguments: argumentsText(part) });
      }
      // Reasoning from another provider cannot be verified by OpenAI (its items need OpenAI's own
      // ids and encrypted content): it is left out.
    }
    flushText();
    return;
  }
  const content: JsonObject[] = [];
  for (const part of message.parts) {
    switch (part.type) {
      case 'tool_result': {
        const hasImage = part.content.some((c) => c.type === 'image');
        const output = hasImage
          ? part.content.map((c) => (c.type === 'text' ? { type: 'input_text', text: c.text } : imageContent(c.source, c.detail)))
          : part.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
        input.push({ type: 'function_call_output', call_id: part.id, output });
        break;
      }
      case 'text':
        content.push({ type: 'input_text', text: part.text });
        break;
      case 'image':
        content.push(imageContent(part.source, part.detail));
        break;
      case 'document': {
        const source = part.source;
        if (source.kind === 'text') content.push({ type: 'input_text', text: part.title === undefined ? source.text : `${part.title}\n\n${source.text}` });
        else if (source.kind === 'url') content.push(compact({ type: 'input_file', file_url: source.url, filename: part.filename }));
        else content.push({ type: 'input_file', filename: part.filename ?? part.title ?? 'document.pdf', file_data: dataUrl(source.mediaType, source.data) });
        break;
      }
      default:
        break;
    }
  }
  if (content.length > 0) input.push({ type: 'message', role: 'user', content });
}

function imageContent(source: MediaSource, detail: string | undefined): JsonObject {
  if (source.kind === 'text') throw new TranslationError('A text source cannot be an image.');
  return { type: 'input_image', image_url: source.kind === 'base64' ? dataUrl(source.mediaType, source.data) : source.url, detail: detail ?? 'auto' };
}

/**
 * A call as the client declared its tool: a function (with its namespace), a custom tool's call
 * with its text `input`, or a client-executed tool search. `args` is the call's JSON arguments.
 */
export function callItem(part: Pick<ToolCallPart, 'id' | 'name' | 'namespace' | 'kind'>, idSuffix: string, status: string, args: string): JsonObject {
  switch (part.kind) {
    case 'custom':
      return compact({ id: `ctc_${idSuffix}`, type: 'custom_tool_call', status, call_id: part.id, name: part.name, namespace: part.namespace, input: customInput(args) });
    case 'tool_search':
      return { id: `tsc_${idSuffix}`, type: 'tool_search_call', status, call_id: part.id, execution: 'client', arguments: parseArgumentsLeniently(args) };
    default:
      return compact({ id: `fc_${idSuffix}`, type: 'function_call', status, call_id: part.id, name: part.name, namespace: part.namespace, arguments: args });
  }
}

/** A custom tool's text from the `{ input }` its function form was called with; anything else as it came. */
export function customInput(args: string): string {
  try {
    const value: unknown = JSON.parse(args);
    if (typeof value === 'object' && value !== null && typeof (value as { input?: unknown }).input === 'string') return (value as { input: string }).input;
  } catch {
    // Not JSON: the model wrote the text itself.
  }
  return args;
}

/** The Response object around `output`, shared by the non-streaming body and the stream's events. */
export function responseEnvelope(ctx: ResponseContext, created: number, status: string, output: unknown[], usage: Usage | null, finish: FinishReason | null): JsonObject {
  const outcome = finish === null ? { status, incomplete_details: null } : writeResponsesStatus(finish);
  return {
    id: `resp_${ctx.requestId}`,
    object: 'response',
    created_at: created,
    status: outcome.status,
    error: null,
    incomplete_details: outcome.incomplete_details,
    instructions: null,
    max_output_tokens: null,
    model: ctx.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: null,
    store: false,
    temperature: null,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: null,
    truncation: 'disabled',
    usage: usage === null ? null : writeResponsesUsage(usage),
    metadata: {},
  };
}

export function writeResponsesResponse(response: Response, ctx: ResponseContext): JsonObject {
  const output: JsonObject[] = [];
  const rid = ctx.requestId;
  let message: JsonObject[] | null = null;
  for (const part of response.parts) {
    if (part.type === 'text') {
      if (message === null) {
        message = [];
        output.push({ id: `msg_${rid}_${output.length}`, type: 'message', status: 'completed', role: 'assistant', content: message });
      }
      message.push({ type: 'output_text', text: part.text, annotations: [], logprobs: [] });
      continue;
    }
    message = null;
    if (part.type === 'thinking') {
      const item: JsonObject = { id: `rs_${rid}_${output.length}`, type: 'reasoning', summary: part.text === '' ? [] : [{ type: 'summary_text', text: part.text }] };
      const encrypted = encryptedContentOf(part);
      if (encrypted !== undefined) item.encrypted_content = encrypted;
      output.push(item);
    } else {
      output.push(callItem(part, `${rid}_${output.length}`, 'completed', argumentsText(part)));
    }
  }
  return responseEnvelope(ctx, ctx.created ?? Math.floor(Date.now() / 1000), 'completed', output, response.usage, response.finish);
}
