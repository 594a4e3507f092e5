/**
 * The real coding agents through the gateway (built CLI, `run -d`) to the strict fake of another
 * provider's format: Claude Code to chat, Responses and Gemini; Codex to chat, Anthropic and
 * Gemini; Gemini CLI to chat, Responses and Anthropic. The shell-tool loop must come back whole:
 * the token only the agent's shell could read reaches its stdout, every request the fake got
 * passed its rules (the same the fakes of agents-direct.test.ts enforce), and the gateway
 * refused nothing. Before the translator carried what the agents send, Claude Code's
 * mid-conversation system messages and Codex's namespace, custom and web-search tools were 400s.
 *
 * Codex on its built-in OpenAI provider tries a WebSocket first: through the gateway that
 * attempt must be answered 426 and its first HTTP request follow within 500 ms.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { requireAgent, skipUnlessInstalled, type AgentName } from '../helpers/agents/install.ts';
import { describeRun, runAgent, type AgentRun, type CodexProvider } from '../helpers/agents/run.ts';
import { OWN_FORMAT, PLAIN_ANSWER, PLAIN_PROMPT, RESULT_PREFIX } from '../helpers/agents/scenarios.ts';
import { strictUpstream, type Format, type StrictUpstream } from '../helpers/agents/strict-upstream.ts';
import { startGateway, type RunningGateway } from '../integration/gateway-harness.ts';

const TIMEOUT_MS = 90_000;

/** The provider entry for a strict fake of each format. */
function providerYaml(format: Format, url: string): string {
  switch (format) {
    case 'chat':
      return `{ name: strict-chat, type: openai-compatible, wire-api: chat, base-url: "${url}/v1", api-keys: ["sk-strict-0001"], models: ["*"] }`;
    case 'responses':
      return `{ name: strict-responses, type: openai-compatible, wire-api: responses, base-url: "${url}/v1", api-keys: ["sk-strict-0002"], models: ["*"] }`;
    case 'anthropic':
      return `{ name: strict-anthropic, type: anthropic, base-url: "${url}", api-keys: ["sk-ant-strict-0003"], models: ["*"] }`;
    case 'gemini':
      return `{ name: strict-gemini, type: gemini, base-url: "${url}", api-keys: ["AIzaStrict0004"], models: ["*"] }`;
  }
}

interface GatewayRun {
  run: AgentRun;
  upstream: StrictUpstream;
  gateway: RunningGateway;
  token: string | undefined;
}

async function throughGateway(t: TestContext, agent: AgentName, target: Format, options: { model: string; toolLoop: boolean; codexProvider?: CodexProvider }): Promise<GatewayRun> {
  const installed = requireAgent(t, agent);
  let token: string | undefined;
  let command: string | undefined;
  let prompt = PLAIN_PROMPT;
  if (options.toolLoop) {
    const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-secret-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    token = `token-${randomBytes(6).toString('hex')}`;
    writeFileSync(join(dir, 'secret.txt'), `${token}\n`);
    command = `cat ${join(dir, 'secret.txt')}`;
    prompt = `Run the shell command \`${command}\` and tell me exactly what it printed.`;
  }
  const upstream = await strictUpstream(t, target, { script: { text: PLAIN_ANSWER, resultPrefix: RESULT_PREFIX, ...(command === undefined ? {} : { trigger: command, command }) } });
  // No client keys: the gateway listens on loopback only and takes the agents' own keys as they come.
  const gateway = await startGateway(t, `listen: { host: 127.0.0.1, port: 0 }\nshutdown-timeout: 5s\nretry: { attempts: 1 }\nproviders:\n  - ${providerYaml(target, upstream.url)}\n`);
  const run = await runAgent(t, installed, { prompt, model: options.model, baseUrl: gateway.url, timeoutMs: TIMEOUT_MS, codexProvider: options.codexProvider });
  return { run, upstream, gateway, token };
}

function assertAnswered(result: GatewayRun): void {
  const { run, upstream, gateway, token } = result;
  const context = `${describeRun(run)}\n--- gateway log (end)\n${gateway.log().slice(-3000)}`;
  assert.equal(run.timedOut, false, `the agent finished\n${context}`);
  assert.equal(run.code, 0, `the agent exited 0\n${context}`);
  const refused = upstream.requests.filter((r) => r.status !== 200);
  assert.deepEqual(refused.map((r) => `${r.method} ${r.path}: ${r.status} ${r.error ?? r.kind}`), [], `the strict ${upstream.format} fake refused what the gateway sent\n${context}`);
  const gatewayErrors = gateway.log().split('\n').filter((line) => / access .* status=(4|5)\d\d /.test(line) && !/ status=426 /.test(line));
  assert.deepEqual(gatewayErrors, [], `the gateway answered errors\n${context}`);
  if (token === undefined) {
    // Without a shell tool the Anthropic fake may take a prompt for a side request (Codex's code
    // mode has none it knows) and answer its summary text: either answer names the fake.
    assert.match(run.stdout, /strict fake upstream/, `the fake's answer reached the agent\n${context}`);
    return;
  }
  const kinds = upstream.requests.map((r) => r.kind);
  assert.ok(kinds.includes('tool-call'), `the fake had the shell tool called (answers: ${kinds.join(', ')})\n${context}`);
  assert.ok(upstream.toolResults().some((r) => r.includes(token)), `the tool result with ${token} came back through the gateway; results: ${JSON.stringify(upstream.toolResults())}`);
  assert.ok(run.stdout.includes(RESULT_PREFIX) && run.stdout.includes(token), `the token reached the agent's stdout\n${context}`);
}

/** Each agent's model for each target; Codex's default model runs its code mode, which only a Responses model can drive, so its tool loops use a classic one. */
const CASES: ReadonlyArray<{ agent: AgentName; target: Format; model: string }> = [
  { agent: 'claude', target: 'chat', model: 'gpt-4o' },
  { agent: 'claude', target: 'responses', model: 'gpt-5.5' },
  { agent: 'claude', target: 'gemini', model: 'gemini-2.5-pro' },
  { agent: 'codex', target: 'chat', model: 'gpt-5.5' },
  { agent: 'codex', target: 'anthropic', model: 'gpt-5.1-codex' },
  { agent: 'codex', target: 'gemini', model: 'gpt-5.5' },
  { agent: 'gemini', target: 'chat', model: 'gemini-2.5-pro' },
  { agent: 'gemini', target: 'responses', model: 'gemini-2.5-pro' },
  { agent: 'gemini', target: 'anthropic', model: 'gemini-3-pro-preview' },
];

for (const agent of ['claude', 'codex', 'gemini'] as const) {
  describe(`${agent} through the gateway to other providers`, { skip: skipUnlessInstalled(agent) }, () => {
    for (const c of CASES.filter((x) => x.agent === agent)) {
      assert.notEqual(c.target, OWN_FORMAT[agent]);
      test(`${agent} → ${c.target} (${c.model}): the shell-tool loop comes back`, async (t) => {
        assertAnswered(await throughGateway(t, agent, c.target, { model: c.model, toolLoop: true }));
      });
    }
    if (agent === 'codex') {
      test('codex, default model (code mode) → anthropic: a plain prompt is answered', async (t) => {
        assertAnswered(await throughGateway(t, 'codex', 'anthropic', { model: 'gpt-6.2-sol', toolLoop: false }));
      });
    }
  });
}

/** When an access line's request started: the line's time minus its duration. */
function startedAt(line: string): number {
  const time = Date.parse(line.slice(0, line.indexOf(' ')));
  const ms = Number(/ ms=(\d+) /.exec(line)?.[1]);
  return time - ms;
}

describe('codex on the built-in OpenAI provider through the gateway', { skip: skipUnlessInstalled('codex') }, () => {
  test('its WebSocket attempt gets 426 and its first POST follows within 500 ms', async (t) => {
    const result = await throughGateway(t, 'codex', 'responses', { model: 'gpt-6.2-sol', toolLoop: false, codexProvider: 'openai' });
    assertAnswered(result);
    const lines = result.gateway.log().split('\n').filter((line) => line.includes(' access '));
    const upgrades = lines.filter((line) => / GET \/v1\/responses .* status=426 /.test(line));
    const posts = lines.filter((line) => / POST \/v1\/responses /.test(line));
    assert.equal(upgrades.length, 1, `one WebSocket attempt, answered 426:\n${lines.join('\n')}`);
    assert.ok(posts.length >= 1, `the turn went over HTTP:\n${lines.join('\n')}`);
    const delay = Math.min(...posts.map(startedAt)) - startedAt(upgrades[0] as string);
    t.diagnostic(`first POST ${delay} ms after the WebSocket attempt`);
    assert.ok(delay >= 0 && delay < 500, `first POST ${delay} ms after the WebSocket attempt:\n${lines.join('\n')}`);
  });
});
