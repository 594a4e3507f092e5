/**
 * OpenAI Chat Completions as an OpenAI-compatible server speaks it: POST /v1/chat/completions
 * (streaming chunks, a usage chunk when `stream_options.include_usage`, [DONE]), with the rules
 * api.openai.com enforces and its error shape. No agent under test speaks it natively; the
 * gateway's translations to it are checked against this fake.
 */
import { type Answer, asArray, decide, type FormatSpec, isObject, type Json, kindOf, type Problem, randomId, type Route, SHELL_TOOLS, shellArguments, sseEvent, textIn } from './types.ts';
import { OPENAI_FUNCTION_NAME, OPENAI_FUNCTION_NAME_MAX, openaiErrorBody } from './responses.ts';
import type { Script } from '../strict-upstream.ts';

const ROLES = ['system', 'assistant', 'user', 'function', 'tool', 'developer'];

export function validateChat(_route: Route, body: unknown): Problem | null {
  if (!isObject(body)) return { message: 'The request body must be a JSON object.' };
  if (typeof body.model !== 'string' || body.model === '') return { message: 'you must provide a model parameter', param: 'model' };
  if (!Array.isArray(body.messages)) return { message: "Missing required parameter: 'messages'.", param: 'messages' };
  const messages = body.messages as unknown[];
  const asked = new Set<string>();
  for (const [i, m] of messages.entries()) {
    if (!isObject(m)) return { message: `Invalid type for 'messages[${i}]': expected an object.`, param: `messages[${i}]` };
    if (!ROLES.includes(String(m.role))) return { message: `Invalid value: '${String(m.role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, param: `messages[${i}].role` };
    if (m.role === 'assistant') {
      const ids = asArray(m.tool_calls).filter(isObject).map((c) => String(c.id));
      for (const id of ids) asked.add(id);
      if (ids.length > 0) {
        // The tool messages right after it answer every one of its calls.
        const answered = new Set<string>();
        for (let j = i + 1; j < messages.length; j++) {
          const next = messages[j];
          if (!isObject(next) || next.role !== 'tool') break;
          answered.add(String(next.tool_call_id));
        }
        const missing = ids.filter((id) => !answered.has(id));
        if (missing.length > 0) {
          return { message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.join(', ')}`, param: `messages.[${i}].role` };
        }
      }
    }
    if (m.role === 'tool') {
      const prev = messages.slice(0, i).reverse().find((p) => isObject(p) && p.role !== 'tool') as Json | undefined;
      const prevIds = new Set(asArray(prev?.tool_calls).filter(isObject).map((c) => String(c.id)));
      if (prev?.role !== 'assistant' || !prevIds.has(String(m.tool_call_id))) {
        // (sic: the API's own spelling)
        return { message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", param: `messages.[${i}].role` };
      }
    }
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return { message: "Invalid type for 'tools': expected an array.", param: 'tools' };
    for (const [i, tool] of body.tools.entries()) {
      if (!isObject(tool) || (tool.type !== 'function' && tool.type !== 'custom')) {
        return { message: `Invalid value: '${isObject(tool) ? String(tool.type) : typeof tool}'. Supported values are: 'function' and 'custom'.`, param: `tools[${i}].type` };
      }
      const holder = tool.type === 'function' ? tool.function : tool.custom;
      const param = `tools[${i}].${String(tool.type)}.name`;
      const name = isObject(holder) ? holder.name : undefined;
      if (typeof name !== 'string') return { message: `Missing required parameter: '${param}'.`, param };
      if (name.length > OPENAI_FUNCTION_NAME_MAX) return { message: `Invalid '${param}': string too long. Expected a string with maximum length ${OPENAI_FUNCTION_NAME_MAX}, but got a string with length ${name.length} instead.`, param };
      if (!OPENAI_FUNCTION_NAME.test(name)) return { message: `Invalid '${param}': string does not match pattern. Expected a string that matches the pattern '${OPENAI_FUNCTION_NAME.source}'.`, param };
    }
  }
  return null;
}

function conversation(body: Json) {
  const messages = asArray(body.messages).filter(isObject);
  const fn = asArray(body.tools)
    .filter(isObject)
    .map((t) => (isObject(t.function) ? t.function : undefined))
    .find((f) => f !== undefined && SHELL_TOOLS.includes(String(f.name)));
  // A system message after the start (a translated Claude Code environment) is not a turn: the last turn is before it.
  const turns = messages.filter((m) => m.role !== 'system' && m.role !== 'developer');
  const last = turns.at(-1);
  let lastUserText: string | undefined;
  let lastToolResult: string | undefined;
  if (last?.role === 'user') lastUserText = textIn(last.content);
  if (last?.role === 'tool' && fn !== undefined) {
    const calls = new Map(messages.flatMap((m) => asArray(m.tool_calls).filter(isObject)).map((c) => [String(c.id), isObject(c.function) ? String(c.function.name) : '']));
    const results = [];
    for (let i = turns.length - 1; i >= 0 && turns[i]?.role === 'tool'; i--) {
      const m = turns[i] as Json;
      if (calls.get(String(m.tool_call_id)) === fn.name) results.unshift(textIn(m.content));
    }
    if (results.length > 0) lastToolResult = results.join('\n');
  }
  const format = isObject(body.response_format) ? body.response_format : undefined;
  const schema = format?.type === 'json_schema' ? ((isObject(format.json_schema) ? format.json_schema.schema : undefined) ?? {}) : format?.type === 'json_object' ? {} : undefined;
  const instructions = messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textIn(m.content)).join('\n');
  return { lastUserText, lastToolResult, hasShellTool: fn !== undefined, schema, fn, instructions: instructions === '' ? undefined : instructions };
}

export function answerChat(_route: Route, body: Json, script: Script): Answer {
  const conv = conversation(body);
  const decision = decide(conv, script);
  const model = String(body.model);
  const id = randomId('chatcmpl-', 29);
  const created = Math.floor(Date.now() / 1000);
  let message: Json;
  let finish = 'stop';
  switch (decision.kind) {
    case 'tool-call':
      message = { role: 'assistant', content: null, tool_calls: [{ id: randomId('call_'), type: 'function', function: { name: String(conv.fn?.name), arguments: JSON.stringify(shellArguments(conv.fn?.parameters, decision.command)) } }], refusal: null, annotations: [] };
      finish = 'tool_calls';
      break;
    case 'structured':
      message = { role: 'assistant', content: JSON.stringify(decision.value), refusal: null, annotations: [] };
      break;
    default:
      message = { role: 'assistant', content: decision.text, refusal: null, annotations: [] };
  }
  const prompt = Math.max(1, Math.round(JSON.stringify(body.messages).length / 4));
  const completion = Math.max(1, Math.round(JSON.stringify(message).length / 4));
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };
  const toolResult = decision.kind === 'tool-result' ? decision.output : undefined;
  const headers = { 'x-request-id': randomId('req_'), 'openai-processing-ms': '9' };
  if (body.stream !== true) {
    return { status: 200, headers: { 'content-type': 'application/json', ...headers }, json: { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: finish }], usage, service_tier: 'default', system_fingerprint: 'fp_fakestrict' }, kind: kindOf(decision), toolResult };
  }
  const withUsage = isObject(body.stream_options) && body.stream_options.include_usage === true;
  const chunk = (delta: Json, finish_reason: string | null): string =>
    sseEvent({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_fakestrict', choices: [{ index: 0, delta, logprobs: null, finish_reason }], ...(withUsage ? { usage: null } : {}) });
  const events = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
  if (Array.isArray(message.tool_calls)) {
    const call = message.tool_calls[0] as Json;
    const fn = call.function as Json;
    const args = String(fn.arguments);
    const cut = Math.ceil(args.length / 2);
    events.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: fn.name, arguments: '' } }] }, null));
    for (const piece of [args.slice(0, cut), args.slice(cut)]) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
  } else {
    const text = String(message.content);
    const cut = Math.ceil(text.length / 2);
    for (const piece of [text.slice(0, cut), text.slice(cut)]) if (piece !== '') events.push(chunk({ content: piece }, null));
  }
  events.push(chunk({}, finish));
  if (withUsage) events.push(sseEvent({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_fakestrict', choices: [], usage }));
  events.push('data: [DONE]\n\n');
  return { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers }, events, kind: kindOf(decision), toolResult };
}

export const chatFormat: FormatSpec = {
  route(method, url) {
    const path = url.split('?')[0];
    if (method === 'POST' && path === '/v1/chat/completions') return { endpoint: 'chat-completions' };
    return null;
  },
  validate: validateChat,
  answer: answerChat,
  errorBody: openaiErrorBody,
  invalidJsonMessage: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
};
