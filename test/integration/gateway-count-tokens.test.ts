/**
 * Token counts, the requests agents send beside the conversation (Claude Code's
 * /v1/messages/count_tokens, Gemini CLI's :countTokens), through the gateway to each upstream
 * type: each client format × anthropic, openai (Responses), openai-compatible (chat) and gemini,
 * every upstream a strict fake that refuses what its real count API refuses.
 *
 *   - same family: passed through, the upstream's own answer;
 *   - another family with a count API: the request translated to that API, the fake's count
 *     (a number the gateway cannot guess) in the client's shape, marked `upstream`;
 *   - the OpenAI-compatible server (no count API): nothing goes to it, the answer is the
 *     documented estimate, marked `estimated`;
 *   - an upstream whose count call fails (503): the estimate, marked, never an error.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { post, waitUntil } from '../helpers/cli.ts';
import { fakeUpstream, json } from '../helpers/fake-upstream.ts';
import { strictUpstream, type StrictUpstream } from '../helpers/agents/strict-upstream.ts';
import { assertRedacted, expectJson, startGateway, type RunningGateway } from './gateway-harness.ts';
import { readCanonicalRequest } from '../../src/server/translate/index.ts';
import { estimateRequestTokens } from '../../src/server/translate/token-estimate.ts';

const CLIENT_KEY = 'sk-client-count-tokens-0001';
const UPSTREAM_KEYS = { anthropic: 'sk-up-anthropic-count-7a1', openai: 'sk-up-openai-count-7a2', deepseek: 'sk-up-deepseek-count-7a3', gemini: 'sk-up-gemini-count-7a4', broken: 'sk-up-broken-count-7a5' };
const TOKEN_COUNT = 'x-ai-proxy-token-count';

type Target = 'anthropic' | 'openai' | 'chat' | 'gemini';
const MODEL: Record<Target, string> = { anthropic: 'claude-sonnet-5', openai: 'gpt-5.5', chat: 'deepseek-chat', gemini: 'gemini-2.5-pro' };

/** What Claude Code sends: the conversation, its system prompt and tools, no max_tokens. */
const claudeCount = (model: string) => ({
  model,
  system: [{ type: 'text', text: 'You are Claude Code, a coding agent.' }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'List the files here.' }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'Bash', input: { command: 'ls' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'README.md\npackage.json' }] },
  ],
  tools: [{ name: 'Bash', description: 'Run a shell command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } }],
});

/** What Gemini CLI sends: `contents` only (the Gemini API takes nothing else beside them). */
const geminiCount = {
  contents: [
    { role: 'user', parts: [{ text: 'List the files here.' }] },
    { role: 'model', parts: [{ functionCall: { name: 'run_shell_command', args: { command: 'ls' } } }] },
    { role: 'user', parts: [{ functionResponse: { name: 'run_shell_command', response: { output: 'README.md\npackage.json' } } }] },
  ],
};

interface Setup {
  gateway: RunningGateway;
  fakes: Record<Target, StrictUpstream>;
  broken: Awaited<ReturnType<typeof fakeUpstream>>;
}

async function setup(t: TestContext): Promise<Setup> {
  const fakes: Record<Target, StrictUpstream> = {
    anthropic: await strictUpstream(t, 'anthropic'),
    openai: await strictUpstream(t, 'responses'),
    chat: await strictUpstream(t, 'chat'),
    gemini: await strictUpstream(t, 'gemini'),
  };
  const broken = await fakeUpstream(t, (_req, res) => json(res, 503, { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } }));
  const yaml = `listen: { host: 127.0.0.1, port: 0 }
watch-config: false
retry: { attempts: 1 }
client-keys:
  - { name: agent, key: "${CLIENT_KEY}" }
providers:
  - { name: anthropic, type: anthropic, base-url: "${fakes.anthropic.url}", api-keys: ["${UPSTREAM_KEYS.anthropic}"], models: ["${MODEL.anthropic}"] }
  - { name: openai, type: openai, wire-api: responses, base-url: "${fakes.openai.url}/v1", api-keys: ["${UPSTREAM_KEYS.openai}"], models: ["${MODEL.openai}"] }
  - { name: deepseek, type: openai-compatible, wire-api: chat, base-url: "${fakes.chat.url}/v1", api-keys: ["${UPSTREAM_KEYS.deepseek}"], models: ["${MODEL.chat}"] }
  - { name: gemini, type: gemini, base-url: "${fakes.gemini.url}", api-keys: ["${UPSTREAM_KEYS.gemini}"], models: ["${MODEL.gemini}"] }
  - { name: broken-gemini, type: gemini, base-url: "${broken.url}", api-keys: ["${UPSTREAM_KEYS.broken}"], models: ["gemini-broken"] }
  - { name: broken-anthropic, type: anthropic, base-url: "${broken.url}", api-keys: ["${UPSTREAM_KEYS.broken}"], models: ["claude-broken"] }
`;
  return { gateway: await startGateway(t, yaml), fakes, broken };
}

const anthropicCount = (gateway: RunningGateway, model: string) => post(`${gateway.url}/v1/messages/count_tokens?beta=true`, claudeCount(model), { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219' });
const geminiCountTokens = (gateway: RunningGateway, model: string) => post(`${gateway.url}/v1beta/models/${model}:countTokens`, geminiCount, { 'x-goog-api-key': CLIENT_KEY });

/** The fake's one count request: accepted by its strict rules, and the count it answered. */
function countAt(fake: StrictUpstream, before: number, endpoint: string): number {
  const seen = fake.requests.slice(before);
  assert.equal(seen.length, 1, `one request reached the ${fake.format} fake: ${JSON.stringify(seen.map((r) => [r.path, r.status, r.error]))}`);
  const only = seen[0] as StrictUpstream['requests'][number];
  assert.equal(only.endpoint, endpoint);
  assert.equal(only.status, 200, `the ${fake.format} fake accepted the count request: ${only.error ?? ''}`);
  assert.equal(only.kind, 'count-tokens');
  const answer = only.answer as Record<string, unknown>;
  const counted = answer.input_tokens ?? answer.totalTokens;
  assert.equal(typeof counted, 'number');
  // The gateway's key, never the client's.
  assert.ok(!JSON.stringify(only.headers).includes(CLIENT_KEY));
  return counted as number;
}

test('token counts: each client format × each upstream type', async (t) => {
  const { gateway, fakes, broken } = await setup(t);
  const countEndpoint: Record<Exclude<Target, 'chat'>, string> = { anthropic: 'count_tokens', openai: 'input_tokens', gemini: 'countTokens' };

  await t.test('Anthropic count_tokens → anthropic (same family): passed through', async () => {
    const before = fakes.anthropic.requests.length;
    const response = await anthropicCount(gateway, MODEL.anthropic);
    const body = await expectJson(response, 200);
    assert.equal(body.input_tokens, countAt(fakes.anthropic, before, 'count_tokens'));
    assert.equal(response.headers.get(TOKEN_COUNT), null, 'a passthrough is the upstream answer as it came');
  });

  for (const target of ['openai', 'gemini'] as const) {
    await t.test(`Anthropic count_tokens → ${target}: its count API, the count back as input_tokens`, async () => {
      const fake = fakes[target];
      const before = fake.requests.length;
      const response = await anthropicCount(gateway, MODEL[target]);
      const body = await expectJson(response, 200);
      assert.deepEqual(Object.keys(body), ['input_tokens']);
      assert.equal(body.input_tokens, countAt(fake, before, countEndpoint[target]));
      assert.equal(response.headers.get(TOKEN_COUNT), 'upstream');
      assert.equal(response.headers.get('x-ai-proxy-provider'), target);
    });
  }

  await t.test('Gemini countTokens → gemini (same family): passed through', async () => {
    const before = fakes.gemini.requests.length;
    const response = await geminiCountTokens(gateway, MODEL.gemini);
    const body = await expectJson(response, 200);
    assert.equal(body.totalTokens, countAt(fakes.gemini, before, 'countTokens'));
  });

  for (const target of ['anthropic', 'openai'] as const) {
    await t.test(`Gemini countTokens → ${target}: its count API, the count back as totalTokens`, async () => {
      const fake = fakes[target];
      const before = fake.requests.length;
      const response = await geminiCountTokens(gateway, MODEL[target]);
      const body = await expectJson(response, 200);
      assert.deepEqual(Object.keys(body), ['totalTokens']);
      assert.equal(body.totalTokens, countAt(fake, before, countEndpoint[target]));
      assert.equal(response.headers.get(TOKEN_COUNT), 'upstream');
    });
  }

  await t.test('either format → openai-compatible chat (no count API): the estimate, marked, and nothing sent upstream', async () => {
    const anthropic = await anthropicCount(gateway, MODEL.chat);
    assert.deepEqual(await expectJson(anthropic, 200), { input_tokens: estimateRequestTokens(readCanonicalRequest('anthropic', claudeCount(MODEL.chat))) });
    assert.equal(anthropic.headers.get(TOKEN_COUNT), 'estimated');
    const gemini = await geminiCountTokens(gateway, MODEL.chat);
    assert.deepEqual(await expectJson(gemini, 200), { totalTokens: estimateRequestTokens(readCanonicalRequest('gemini', geminiCount)) });
    assert.equal(gemini.headers.get(TOKEN_COUNT), 'estimated');
    assert.equal(fakes.chat.requests.length, 0, 'an OpenAI-compatible server is never asked to count');
  });

  await t.test('an upstream whose count call fails (503): the estimate, marked, never an error', async () => {
    const before = broken.requests.length;
    const anthropic = await anthropicCount(gateway, 'gemini-broken');
    assert.deepEqual(await expectJson(anthropic, 200), { input_tokens: estimateRequestTokens(readCanonicalRequest('anthropic', claudeCount('gemini-broken'))) });
    assert.equal(anthropic.headers.get(TOKEN_COUNT), 'estimated');
    const gemini = await geminiCountTokens(gateway, 'claude-broken');
    assert.deepEqual(await expectJson(gemini, 200), { totalTokens: estimateRequestTokens(readCanonicalRequest('gemini', geminiCount)) });
    assert.equal(gemini.headers.get(TOKEN_COUNT), 'estimated');
    assert.deepEqual(broken.requests.slice(before).map((r) => r.path.split('?')[0]), ['/v1beta/models/gemini-broken:countTokens', '/v1/messages/count_tokens'], 'the count was asked of the upstream first');
    // The warning reaches the log file through the launcher's pipe, a moment after the answer.
    await waitUntil('the log names the failed count', () => /count \S+ \(anthropic → gemini, broken-gemini\/gemini-broken\): the upstream answered HTTP 503; answered with an estimate/.test(gateway.log()));
  });

  await assertRedacted(gateway, [CLIENT_KEY, ...Object.values(UPSTREAM_KEYS)]);
});
