/**
 * The Anthropic Messages API (api.anthropic.com): POST /v1/messages (streaming or not) and
 * POST /v1/messages/count_tokens, with the rules the real API enforces and its error shape.
 */
import { type Answer, asArray, decide, type FormatSpec, isObject, type Json, kindOf, type Problem, randomId, type Route, type Rules, SHELL_TOOLS, shellArguments, sseEvent, textIn } from './types.ts';
import type { Script } from '../strict-upstream.ts';

/** The documented pattern of a client tool's name (platform.claude.com, "Define tools"). */
export const ANTHROPIC_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const blocks = (content: unknown): Json[] => (typeof content === 'string' ? [{ type: 'text', text: content }] : asArray(content).filter(isObject));

/**
 * Which models take `role: "system"` messages inside `messages` ("mid-conversation system
 * blocks", added to the API with claude-opus-4-8; @anthropic-ai/sdk 1.14 has SystemMessageParam
 * in MessageParam). The older models take only user and assistant turns, the system prompt
 * being the top-level `system`. `by-model` refuses them for the models before that.
 */
export type SystemMessages = NonNullable<Rules['systemMessages']>;
const OLD_MODELS = /^claude-(instant|2|3)|^claude-(opus|sonnet|haiku)-4(-[0-7])?(-\d{8})?(-v\d+)?$/;
export const takesSystemMessages = (model: string, mode: SystemMessages = 'by-model'): boolean => (mode === 'by-model' ? !OLD_MODELS.test(model) : mode === 'always');

/**
 * What count_tokens takes (@anthropic-ai/sdk 1.14 MessageCountTokensParams and its beta variant);
 * anything else, max_tokens and stream included, it refuses as an extra input.
 */
export const COUNT_TOKENS_FIELDS = ['messages', 'model', 'cache_control', 'output_config', 'output_format', 'speed', 'system', 'thinking', 'tool_choice', 'tools', 'mcp_servers', 'context_management', 'compaction', 'billing_policy', 'user_profile_id', 'workspace_id', 'betas'];

export function validateAnthropic(route: Route, body: unknown, rules: Rules = {}): Problem | null {
  if (!isObject(body)) return { message: 'Input should be an object' };
  if (typeof body.model !== 'string' || body.model === '') return { message: 'model: Field required' };
  const counting = route.endpoint === 'count_tokens';
  if (counting) {
    const extra = Object.keys(body).find((key) => !COUNT_TOKENS_FIELDS.includes(key));
    if (extra !== undefined) return { message: `${extra}: Extra inputs are not permitted` };
  } else {
    if (body.max_tokens === undefined) return { message: 'max_tokens: Field required' };
    if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) return { message: 'max_tokens: Input should be greater than or equal to 1' };
  }
  if (!Array.isArray(body.messages)) return { message: 'messages: Field required' };
  if (body.system !== undefined && typeof body.system !== 'string') {
    if (!Array.isArray(body.system)) return { message: 'system: Input should be a valid string' };
    for (const [i, b] of body.system.entries()) if (!isObject(b) || b.type !== 'text') return { message: `system.${i}.type: Input should be 'text'` };
  }
  const messages = body.messages as unknown[];
  for (const [i, m] of messages.entries()) {
    if (!isObject(m)) return { message: `messages.${i}: Input should be a valid dictionary` };
    // The system prompt is the top-level `system`; a message is the user's or the assistant's, or on
    // the models that take them a mid-conversation system message (text only).
    const system = m.role === 'system' && takesSystemMessages(String(body.model), rules.systemMessages);
    if (m.role !== 'user' && m.role !== 'assistant' && !system) return { message: `messages.${i}.role: Input should be 'user' or 'assistant'` };
    if (system && blocks(m.content).some((b) => b.type !== 'text')) return { message: `messages.${i}.content: a system message can only contain text blocks` };
    if (m.content === undefined) return { message: `messages.${i}.content: Field required` };
  }
  // Every tool_use is answered by a tool_result with its id in the next message (the user's), and
  // every tool_result answers a tool_use of the message before.
  for (const [i, m] of messages.entries()) {
    const msg = m as Json;
    const content = blocks(msg.content);
    if (msg.role === 'assistant') {
      const ids = content.filter((b) => b.type === 'tool_use').map((b) => String(b.id));
      if (ids.length === 0) continue;
      const next = messages[i + 1] as Json | undefined;
      const answered = new Set(next?.role === 'user' ? blocks(next.content).filter((b) => b.type === 'tool_result').map((b) => String(b.tool_use_id)) : []);
      const missing = ids.filter((id) => !answered.has(id));
      if (missing.length > 0) {
        return {
          message: `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        };
      }
    } else {
      const prev = messages[i - 1] as Json | undefined;
      const asked = new Set(prev?.role === 'assistant' ? blocks(prev.content).filter((b) => b.type === 'tool_use').map((b) => String(b.id)) : []);
      for (const [j, b] of content.entries()) {
        if (b.type === 'tool_result' && !asked.has(String(b.tool_use_id))) {
          return {
            message: `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
          };
        }
      }
    }
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return { message: 'tools: Input should be a valid list' };
    for (const [i, tool] of body.tools.entries()) {
      if (!isObject(tool)) return { message: `tools.${i}: Input should be a valid dictionary` };
      // Server tools (web_search_20250305, bash_20250124…) have a fixed name; a client tool has none or type "custom".
      const custom = tool.type === undefined || tool.type === null || tool.type === 'custom';
      if (!custom) continue;
      if (typeof tool.name !== 'string' || !ANTHROPIC_TOOL_NAME.test(tool.name)) {
        return { message: `tools.${i}.custom.name: String should match pattern '${ANTHROPIC_TOOL_NAME.source}'` };
      }
      if (!isObject(tool.input_schema)) return { message: `tools.${i}.custom.input_schema: Field required` };
    }
  }
  if (!counting && isObject(body.thinking) && body.thinking.type === 'enabled') {
    const budget = body.thinking.budget_tokens;
    if (typeof budget !== 'number' || budget < 1024) return { message: 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024' };
    if ((body.max_tokens as number) <= budget) return { message: '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size' };
  }
  return null;
}

interface ShellTool {
  name: string;
  schema: unknown;
}

function shellTool(body: Json): ShellTool | undefined {
  const tools = asArray(body.tools).filter(isObject);
  const tool = tools.find((t) => typeof t.name === 'string' && SHELL_TOOLS.includes(t.name) && (t.type === undefined || t.type === 'custom'));
  return tool === undefined ? undefined : { name: String(tool.name), schema: tool.input_schema };
}

/** The structured-output schema of a request: `output_config.format` (today's) or `output_format` (the beta's). */
function outputSchema(body: Json): unknown {
  for (const holder of [isObject(body.output_config) ? body.output_config.format : undefined, body.output_format]) {
    if (isObject(holder) && holder.type === 'json_schema') return holder.schema ?? {};
  }
  return undefined;
}

function conversation(body: Json) {
  // Mid-conversation system messages (Claude Code puts its environment after the prompt) are not a turn.
  const messages = asArray(body.messages).filter((m) => isObject(m) && m.role !== 'system') as Json[];
  const last = messages.at(-1);
  const tool = shellTool(body);
  let lastUserText: string | undefined;
  let lastToolResult: string | undefined;
  if (last?.role === 'user') {
    const content = blocks(last.content);
    const results = content.filter((b) => b.type === 'tool_result');
    if (results.length > 0) {
      const prev = messages.at(-2);
      const calls = new Map(blocks(prev?.content).filter((b) => b.type === 'tool_use').map((b) => [String(b.id), String(b.name)]));
      const ours = results.filter((r) => calls.get(String(r.tool_use_id)) === tool?.name);
      if (ours.length > 0) lastToolResult = ours.map((r) => textIn(r.content)).join('\n');
    } else {
      lastUserText = content.filter((b) => b.type === 'text').map((b) => String(b.text)).join('\n');
    }
  }
  const instructions = textIn(body.system);
  return { lastUserText, lastToolResult, hasShellTool: tool !== undefined, schema: outputSchema(body), tool, instructions: instructions === '' ? undefined : instructions };
}

const HEADERS = { 'request-id': 'req_011FakeStrictAnthropic', 'anthropic-organization-id': 'fake-org' };

function usage(input: number) {
  return { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0, service_tier: 'standard' };
}

/** The thinking the real API returns when the request enabled it (`display: "omitted"` gets the signature only). */
function thinkingBlock(body: Json): Json | undefined {
  const thinking = body.thinking;
  if (!isObject(thinking) || (thinking.type !== 'enabled' && thinking.type !== 'adaptive')) return undefined;
  const text = thinking.display === 'omitted' ? '' : 'The user wants something; I will do it.';
  return { type: 'thinking', thinking: text, signature: randomId('EqoBCkYIBxgCKkD', 96) };
}

export function answerAnthropic(route: Route, body: Json, script: Script): Answer {
  const inputTokens = Math.max(1, Math.round(JSON.stringify(body.messages ?? []).length / 4));
  if (route.endpoint === 'count_tokens') return { status: 200, headers: { 'content-type': 'application/json', ...HEADERS }, json: { input_tokens: inputTokens + Math.round(JSON.stringify(body.tools ?? []).length / 4) }, kind: 'count-tokens' };
  const conv = conversation(body);
  const decision = decide(conv, script);
  const content: Json[] = [];
  const thinking = thinkingBlock(body);
  if (thinking !== undefined && decision.kind !== 'structured' && decision.kind !== 'side') content.push(thinking);
  let stopReason = 'end_turn';
  switch (decision.kind) {
    case 'tool-call':
      content.push({ type: 'text', text: 'I will run that command.' });
      content.push({ type: 'tool_use', id: randomId('toolu_01'), name: conv.tool?.name ?? 'Bash', input: shellArguments(conv.tool?.schema, decision.command) });
      stopReason = 'tool_use';
      break;
    case 'tool-result':
    case 'plain':
    case 'side':
      content.push({ type: 'text', text: decision.text });
      break;
    case 'structured':
      content.push({ type: 'text', text: JSON.stringify(decision.value) });
      break;
  }
  const model = String(body.model);
  const id = randomId('msg_01');
  const outputTokens = Math.max(1, Math.round(JSON.stringify(content).length / 4));
  const toolResult = decision.kind === 'tool-result' ? decision.output : undefined;
  if (body.stream !== true) {
    return {
      status: 200,
      headers: { 'content-type': 'application/json', ...HEADERS },
      json: { id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage: { ...usage(inputTokens), output_tokens: outputTokens } },
      kind: kindOf(decision),
      toolResult,
    };
  }
  // The stream as the real API sends it: message_start, then per block start / deltas / stop, a ping, message_delta with the stop reason and usage, message_stop.
  const events: string[] = [sseEvent({ type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage(inputTokens), output_tokens: 1 } } }, 'message_start')];
  content.forEach((block, index) => {
    switch (block.type) {
      case 'thinking':
        events.push(sseEvent({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }, 'content_block_start'));
        if (block.thinking !== '') events.push(sseEvent({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: block.thinking } }, 'content_block_delta'));
        events.push(sseEvent({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature } }, 'content_block_delta'));
        break;
      case 'text': {
        events.push(sseEvent({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }, 'content_block_start'));
        if (index === 0) events.push(sseEvent({ type: 'ping' }, 'ping'));
        const text = String(block.text);
        const cut = Math.ceil(text.length / 2);
        for (const piece of [text.slice(0, cut), text.slice(cut)]) if (piece !== '') events.push(sseEvent({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }, 'content_block_delta'));
        break;
      }
      case 'tool_use': {
        events.push(sseEvent({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } }, 'content_block_start'));
        const json = JSON.stringify(block.input);
        const cut = Math.ceil(json.length / 2);
        events.push(sseEvent({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } }, 'content_block_delta'));
        for (const piece of [json.slice(0, cut), json.slice(cut)]) events.push(sseEvent({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }, 'content_block_delta'));
        break;
      }
    }
    events.push(sseEvent({ type: 'content_block_stop', index }, 'content_block_stop'));
  });
  events.push(sseEvent({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outputTokens } }, 'message_delta'));
  events.push(sseEvent({ type: 'message_stop' }, 'message_stop'));
  return { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...HEADERS }, events, kind: kindOf(decision), toolResult };
}

const ERROR_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 405: 'invalid_request_error', 426: 'invalid_request_error', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };

export const anthropicFormat: FormatSpec = {
  route(method, url) {
    const path = url.split('?')[0];
    if (method !== 'POST') return null;
    if (path === '/v1/messages') return { endpoint: 'messages' };
    if (path === '/v1/messages/count_tokens') return { endpoint: 'count_tokens' };
    return null;
  },
  validate: validateAnthropic,
  answer: answerAnthropic,
  errorBody: (status, message) => ({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message }, request_id: 'req_011FakeStrictAnthropic' }),
  invalidJsonMessage: 'There was an error parsing the body of your request: the body is not valid JSON.',
};
