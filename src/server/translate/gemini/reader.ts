/**
 * Gemini generateContent bodies → canonical: the client's request and the upstream's response.
 *
 * Gemini calls carry no ids (newer models may send one). A request's calls get ids from their
 * position, and each functionResponse is matched to the earliest unanswered call of the same name
 * (Gemini's own rule: responses answer calls by name, in order). A response's calls get ids from
 * the request id, so replaying a response yields the same ids.
 */
import type { Message, Part, ReasoningConfig, Request, Response, TextPart, ToolChoice, ToolDefinition } from '../canonical.ts';
import { asArray, asObject, isObject, optNumber, optString, type JsonObject } from '../json-value.ts';
import { fromGeminiSchema, lowerCaseTypes } from '../json-schema.ts';
import { parseEffort } from '../reasoning.ts';
import { signatureFromSlot } from '../signatures.ts';
import { idWithSignature, synthesizedCallId } from '../tool-ids.ts';
import { TranslationError } from '../translation-error.ts';
import { readGeminiFinish, readGeminiUsage } from './vocabulary.ts';

export function readGeminiRequest(input: unknown): Request {
  const body = asObject(input, 'The request body');
  const request: Request = { system: readSystem(body.systemInstruction ?? body.system_instruction), messages: [], omitted: [] };
  const unanswered = new Map<string, string[]>();
  for (const [i, raw] of asArray(body.contents, '`contents`').entries()) {
    const content = asObject(raw, `contents[${i}]`);
    const role = content.role === 'model' ? 'assistant' : 'user';
    const parts: Part[] = [];
    for (const [j, rawPart] of asArray(content.parts ?? [], `contents[${i}].parts`).entries()) {
      const part = readPart(request, asObject(rawPart, `contents[${i}].parts[${j}]`), `contents[${i}].parts[${j}]`, `call_${i}_${j}`, unanswered);
      if (part === null) continue;
      const previous = parts.at(-1);
      if (part.type === 'thinking' && previous?.type === 'thinking' && previous.signature === undefined && previous.redacted === undefined) {
        // A streamed thought comes back as the pieces it was streamed in, its signature on the last
        // (often empty) one: they are one block, and the signature covers all of its text.
        previous.text += part.text;
        if (part.signature !== undefined) {
          previous.signature = part.signature;
          if (part.signer !== undefined) previous.signer = part.signer;
        }
        continue;
      }
      parts.push(part);
    }
    request.messages.push({ role, parts } satisfies Message);
  }

  const config = isObject(body.generationConfig) ? body.generationConfig : isObject(body.generation_config) ? body.generation_config : {};
  const candidates = optNumber(config.candidateCount);
  if (candidates !== undefined && candidates > 1) throw new TranslationError('candidateCount > 1 cannot be translated to this model\'s API; ask for one candidate per request.');
  const maxTokens = optNumber(config.maxOutputTokens);
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  const temperature = optNumber(config.temperature);
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optNumber(config.topP);
  if (topP !== undefined) request.topP = topP;
  const topK = optNumber(config.topK);
  if (topK !== undefined) request.topK = topK;
  const seed = optNumber(config.seed);
  if (seed !== undefined) request.seed = seed;
  const presencePenalty = optNumber(config.presencePenalty);
  if (presencePenalty !== undefined) request.presencePenalty = presencePenalty;
  const frequencyPenalty = optNumber(config.frequencyPenalty);
  if (frequencyPenalty !== undefined) request.frequencyPenalty = frequencyPenalty;
  if (Array.isArray(config.stopSequences)) request.stop = config.stopSequences.filter((s): s is string => typeof s === 'string');
  if (config.responseMimeType === 'application/json') {
    // Gemini CLI writes OpenAPI's upper-case type names into responseJsonSchema too.
    const schema = isObject(config.responseJsonSchema) ? lowerCaseTypes(config.responseJsonSchema) : isObject(config.responseSchema) ? fromGeminiSchema(config.responseSchema) : undefined;
    request.responseFormat = schema ? { type: 'json_schema', name: 'response', schema } : { type: 'json_object' };
  }
  const reasoning = readThinking(config.thinkingConfig);
  if (reasoning) request.reasoning = reasoning;

  if (Array.isArray(body.tools)) {
    const tools: ToolDefinition[] = [];
    for (const [i, raw] of body.tools.entries()) {
      const tool = asObject(raw, `tools[${i}]`);
      for (const key of Object.keys(tool)) {
        if (key === 'functionDeclarations' || key === 'function_declarations') continue;
        // Google Search (and its older retrieval form) and code execution have equivalents elsewhere;
        // the other built-ins (URL context, Maps, file search, computer use…) are left out, and said.
        if (key === 'googleSearch' || key === 'google_search' || key === 'googleSearchRetrieval' || key === 'google_search_retrieval') (request.builtins ??= []).push({ type: 'web_search', label: key });
        else if (key === 'codeExecution' || key === 'code_execution') (request.builtins ??= []).push({ type: 'code_execution', label: key });
        else request.omitted.push(`tool:${key}`);
      }
      for (const [j, decl] of asArray(tool.functionDeclarations ?? tool.function_declarations ?? [], `tools[${i}].functionDeclarations`).entries()) {
        tools.push(readDeclaration(asObject(decl, `tools[${i}].functionDeclarations[${j}]`), `tools[${i}].functionDeclarations[${j}]`));
      }
    }
    if (tools.length > 0) request.tools = tools;
  }
  const toolConfig = isObject(body.toolConfig) ? body.toolConfig : undefined;
  if (toolConfig && isObject(toolConfig.functionCallingConfig)) {
    const choice = readToolChoice(toolConfig.functionCallingConfig);
    if (choice) request.toolChoice = choice;
  }
  return request;
}

function readSystem(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  const content = asObject(value, '`systemInstruction`');
  return asArray(content.parts ?? [], '`systemInstruction.parts`').map((p) => (isObject(p) ? (optString(p.text) ?? '') : ''));
}

function readThinking(value: unknown): ReasoningConfig | undefined {
  if (!isObject(value)) return undefined;
  const budget = optNumber(value.thinkingBudget);
  if (budget === 0) return { enabled: false };
  const config: ReasoningConfig = { enabled: true };
  if (budget !== undefined && budget > 0) config.budgetTokens = budget;
  const level = typeof value.thinkingLevel === 'string' ? parseEffort(value.thinkingLevel.toLowerCase()) : undefined;
  if (level !== undefined) config.effort = level;
  return config;
}

function readPart(request: Request, part: JsonObject, where: string, positionId: string, unanswered: Map<string, string[]>): Part | null {
  if (typeof part.text === 'string') {
    if (part.thought === true) {
      const value = optString(part.thoughtSignature);
      if (value === undefined) return { type: 'thinking', text: part.text };
      const { signer, signature } = signatureFromSlot('gemini', value);
      return { type: 'thinking', text: part.text, signature, signer };
    }
    return { type: 'text', text: part.text };
  }
  if (isObject(part.inlineData)) {
    const mediaType = optString(part.inlineData.mimeType) ?? 'application/octet-stream';
    const source = { kind: 'base64' as const, mediaType, data: optString(part.inlineData.data) ?? '' };
    return mediaType.startsWith('image/') ? { type: 'image', source } : { type: 'document', source };
  }
  if (isObject(part.fileData)) {
    const url = optString(part.fileData.fileUri) ?? '';
    const mediaType = optString(part.fileData.mimeType);
    const source = mediaType === undefined ? { kind: 'url' as const, url } : { kind: 'url' as const, url, mediaType };
    return mediaType?.startsWith('image/') ? { type: 'image', source } : { type: 'document', source };
  }
  if (isObject(part.functionCall)) {
    const call = part.functionCall;
    const name = optString(call.name);
    if (name === undefined) throw new TranslationError(`${where}.functionCall.name must be a string.`);
    const id = optString(call.id) ?? positionId;
    const queue = unanswered.get(name);
    if (queue) queue.push(id);
    else unanswered.set(name, [id]);
    const signature = optString(part.thoughtSignature);
    const out: Part = { type: 'tool_call', id, name, arguments: JSON.stringify(call.args ?? {}) };
    if (signature !== undefined) out.signature = signature;
    return out;
  }
  if (isObject(part.functionResponse)) {
    const response = part.functionResponse;
    const name = optString(response.name);
    if (name === undefined) throw new TranslationError(`${where}.functionResponse.name must be a string.`);
    let id = optString(response.id);
    const queue = unanswered.get(name);
    if (id !== undefined && queue) {
      const at = queue.indexOf(id);
      if (at >= 0) queue.splice(at, 1);
    } else id = queue?.shift() ?? positionId;
    return { type: 'tool_result', id, name, ...resultContent(response.response) };
  }
  if (part.executableCode !== undefined || part.codeExecutionResult !== undefined) {
    // Code Gemini ran itself, and its output: no other provider can take them.
    request.omitted.push(part.executableCode !== undefined ? 'part:executableCode' : 'part:codeExecutionResult');
    return null;
  }
  // A part holding only a thoughtSignature, or fields added later: nothing to carry.
  return null;
}

/**
 * Gemini's convention is `{ output }` for a result and `{ error }` for a failure; a bare one of
 * those becomes plain text, anything else is sent as its JSON.
 */
function resultContent(response: unknown): { content: TextPart[]; isError?: true } {
  if (isObject(response)) {
    const keys = Object.keys(response);
    if (keys.length === 1 && typeof response.output === 'string') return { content: [{ type: 'text', text: response.output }] };
    if (keys.length === 1 && response.error !== undefined) {
      return { content: [{ type: 'text', text: typeof response.error === 'string' ? response.error : JSON.stringify(response.error) }], isError: true };
    }
  }
  return { content: [{ type: 'text', text: JSON.stringify(response ?? {}) }] };
}

function readDeclaration(decl: JsonObject, where: string): ToolDefinition {
  const name = optString(decl.name);
  if (name === undefined) throw new TranslationError(`${where}.name must be a string.`);
  const parameters = isObject(decl.parametersJsonSchema)
    ? lowerCaseTypes(decl.parametersJsonSchema)
    : isObject(decl.parameters)
      ? fromGeminiSchema(decl.parameters)
      : { type: 'object', properties: {} };
  const out: ToolDefinition = { name, parameters };
  const description = optString(decl.description);
  if (description !== undefined) out.description = description;
  return out;
}

function readToolChoice(config: JsonObject): ToolChoice | undefined {
  const names = Array.isArray(config.allowedFunctionNames) ? config.allowedFunctionNames : [];
  switch (config.mode) {
    case 'NONE':
      return { type: 'none' };
    case 'ANY':
      return names.length === 1 && typeof names[0] === 'string' ? { type: 'tool', name: names[0] } : { type: 'required' };
    case 'AUTO':
    case 'VALIDATED':
      return { type: 'auto' };
    default:
      return undefined;
  }
}

/** One non-streaming body, or the JSON-array form of a stream (`streamGenerateContent` without alt=sse). */
export function readGeminiResponse(input: unknown, requestId: string): Response {
  const chunks = Array.isArray(input) ? input : [asObject(input, 'The upstream response')];
  const parts: Response['parts'] = [];
  const response: Response = { parts, finish: 'other', usage: null };
  let sawFinish = false;
  let calls = 0;
  for (const chunk of chunks) {
    if (!isObject(chunk)) continue;
    const candidate = Array.isArray(chunk.candidates) && isObject(chunk.candidates[0]) ? chunk.candidates[0] : undefined;
    const content = candidate && isObject(candidate.content) ? candidate.content : undefined;
    for (const raw of Array.isArray(content?.parts) ? content.parts : []) {
      if (!isObject(raw)) continue;
      if (typeof raw.text === 'string') {
        const kind = raw.thought === true ? 'thinking' : 'text';
        const last = parts.at(-1);
        // Streamed chunks split one text into many parts; a response holds it as one.
        if (last && last.type === kind && !(last.type === 'thinking' && last.signature !== undefined)) last.text += raw.text;
        else parts.push(kind === 'text' ? { type: 'text', text: raw.text } : { type: 'thinking', text: raw.text });
        const signature = optString(raw.thoughtSignature);
        const current = parts.at(-1);
        // A thought's signature is kept with it; one on answer text has no place outside Gemini.
        if (kind === 'thinking' && signature !== undefined && current?.type === 'thinking') {
          current.signature = signature;
          current.signer = 'gemini';
        }
      } else if (isObject(raw.functionCall)) {
        const signature = optString(raw.thoughtSignature);
        const id = idWithSignature(optString(raw.functionCall.id) ?? synthesizedCallId(requestId, calls), signature);
        calls++;
        const call: Response['parts'][number] = { type: 'tool_call', id, name: optString(raw.functionCall.name) ?? '', arguments: JSON.stringify(raw.functionCall.args ?? {}) };
        if (signature !== undefined) call.signature = signature;
        parts.push(call);
      }
    }
    if (candidate && typeof candidate.finishReason === 'string') {
      sawFinish = true;
      response.finish = readGeminiFinish(candidate.finishReason, calls > 0);
    } else if (!candidate && isObject(chunk.promptFeedback) && chunk.promptFeedback.blockReason !== undefined) {
      sawFinish = true;
      response.finish = 'content_filter';
    }
    const usage = readGeminiUsage(chunk.usageMetadata);
    if (usage) response.usage = usage;
    const id = optString(chunk.responseId);
    if (id !== undefined) response.id = id;
    const model = optString(chunk.modelVersion);
    if (model !== undefined) response.model = model;
  }
  if (!sawFinish) response.finish = calls > 0 ? 'tool_calls' : 'stop';
  return response;
}
