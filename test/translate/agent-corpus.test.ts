/**
 * Every request the coding agents really sent (test/fixtures/agents/<agent>/<scenario>/NN-*.json,
 * see FINDINGS.md) through every translation pair: from the agent's own format to each of the four
 * formats, on a model of each kind where the target's rules depend on it (Claude before and after
 * mid-conversation system messages, Gemini 2.5 and 3). For each translated request:
 *
 *   - the strict validator its fake upstream uses accepts it (test/helpers/agents/formats/);
 *   - no text is lost: every text of the system prompt, the user's and assistant's turns and the
 *     tool results appears in the translated conversation, in the same order;
 *   - every tool name is valid for the target;
 *   - no reasoning of the agent's provider (Anthropic signatures, OpenAI encrypted content, Gemini
 *     thought signatures) reaches another provider;
 *   - the answers go back: the strict fake's own answer to the translated request, whole and
 *     streamed, reaches the agent's format without an error; and a call of each tool the upstream
 *     was offered comes back, whole and streamed, as a call of the tool the agent declared (its
 *     namespace, a custom tool's call with its text input).
 *
 * The fixtures hold requests only; the answers are what the strict fakes (the same the agent runs
 * use) answer to the translated request, and one synthesized call per tool.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { anthropicFormat, ANTHROPIC_TOOL_NAME } from '../helpers/agents/formats/anthropic.ts';
import { chatFormat } from '../helpers/agents/formats/chat.ts';
import { geminiFormat, GEMINI_FUNCTION_NAME } from '../helpers/agents/formats/gemini.ts';
import { OPENAI_FUNCTION_NAME, OPENAI_FUNCTION_NAME_MAX, responsesFormat } from '../helpers/agents/formats/responses.ts';
import type { FormatSpec, Json } from '../helpers/agents/formats/types.ts';
import { PLAIN_ANSWER, RESULT_PREFIX } from '../helpers/agents/scenarios.ts';
import type { Script } from '../helpers/agents/strict-upstream.ts';
import { createStreamTranslator, translateRequest, translateResponse, type ToolNames, type WireFormat } from '../../src/server/translate/index.ts';

const ROOT = fileURLToPath(new URL('../fixtures/agents/', import.meta.url));
const AGENT_FORMAT: Record<string, WireFormat> = { claude: 'anthropic', codex: 'responses', gemini: 'gemini' };
const SPECS: Record<WireFormat, FormatSpec> = { chat: chatFormat, responses: responsesFormat, anthropic: anthropicFormat, gemini: geminiFormat };

/** Targets: each format, and both sides of the model-dependent rules. */
const TARGETS: ReadonlyArray<{ format: WireFormat; model: string }> = [
  { format: 'chat', model: 'gpt-4o' },
  { format: 'responses', model: 'gpt-5.5' },
  { format: 'anthropic', model: 'claude-opus-5-5' },
  { format: 'anthropic', model: 'claude-sonnet-4-5' },
  { format: 'gemini', model: 'gemini-3.1-pro-preview' },
  { format: 'gemini', model: 'gemini-2.5-pro' },
];

interface Recorded {
  name: string;
  format: WireFormat;
  body: Json;
  stream: boolean;
  script: Script;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function loadCorpus(): Recorded[] {
  const out: Recorded[] = [];
  for (const agent of readdirSync(ROOT).sort()) {
    const format = AGENT_FORMAT[agent];
    if (format === undefined || !statSync(join(ROOT, agent)).isDirectory()) continue;
    for (const scenario of readdirSync(join(ROOT, agent)).sort()) {
      const dir = join(ROOT, agent, scenario);
      const meta = JSON.parse(readFileSync(join(dir, 'scenario.json'), 'utf8')) as Json;
      const command = typeof meta.command === 'string' ? meta.command : undefined;
      const script: Script = { text: PLAIN_ANSWER, resultPrefix: RESULT_PREFIX, ...(command === undefined ? {} : { trigger: command, command }) };
      for (const file of readdirSync(dir).filter((f) => /^\d\d-.*\.json$/.test(f)).sort()) {
        const recorded = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Json;
        // The WebSocket attempt has no body: it is answered 426 (test/integration/gateway-websocket.test.ts).
        if (!isObject(recorded.body)) continue;
        const path = String(recorded.path);
        out.push({ name: `${agent}/${scenario}/${file}`, format, body: recorded.body, stream: recorded.body.stream === true || path.includes(':streamGenerateContent'), script });
      }
    }
  }
  return out;
}

/** The texts a conversation must keep, in order: system prompt, then every turn's text and tool results. */
function sourceTexts(format: WireFormat, body: Json): string[] {
  const texts: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value === 'string' && value.trim() !== '') texts.push(value);
  };
  const blockTexts = (content: unknown): void => {
    if (typeof content === 'string') return add(content);
    for (const block of list(content)) {
      if (!isObject(block)) continue;
      if (block.type === 'text' || block.type === 'input_text' || block.type === 'output_text') add(block.text);
      else if (block.type === 'tool_result') blockTexts(block.content);
    }
  };
  switch (format) {
    case 'anthropic':
      blockTexts(body.system);
      for (const m of list(body.messages)) if (isObject(m)) blockTexts(m.content);
      break;
    case 'responses':
      add(body.instructions);
      for (const item of list(body.input)) {
        if (!isObject(item)) continue;
        if (item.type === 'message' || item.type === undefined) blockTexts(item.content);
        else if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output') blockTexts(item.output);
      }
      break;
    case 'gemini':
      for (const p of list(isObject(body.systemInstruction) ? body.systemInstruction.parts : [])) if (isObject(p)) add(p.text);
      for (const c of list(body.contents)) {
        for (const p of list(isObject(c) ? c.parts : [])) {
          if (!isObject(p) || p.thought === true) continue;
          add(p.text);
          if (isObject(p.functionResponse) && isObject(p.functionResponse.response)) for (const v of Object.values(p.functionResponse.response)) add(v);
        }
      }
      break;
    case 'chat':
      for (const m of list(body.messages)) if (isObject(m)) blockTexts(m.content);
      break;
  }
  return texts;
}

/** Every string value of the translated conversation, in its order (system slot first). */
function conversationText(format: WireFormat, body: Json): string {
  const strings: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') strings.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (isObject(value)) Object.values(value).forEach(walk);
  };
  const slots: Record<WireFormat, unknown[]> = {
    anthropic: [body.system, body.messages],
    chat: [body.messages],
    responses: [body.instructions, body.input],
    gemini: [body.systemInstruction, body.contents],
  };
  slots[format].forEach(walk);
  return strings.join('\u0000');
}

function assertTextsInOrder(texts: string[], translated: string, where: string): void {
  let at = 0;
  for (const [i, text] of texts.entries()) {
    const found = translated.indexOf(text, at);
    assert.ok(found >= 0, `${where}: text ${i} (${JSON.stringify(text.slice(0, 80))}…) is missing or out of order`);
    at = found + text.length;
  }
}

/** Signatures and encrypted reasoning of the agent's own provider. */
function ownSignatures(format: WireFormat, body: Json): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (isObject(value)) {
      if (format === 'anthropic' && value.type === 'thinking' && typeof value.signature === 'string' && value.signature !== '') found.push(value.signature);
      if (format === 'anthropic' && value.type === 'redacted_thinking' && typeof value.data === 'string') found.push(value.data);
      if (format === 'responses' && typeof value.encrypted_content === 'string') found.push(value.encrypted_content);
      if (format === 'gemini' && typeof value.thoughtSignature === 'string') found.push(value.thoughtSignature);
      Object.values(value).forEach(walk);
    }
  };
  walk(body);
  return found;
}

function toolNamesOf(format: WireFormat, body: Json): string[] {
  switch (format) {
    case 'chat':
      return list(body.tools).flatMap((t) => (isObject(t) && isObject(t.function) ? [String(t.function.name)] : []));
    case 'responses':
      return list(body.tools).flatMap((t) => (isObject(t) && t.type === 'function' ? [String(t.name)] : []));
    case 'anthropic':
      return list(body.tools).flatMap((t) => (isObject(t) && t.type === undefined ? [String(t.name)] : []));
    case 'gemini':
      return list(body.tools).flatMap((t) => (isObject(t) ? list(t.functionDeclarations).map((d) => String((d as Json).name)) : []));
  }
}

function nameIsValid(format: WireFormat, name: string): boolean {
  if (format === 'gemini') return GEMINI_FUNCTION_NAME.test(name);
  if (format === 'anthropic') return ANTHROPIC_TOOL_NAME.test(name);
  return OPENAI_FUNCTION_NAME.test(name) && name.length <= OPENAI_FUNCTION_NAME_MAX;
}

function upstreamUrl(format: WireFormat, model: string, stream: boolean): string {
  switch (format) {
    case 'chat':
      return '/v1/chat/completions';
    case 'responses':
      return '/v1/responses';
    case 'anthropic':
      return '/v1/messages';
    case 'gemini':
      return `/v1beta/models/${model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
  }
}

/** A tool as the agent declared it: `kind` says which call item it gets back. */
interface Declared {
  name: string;
  namespace?: string;
  kind: 'function' | 'custom' | 'tool_search';
}

const key = (t: { name: string; namespace?: string | undefined; kind: string }): string => `${t.kind}:${t.namespace ?? ''}:${t.name}`;

function declaredTools(format: WireFormat, body: Json): Declared[] {
  const out: Declared[] = [];
  const responsesTools = (tools: unknown[], namespace?: string): void => {
    for (const t of tools) {
      if (!isObject(t)) continue;
      if (t.type === 'function' || t.type === 'custom') out.push({ name: String(t.name), ...(namespace === undefined ? {} : { namespace }), kind: t.type });
      else if (t.type === 'namespace') responsesTools(list(t.tools), t.name === 'functions' ? undefined : String(t.name));
      else if (t.type === 'tool_search' && t.execution === 'client') out.push({ name: 'tool_search', kind: 'tool_search' });
    }
  };
  switch (format) {
    case 'responses':
      responsesTools(list(body.tools));
      for (const item of list(body.input)) if (isObject(item) && item.type === 'additional_tools') responsesTools(list(item.tools));
      break;
    case 'anthropic':
      for (const t of list(body.tools)) if (isObject(t) && t.type === undefined && t.defer_loading !== true) out.push({ name: String(t.name), kind: 'function' });
      break;
    case 'gemini':
      for (const t of list(body.tools)) for (const d of list(isObject(t) ? t.functionDeclarations : [])) out.push({ name: String((d as Json).name), kind: 'function' });
      break;
    case 'chat':
      break;
  }
  return out;
}

/** The calls in a client-format answer (whole or streamed), as the client sees them. */
function callsIn(format: WireFormat, answer: unknown, streamed: boolean): Array<{ name: string; namespace?: string; kind: string; input?: unknown }> {
  const bodies: unknown[] = streamed ? sseData(answer as string) : [answer];
  const calls: Array<{ name: string; namespace?: string; kind: string; input?: unknown }> = [];
  for (const b of bodies) {
    if (!isObject(b)) continue;
    switch (format) {
      case 'responses': {
        const output = streamed ? (b.type === 'response.completed' && isObject(b.response) ? b.response.output : []) : b.output;
        for (const item of list(output)) {
          if (!isObject(item)) continue;
          const ns = typeof item.namespace === 'string' ? { namespace: item.namespace } : {};
          if (item.type === 'function_call') calls.push({ name: String(item.name), ...ns, kind: 'function' });
          else if (item.type === 'custom_tool_call') calls.push({ name: String(item.name), ...ns, kind: 'custom', input: item.input });
          else if (item.type === 'tool_search_call') calls.push({ name: 'tool_search', kind: 'tool_search', input: item.arguments });
        }
        break;
      }
      case 'anthropic': {
        const blocks = streamed ? (b.type === 'content_block_start' ? [b.content_block] : []) : list(b.content);
        for (const block of blocks) if (isObject(block) && block.type === 'tool_use') calls.push({ name: String(block.name), kind: 'function' });
        break;
      }
      case 'gemini':
        for (const c of list(b.candidates)) for (const p of list(isObject(c) && isObject(c.content) ? c.content.parts : [])) if (isObject(p) && isObject(p.functionCall)) calls.push({ name: String(p.functionCall.name), kind: 'function' });
        break;
      case 'chat':
        break;
    }
  }
  return calls;
}

function sseData(text: string): unknown[] {
  const out: unknown[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '' || data === '[DONE]') continue;
    out.push(JSON.parse(data));
  }
  return out;
}

function hasErrorEvent(format: WireFormat, text: string): boolean {
  return sseData(text).some((e) => isObject(e) && (e.type === 'error' || (format !== 'responses' && format !== 'anthropic' && e.error !== undefined)));
}

/** One call of `name` with `args`, in format `format`, whole and as a stream. */
function upstreamCall(format: WireFormat, name: string, args: Json): { json: unknown; sse: string } {
  const argsText = JSON.stringify(args);
  const data = (value: unknown, event?: string): string => `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(value)}\n\n`;
  switch (format) {
    case 'chat': {
      const call = { id: 'call_corpus_1', type: 'function', function: { name, arguments: argsText } };
      const chunk = (delta: Json, finish: string | null): string => data({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
      return {
        json: { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }] },
        sse: chunk({ role: 'assistant', tool_calls: [{ index: 0, ...call, function: { name, arguments: '' } }] }, null) + chunk({ tool_calls: [{ index: 0, function: { arguments: argsText } }] }, null) + chunk({}, 'tool_calls') + 'data: [DONE]\n\n',
      };
    }
    case 'responses': {
      const item = { id: 'fc_1', type: 'function_call', status: 'completed', call_id: 'call_corpus_1', name, arguments: argsText };
      const response = { id: 'resp_1', object: 'response', status: 'completed', model: 'm', output: [item] };
      return {
        json: response,
        sse:
          data({ type: 'response.created', response: { ...response, status: 'in_progress', output: [] } }, 'response.created') +
          data({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } }, 'response.output_item.added') +
          data({ type: 'response.function_call_arguments.delta', output_index: 0, item_id: 'fc_1', delta: argsText }, 'response.function_call_arguments.delta') +
          data({ type: 'response.output_item.done', output_index: 0, item }, 'response.output_item.done') +
          data({ type: 'response.completed', response }, 'response.completed'),
      };
    }
    case 'anthropic': {
      const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'tool_use', id: 'toolu_corpus_1', name, input: args }], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 1 } };
      return {
        json: message,
        sse:
          data({ type: 'message_start', message: { ...message, content: [], stop_reason: null } }, 'message_start') +
          data({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_corpus_1', name, input: {} } }, 'content_block_start') +
          data({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: argsText } }, 'content_block_delta') +
          data({ type: 'content_block_stop', index: 0 }, 'content_block_stop') +
          data({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 1 } }, 'message_delta') +
          data({ type: 'message_stop' }, 'message_stop'),
      };
    }
    case 'gemini': {
      const chunk = { candidates: [{ content: { role: 'model', parts: [{ functionCall: { name, args } }] }, finishReason: 'STOP', index: 0 }], modelVersion: 'm' };
      return { json: chunk, sse: data(chunk) };
    }
  }
}

function translateStream(from: WireFormat, to: WireFormat, sse: string, tools: ToolNames): string {
  let out = '';
  const translator = createStreamTranslator(from, to, (bytes) => (out += bytes), { model: 'client-model', requestId: 'corpus', created: 1, tools });
  translator.push(Buffer.from(sse));
  translator.end();
  assert.equal(translator.failed(), false, `the stream ended in an error:\n${out.slice(0, 400)}`);
  return out;
}

function answerBody(answer: { json?: unknown; events?: string[] }): { json?: unknown; sse?: string } {
  return answer.events === undefined ? { json: answer.json } : { sse: answer.events.join('') };
}

const corpus = loadCorpus();

describe('the agents’ recorded requests through every translation pair', () => {
  let pairs = 0;
  let answers = 0;
  for (const recorded of corpus) {
    for (const target of TARGETS) {
      it(`${recorded.name} → ${target.format} (${target.model})`, () => {
        const where = `${recorded.name} → ${target.format}/${target.model}`;
        const translated = translateRequest(recorded.format, target.format, structuredClone(recorded.body), { model: target.model, stream: recorded.stream });
        const body = translated.body as Json;
        const spec = SPECS[target.format];
        const route = spec.route('POST', upstreamUrl(target.format, target.model, recorded.stream));
        assert.ok(route !== null);
        const upstreamBody = target.format === 'gemini' ? body : { ...body };
        const problem = spec.validate(route, upstreamBody, {});
        assert.equal(problem, null, `${where}: the strict ${target.format} validator refused it: ${problem?.message}`);

        assertTextsInOrder(sourceTexts(recorded.format, recorded.body), conversationText(target.format, body), where);

        const names = toolNamesOf(target.format, body);
        for (const name of names) assert.ok(nameIsValid(target.format, name), `${where}: tool name ${name} is not valid for ${target.format}`);
        assert.equal(new Set(names).size, names.length, `${where}: two tools share a name`);

        if (target.format !== recorded.format) {
          const text = JSON.stringify(body);
          for (const signature of ownSignatures(recorded.format, recorded.body)) assert.ok(!text.includes(signature), `${where}: ${recorded.format}'s reasoning signature reached ${target.format}`);
        }
        pairs++;

        // The strict fake's answer to this request, whole and streamed, back to the agent's format.
        for (const stream of [false, true]) {
          const answer = answerBody(spec.answer(spec.route('POST', upstreamUrl(target.format, target.model, stream)) ?? route, { ...body, stream }, recorded.script));
          if (answer.sse !== undefined) {
            const out = translateStream(target.format, recorded.format, answer.sse, translated.tools);
            assert.equal(hasErrorEvent(recorded.format, out), false, `${where}: error event in the translated stream`);
          } else {
            assert.doesNotThrow(() => translateResponse(target.format, recorded.format, answer.json, { model: 'client-model', requestId: 'corpus', created: 1, tools: translated.tools }));
          }
          answers++;
        }

        // A call of every tool the upstream was offered comes back as the agent's own tool.
        const declared = new Map(declaredTools(recorded.format, recorded.body).map((t) => [key(t), t]));
        const seen = new Set<string>();
        // Not the agent's: Anthropic's stand-in for structured output (structured-output.ts).
        const offered = names.filter((name) => !(target.format === 'anthropic' && (name === 'json_response' || name === 'json_response_value')));
        for (const name of offered) {
          const tool = translated.tools.client(name);
          const kind = tool.kind ?? 'function';
          const args = kind === 'custom' ? { input: 'print("corpus")' } : {};
          const call = upstreamCall(target.format, name, args);
          const whole = callsIn(recorded.format, translateResponse(target.format, recorded.format, call.json, { model: 'client-model', requestId: 'corpus', created: 1, tools: translated.tools }), false);
          const streamed = callsIn(recorded.format, translateStream(target.format, recorded.format, call.sse, translated.tools), true);
          for (const [how, calls] of [['whole', whole], ['streamed', streamed]] as const) {
            assert.equal(calls.length, 1, `${where}: ${how} call of ${name}`);
            const back = calls[0] as { name: string; namespace?: string; kind: string; input?: unknown };
            assert.ok(declared.has(key(back)), `${where}: ${how} call of upstream ${name} came back as ${key(back)}, which the agent did not declare`);
            if (kind === 'custom') assert.equal(back.input, 'print("corpus")', `${where}: the custom tool's text input`);
          }
          seen.add(key(whole[0] as Declared));
          answers += 2;
        }
        assert.equal(seen.size, offered.length, `${where}: two upstream tools came back as the same agent tool`);
      });
    }
  }

  it('covered every recorded request', (t) => {
    t.diagnostic(`${corpus.length} recorded agent requests × ${TARGETS.length} targets = ${pairs} translated requests checked; ${answers} answers translated back`);
    assert.ok(corpus.length >= 20, `only ${corpus.length} recorded requests found under ${ROOT}`);
    assert.equal(pairs, corpus.length * TARGETS.length);
  });
});
