/**
 * What the coding agents send that other providers have no slot for (test/fixtures/agents/
 * FINDINGS.md), one decision per test (docs/translation.md): system messages mid-conversation,
 * namespaced, custom and tool-search tools and their calls both ways, provider-run tools,
 * reasoning that must not cross, and the fields newer clients add.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- translated bodies are inspected as plain JSON */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreamTranslator, TranslationError, translateRequest, translateResponse, type TranslatedRequest, type WireFormat } from '../../src/server/translate/index.ts';

function translate(from: WireFormat, to: WireFormat, body: unknown, model = 'upstream-model', unsupported?: 'omit' | 'reject'): TranslatedRequest {
  return translateRequest(from, to, structuredClone(body), { model, stream: false, ...(unsupported === undefined ? {} : { unsupported }) });
}
const to = (from: WireFormat, target: WireFormat, body: unknown, model?: string): any => translate(from, target, body, model).body;
const ctx = { model: 'client-model', requestId: 'r1', created: 1 };

/** A stream translated whole: upstream SSE text in, client SSE events (parsed `data:`) out. */
function stream(from: WireFormat, target: WireFormat, sse: string, tools: TranslatedRequest['tools']): any[] {
  let out = '';
  const translator = createStreamTranslator(from, target, (bytes) => (out += bytes), { ...ctx, tools });
  translator.push(Buffer.from(sse));
  translator.end();
  assert.equal(translator.failed(), false, out);
  return out
    .split(/\r?\n\r?\n/)
    .map((block) => block.split(/\r?\n/).find((l) => l.startsWith('data: '))?.slice(6))
    .filter((d): d is string => d !== undefined && d !== '[DONE]')
    .map((d) => JSON.parse(d));
}
const sse = (events: unknown[]): string => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('');

/** Anthropic's answer calling `name` with `input`, whole and streamed. */
function anthropicCall(name: string, input: unknown): { json: unknown; sse: string } {
  return {
    json: { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name, input }], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 1 } },
    sse: sse([
      { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 1, output_tokens: 0 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name, input: {} } },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(input).slice(0, 5) } },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(input).slice(5) } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 3 } },
      { type: 'message_stop' },
    ]),
  };
}

// Claude Code's shape (FINDINGS.md): the prompt, then a system message with the environment, then the tool loop.
const CLAUDE_CODE = {
  model: 'claude-opus-5-5',
  max_tokens: 32000,
  system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Run ls.' }] },
    { role: 'system', content: 'ENVIRONMENT: linux, /work' },
    { role: 'assistant', content: [{ type: 'text', text: 'Running it.' }, { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a.txt', is_error: false }] },
  ],
  tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } }],
};

describe('system and developer messages anywhere in the conversation', () => {
  it('reach chat and Responses upstreams as system messages at their place, developer kept for Responses', () => {
    const chat = to('anthropic', 'chat', CLAUDE_CODE).messages;
    assert.deepEqual(
      chat.map((m: any) => m.role),
      ['system', 'user', 'system', 'assistant', 'tool'],
    );
    assert.equal(chat[2].content, 'ENVIRONMENT: linux, /work');
    const responses = to('chat', 'responses', { model: 'm', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }, { role: 'developer', content: 'D' }, { role: 'assistant', content: 'ok' }] });
    assert.equal(responses.instructions, 'S');
    assert.deepEqual(
      responses.input.map((i: any) => [i.role, i.content[0].text]),
      [['user', 'hi'], ['developer', 'D'], ['assistant', 'ok']],
    );
  });

  it('reach an Anthropic model that takes them as a system message, and an older one as marked text in the user turn, in place', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }, { role: 'system', content: 'NOTE' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'next' }] };
    const recent = to('chat', 'anthropic', body, 'claude-opus-4-8');
    assert.deepEqual(recent.messages.map((m: any) => m.role), ['user', 'system', 'assistant', 'user']);
    assert.deepEqual(recent.messages[1].content, [{ type: 'text', text: 'NOTE' }]);
    const older = to('chat', 'anthropic', body, 'claude-sonnet-4-5');
    assert.deepEqual(older.messages.map((m: any) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(older.messages[0].content, [{ type: 'text', text: 'hi' }, { type: 'text', text: '<system-reminder>\nNOTE\n</system-reminder>' }]);
  });

  it('reach Gemini as systemInstruction when leading and as marked user text at their place after that', () => {
    const out = to('anthropic', 'gemini', CLAUDE_CODE, 'gemini-2.5-pro');
    assert.deepEqual(out.systemInstruction, { parts: [{ text: 'You are Claude Code.' }] });
    assert.deepEqual(out.contents[0], { role: 'user', parts: [{ text: 'Run ls.' }, { text: '<system-reminder>\nENVIRONMENT: linux, /work\n</system-reminder>' }] });
    assert.deepEqual(out.contents.map((c: any) => c.role), ['user', 'model', 'user']);
  });

  it('move from between a tool call and its results to just after the results, which every format wants adjacent', () => {
    const body = {
      model: 'm',
      input: [
        { type: 'message', role: 'user', content: 'go' },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'message', role: 'developer', content: 'MID' },
        { type: 'function_call_output', call_id: 'c1', output: 'done' },
      ],
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object', properties: {} } }],
    };
    assert.deepEqual(to('responses', 'chat', body).messages.map((m: any) => m.role), ['user', 'assistant', 'tool', 'system']);
    const anthropic = to('responses', 'anthropic', body, 'claude-opus-5-5').messages;
    assert.deepEqual(anthropic.map((m: any) => m.role), ['user', 'assistant', 'user', 'system']);
    const gemini = to('responses', 'gemini', body).contents;
    assert.deepEqual(gemini[2].parts, [{ functionResponse: { name: 'f', response: { output: 'done' } } }, { text: '<system-reminder>\nMID\n</system-reminder>' }]);
  });
});

// Codex on an unknown model id (FINDINGS.md): top-level functions, a namespace, a custom tool, tool_search, web_search.
const CODEX = {
  model: 'gpt-5.1-codex',
  input: [{ type: 'message', id: 'msg_1', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
  tools: [
    { type: 'function', name: 'exec_command', strict: false, parameters: { type: 'object', properties: { cmd: { type: 'string' } } } },
    {
      type: 'namespace',
      name: 'multi_agent_v1',
      description: 'Tools for spawning and managing sub-agents.',
      tools: [{ type: 'function', name: 'spawn_agent', description: 'Spawn one.', strict: false, parameters: { type: 'object', properties: { task: { type: 'string' } } } }],
    },
    { type: 'custom', name: 'apply_patch', description: 'Edit files.', format: { type: 'grammar', syntax: 'lark', definition: 'start: "*** Begin Patch"' } },
    { type: 'tool_search', execution: 'client', description: 'Find tools.', parameters: { type: 'object', properties: { query: { type: 'string' } } } },
    { type: 'web_search', external_web_access: true },
  ],
  store: false,
  include: ['reasoning.encrypted_content'],
  prompt_cache_key: 'thread-1',
  client_metadata: { turn_id: 't1' },
};

describe('namespaced, custom and tool-search tools', () => {
  it('become function tools named for the target: <namespace>__<name>, a custom tool with one string input, tool_search as a function', () => {
    const out = to('responses', 'anthropic', CODEX, 'claude-opus-5-5');
    const byName = new Map(out.tools.map((t: any) => [t.name, t]));
    assert.deepEqual([...byName.keys()], ['exec_command', 'multi_agent_v1__spawn_agent', 'apply_patch', 'tool_search', 'web_search']);
    assert.match((byName.get('multi_agent_v1__spawn_agent') as any).description, /^Tools for spawning and managing sub-agents\.\n\nSpawn one\.$/);
    const patch = byName.get('apply_patch') as any;
    assert.deepEqual(patch.input_schema.required, ['input']);
    assert.match(patch.input_schema.properties.input.description, /lark grammar:\nstart: "\*\*\* Begin Patch"/);
  });

  it('shorten a name too long for the target with a stable hash, and never give two tools one name', () => {
    const long = 'a_namespace_with_a_rather_long_name_for_its_tools';
    const body = {
      model: 'm',
      input: 'hi',
      tools: [
        { type: 'namespace', name: long, description: '', tools: [{ type: 'function', name: 'do_the_thing_with_care', parameters: {} }] },
        { type: 'function', name: 'x__y', parameters: {} },
        { type: 'namespace', name: 'x', description: '', tools: [{ type: 'function', name: 'y', parameters: {} }] },
      ],
    };
    for (const target of ['chat', 'anthropic', 'gemini', 'responses'] as const) {
      const first = translate('responses', target, body);
      const out = first.body as any;
      const names: string[] = target === 'gemini' ? out.tools[0].functionDeclarations.map((d: any) => d.name) : target === 'chat' ? out.tools.map((t: any) => t.function.name) : out.tools.map((t: any) => t.name);
      assert.equal(names.length, 3);
      assert.equal(new Set(names).size, 3, `${target}: ${names.join(', ')}`);
      assert.ok(names.every((n) => n.length <= 64), names.join(', '));
      assert.equal(names[0]?.length, 64, 'cut to fit, hash included');
      assert.match(names[0] as string, /^a_namespace_with_a_rather_long_name_for_its_tools__do_t_[0-9a-f]{8}$/);
      assert.equal(names[1], 'x__y');
      assert.match(names[2] as string, /^x__y_[0-9a-f]{8}$/);
      // The same request, the same names: nothing depends on what came before.
      translate('responses', target, { ...body, tools: body.tools.slice(2) });
      assert.deepEqual(translate('responses', target, body).body, first.body);
      assert.deepEqual(first.tools.client(names[2] as string), { name: 'y', namespace: 'x' });
    }
  });

  it('give a name the target refuses a valid one (Gemini’s dots to Anthropic, a leading digit to Gemini)', () => {
    const gemini = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], tools: [{ functionDeclarations: [{ name: 'mcp.server:read', parametersJsonSchema: { type: 'object', properties: {} } }] }] };
    const out = translate('gemini', 'anthropic', gemini);
    const name = (out.body as any).tools[0].name as string;
    assert.match(name, /^mcp_server_read_[0-9a-f]{8}$/);
    const back = translateResponse('anthropic', 'gemini', anthropicCall(name, {}).json, { ...ctx, tools: out.tools }) as any;
    assert.equal(back.candidates[0].content.parts[0].functionCall.name, 'mcp.server:read');
    const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: '7zip', parameters: { type: 'object', properties: {} } } }] };
    assert.match(to('chat', 'gemini', chat).tools[0].functionDeclarations[0].name, /^_7zip_[0-9a-f]{8}$/);
  });

  it('come back to a Responses client as the call of the namespaced tool (function_call with namespace), whole and streamed', () => {
    const out = translate('responses', 'anthropic', CODEX, 'claude-opus-5-5');
    const call = anthropicCall('multi_agent_v1__spawn_agent', { task: 'review' });
    const whole = translateResponse('anthropic', 'responses', call.json, { ...ctx, tools: out.tools }) as any;
    assert.deepEqual(whole.output[0], { id: 'fc_r1_0', type: 'function_call', status: 'completed', call_id: 'toolu_1', name: 'spawn_agent', namespace: 'multi_agent_v1', arguments: '{"task":"review"}' });
    const events = stream('anthropic', 'responses', call.sse, out.tools);
    const added = events.find((e) => e.type === 'response.output_item.added');
    assert.deepEqual([added.item.name, added.item.namespace], ['spawn_agent', 'multi_agent_v1']);
    const done = events.find((e) => e.type === 'response.output_item.done');
    assert.deepEqual([done.item.type, done.item.name, done.item.namespace, done.item.arguments], ['function_call', 'spawn_agent', 'multi_agent_v1', '{"task":"review"}']);
  });

  it('come back as custom_tool_call with the text input for a custom tool, whole and streamed', () => {
    const out = translate('responses', 'anthropic', CODEX, 'claude-opus-5-5');
    const patch = '*** Begin Patch\n*** End Patch\n';
    const call = anthropicCall('apply_patch', { input: patch });
    const whole = translateResponse('anthropic', 'responses', call.json, { ...ctx, tools: out.tools }) as any;
    assert.deepEqual(whole.output[0], { id: 'ctc_r1_0', type: 'custom_tool_call', status: 'completed', call_id: 'toolu_1', name: 'apply_patch', input: patch });
    const events = stream('anthropic', 'responses', call.sse, out.tools);
    assert.equal(events.find((e) => e.type === 'response.output_item.added').item.type, 'custom_tool_call');
    assert.equal(events.find((e) => e.type === 'response.custom_tool_call_input.done').input, patch);
    assert.equal(events.some((e) => e.type === 'response.function_call_arguments.delta'), false, 'no function-call events for a custom tool');
    const completed = events.find((e) => e.type === 'response.completed');
    assert.deepEqual(completed.response.output[0], { id: 'ctc_r1_0', type: 'custom_tool_call', status: 'completed', call_id: 'toolu_1', name: 'apply_patch', input: patch });
  });

  it('come back as tool_search_call (client execution, arguments as an object) for tool_search', () => {
    const out = translate('responses', 'chat', CODEX);
    const json = { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c9', type: 'function', function: { name: 'tool_search', arguments: '{"query":"git"}' } }] }, finish_reason: 'tool_calls' }] };
    const whole = translateResponse('chat', 'responses', json, { ...ctx, tools: out.tools }) as any;
    assert.deepEqual(whole.output[0], { id: 'tsc_r1_0', type: 'tool_search_call', status: 'completed', call_id: 'c9', execution: 'client', arguments: { query: 'git' } });
  });

  it('carry Codex’s code mode: additional_tools join the tools, the `functions` namespace is the default one, and custom calls and outputs in the history become calls and results', () => {
    const body = {
      model: 'gpt-6.2-sol',
      input: [
        { type: 'additional_tools', id: 'at_1', role: 'developer', tools: [{ type: 'namespace', name: 'functions', description: '', tools: [{ type: 'custom', name: 'exec', description: 'Run JavaScript.' }] }, { type: 'namespace', name: 'clock', description: 'Time.', tools: [{ type: 'function', name: 'sleep', parameters: { type: 'object', properties: {} } }] }] },
        { type: 'message', id: 'msg_1', role: 'developer', content: [{ type: 'input_text', text: 'You are Codex.' }] },
        { type: 'message', id: 'msg_2', role: 'user', content: [{ type: 'input_text', text: 'Run it.' }] },
        { type: 'reasoning', id: 'rs_1', summary: [], content: null, encrypted_content: 'gAAAAABopaque' },
        { type: 'custom_tool_call', id: 'ctc_1', status: 'completed', call_id: 'call_1', name: 'exec', input: 'text(1)' },
        { type: 'custom_tool_call_output', id: 'ctco_1', call_id: 'call_1', output: [{ type: 'input_text', text: 'Script completed\n' }, { type: 'input_text', text: '1' }] },
      ],
      store: false,
    };
    const out = to('responses', 'anthropic', body, 'claude-opus-5-5');
    assert.deepEqual(out.tools.map((t: any) => t.name), ['exec', 'clock__sleep']);
    assert.equal(out.system, 'You are Codex.');
    assert.deepEqual(out.messages[1].content, [{ type: 'tool_use', id: 'call_1', name: 'exec', input: { input: 'text(1)' } }]);
    assert.deepEqual(out.messages[2].content, [{ type: 'tool_result', tool_use_id: 'call_1', content: 'Script completed\n1' }]);
    const back = translateResponse('anthropic', 'responses', anthropicCall('exec', { input: 'text(2)' }).json, { ...ctx, tools: translate('responses', 'anthropic', body).tools }) as any;
    assert.deepEqual(back.output[0], { id: 'ctc_r1_0', type: 'custom_tool_call', status: 'completed', call_id: 'toolu_1', name: 'exec', input: 'text(2)' }, 'the default namespace is not named');
  });

  it('read a client-executed tool search’s call and output back: the tools it found join the request, deferred ones only then', () => {
    const body = {
      model: 'm',
      input: [
        { type: 'message', role: 'user', content: 'find git tools' },
        { type: 'tool_search_call', call_id: 'ts1', execution: 'client', arguments: { query: 'git' }, status: 'completed' },
        { type: 'tool_search_output', call_id: 'ts1', execution: 'client', tools: [{ type: 'function', name: 'git_log', defer_loading: true, parameters: { type: 'object', properties: {} } }, { type: 'function', name: 'git_status', parameters: {} }] },
      ],
      tools: [CODEX.tools[3], { type: 'function', name: 'git_log', defer_loading: true, parameters: { type: 'object', properties: {} } }, { type: 'function', name: 'git_blame', defer_loading: true, parameters: {} }, { type: 'function', name: 'git_status', parameters: {} }],
    };
    const out = to('responses', 'chat', body);
    // Deferred tools stay hidden until the search found them, as at OpenAI; one found twice is one tool.
    assert.deepEqual(out.tools.map((t: any) => t.function.name), ['tool_search', 'git_status', 'git_log']);
    assert.deepEqual(out.messages[1].tool_calls[0].function, { name: 'tool_search', arguments: '{"query":"git"}' });
    assert.deepEqual(out.messages[2], { role: 'tool', tool_call_id: 'ts1', content: 'Tools now available: git_log, git_status' });
  });
});

describe('provider-run tools', () => {
  const web = { model: 'm', input: 'news?', tools: [{ type: 'web_search' }] };

  it('map web search to the upstream’s own: Anthropic web_search_20250305, Gemini googleSearch, Responses web_search', () => {
    assert.deepEqual(to('responses', 'anthropic', web).tools, [{ type: 'web_search_20250305', name: 'web_search' }]);
    assert.deepEqual(to('responses', 'gemini', web, 'gemini-3.1-pro-preview').tools, [{ googleSearch: {} }]);
    const claude = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'news?' }], tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3, allowed_domains: ['example.com'] }] };
    assert.deepEqual(to('anthropic', 'responses', claude).tools, [{ type: 'web_search', filters: { allowed_domains: ['example.com'] } }]);
    assert.deepEqual(to('gemini', 'anthropic', { contents: [{ role: 'user', parts: [{ text: 'news?' }] }], tools: [{ googleSearch: {} }] }).tools, [{ type: 'web_search_20250305', name: 'web_search' }]);
    assert.deepEqual(translate('responses', 'anthropic', web).omitted, []);
  });

  it('map code execution: code_interpreter ↔ code_execution_20250825 ↔ codeExecution', () => {
    const body = { model: 'm', input: 'compute', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] };
    assert.deepEqual(to('responses', 'anthropic', body).tools, [{ type: 'code_execution_20250825', name: 'code_execution' }]);
    assert.deepEqual(to('responses', 'gemini', body).tools, [{ codeExecution: {} }]);
    assert.deepEqual(to('gemini', 'responses', { contents: [{ role: 'user', parts: [{ text: 'x' }] }], tools: [{ codeExecution: {} }] }).tools, [{ type: 'code_interpreter', container: { type: 'auto' } }]);
  });

  it('leave out what the upstream has no equivalent for, and say so, instead of refusing a request the model can still answer', () => {
    const out = translate('responses', 'chat', { ...web, tools: [...web.tools, { type: 'file_search', vector_store_ids: ['vs_1'] }, { type: 'function', name: 'f', parameters: {} }] });
    assert.deepEqual((out.body as any).tools.map((t: any) => t.function.name), ['f']);
    assert.deepEqual(out.omitted, ['tool:file_search', 'tool:web_search']);
    // Gemini 2.5 takes no built-in tool beside function declarations.
    const gemini25 = translate('responses', 'gemini', { ...web, tools: [...web.tools, { type: 'function', name: 'f', parameters: {} }] }, 'gemini-2.5-pro');
    assert.deepEqual(gemini25.omitted, ['tool:web_search']);
    assert.equal((gemini25.body as any).tools.length, 1);
    const claude = translate('anthropic', 'gemini', { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'web_fetch_20250910', name: 'web_fetch' }, { type: 'bash_20250124', name: 'bash' }] });
    assert.deepEqual(claude.omitted, ['tool:web_fetch_20250910', 'tool:bash_20250124']);
  });

  it('leave out the history of hosted tools, which no other provider can take, and say so', () => {
    const claude = {
      model: 'm',
      max_tokens: 5,
      messages: [
        { role: 'user', content: 'news?' },
        { role: 'assistant', content: [{ type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'news' } }, { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] }, { type: 'text', text: 'Here is the news.' }] },
        { role: 'user', content: 'more' },
      ],
    };
    const out = translate('anthropic', 'chat', claude);
    assert.deepEqual((out.body as any).messages.map((m: any) => m.content), ['news?', 'Here is the news.', 'more']);
    assert.deepEqual(out.omitted, ['block:server_tool_use', 'block:web_search_tool_result']);
    const responses = translate('responses', 'anthropic', { model: 'm', input: [{ type: 'message', role: 'user', content: 'q' }, { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'q' } }, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'a' }] }] });
    assert.deepEqual(responses.omitted, ['item:web_search_call']);
    const gemini = translate('gemini', 'chat', { contents: [{ role: 'user', parts: [{ text: 'x' }] }, { role: 'model', parts: [{ executableCode: { language: 'PYTHON', code: 'print(1)' } }, { codeExecutionResult: { outcome: 'OUTCOME_OK', output: '1' } }, { text: 'It is 1.' }] }] });
    assert.deepEqual(gemini.omitted, ['part:executableCode', 'part:codeExecutionResult']);
  });

  it('refuse instead, naming what would be left out, when translation.unsupported is reject', () => {
    assert.throws(
      () => translate('responses', 'chat', web, 'm', 'reject'),
      (error: unknown) => error instanceof TranslationError && error.status === 400 && /tool:web_search/.test(error.message) && /translation\.unsupported/.test(error.message),
    );
    assert.doesNotThrow(() => translate('responses', 'anthropic', web, 'm', 'reject'), 'what maps is not refused');
  });

  it('rename a client tool that has the name of an Anthropic server tool in the same request', () => {
    const out = translate('responses', 'anthropic', { model: 'm', input: 'x', tools: [{ type: 'function', name: 'web_search', parameters: {} }, { type: 'web_search' }] });
    const names = (out.body as any).tools.map((t: any) => t.name);
    assert.match(names[0], /^web_search_[0-9a-f]{8}$/);
    assert.equal(names[1], 'web_search');
    assert.equal(out.tools.client(names[0]).name, 'web_search');
  });
});

describe('reasoning never reaches another provider as its own', () => {
  it('drops Codex’s encrypted reasoning for every other provider, and keeps the turn', () => {
    const body = { model: 'm', input: [{ type: 'message', role: 'user', content: 'q' }, { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'thought' }], encrypted_content: 'gAAAAABsecret' }, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'a' }] }], reasoning: { effort: 'low' }, include: ['reasoning.encrypted_content'] };
    for (const target of ['chat', 'anthropic', 'gemini'] as const) {
      const text = JSON.stringify(to('responses', target, body));
      assert.equal(text.includes('gAAAAABsecret'), false, target);
      assert.ok(text.includes('"a"') || text.includes('"text":"a"'), target);
    }
  });

  it('drops Claude Code’s signed thinking for OpenAI and Gemini, and gives Anthropic its own back through a Responses client', () => {
    const claude = { ...CLAUDE_CODE, messages: [CLAUDE_CODE.messages[0], { role: 'assistant', content: [{ type: 'thinking', thinking: '', signature: 'EqoBsig' }, ...CLAUDE_CODE.messages[2]!.content] }, CLAUDE_CODE.messages[3]] };
    for (const target of ['chat', 'responses', 'gemini'] as const) assert.equal(JSON.stringify(to('anthropic', target, claude)).includes('EqoBsig'), false, target);
    const viaResponses = { model: 'm', input: [{ type: 'message', role: 'user', content: 'q' }, { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'anthropic:EqoBsig' }, { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' }, { type: 'function_call_output', call_id: 'c1', output: 'r' }], reasoning: { effort: 'high' } };
    const out = to('responses', 'anthropic', viaResponses);
    assert.deepEqual(out.messages[1].content[0], { type: 'thinking', thinking: '', signature: 'EqoBsig' });
    assert.equal(JSON.stringify(to('responses', 'gemini', viaResponses)).includes('EqoBsig'), false);
  });
});

describe('fields the agents add', () => {
  it('ignores what only tunes how the client’s own provider serves it (Codex, Claude Code)', () => {
    assert.doesNotThrow(() => to('responses', 'anthropic', { ...CODEX, reasoning: { effort: 'low', context: 'all_turns', summary: 'auto' }, text: { verbosity: 'low' }, 'x-future-field': 1 }));
    const claude = { ...CLAUDE_CODE, metadata: { user_id: JSON.stringify({ device_id: 'd'.repeat(64), account_uuid: '', session_id: 's' }) }, thinking: { type: 'adaptive', display: 'omitted' }, output_config: { effort: 'high' }, context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] }, 'x-other': true };
    for (const target of ['chat', 'responses', 'gemini'] as const) assert.doesNotThrow(() => to('anthropic', target, claude), target);
    const chat = to('anthropic', 'chat', claude);
    assert.equal(chat.reasoning_effort, 'high');
    // A user id longer than OpenAI's 64 characters goes as its SHA-256, stable per user.
    assert.match(chat.user, /^[0-9a-f]{64}$/);
    assert.equal(to('anthropic', 'responses', claude).user, chat.user);
    assert.equal(to('chat', 'responses', { model: 'm', messages: [{ role: 'user', content: 'x' }], user: 'alice' }).user, 'alice');
  });

  it('reads Gemini CLI’s upper-case OpenAPI types in JSON schemas as JSON Schema', () => {
    const body = {
      contents: [{ role: 'user', parts: [{ text: 'x' }] }],
      generationConfig: { responseMimeType: 'application/json', responseJsonSchema: { type: 'OBJECT', properties: { score: { type: 'INTEGER' }, why: { type: ['STRING', 'NULL'] } }, required: ['score'] } },
      tools: [{ functionDeclarations: [{ name: 'f', parametersJsonSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { n: { type: 'NUMBER' } } } }] }],
    };
    const out = to('gemini', 'chat', body);
    assert.deepEqual(out.response_format.json_schema.schema, { type: 'object', properties: { score: { type: 'integer' }, why: { type: ['string', 'null'] } }, required: ['score'] });
    assert.equal(out.tools[0].function.parameters.properties.n.type, 'number');
  });

  it('ignores an input item type it does not know (saying so), and still refuses what would change the request’s meaning', () => {
    const out = translate('responses', 'chat', { model: 'm', input: [{ type: 'message', role: 'user', content: 'x' }, { type: 'future_item', id: 'f1' }] });
    assert.deepEqual(out.omitted, ['item:future_item']);
    assert.throws(() => translate('responses', 'chat', { model: 'm', input: [{ type: 'compaction', encrypted_content: 'x' }, { type: 'message', role: 'user', content: 'x' }] }), /compaction/);
    assert.throws(() => translate('responses', 'chat', { model: 'm', input: 'x', previous_response_id: 'resp_1' }), /previous_response_id/);
  });

  it('takes deferred tools only once a tool reference loaded them (Claude Code’s ToolSearch)', () => {
    const tools = [...CLAUDE_CODE.tools, { name: 'WebFetch', description: 'Fetch', input_schema: { type: 'object', properties: {} }, defer_loading: true }];
    assert.deepEqual(to('anthropic', 'chat', { ...CLAUDE_CODE, tools }).tools.map((t: any) => t.function.name), ['Bash']);
    const loaded = {
      ...CLAUDE_CODE,
      tools,
      messages: [
        { role: 'user', content: 'fetch it' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_9', name: 'ToolSearch', input: { query: 'select:WebFetch' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: [{ type: 'tool_reference', tool_name: 'WebFetch' }] }] },
      ],
    };
    const out = to('anthropic', 'chat', loaded);
    assert.deepEqual(out.tools.map((t: any) => t.function.name), ['Bash', 'WebFetch']);
    assert.equal(out.messages.at(-1).content, 'Tool loaded: WebFetch');
  });
});
