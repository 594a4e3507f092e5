/**
 * The coding agents, unmodified, through the gateway to every upstream type: Claude Code, Codex
 * and Gemini CLI × an Anthropic, an OpenAI (Responses), an OpenAI-compatible (chat) and a Gemini
 * upstream, each a strict fake that refuses what the real API refuses. For each of the 12 pairs,
 * a plain prompt (the fake's text reaches the agent) and a whole tool loop (the agent's shell
 * tool runs a command that prints a token the fake never saw; the fake copies the tool result
 * into its answer; the token must reach the agent's output), streamed as the agent streams.
 *
 * One gateway per pair, whose only provider is the upstream under test with `models: ["*"]`: every
 * model id the agent uses — the one given, and whatever it picks by itself for side requests — is
 * routed there. The agents authenticate with their own ai-proxy client keys, as users configure
 * them; the gateway holds the upstream key.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { startGateway } from '../integration/gateway-harness.ts';
import { skipUnlessInstalled, type AgentName } from '../helpers/agents/install.ts';
import { AGENT_KEYS } from '../helpers/agents/run.ts';
import { assertPlain, assertToolLoop, OWN_FORMAT, runScenario, type ScenarioName, type ScenarioResult } from '../helpers/agents/scenarios.ts';
import { FORMATS, type Format, type StrictUpstream } from '../helpers/agents/strict-upstream.ts';

const TIMEOUT_MS = 90_000;
const UPSTREAM_KEY = 'sk-upstream-held-by-the-gateway-7c1d';

/** The model id a user gives the agent to reach each upstream: a real id of that provider. */
const MODEL: Record<Format, string> = { anthropic: 'claude-sonnet-5', responses: 'gpt-5.5', chat: 'deepseek-chat', gemini: 'gemini-2.5-pro' };

/** The provider entry for the upstream under test, as an operator writes it. */
function provider(format: Format, url: string): string {
  const common = `    api-keys: ["${UPSTREAM_KEY}"]\n    models: ["*"]\n`;
  switch (format) {
    case 'anthropic':
      return `  - name: anthropic\n    type: anthropic\n    base-url: ${url}\n${common}`;
    case 'responses':
      return `  - name: openai\n    type: openai\n    base-url: ${url}/v1\n    wire-api: responses\n${common}`;
    case 'chat':
      return `  - name: deepseek\n    type: openai-compatible\n    base-url: ${url}/v1\n    wire-api: chat\n${common}`;
    case 'gemini':
      return `  - name: gemini\n    type: gemini\n    base-url: ${url}\n${common}`;
  }
}

function gatewayFor(t: TestContext, format: Format): (upstream: StrictUpstream) => Promise<string> {
  return async (upstream) => {
    const keys = (Object.keys(AGENT_KEYS) as AgentName[]).map((name) => `  - { name: ${name}, key: "${AGENT_KEYS[name]}" }`).join('\n');
    const yaml = `listen: { host: 127.0.0.1, port: 0 }\nwatch-config: false\nclient-keys:\n${keys}\nproviders:\n${provider(format, upstream.url)}`;
    return (await startGateway(t, yaml)).url;
  };
}

/** Every turn went upstream as a stream: the agents stream, and so must what the gateway sends. */
function assertStreamed(result: ScenarioResult): void {
  const turns = result.upstream.requests.filter((r) => r.kind === 'plain' || r.kind === 'tool-call' || r.kind === 'tool-result');
  assert.ok(turns.length > 0, 'the fake answered the conversation');
  for (const turn of turns) {
    const body = turn.body as Record<string, unknown> | undefined;
    const streamed = result.upstream.format === 'gemini' ? turn.endpoint === 'streamGenerateContent' : body?.stream === true;
    assert.ok(streamed, `${turn.method} ${turn.path} (${turn.kind}) went upstream as a stream`);
    // The gateway's own key, never the agent's.
    const auth = JSON.stringify(turn.headers);
    assert.ok(!auth.includes(AGENT_KEYS.claude) && !auth.includes(AGENT_KEYS.codex) && !auth.includes(AGENT_KEYS.gemini), 'the client key stays at the gateway');
  }
}

const AGENTS: readonly AgentName[] = ['claude', 'codex', 'gemini'];
const SCENARIOS: readonly ScenarioName[] = ['plain', 'tool-loop'];

for (const agent of AGENTS) {
  describe(`${agent} through the gateway`, { skip: skipUnlessInstalled(agent) }, () => {
    for (const format of FORMATS) {
      for (const scenario of SCENARIOS) {
        const label = format === OWN_FORMAT[agent] ? `${format} (its own format)` : format;
        test(`to ${label} as ${MODEL[format]}: ${scenario === 'plain' ? 'a plain prompt' : 'a whole tool loop'}`, async (t) => {
          const result = await runScenario(t, { agent, scenario, model: MODEL[format], upstreamFormat: format, via: gatewayFor(t, format), timeoutMs: TIMEOUT_MS });
          if (scenario === 'plain') assertPlain(result);
          else assertToolLoop(result);
          assertStreamed(result);
        });
      }
    }
  });
}
