/**
 * The strict fake upstreams of test/helpers/agents/: each rule of each API, refused (400 in that
 * API's own error shape) when broken and accepted in its valid form; the tool loop they play;
 * and their streams read by the providers' official SDKs, the clients the real APIs are built for.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { strictUpstream, type Format, type UpstreamOptions } from '../helpers/agents/strict-upstream.ts';
import { fixtureOf, redactHeaders } from '../helpers/agents/recorder.ts';

type Json = Record<string, unknown>;

const SCRIPT = { text: 'Plain fake answer.', trigger: 'RUN-IT', command: 'cat /tmp/x/secret.txt', resultPrefix: 'Result: ' };

async function fake(t: TestContext, format: Format, options: UpstreamOptions = {}) {
  return strictUpstream(t, format, { script: SCRIPT, ...options });
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Json; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // a stream
  }
  return { status: res.status, json, text };
}

/** Each API's 400: its own envelope, and a message matching `message`. */
function assertRefused(format: Format, got: { status: number; json: Json }, message: RegExp): void {
  assert.equal(got.status, 400, JSON.stringify(got.json));
  const error = got.json.error as Json;
  switch (format) {
    case 'anthropic':
      assert.equal(got.json.type, 'error');
      assert.equal(error.type, 'invalid_request_error');
      break;
    case 'responses':
    case 'chat':
      assert.equal(error.type, 'invalid_request_error');
      assert.ok('param' in error && 'code' in error, 'OpenAI errors carry param and code');
      break;
    case 'gemini':
      assert.equal(error.code, 400);
      assert.equal(error.status, 'INVALID_ARGUMENT');
      break;
  }
  assert.match(String(error.message), message);
}

const assertAccepted = (got: { status: number; json: Json; text: string }): void => assert.equal(got.status, 200, got.text.slice(0, 500));

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

const BASH = { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' }, description: { type: 'string' } }, required: ['command'] } };
const msgs = (messages: unknown[], extra: Json = {}): Json => ({ model: 'claude-opus-4-8', max_tokens: 1024, messages, ...extra });
const toolUse = { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01A', name: 'Bash', input: { command: 'ls' } }] };
const toolResult = (id = 'toolu_01A') => ({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'file.txt' }] });

describe('anthropic fake: rules', () => {
  test('a valid request is answered', async (t) => {
    const up = await fake(t, 'anthropic');
    assertAccepted(await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }], { system: 'be brief', tools: [BASH] })));
  });
  test('max_tokens is required (not by count_tokens)', async (t) => {
    const up = await fake(t, 'anthropic');
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, { model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'hi' }] }), /^max_tokens: Field required$/);
    const counted = await post(`${up.url}/v1/messages/count_tokens`, { model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'hi' }] });
    assertAccepted(counted);
    assert.equal(typeof counted.json.input_tokens, 'number');
  });
  test('roles are user and assistant; system is top-level, or a mid-conversation system message on the models that take one', async (t) => {
    const up = await fake(t, 'anthropic');
    const withSystem = (model: string) => ({ ...msgs([{ role: 'user', content: 'hi' }, { role: 'system', content: 'env' }]), model });
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, withSystem('claude-sonnet-4-5')), /^messages\.1\.role: Input should be 'user' or 'assistant'$/);
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, msgs([{ role: 'tool', content: 'x' }])), /^messages\.0\.role: Input should be 'user' or 'assistant'$/);
    assertAccepted(await post(`${up.url}/v1/messages`, withSystem('claude-opus-4-8')));
    const never = await fake(t, 'anthropic', { rules: { systemMessages: 'never' } });
    assertRefused('anthropic', await post(`${never.url}/v1/messages`, withSystem('claude-opus-4-8')), /messages\.1\.role/);
  });
  test(`client tool names match ^[a-zA-Z0-9_-]{1,64}$ (server tools have fixed names)`, async (t) => {
    const up = await fake(t, 'anthropic');
    const tools = (name: string) => msgs([{ role: 'user', content: 'hi' }], { tools: [{ ...BASH, name }] });
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, tools('mcp.server/tool')), /^tools\.0\.custom\.name: String should match pattern/);
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, tools('x'.repeat(65))), /tools\.0\.custom\.name/);
    assertAccepted(await post(`${up.url}/v1/messages`, tools(`mcp__srv-1__${'x'.repeat(52)}`)));
    assertAccepted(await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }], { tools: [{ type: 'web_search_20250305', name: 'web_search' }] })));
  });
  test('every tool_use is answered by a tool_result with its id in the next message', async (t) => {
    const up = await fake(t, 'anthropic');
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }, toolUse, { role: 'user', content: 'go on' }])), /^messages\.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A\./);
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }, toolUse])), /tool_use` ids were found without `tool_result`/);
    assertAccepted(await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }, toolUse, toolResult()])));
  });
  test('every tool_result answers a tool_use of the message before', async (t) => {
    const up = await fake(t, 'anthropic');
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }, toolUse, { role: 'user', content: [...toolResult().content, { type: 'tool_result', tool_use_id: 'toolu_01Z', content: '' }] }])), /^messages\.2\.content\.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01Z/);
  });
  test('thinking.budget_tokens is below max_tokens', async (t) => {
    const up = await fake(t, 'anthropic');
    assertRefused('anthropic', await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }], { max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 2000 } })), /`max_tokens` must be greater than `thinking.budget_tokens`/);
    assertAccepted(await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'hi' }], { max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 } })));
  });
  test('an unknown path is a 404 in the same shape', async (t) => {
    const up = await fake(t, 'anthropic');
    const got = await post(`${up.url}/v1/complete`, {});
    assert.equal(got.status, 404);
    assert.equal((got.json.error as Json).type, 'not_found_error');
  });
});

describe('anthropic fake: the tool loop, read by @anthropic-ai/sdk', () => {
  test('prompt → Bash tool_use (streamed) → tool_result → the result copied into the answer', async (t) => {
    const up = await fake(t, 'anthropic');
    const client = new Anthropic({ apiKey: 'test', baseURL: up.url, maxRetries: 0 });
    const first = await client.messages.stream({ model: 'claude-opus-4-8', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools: [BASH as Anthropic.Tool], messages: [{ role: 'user', content: 'Please RUN-IT now' }] }).finalMessage();
    assert.equal(first.stop_reason, 'tool_use');
    assert.equal(first.content[0]?.type, 'thinking', 'thinking first when it was enabled');
    const call = first.content.find((b) => b.type === 'tool_use');
    assert.ok(call !== undefined && call.type === 'tool_use');
    assert.equal(call.name, 'Bash');
    assert.deepEqual((call.input as Json).command, SCRIPT.command);
    const second = await client.messages.stream({ model: 'claude-opus-4-8', max_tokens: 2048, tools: [BASH as Anthropic.Tool], messages: [{ role: 'user', content: 'Please RUN-IT now' }, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'SECRET-1' }] }] }).finalMessage();
    assert.equal(second.stop_reason, 'end_turn');
    assert.deepEqual(second.content.map((b) => (b.type === 'text' ? b.text : '')), ['Result: SECRET-1']);
    assert.deepEqual(up.toolResults(), ['SECRET-1']);
    const plain = await client.messages.create({ model: 'claude-opus-4-8', max_tokens: 100, messages: [{ role: 'user', content: 'hello' }] });
    assert.deepEqual(plain.content, [{ type: 'text', text: SCRIPT.text }]);
  });
});

// ---------------------------------------------------------------------------------------------
// OpenAI Responses

const EXEC = { type: 'function', name: 'exec_command', description: 'Run', strict: false, parameters: { type: 'object', properties: { cmd: { type: 'string' } }, required: ['cmd'] } };
const resp = (input: unknown, extra: Json = {}): Json => ({ model: 'gpt-5.5', input, ...extra });
const user = (text: string): Json => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });
const fnCall = { type: 'function_call', call_id: 'call_A', name: 'exec_command', arguments: '{"cmd":"ls"}' };

describe('responses fake: rules', () => {
  test('a valid request is answered; model is required', async (t) => {
    const up = await fake(t, 'responses');
    assertAccepted(await post(`${up.url}/v1/responses`, resp([user('hi')], { tools: [EXEC], store: false })));
    assertAccepted(await post(`${up.url}/v1/responses`, resp('hi')));
    assertRefused('responses', await post(`${up.url}/v1/responses`, { input: 'hi' }), /^Missing required parameter: 'model'\.$/);
  });
  test('function_call_output and custom_tool_call_output reference a call present in the input', async (t) => {
    const up = await fake(t, 'responses');
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp([user('hi'), { type: 'function_call_output', call_id: 'call_A', output: 'x' }])), /^No tool call found for function call output with call_id call_A\.$/);
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp([user('hi'), { type: 'custom_tool_call', call_id: 'call_B', name: 'exec', input: '1' }, { type: 'function_call_output', call_id: 'call_B', output: 'x' }])), /function call output with call_id call_B/);
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp([user('hi'), { type: 'custom_tool_call_output', call_id: 'call_C', output: 'x' }])), /^No tool call found for custom tool call output with call_id call_C\.$/);
    assertAccepted(await post(`${up.url}/v1/responses`, resp([user('hi'), fnCall, { type: 'function_call_output', call_id: 'call_A', output: 'x' }])));
    assertAccepted(await post(`${up.url}/v1/responses`, resp([user('hi'), { type: 'custom_tool_call', call_id: 'call_B', name: 'exec', input: '1' }, { type: 'custom_tool_call_output', call_id: 'call_B', output: [{ type: 'input_text', text: 'x' }] }])));
  });
  test('tool names match ^[a-zA-Z0-9_-]+$, at most 64, nested in namespaces too', async (t) => {
    const up = await fake(t, 'responses');
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp('hi', { tools: [{ ...EXEC, name: 'exec.command' }] })), /^Invalid 'tools\[0\]\.name': string does not match pattern\. Expected a string that matches the pattern '\^\[a-zA-Z0-9_-\]\+\$'\.$/);
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp('hi', { tools: [{ ...EXEC, name: 'x'.repeat(65) }] })), /string too long\. Expected a string with maximum length 64, but got a string with length 65/);
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp('hi', { tools: [{ type: 'namespace', name: 'ns', description: '', tools: [{ ...EXEC, name: 'bad name' }] }] })), /'tools\[0\]\.tools\[0\]\.name'/);
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp([{ type: 'additional_tools', role: 'developer', tools: [{ ...EXEC, name: 'a/b' }] }, user('hi')])), /'input\[0\]\.tools\[0\]\.name'/);
    assertAccepted(await post(`${up.url}/v1/responses`, resp('hi', { tools: [{ type: 'namespace', name: 'multi_agent_v1', description: 'x', tools: [{ ...EXEC, name: 'spawn_agent' }] }] })));
  });
  test('tool types are the ones the API knows', async (t) => {
    const up = await fake(t, 'responses');
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp('hi', { tools: [{ type: 'retrieval' }] })), /^Invalid value: 'retrieval'\. Supported values are: 'function', 'file_search'/);
    assertAccepted(await post(`${up.url}/v1/responses`, resp('hi', { tools: [EXEC, { type: 'web_search', external_web_access: true }, { type: 'tool_search', execution: 'client' }, { type: 'custom', name: 'apply_patch', format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' } }] })));
  });
  test('message roles are user, assistant, system and developer', async (t) => {
    const up = await fake(t, 'responses');
    assertRefused('responses', await post(`${up.url}/v1/responses`, resp([{ type: 'message', role: 'tool', content: 'x' }])), /^Invalid value: 'tool'\. Supported values are: 'user', 'assistant', 'system', and 'developer'\.$/);
    assertAccepted(await post(`${up.url}/v1/responses`, resp([{ type: 'message', role: 'developer', content: 'x' }, user('hi')])));
  });
  test('a WebSocket upgrade is refused with 426 by default (Codex then falls back to HTTP at once)', async (t) => {
    const up = await fake(t, 'responses');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${up.url}/v1/responses`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 426);
    assert.equal(up.requests[0]?.kind, 'websocket-upgrade');
    assert.equal(up.requests[0]?.endpoint, 'responses-websocket');
  });
});

describe('responses fake: the tool loop, read by the openai SDK', () => {
  test('function tool: prompt → exec_command call → output → the result copied', async (t) => {
    const up = await fake(t, 'responses');
    const client = new OpenAI({ apiKey: 'test', baseURL: `${up.url}/v1`, maxRetries: 0 });
    const input: OpenAI.Responses.ResponseInputItem[] = [{ type: 'message', role: 'user', content: 'please RUN-IT' }];
    const first = await client.responses.stream({ model: 'gpt-5.5', input, tools: [EXEC as OpenAI.Responses.FunctionTool], store: false, reasoning: { effort: 'low' }, include: ['reasoning.encrypted_content'] }).finalResponse();
    assert.deepEqual(first.output.map((o) => o.type), ['reasoning', 'function_call']);
    const call = first.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
    assert.deepEqual(JSON.parse(call.arguments), { cmd: SCRIPT.command });
    const second = await client.responses.stream({ model: 'gpt-5.5', input: [...input, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: 'function_call_output', call_id: call.call_id, output: 'SECRET-2' }], tools: [EXEC as OpenAI.Responses.FunctionTool] }).finalResponse();
    const message = second.output.find((o) => o.type === 'message') as OpenAI.Responses.ResponseOutputMessage;
    assert.deepEqual(message.content.map((c) => (c.type === 'output_text' ? c.text : '')), ['Result: SECRET-2']);
    const plain = await client.responses.create({ model: 'gpt-5.5', input: 'hello' });
    assert.equal(plain.output_text, SCRIPT.text);
  });
  test('code mode: the `exec` tool of an additional_tools item gets JavaScript calling tools.exec_command', async (t) => {
    const up = await fake(t, 'responses');
    const exec = { type: 'custom', name: 'exec', description: 'Run JavaScript. All nested tools are available on the global `tools` object, for example `await tools.exec_command(...)`.' };
    const got = await post(`${up.url}/v1/responses`, resp([{ type: 'additional_tools', role: 'developer', tools: [{ type: 'namespace', name: 'functions', description: '', tools: [exec] }] }, user('RUN-IT')]));
    const call = (got.json.output as Json[]).find((o) => o.type === 'custom_tool_call') as Json;
    assert.equal(call.name, 'exec');
    assert.match(String(call.input), /await tools\.exec_command\(\{ cmd: "cat \/tmp\/x\/secret\.txt" \}\)/);
  });
});

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions

const SHELL_FN = { type: 'function', function: { name: 'shell', description: 'Run', parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } } };
const chat = (messages: unknown[], extra: Json = {}): Json => ({ model: 'gpt-4o', messages, ...extra });
const assistantCall = { role: 'assistant', content: null, tool_calls: [{ id: 'call_A', type: 'function', function: { name: 'shell', arguments: '{"command":"ls"}' } }] };

describe('chat fake: rules', () => {
  test('a valid request is answered', async (t) => {
    const up = await fake(t, 'chat');
    assertAccepted(await post(`${up.url}/v1/chat/completions`, chat([{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }], { tools: [SHELL_FN] })));
  });
  test("a tool message answers a preceding assistant tool_calls id", async (t) => {
    const up = await fake(t, 'chat');
    assertRefused('chat', await post(`${up.url}/v1/chat/completions`, chat([{ role: 'user', content: 'hi' }, { role: 'tool', tool_call_id: 'call_A', content: 'x' }])), /^Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'\.$/);
    assertRefused('chat', await post(`${up.url}/v1/chat/completions`, chat([{ role: 'user', content: 'hi' }, assistantCall, { role: 'tool', tool_call_id: 'call_A', content: 'x' }, { role: 'tool', tool_call_id: 'call_Z', content: 'y' }])), /role 'tool' must be a response/);
    assertAccepted(await post(`${up.url}/v1/chat/completions`, chat([{ role: 'user', content: 'hi' }, assistantCall, { role: 'tool', tool_call_id: 'call_A', content: 'x' }])));
  });
  test('an assistant tool_calls message is followed by a tool message for each id', async (t) => {
    const up = await fake(t, 'chat');
    assertRefused('chat', await post(`${up.url}/v1/chat/completions`, chat([{ role: 'user', content: 'hi' }, assistantCall, { role: 'user', content: 'and?' }])), /^An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'\. The following tool_call_ids did not have response messages: call_A$/);
  });
  test('function names match ^[a-zA-Z0-9_-]+$, at most 64', async (t) => {
    const up = await fake(t, 'chat');
    const named = (name: string) => chat([{ role: 'user', content: 'hi' }], { tools: [{ type: 'function', function: { ...SHELL_FN.function, name } }] });
    assertRefused('chat', await post(`${up.url}/v1/chat/completions`, named('run shell')), /^Invalid 'tools\[0\]\.function\.name': string does not match pattern/);
    assertRefused('chat', await post(`${up.url}/v1/chat/completions`, named('x'.repeat(65))), /string too long/);
    assertAccepted(await post(`${up.url}/v1/chat/completions`, named('x'.repeat(64))));
  });
  test('roles are the six the API knows', async (t) => {
    const up = await fake(t, 'chat');
    assertRefused('chat', await post(`${up.url}/v1/chat/completions`, chat([{ role: 'model', content: 'hi' }])), /^Invalid value: 'model'\. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'\.$/);
  });
});

describe('chat fake: the tool loop, read by the openai SDK', () => {
  test('prompt → shell tool call (streamed, with usage) → tool message → the result copied', async (t) => {
    const up = await fake(t, 'chat');
    const client = new OpenAI({ apiKey: 'test', baseURL: `${up.url}/v1`, maxRetries: 0 });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'RUN-IT' }];
    const stream = client.chat.completions.stream({ model: 'gpt-4o', messages, tools: [SHELL_FN as OpenAI.Chat.ChatCompletionTool], stream_options: { include_usage: true } });
    const first = await stream.finalChatCompletion();
    assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
    assert.ok(first.usage !== undefined && first.usage !== null, 'usage chunk');
    const call = first.choices[0]?.message.tool_calls?.[0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    assert.deepEqual(JSON.parse(call.function.arguments), { command: SCRIPT.command });
    const second = await client.chat.completions.create({ model: 'gpt-4o', messages: [...messages, first.choices[0]?.message as OpenAI.Chat.ChatCompletionMessageParam, { role: 'tool', tool_call_id: call.id, content: 'SECRET-3' }], tools: [SHELL_FN as OpenAI.Chat.ChatCompletionTool] });
    assert.equal(second.choices[0]?.message.content, 'Result: SECRET-3');
  });
});

// ---------------------------------------------------------------------------------------------
// Gemini

const RUN_SHELL = { name: 'run_shell_command', description: 'Run', parametersJsonSchema: { type: 'object', properties: { command: { type: 'string' }, description: { type: 'string' } }, required: ['command'] } };
const gen = (contents: unknown[], extra: Json = {}): Json => ({ contents, ...extra });
const gUser = (text: string): Json => ({ role: 'user', parts: [{ text }] });
const gCall = (signature?: string): Json => ({ role: 'model', parts: [{ functionCall: { name: 'run_shell_command', args: { command: 'ls' } }, ...(signature === undefined ? {} : { thoughtSignature: signature }) }] });
const gResponse: Json = { role: 'user', parts: [{ functionResponse: { name: 'run_shell_command', response: { output: 'x' } } }] };
const url = (base: string, model: string, method = 'generateContent'): string => `${base}/v1beta/models/${model}:${method}`;

describe('gemini fake: rules', () => {
  test('a valid request is answered; countTokens counts', async (t) => {
    const up = await fake(t, 'gemini');
    assertAccepted(await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi')], { tools: [{ functionDeclarations: [RUN_SHELL] }] })));
    const counted = await post(url(up.url, 'gemini-2.5-pro', 'countTokens'), gen([gUser('hi')]));
    assertAccepted(counted);
    assert.equal(typeof counted.json.totalTokens, 'number');
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), {}), /contents is not specified/);
  });
  test('roles are user and model', async (t) => {
    const up = await fake(t, 'gemini');
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), { role: 'assistant', parts: [{ text: 'x' }] }, gUser('y')])), /^Please use a valid role: user, model\.$/);
    assertAccepted(await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), { role: 'model', parts: [{ text: 'x' }] }, gUser('y')])));
  });
  test('function names start with a letter or underscore; letters, digits, _ . : -; at most 64', async (t) => {
    const up = await fake(t, 'gemini');
    const named = (name: string) => gen([gUser('hi')], { tools: [{ functionDeclarations: [{ ...RUN_SHELL, name }] }] });
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), named('1tool')), /function_declarations\[0\]\.name: Invalid function name\. Must start with a letter or an underscore/);
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), named('a/b')), /Invalid function name/);
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), named(`a${'x'.repeat(64)}`)), /Invalid function name/);
    assertAccepted(await post(url(up.url, 'gemini-2.5-pro'), named('_mcp.server:tool-1')));
  });
  test('a function response turn comes right after the function call turn, with as many parts', async (t) => {
    const up = await fake(t, 'gemini');
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), gResponse])), /^Please ensure that function response turn comes immediately after a function call turn\.$/);
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), gCall(), gUser('no answer')])), /function response turn comes immediately after a function call turn/);
    assertRefused('gemini', await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), gCall(), { role: 'user', parts: [...(gResponse.parts as Json[]), ...(gResponse.parts as Json[])] }])), /^Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn\.$/);
    assertAccepted(await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), gCall(), gResponse])));
  });
  test('Gemini 3 wants the thought signature of the current turn’s function calls back', async (t) => {
    const up = await fake(t, 'gemini');
    assertRefused('gemini', await post(url(up.url, 'gemini-3-pro-preview'), gen([gUser('hi'), gCall(), gResponse])), /^Function call is missing a thought_signature in functionCall parts/);
    assertAccepted(await post(url(up.url, 'gemini-3-pro-preview'), gen([gUser('hi'), gCall('c2ln'), gResponse])));
    assertAccepted(await post(url(up.url, 'gemini-2.5-pro'), gen([gUser('hi'), gCall(), gResponse])));
  });
});

describe('gemini fake: the tool loop, read by @google/genai', () => {
  test('prompt → run_shell_command call with a thought signature (SSE) → response → the result copied', async (t) => {
    const up = await fake(t, 'gemini');
    const ai = new GoogleGenAI({ apiKey: 'test', httpOptions: { baseUrl: up.url } });
    const config = { tools: [{ functionDeclarations: [RUN_SHELL] }], thinkingConfig: { includeThoughts: true } };
    const parts: Json[] = [];
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-3-pro-preview', contents: [gUser('RUN-IT')], config })) parts.push(...((chunk.candidates?.[0]?.content?.parts ?? []) as Json[]));
    const call = parts.find((p) => p.functionCall !== undefined) as Json;
    assert.deepEqual((call.functionCall as Json).args, { command: SCRIPT.command, description: 'Print the file the user asked about' });
    assert.equal(typeof call.thoughtSignature, 'string');
    assert.ok(parts.some((p) => p.thought === true), 'a thought part when thoughts were asked for');
    const second = await ai.models.generateContent({ model: 'gemini-3-pro-preview', contents: [gUser('RUN-IT'), { role: 'model', parts: [call] }, { role: 'user', parts: [{ functionResponse: { name: 'run_shell_command', response: { output: 'SECRET-4' } } }] }], config });
    assert.equal(second.text, 'Result: SECRET-4');
    const structured = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: [gUser('route me')], config: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: { model_choice: { type: 'string', enum: ['flash', 'pro'] }, reasoning: { type: 'string' } } } } });
    assert.deepEqual(JSON.parse(second.text === undefined ? '' : (structured.text ?? '')), { model_choice: 'flash', reasoning: 'fake' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('side requests are told from turns and answered so the agent goes on', () => {
  test('a title, a topic check, a summary (no shell tool offered), a next-speaker check', async (t) => {
    const up = await fake(t, 'anthropic');
    const side = async (system: string) => (await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'fix the bug in main.ts' }], { system }))).json;
    assert.deepEqual((await side('Generate a concise, sentence-case title (3-7 words) for this session.')).content, [{ type: 'text', text: 'Fake session title' }]);
    assert.deepEqual(JSON.parse(String(((await side('Analyze if this message indicates a new conversation topic. Answer with JSON {isNewTopic, title}.')).content as Json[])[0]?.text)), { isNewTopic: false, title: null });
    assert.match(String(((await side('Summarize the conversation so far.')).content as Json[])[0]?.text), /^Summary: /);
    assert.deepEqual(up.requests.map((r) => r.kind), ['side:title', 'side:topic', 'side:summary']);
    // With the shell tool offered it is a turn, whatever the system prompt says.
    assert.equal((await post(`${up.url}/v1/messages`, msgs([{ role: 'user', content: 'RUN-IT' }], { system: 'title', tools: [BASH] }))).status, 200);
    assert.equal(up.requests.at(-1)?.kind, 'tool-call');
    const gem = await fake(t, 'gemini');
    const next = await post(url(gem.url, 'gemini-3.5-flash'), gen([gUser('who speaks next?')], { generationConfig: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: { reasoning: { type: 'string' }, next_speaker: { type: 'string', enum: ['model', 'user'] } } } } }));
    const text = (((next.json.candidates as Json[])[0]?.content as Json).parts as Json[])[0]?.text;
    assert.deepEqual(JSON.parse(String(text)), { reasoning: 'fake', next_speaker: 'user' });
  });
});

describe('recorder', () => {
  test('keys are redacted, the scheme of Authorization kept, everything else as sent', () => {
    assert.deepEqual(redactHeaders({ authorization: 'Bearer sk-secret', 'x-api-key': 'sk-ant', 'x-goog-api-key': 'AIza', 'user-agent': 'codex_exec/1' }), { authorization: 'Bearer [redacted]', 'x-api-key': '[redacted]', 'x-goog-api-key': '[redacted]', 'user-agent': 'codex_exec/1' });
    const file = fixtureOf({ at: 5, method: 'POST', path: '/v1beta/models/m:generateContent?key=AIzaSECRET', headers: {}, body: { a: [1] }, endpoint: 'generateContent', status: 200, kind: 'plain' });
    assert.equal(file.path, '/v1beta/models/m:generateContent?key=%5Bredacted%5D');
    assert.deepEqual(file.body, { a: [1] });
  });
});

// ---------------------------------------------------------------------------------------------
// The count APIs (the gateway's cross-format token counts go to them: test/integration/gateway-count-tokens.test.ts)

describe('count APIs of the fakes: rules', () => {
  test('anthropic count_tokens refuses what only a generation takes (max_tokens, stream) as extra inputs', async (t) => {
    const up = await fake(t, 'anthropic');
    const count = (body: Json) => post(`${up.url}/v1/messages/count_tokens`, body);
    assertRefused('anthropic', await count(msgs([{ role: 'user', content: 'hi' }])), /^max_tokens: Extra inputs are not permitted$/);
    assertRefused('anthropic', await count({ model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'hi' }], stream: true }), /^stream: Extra inputs are not permitted$/);
    const counted = await count({ model: 'claude-opus-4-8', messages: [{ role: 'user', content: 'hi' }], system: 'be brief', tools: [BASH], tool_choice: { type: 'auto' } });
    assertAccepted(counted);
    assert.equal(typeof counted.json.input_tokens, 'number');
  });
  test('responses input_tokens counts, refuses parameters it does not take, and keeps the Responses input rules', async (t) => {
    const up = await fake(t, 'responses');
    const count = (body: Json) => post(`${up.url}/v1/responses/input_tokens`, body);
    const counted = await count({ model: 'gpt-5.5', input: 'hi', instructions: 'be brief', tools: [{ type: 'function', name: 'shell', parameters: { type: 'object' } }] });
    assertAccepted(counted);
    assert.equal(counted.json.object, 'response.input_tokens');
    assert.equal(typeof counted.json.input_tokens, 'number');
    assertRefused('responses', await count({ model: 'gpt-5.5', input: 'hi', stream: false }), /^Unknown parameter: 'stream'\.$/);
    assertRefused('responses', await count({ model: 'gpt-5.5', input: 'hi', max_output_tokens: 16 }), /^Unknown parameter: 'max_output_tokens'\.$/);
    assertRefused('responses', await count({ model: 'gpt-5.5', input: [{ type: 'function_call_output', call_id: 'call_x', output: 'ok' }] }), /No tool call found for function call output with call_id call_x/);
  });
  test('gemini countTokens takes contents alone, or a generateContentRequest that names its model, never both', async (t) => {
    const up = await fake(t, 'gemini');
    const count = (body: Json) => post(url(up.url, 'gemini-2.5-pro', 'countTokens'), body);
    const system = { parts: [{ text: 'be brief' }] };
    const whole = await count({ generateContentRequest: { model: 'models/gemini-2.5-pro', contents: [gUser('hi')], systemInstruction: system, tools: [{ functionDeclarations: [RUN_SHELL] }] } });
    assertAccepted(whole);
    assert.equal(typeof whole.json.totalTokens, 'number');
    assertRefused('gemini', await count({ contents: [gUser('hi')], systemInstruction: system }), /^Invalid JSON payload received\. Unknown name "systemInstruction": Cannot find field\.$/);
    assertRefused('gemini', await count({ contents: [gUser('hi')], generateContentRequest: { model: 'models/gemini-2.5-pro', contents: [gUser('hi')] } }), /mutually exclusive/);
    assertRefused('gemini', await count({ generateContentRequest: { contents: [gUser('hi')] } }), /GenerateContentRequest\.model: unexpected model name format/);
    // The generateContent rules hold inside it.
    assertRefused('gemini', await count({ generateContentRequest: { model: 'models/gemini-2.5-pro', contents: [gUser('hi'), { role: 'assistant', parts: [{ text: 'x' }] }] } }), /valid role/);
  });
});
