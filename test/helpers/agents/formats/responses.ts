/**
 * The OpenAI Responses API (api.openai.com): POST /v1/responses, streaming as typed events with
 * sequence numbers, with the rules the real API enforces and its error shape. A WebSocket
 * upgrade on the same path is answered by the server (see strict-upstream.ts).
 *
 * The shell tool is found the way Codex declares it: a function tool (`exec_command` takes
 * `cmd`, `shell` an argv `command`), top level or inside a `namespace` tool, or in "code mode"
 * the freeform `exec` tool of an `additional_tools` input item, which runs JavaScript that calls
 * the nested tools (`await tools.exec_command({cmd})`).
 */
import { type Answer, asArray, decide, type FormatSpec, isObject, type Json, kindOf, type Problem, randomId, type Route, SHELL_TOOLS, shellArguments, sseEvent, textIn } from './types.ts';
import type { Script } from '../strict-upstream.ts';

/** OpenAI's function-name rule: a-z, A-Z, 0-9, underscores and dashes, at most 64. */
export const OPENAI_FUNCTION_NAME = /^[a-zA-Z0-9_-]+$/;
export const OPENAI_FUNCTION_NAME_MAX = 64;

/** The tool types the Responses API knows (openai-node 6.30's `Tool` union). */
export const RESPONSES_TOOL_TYPES = [
  'function',
  'file_search',
  'computer',
  'computer_use_preview',
  'web_search',
  'web_search_2025_08_26',
  'web_search_preview',
  'web_search_preview_2025_03_11',
  'mcp',
  'code_interpreter',
  'image_generation',
  'local_shell',
  'shell',
  'custom',
  'namespace',
  'tool_search',
  'apply_patch',
] as const;

const ROLES = ['user', 'assistant', 'system', 'developer'];

function supported(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}` : quoted.join('');
}

function checkName(name: unknown, param: string): Problem | null {
  if (typeof name !== 'string') return { message: `Missing required parameter: '${param}'.`, param };
  if (name.length > OPENAI_FUNCTION_NAME_MAX) return { message: `Invalid '${param}': string too long. Expected a string with maximum length ${OPENAI_FUNCTION_NAME_MAX}, but got a string with length ${name.length} instead.`, param };
  if (!OPENAI_FUNCTION_NAME.test(name)) return { message: `Invalid '${param}': string does not match pattern. Expected a string that matches the pattern '${OPENAI_FUNCTION_NAME.source}'.`, param };
  return null;
}

function checkTools(tools: unknown[], where: string): Problem | null {
  for (const [i, tool] of tools.entries()) {
    const param = `${where}[${i}]`;
    if (!isObject(tool)) return { message: `Invalid type for '${param}': expected an object.`, param };
    if (typeof tool.type !== 'string' || !(RESPONSES_TOOL_TYPES as readonly string[]).includes(tool.type)) {
      return { message: `Invalid value: '${String(tool.type)}'. Supported values are: ${supported(RESPONSES_TOOL_TYPES)}.`, param: `${param}.type` };
    }
    if (tool.type === 'function' || tool.type === 'custom' || tool.type === 'namespace') {
      const bad = checkName(tool.name, `${param}.name`);
      if (bad !== null) return bad;
    }
    if (tool.type === 'namespace') {
      const nested = asArray(tool.tools);
      for (const [j, inner] of nested.entries()) {
        if (!isObject(inner) || (inner.type !== 'function' && inner.type !== 'custom')) {
          return { message: `Invalid value: '${isObject(inner) ? String(inner.type) : typeof inner}'. Supported values are: 'function' and 'custom'.`, param: `${param}.tools[${j}].type` };
        }
      }
      const bad = checkTools(nested, `${param}.tools`);
      if (bad !== null) return bad;
    }
  }
  return null;
}

const itemsOf = (body: Json): Json[] => (typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : asArray(body.input).filter(isObject));
const typeOf = (item: Json): string => (typeof item.type === 'string' ? item.type : 'message');

/** What POST /v1/responses/input_tokens takes (openai-node 6.30 InputTokenCountParams); anything else is an unknown parameter. */
export const INPUT_TOKENS_FIELDS = ['conversation', 'input', 'instructions', 'model', 'parallel_tool_calls', 'previous_response_id', 'reasoning', 'text', 'tool_choice', 'tools', 'truncation'];

export function validateResponses(route: Route, body: unknown): Problem | null {
  if (!isObject(body)) return { message: 'The request body must be a JSON object.' };
  if (route.endpoint === 'input_tokens') {
    const unknown = Object.keys(body).find((key) => !INPUT_TOKENS_FIELDS.includes(key));
    if (unknown !== undefined) return { message: `Unknown parameter: '${unknown}'.`, param: unknown };
  }
  if (typeof body.model !== 'string' || body.model === '') return { message: "Missing required parameter: 'model'.", param: 'model' };
  if (body.input !== undefined && typeof body.input !== 'string' && !Array.isArray(body.input)) return { message: "Invalid type for 'input': expected one of a string or array of input items.", param: 'input' };
  const items = itemsOf(body);
  const calls = new Map<string, string>();
  for (const [i, item] of items.entries()) {
    const type = typeOf(item);
    if (type === 'message' && !ROLES.includes(String(item.role))) {
      return { message: `Invalid value: '${String(item.role)}'. Supported values are: ${supported(ROLES)}.`, param: `input[${i}].role` };
    }
    if (type === 'function_call' || type === 'custom_tool_call') calls.set(String(item.call_id), type);
    // With store=false (Codex's) there is no earlier response to find a call in: it must be in this input.
    if ((type === 'function_call_output' || type === 'custom_tool_call_output') && body.previous_response_id === undefined) {
      const want = type === 'function_call_output' ? 'function_call' : 'custom_tool_call';
      if (calls.get(String(item.call_id)) !== want) {
        return { message: `No tool call found for ${type === 'function_call_output' ? 'function call' : 'custom tool call'} output with call_id ${String(item.call_id)}.`, param: 'input' };
      }
    }
    if (type === 'additional_tools') {
      const bad = checkTools(asArray(item.tools), `input[${i}].tools`);
      if (bad !== null) return bad;
    }
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return { message: "Invalid type for 'tools': expected an array.", param: 'tools' };
    const bad = checkTools(body.tools, 'tools');
    if (bad !== null) return bad;
  }
  return null;
}

type Shell = { style: 'function'; name: string; namespace?: string; schema: unknown } | { style: 'code'; name: string; namespace?: string };

function findShell(tools: unknown[], namespace?: string): Shell | undefined {
  for (const tool of tools.filter(isObject)) {
    if (tool.type === 'function' && SHELL_TOOLS.includes(String(tool.name))) return { style: 'function', name: String(tool.name), namespace, schema: tool.parameters };
    if (tool.type === 'namespace') {
      const inner = findShell(asArray(tool.tools), String(tool.name));
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** Code mode: the `exec` tool that runs JavaScript with the nested tools, when one of them is the shell. */
function findCodeMode(tools: unknown[], namespace?: string): Shell | undefined {
  for (const tool of tools.filter(isObject)) {
    if (tool.type === 'custom' && tool.name === 'exec' && /tools\.exec_command/.test(String(tool.description))) return { style: 'code', name: 'exec', namespace };
    if (tool.type === 'namespace') {
      const inner = findCodeMode(asArray(tool.tools), String(tool.name));
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

function shellOf(body: Json): Shell | undefined {
  const top = asArray(body.tools);
  const extra = itemsOf(body).filter((i) => typeOf(i) === 'additional_tools').flatMap((i) => asArray(i.tools));
  return findShell(top) ?? findShell(extra) ?? findCodeMode(top) ?? findCodeMode(extra);
}

const isSystem = (item: Json): boolean => typeOf(item) === 'message' && (item.role === 'system' || item.role === 'developer');

function conversation(body: Json) {
  // A system or developer message after the start (a translated Claude Code environment) is not a turn.
  const all = itemsOf(body);
  const firstTurn = all.findIndex((i) => !isSystem(i) && typeOf(i) !== 'additional_tools');
  const items = all.filter((i, n) => !(n > firstTurn && firstTurn >= 0 && isSystem(i)));
  const shell = shellOf(body);
  // What came after the last assistant-side item (message, reasoning, call) is this turn's input.
  const last = items.at(-1);
  let lastUserText: string | undefined;
  let lastToolResult: string | undefined;
  if (last !== undefined) {
    const type = typeOf(last);
    if (type === 'message' && last.role === 'user') lastUserText = textIn(last.content);
    if (type === 'function_call_output' || type === 'custom_tool_call_output') {
      const callIds = new Set(items.filter((i) => (typeOf(i) === 'function_call' || typeOf(i) === 'custom_tool_call') && i.name === shell?.name).map((i) => String(i.call_id)));
      const outputs = [];
      for (let i = items.length - 1; i >= 0; i--) {
        const item = items[i] as Json;
        const t = typeOf(item);
        if (t !== 'function_call_output' && t !== 'custom_tool_call_output') break;
        if (callIds.has(String(item.call_id))) outputs.unshift(textIn(item.output));
      }
      if (outputs.length > 0) lastToolResult = outputs.join('\n');
    }
  }
  const format = isObject(body.text) && isObject(body.text.format) ? body.text.format : undefined;
  const schema = format?.type === 'json_schema' ? (format.schema ?? {}) : undefined;
  const system = items.filter((i) => typeOf(i) === 'message' && (i.role === 'system' || i.role === 'developer')).map((i) => textIn(i.content));
  const instructions = [typeof body.instructions === 'string' ? body.instructions : '', ...system].filter((s) => s !== '').join('\n');
  return { lastUserText, lastToolResult, hasShellTool: shell !== undefined, schema, shell, instructions: instructions === '' ? undefined : instructions };
}

/** The JavaScript a code-mode `exec` call runs: the shell command through the nested tool, its output as the result. */
export function codeModeSource(command: string): string {
  return `const result = await tools.exec_command({ cmd: ${JSON.stringify(command)} });\ntext(result.output);\n`;
}

export function answerResponses(route: Route, body: Json, script: Script): Answer {
  if (route.endpoint === 'input_tokens') {
    const counted = Math.max(1, Math.round((JSON.stringify(body.input ?? '').length + JSON.stringify(body.tools ?? []).length + String(body.instructions ?? '').length) / 4));
    return { status: 200, headers: { 'content-type': 'application/json', 'x-request-id': randomId('req_') }, json: { object: 'response.input_tokens', input_tokens: counted }, kind: 'count-tokens' };
  }
  const conv = conversation(body);
  const decision = decide(conv, script);
  const model = String(body.model);
  const output: Json[] = [];
  // Reasoning comes first, carried back by clients that asked for its encrypted content (Codex does, with store=false).
  if (isObject(body.reasoning) && asArray(body.include).includes('reasoning.encrypted_content') && decision.kind !== 'structured' && decision.kind !== 'side') {
    output.push({ id: randomId('rs_'), type: 'reasoning', summary: [], encrypted_content: randomId('gAAAAABfake', 120) });
  }
  const message = (text: string): Json => ({ id: randomId('msg_'), type: 'message', status: 'completed', content: [{ type: 'output_text', annotations: [], logprobs: [], text }], role: 'assistant' });
  switch (decision.kind) {
    case 'tool-call': {
      const shell = conv.shell as Shell;
      const ns = shell.namespace !== undefined && shell.namespace !== 'functions' ? { namespace: shell.namespace } : {};
      if (shell.style === 'function') {
        output.push({ id: randomId('fc_'), type: 'function_call', status: 'completed', arguments: JSON.stringify(shellArguments(shell.schema, decision.command)), call_id: randomId('call_'), name: shell.name, ...ns });
      } else {
        output.push({ id: randomId('ctc_'), type: 'custom_tool_call', status: 'completed', call_id: randomId('call_'), input: codeModeSource(decision.command), name: shell.name, ...ns });
      }
      break;
    }
    case 'tool-result':
    case 'plain':
    case 'side':
      output.push(message(decision.text));
      break;
    case 'structured':
      output.push(message(JSON.stringify(decision.value)));
      break;
  }
  const inputTokens = Math.max(1, Math.round(JSON.stringify(body.input ?? '').length / 4));
  const outputTokens = Math.max(1, Math.round(JSON.stringify(output).length / 4));
  const id = randomId('resp_');
  const created = Math.floor(Date.now() / 1000);
  const base = {
    id,
    object: 'response',
    created_at: created,
    model,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: isObject(body.reasoning) ? { effort: body.reasoning.effort ?? null, summary: body.reasoning.summary ?? null } : { effort: null, summary: null },
    store: body.store ?? true,
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    text: body.text ?? { format: { type: 'text' } },
    truncation: 'disabled',
    metadata: {},
  };
  const usage = { input_tokens: inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: outputTokens, output_tokens_details: { reasoning_tokens: output[0]?.type === 'reasoning' ? 8 : 0 }, total_tokens: inputTokens + outputTokens };
  const completed = { ...base, status: 'completed', completed_at: created, error: null, incomplete_details: null, output, usage };
  const toolResult = decision.kind === 'tool-result' ? decision.output : undefined;
  const headers = { 'x-request-id': randomId('req_'), 'openai-processing-ms': '12', 'openai-version': '2020-10-01' };
  if (body.stream !== true) return { status: 200, headers: { 'content-type': 'application/json', ...headers }, json: completed, kind: kindOf(decision), toolResult };

  let seq = 0;
  const events: string[] = [];
  const emit = (type: string, rest: Json): void => {
    events.push(sseEvent({ type, sequence_number: seq++, ...rest }, type));
  };
  const pending = { ...base, status: 'in_progress', completed_at: null, error: null, incomplete_details: null, output: [], usage: null };
  emit('response.created', { response: pending });
  emit('response.in_progress', { response: pending });
  output.forEach((item, output_index) => {
    switch (item.type) {
      case 'reasoning':
        emit('response.output_item.added', { output_index, item: { id: item.id, type: 'reasoning', summary: [] } });
        emit('response.output_item.done', { output_index, item });
        break;
      case 'message': {
        const text = String(((item.content as Json[])[0] as Json).text);
        emit('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
        emit('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
        const cut = Math.ceil(text.length / 2);
        for (const delta of [text.slice(0, cut), text.slice(cut)]) if (delta !== '') emit('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta, logprobs: [] });
        emit('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text, logprobs: [] });
        emit('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text } });
        emit('response.output_item.done', { output_index, item });
        break;
      }
      case 'function_call': {
        const args = String(item.arguments);
        emit('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
        const cut = Math.ceil(args.length / 2);
        for (const delta of [args.slice(0, cut), args.slice(cut)]) emit('response.function_call_arguments.delta', { item_id: item.id, output_index, delta });
        emit('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: args });
        emit('response.output_item.done', { output_index, item });
        break;
      }
      case 'custom_tool_call': {
        const input = String(item.input);
        emit('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', input: '' } });
        const cut = Math.ceil(input.length / 2);
        for (const delta of [input.slice(0, cut), input.slice(cut)]) emit('response.custom_tool_call_input.delta', { item_id: item.id, output_index, delta });
        emit('response.custom_tool_call_input.done', { item_id: item.id, output_index, input });
        emit('response.output_item.done', { output_index, item });
        break;
      }
    }
  });
  emit('response.completed', { response: completed });
  return { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers }, events, kind: kindOf(decision), toolResult };
}

export const openaiErrorBody = (status: number, message: string, param?: string): Json => ({
  error: { message, type: status === 404 ? 'invalid_request_error' : status >= 500 ? 'server_error' : 'invalid_request_error', param: param ?? null, code: status === 404 ? 'not_found' : param === undefined ? null : 'invalid_value' },
});

export const responsesFormat: FormatSpec = {
  route(method, url) {
    const path = url.split('?')[0];
    if (path === '/v1/responses' && method === 'POST') return { endpoint: 'responses' };
    if (path === '/v1/responses/input_tokens' && method === 'POST') return { endpoint: 'input_tokens' };
    return null;
  },
  validate: validateResponses,
  answer: answerResponses,
  errorBody: openaiErrorBody,
  invalidJsonMessage: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
};
