/**
 * The Gemini API (generativelanguage.googleapis.com): POST /v1beta/models/{model}:generateContent,
 * :streamGenerateContent?alt=sse (one `data:` event per chunk, finishReason and usage in the
 * last) and :countTokens, with the rules the real API enforces and its google.rpc.Status errors.
 */
import { type Answer, asArray, decide, type FormatSpec, isObject, type Json, kindOf, type Problem, randomId, type Route, SHELL_TOOLS, shellArguments, sseEvent, textIn } from './types.ts';
import type { Script } from '../strict-upstream.ts';

/** The documented function-name rule (@google/genai FunctionDeclaration.name). */
export const GEMINI_FUNCTION_NAME = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/;

const partsOf = (content: unknown): Json[] => (isObject(content) ? asArray(content.parts).filter(isObject) : []);

/** Models that want every function call of the current turn to carry its thought signature back. */
const signaturesRequired = (model: string): boolean => /^gemini-3/.test(model);

export function validateGemini(route: Route, body: unknown): Problem | null {
  if (!isObject(body)) return { message: 'Invalid JSON payload received. Expected an object.' };
  // countTokens takes `contents` alone, or a whole `generateContentRequest` naming its model, never both.
  const counting = route.endpoint === 'countTokens';
  if (counting && isObject(body.generateContentRequest)) {
    if (body.contents !== undefined) return { message: 'contents and generate_content_request are mutually exclusive; specify one of them.' };
    const model = body.generateContentRequest.model;
    if (typeof model !== 'string' || !/^models\/[^/]+$/.test(model)) return { message: '* GenerateContentRequest.model: unexpected model name format\n' };
  } else if (counting) {
    const unknown = Object.keys(body).find((key) => key !== 'contents');
    if (unknown !== undefined) return { message: `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.` };
  }
  const request = counting && isObject(body.generateContentRequest) ? body.generateContentRequest : body;
  if (!Array.isArray(request.contents) || request.contents.length === 0) return { message: '* GenerateContentRequest.contents: contents is not specified\n' };
  const contents = request.contents as unknown[];
  for (const [i, c] of contents.entries()) {
    if (!isObject(c)) return { message: `Invalid JSON payload received. Unknown name at 'contents[${i}]'.` };
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') return { message: 'Please use a valid role: user, model.' };
    if (partsOf(c).length === 0) return { message: `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n` };
  }
  // A function-call turn (the model's) is answered by the very next turn with as many function responses.
  for (const [i, c] of contents.entries()) {
    const content = c as Json;
    const calls = partsOf(content).filter((p) => isObject(p.functionCall));
    const responses = partsOf(content).filter((p) => isObject(p.functionResponse));
    if (responses.length > 0) {
      const prev = contents[i - 1] as Json | undefined;
      const prevCalls = partsOf(prev).filter((p) => isObject(p.functionCall));
      if (prevCalls.length === 0) return { message: 'Please ensure that function response turn comes immediately after a function call turn.' };
      if (prevCalls.length !== responses.length) return { message: 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.' };
    }
    if (calls.length > 0 && content.role === 'user') return { message: 'Please ensure that function call turn comes immediately after a user turn or after a function response turn.' };
    if (calls.length > 0 && i + 1 < contents.length) {
      const next = contents[i + 1] as Json;
      const nextResponses = partsOf(next).filter((p) => isObject(p.functionResponse));
      if (nextResponses.length === 0) return { message: 'Please ensure that function response turn comes immediately after a function call turn.' };
    }
  }
  const model = route.model ?? '';
  if (signaturesRequired(model)) {
    // The current turn: everything after the last user message that is not function responses.
    let start = 0;
    contents.forEach((c, i) => {
      const content = c as Json;
      if (content.role !== 'model' && partsOf(content).some((p) => typeof p.text === 'string' || isObject(p.inlineData))) start = i;
    });
    for (const [i, c] of contents.entries()) {
      if (i < start || (c as Json).role !== 'model') continue;
      const parts = partsOf(c);
      const first = parts.findIndex((p) => isObject(p.functionCall));
      if (first >= 0 && typeof parts[first]?.thoughtSignature !== 'string') {
        const name = String((parts[first]?.functionCall as Json).name);
        return { message: `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${name}\` , position ${i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.` };
      }
    }
  }
  for (const [i, tool] of asArray(request.tools).entries()) {
    if (!isObject(tool)) continue;
    for (const [j, fn] of asArray(tool.functionDeclarations).entries()) {
      if (!isObject(fn) || typeof fn.name !== 'string' || !GEMINI_FUNCTION_NAME.test(fn.name)) {
        return { message: `* GenerateContentRequest.tools[${i}].function_declarations[${j}].name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n` };
      }
      if (fn.parameters !== undefined && fn.parametersJsonSchema !== undefined) {
        return { message: `* GenerateContentRequest.tools[${i}].function_declarations[${j}]: parameters and parameters_json_schema cannot both be set.\n` };
      }
    }
  }
  return null;
}

function conversation(body: Json) {
  const contents = asArray(body.contents).filter(isObject);
  const fn = asArray(body.tools)
    .filter(isObject)
    .flatMap((t) => asArray(t.functionDeclarations).filter(isObject))
    .find((f) => SHELL_TOOLS.includes(String(f.name)));
  const last = contents.at(-1);
  let lastUserText: string | undefined;
  let lastToolResult: string | undefined;
  if (last !== undefined && last.role !== 'model') {
    const parts = partsOf(last);
    const responses = parts.filter((p) => isObject(p.functionResponse));
    if (responses.length > 0) {
      const ours = responses.map((p) => p.functionResponse as Json).filter((r) => r.name === fn?.name);
      if (ours.length > 0) lastToolResult = ours.map((r) => textIn(r.response)).join('\n');
    } else {
      lastUserText = parts.filter((p) => typeof p.text === 'string').map((p) => String(p.text)).join('\n');
    }
  }
  const config = isObject(body.generationConfig) ? body.generationConfig : {};
  const schema = config.responseMimeType === 'application/json' ? (config.responseJsonSchema ?? config.responseSchema ?? {}) : undefined;
  const instructions = textIn(isObject(body.systemInstruction) ? body.systemInstruction.parts : body.systemInstruction);
  return { lastUserText, lastToolResult, hasShellTool: fn !== undefined, schema, fn, instructions: instructions === '' ? undefined : instructions };
}

export function answerGemini(route: Route, body: Json, script: Script): Answer {
  const model = route.model ?? 'gemini';
  const counted = route.endpoint === 'countTokens' && isObject(body.generateContentRequest) ? body.generateContentRequest : body;
  const promptTokens = Math.max(1, Math.round(JSON.stringify(counted.contents ?? counted).length / 4));
  const headers = { 'x-gemini-service-tier': 'standard', server: 'scaffolding on HTTPServer2', 'server-timing': 'gfet4t7; dur=123' };
  if (route.endpoint === 'countTokens') return { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8', ...headers }, json: { totalTokens: promptTokens, promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokens }] }, kind: 'count-tokens' };
  const conv = conversation(body);
  const decision = decide(conv, script);
  const config = isObject(body.generationConfig) ? body.generationConfig : {};
  const thinking = isObject(config.thinkingConfig) && config.thinkingConfig.includeThoughts === true;
  const parts: Json[] = [];
  if (thinking && decision.kind !== 'structured' && decision.kind !== 'side') parts.push({ text: '**Considering the request**\n\nI will answer it.', thought: true });
  switch (decision.kind) {
    case 'tool-call':
      // The signature rides on the first function call part (Gemini 2.5+ and 3 send one when thinking).
      parts.push({ functionCall: { name: String(conv.fn?.name), args: shellArguments(conv.fn?.parametersJsonSchema ?? conv.fn?.parameters, decision.command) }, thoughtSignature: randomId('CiQB', 64) });
      break;
    case 'structured':
      parts.push({ text: JSON.stringify(decision.value) });
      break;
    default:
      parts.push({ text: decision.text });
  }
  const candidateTokens = Math.max(1, Math.round(JSON.stringify(parts).length / 4));
  const usageMetadata = { promptTokenCount: promptTokens, candidatesTokenCount: candidateTokens, totalTokenCount: promptTokens + candidateTokens + (thinking ? 12 : 0), ...(thinking ? { thoughtsTokenCount: 12 } : {}), promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokens }] };
  const responseId = randomId('', 22);
  const toolResult = decision.kind === 'tool-result' ? decision.output : undefined;
  const full = { candidates: [{ content: { parts, role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: model, responseId };
  if (route.endpoint === 'generateContent') return { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8', ...headers }, json: full, kind: kindOf(decision), toolResult };
  // streamGenerateContent: one chunk per part, the finish reason and the whole usage on the last.
  const chunks = parts.map((part, i) => {
    const last = i === parts.length - 1;
    return {
      candidates: [{ content: { parts: [part], role: 'model' }, ...(last ? { finishReason: 'STOP' } : {}), index: 0 }],
      usageMetadata: last ? usageMetadata : { promptTokenCount: promptTokens, totalTokenCount: promptTokens, promptTokensDetails: usageMetadata.promptTokensDetails },
      modelVersion: model,
      responseId,
    };
  });
  if (!route.stream) return { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8', ...headers }, json: chunks, kind: kindOf(decision), toolResult };
  return { status: 200, headers: { 'content-type': 'text/event-stream', 'content-disposition': 'attachment', ...headers }, events: chunks.map((c) => sseEvent(c).replace(/\n\n$/, '\r\n\r\n')), kind: kindOf(decision), toolResult };
}

const STATUS: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 426: 'FAILED_PRECONDITION', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };

export const geminiFormat: FormatSpec = {
  route(method, url) {
    const [path = '', query = ''] = url.split('?');
    const match = /^\/(v1beta|v1)\/models\/([^:/]+):(generateContent|streamGenerateContent|countTokens)$/.exec(path);
    if (method !== 'POST' || match === null) return null;
    const endpoint = match[3] as string;
    return { endpoint, model: decodeURIComponent(match[2] as string), stream: endpoint === 'streamGenerateContent' && new URLSearchParams(query).get('alt') === 'sse' };
  },
  validate: validateGemini,
  answer: answerGemini,
  errorBody: (status, message) => ({ error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN' } }),
  invalidJsonMessage: 'Invalid JSON payload received. Unexpected token.',
};
