/** Canonical → Gemini generateContent bodies: the upstream request and the client's response. */
import type { ImagePart, DocumentPart, Message, Request, Response, ResponseContext } from '../canonical.ts';
import { compact, isObject, parseArguments, parseArgumentsLeniently, type JsonObject } from '../json-value.ts';
import { toGeminiSchema } from '../json-schema.ts';
import { mediaTypeFromUrl } from '../media.ts';
import { budgetFor } from '../reasoning.ts';
import { signatureForSlot } from '../signatures.ts';
import { markedSystemText, systemText } from '../system-messages.ts';
import { idWithoutSignature, signatureFromId } from '../tool-ids.ts';
import { TranslationError } from '../translation-error.ts';
import { writeGeminiFinish, writeGeminiUsage } from './vocabulary.ts';

/**
 * Gemini 3 rejects a history whose function calls lack the thoughtSignature it issued. Calls that
 * came from another model have none; Google documents this value as the way to pass them.
 * Earlier models neither need nor check it.
 */
export const SKIP_SIGNATURE = 'skip_thought_signature_validator';

function needsSignatures(model: string): boolean {
  return !/gemini-(1|2)(\.|-)/.test(model);
}

/** The model is not in the body: Gemini carries it in the URL path. */
export function writeGeminiRequest(request: Request, model: string, _stream: boolean): JsonObject {
  const body: JsonObject = { contents: writeContents(request.messages, needsSignatures(model)) };
  if (request.system.length > 0) body.systemInstruction = { parts: request.system.map((text) => ({ text })) };

  const config: JsonObject = {
    maxOutputTokens: request.maxTokens,
    temperature: request.temperature,
    topP: request.topP,
    topK: request.topK,
    seed: request.seed,
    presencePenalty: request.presencePenalty,
    frequencyPenalty: request.frequencyPenalty,
  };
  if (request.stop && request.stop.length > 0) config.stopSequences = request.stop;
  const format = request.responseFormat;
  if (format) {
    config.responseMimeType = 'application/json';
    if (format.type === 'json_schema') config.responseSchema = toGeminiSchema(format.schema);
  }
  if (request.reasoning) {
    config.thinkingConfig = request.reasoning.enabled ? { thinkingBudget: budgetFor(request.reasoning), includeThoughts: true } : { thinkingBudget: 0 };
  }
  compact(config);
  if (Object.keys(config).length > 0) body.generationConfig = config;

  const tools: JsonObject[] = [];
  if (request.tools && request.tools.length > 0) {
    tools.push({
      functionDeclarations: request.tools.map((tool) => {
        const parameters = toGeminiSchema(tool.parameters);
        // A declaration without parameters must omit them: Gemini rejects an OBJECT with no properties.
        return compact({ name: tool.name, description: tool.description, parameters: isObject(parameters.properties) ? parameters : undefined });
      }),
    });
  }
  for (const tool of request.builtins ?? []) tools.push(tool.type === 'web_search' ? { googleSearch: {} } : { codeExecution: {} });
  if (tools.length > 0) body.tools = tools;
  const choice = request.toolChoice;
  if (choice && request.tools && request.tools.length > 0) {
    const functionCallingConfig =
      choice.type === 'tool'
        ? { mode: 'ANY', allowedFunctionNames: [choice.name] }
        : { mode: choice.type === 'required' ? 'ANY' : choice.type === 'none' ? 'NONE' : 'AUTO' };
    body.toolConfig = { functionCallingConfig };
  }
  return body;
}

function writeContents(messages: Message[], signatures: boolean): JsonObject[] {
  const contents: JsonObject[] = [];
  for (const message of messages) {
    const parts: JsonObject[] = [];
    let firstCall = true;
    // Gemini's only system slot is the conversation's start: a later one is user text at its place.
    if (message.role === 'system') {
      const text = systemText(message);
      if (text !== '') parts.push({ text: markedSystemText(text) });
    } else for (const part of message.parts) {
      switch (part.type) {
        case 'text':
          if (part.text !== '') parts.push({ text: part.text });
          break;
        case 'image':
        case 'document':
          parts.push(mediaPart(part));
          break;
        case 'tool_call': {
          const out: JsonObject = { functionCall: { name: part.name, args: parseArguments(part.arguments, part.name) } };
          const signature = part.signature ?? signatureFromId(part.id);
          // Only the first call of a turn carries a signature, as Gemini itself sends them.
          if (signature !== undefined) out.thoughtSignature = signature;
          else if (signatures && firstCall) out.thoughtSignature = SKIP_SIGNATURE;
          firstCall = false;
          parts.push(out);
          break;
        }
        case 'tool_result': {
          if (part.name === undefined) throw new TranslationError(`The tool result for call "${part.id}" answers no call in the conversation; Gemini needs the tool's name.`);
          if (part.content.some((c) => c.type === 'image')) throw new TranslationError('A tool result with an image cannot be sent to a Gemini model.');
          parts.push({ functionResponse: { name: part.name, response: resultObject(part.content.map((c) => (c.type === 'text' ? c.text : '')).join(''), part.isError === true) } });
          break;
        }
        case 'thinking':
          // Gemini ignores thoughts sent back; its signatures ride on the calls.
          break;
      }
    }
    if (parts.length === 0) continue;
    const role = message.role === 'assistant' ? 'model' : 'user';
    const last = contents.at(-1);
    // One turn per role change: Gemini counts a call turn's responses within the next user turn.
    if (last && last.role === role) (last.parts as JsonObject[]).push(...parts);
    else contents.push({ role, parts });
  }
  return contents;
}

/** A JSON object result is sent as is; any other text as `{ output }` (Gemini's documented convention). */
function resultObject(text: string, isError: boolean): JsonObject {
  if (isError) return { error: text };
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(text);
      if (isObject(value)) return value;
    } catch {
      // Not JSON after all: send it as text.
    }
  }
  return { output: text };
}

function mediaPart(part: ImagePart | DocumentPart): JsonObject {
  const source = part.source;
  if (source.kind === 'base64') return { inlineData: { mimeType: source.mediaType, data: source.data } };
  if (source.kind === 'text') return { text: part.type === 'document' && part.title !== undefined ? `${part.title}\n\n${source.text}` : source.text };
  const mimeType = source.mediaType ?? mediaTypeFromUrl(source.url);
  if (mimeType === undefined) {
    throw new TranslationError(`Gemini needs the media type of ${source.url}, and its extension does not say; send the ${part.type} as base64 instead.`);
  }
  return { fileData: { mimeType, fileUri: source.url } };
}

export function writeGeminiResponse(response: Response, ctx: ResponseContext): JsonObject {
  const parts: JsonObject[] = [];
  for (const part of response.parts) {
    if (part.type === 'text') parts.push({ text: part.text });
    else if (part.type === 'thinking') {
      if (part.redacted !== undefined) continue;
      const out: JsonObject = { text: part.text, thought: true };
      if (part.signature !== undefined) out.thoughtSignature = signatureForSlot('gemini', part.signer ?? 'gemini', part.signature);
      parts.push(out);
    } else {
      const out: JsonObject = { functionCall: { id: idWithoutSignature(part.id), name: part.name, args: parseArgumentsLeniently(part.arguments) } };
      if (part.signature !== undefined) out.thoughtSignature = part.signature;
      parts.push(out);
    }
  }
  const out: JsonObject = {
    candidates: [{ content: { parts, role: 'model' }, finishReason: writeGeminiFinish(response.finish), index: 0 }],
  };
  if (response.usage) out.usageMetadata = writeGeminiUsage(response.usage);
  out.modelVersion = ctx.model;
  out.responseId = ctx.requestId;
  return out;
}
