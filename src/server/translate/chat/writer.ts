/** Canonical → OpenAI Chat Completions bodies: the upstream request and the client's response. */
import type { Message, Request, Response, ResponseContext } from '../canonical.ts';
import { argumentsText } from '../canonical.ts';
import { compact, type JsonObject } from '../json-value.ts';
import { dataUrl } from '../media.ts';
import { effortFor } from '../reasoning.ts';
import { systemText } from '../system-messages.ts';
import { TranslationError } from '../translation-error.ts';
import { openaiUser } from '../user-id.ts';
import { writeChatFinish, writeChatUsage } from './vocabulary.ts';

export function writeChatRequest(request: Request, model: string, stream: boolean): JsonObject {
  const messages: JsonObject[] = [];
  if (request.system.length > 0) messages.push({ role: 'system', content: request.system.join('\n\n') });
  for (const message of request.messages) {
    if (message.role === 'assistant') messages.push(assistantMessage(message));
    // At its place: OpenAI takes system messages anywhere (some open models' chat templates do not).
    else if (message.role === 'system') messages.push({ role: 'system', content: systemText(message) });
    else pushUserMessages(messages, message);
  }
  const body: JsonObject = { model, messages };
  // max_completion_tokens, not max_tokens: OpenAI's reasoning models reject the latter, and vLLM
  // and the other compatible servers accept both.
  if (request.maxTokens !== undefined) body.max_completion_tokens = request.maxTokens;
  body.temperature = request.temperature;
  body.top_p = request.topP;
  if (request.stop && request.stop.length > 0) body.stop = request.stop;
  body.seed = request.seed;
  body.presence_penalty = request.presencePenalty;
  body.frequency_penalty = request.frequencyPenalty;
  if (request.user !== undefined) body.user = openaiUser(request.user);
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: 'function',
      function: compact({ name: tool.name, description: tool.description, parameters: tool.parameters, strict: tool.strict }),
    }));
  }
  // OpenAI rejects tool_choice without tools.
  if (request.toolChoice && request.tools && request.tools.length > 0) {
    const choice = request.toolChoice;
    body.tool_choice = choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type;
  }
  if (request.parallelToolCalls !== undefined && request.tools && request.tools.length > 0) body.parallel_tool_calls = request.parallelToolCalls;
  const format = request.responseFormat;
  if (format?.type === 'json_object') body.response_format = { type: 'json_object' };
  else if (format?.type === 'json_schema') {
    body.response_format = {
      type: 'json_schema',
      json_schema: compact({ name: format.name, description: format.description, schema: format.schema, strict: format.strict }),
    };
  }
  // Reasoning turned off is left unsaid: non-reasoning models reject reasoning_effort altogether.
  if (request.reasoning?.enabled) body.reasoning_effort = effortFor(request.reasoning);
  if (stream) {
    body.stream = true;
    // Without it an OpenAI stream carries no usage at all, and the gateway's metrics need it.
    body.stream_options = { include_usage: true };
  }
  return compact(body);
}

function assistantMessage(message: Message): JsonObject {
  const texts: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const part of message.parts) {
    if (part.type === 'text') texts.push(part.text);
    else if (part.type === 'tool_call') toolCalls.push({ id: part.id, type: 'function', function: { name: part.name, arguments: argumentsText(part) } });
    // Reasoning is not sent back: OpenAI rejects it and DeepSeek asks clients to drop it.
  }
  const out: JsonObject = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
  if (toolCalls.length > 0) out.tool_calls = toolCalls;
  if (message.name !== undefined) out.name = message.name;
  return out;
}

/** Tool results become `tool` messages, which must directly follow the assistant turn: they go first. */
function pushUserMessages(messages: JsonObject[], message: Message): void {
  const content: JsonObject[] = [];
  for (const part of message.parts) {
    switch (part.type) {
      case 'tool_result': {
        const texts: string[] = [];
        for (const item of part.content) {
          if (item.type === 'image') throw new TranslationError('A tool result with an image cannot be sent to a Chat Completions model: its tool messages carry text only.');
          texts.push(item.text);
        }
        messages.push({ role: 'tool', tool_call_id: part.id, content: texts.join('') });
        break;
      }
      case 'text':
        content.push({ type: 'text', text: part.text });
        break;
      case 'image': {
        const source = part.source;
        if (source.kind === 'text') throw new TranslationError('A text source cannot be an image.');
        const url = source.kind === 'base64' ? dataUrl(source.mediaType, source.data) : source.url;
        content.push({ type: 'image_url', image_url: part.detail === undefined ? { url } : { url, detail: part.detail } });
        break;
      }
      case 'document': {
        const source = part.source;
        if (source.kind === 'text') content.push({ type: 'text', text: part.title === undefined ? source.text : `${part.title}\n\n${source.text}` });
        else if (source.kind === 'url') throw new TranslationError('Chat Completions models cannot fetch a document from a URL; send it as base64.');
        else content.push({ type: 'file', file: { filename: part.filename ?? part.title ?? 'document.pdf', file_data: dataUrl(source.mediaType, source.data) } });
        break;
      }
      default:
        break;
    }
  }
  if (content.length === 0) return;
  const out: JsonObject = { role: 'user', content: content.length === 1 && content[0]?.type === 'text' ? content[0].text : content };
  if (message.name !== undefined) out.name = message.name;
  messages.push(out);
}

export function writeChatResponse(response: Response, ctx: ResponseContext): JsonObject {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const part of response.parts) {
    if (part.type === 'text') texts.push(part.text);
    else if (part.type === 'thinking') reasoning.push(part.text);
    else toolCalls.push({ id: part.id, type: 'function', function: { name: part.name, arguments: argumentsText(part) } });
  }
  const message: JsonObject = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null, refusal: null };
  if (reasoning.length > 0) message.reasoning_content = reasoning.join('');
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const out: JsonObject = {
    id: `chatcmpl-${ctx.requestId}`,
    object: 'chat.completion',
    created: ctx.created ?? Math.floor(Date.now() / 1000),
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: writeChatFinish(response.finish) }],
  };
  if (response.usage) out.usage = writeChatUsage(response.usage);
  return out;
}
