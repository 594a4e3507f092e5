/**
 * The real coding agents, each driven directly (no gateway) against the strict fake upstream of
 * its own wire format: Claude Code → Anthropic Messages, Codex → OpenAI Responses, Gemini CLI →
 * Gemini generateContent. For a plain prompt the fake's text must reach the agent's stdout; in
 * the tool loop the token the shell command printed (which only the agent's shell tool could
 * read) must reach it, and the fake must have seen the tool result. Every request must have
 * passed the fake's rules: a refusal means the fake and the real client disagree.
 *
 * The agents come from scripts/install-agents.sh; a missing one skips here, fails under CI=true.
 * AI_PROXY_RECORD_AGENTS=1 rewrites test/fixtures/agents/ from these runs (and records the
 * recording-only variants at the end).
 */
import { describe, test } from 'node:test';
import { skipUnlessInstalled, type AgentName } from '../helpers/agents/install.ts';
import { recording } from '../helpers/agents/recorder.ts';
import { assertPlain, assertToolLoop, runScenario } from '../helpers/agents/scenarios.ts';
import type { CodexProvider } from '../helpers/agents/run.ts';

const TIMEOUT_MS = 60_000;

const AGENTS: readonly AgentName[] = ['claude', 'codex', 'gemini'];

for (const agent of AGENTS) {
  describe(`${agent} against its own format`, { skip: skipUnlessInstalled(agent) }, () => {
    test('a plain prompt: the fake text reaches stdout', async (t) => {
      assertPlain(await runScenario(t, { agent, scenario: 'plain', timeoutMs: TIMEOUT_MS }));
    });
    test('a tool loop: the shell command runs and its output comes back', async (t) => {
      assertToolLoop(await runScenario(t, { agent, scenario: 'tool-loop', timeoutMs: TIMEOUT_MS }));
    });
  });
}

/**
 * Recording only: what the agents send with other models (a translator must handle every shape).
 * Claude Code: a model it knows as older (no mid-conversation system messages, `thinking.enabled`
 * with a budget) and a non-Claude id; Codex: a model with classic top-level function tools, an
 * id it has no metadata for (its fallback shape), and the built-in OpenAI provider whose
 * WebSocket attempt the fake refuses with 426; Gemini CLI: a 2.5 model (thinkingBudget) and a 3
 * model named directly.
 */
const VARIANTS: Array<{ agent: AgentName; model: string; fixture: string; codexProvider?: CodexProvider }> = [
  { agent: 'claude', model: 'claude-haiku-4-5', fixture: 'tool-loop-claude-haiku-4-5' },
  { agent: 'claude', model: 'gpt-4o', fixture: 'tool-loop-gpt-4o' },
  { agent: 'codex', model: 'gpt-5.5', fixture: 'tool-loop-gpt-5.5' },
  { agent: 'codex', model: 'gpt-5.1-codex', fixture: 'tool-loop-unknown-model-gpt-5.1-codex' },
  { agent: 'codex', model: 'gpt-6.2-sol', fixture: 'tool-loop-openai-provider-ws426', codexProvider: 'openai' },
  { agent: 'gemini', model: 'gemini-2.5-pro', fixture: 'tool-loop-gemini-2.5-pro' },
  { agent: 'gemini', model: 'gemini-3-pro-preview', fixture: 'tool-loop-gemini-3-pro-preview' },
];

describe('recorded variants', { skip: recording() ? false : 'recording only (AI_PROXY_RECORD_AGENTS=1)' }, () => {
  for (const v of VARIANTS) {
    test(`${v.agent} with ${v.model}${v.codexProvider === undefined ? '' : ` (${v.codexProvider} provider)`}`, { skip: skipUnlessInstalled(v.agent) }, async (t) => {
      assertToolLoop(await runScenario(t, { agent: v.agent, scenario: 'tool-loop', model: v.model, fixture: v.fixture, codexProvider: v.codexProvider, timeoutMs: TIMEOUT_MS }));
    });
  }
});
