/**
 * The shipped agent configs (etc/examples/): each validates once its variables are set, and every
 * model id its agent sends — the one a user gives, and the ones the agent picks by itself (Claude
 * Code's default and small model, Codex's default, Gemini CLI's auto and classifier models; see
 * test/fixtures/agents/FINDINGS.md) — is routed to the example's upstream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/shared/config/load.ts';
import { ModelTable } from '../../src/server/routing/model-table.ts';

const examples: Array<{ file: string; env: Record<string, string>; provider: string; ids: string[] }> = [
  {
    file: 'claude-code.yaml',
    env: { AI_PROXY_CLAUDE_CODE_KEY: 'claude-code-client-key-0123', OPENAI_API_KEY: 'sk-openai-example' },
    provider: 'openai',
    ids: ['gpt-5.5', 'claude-opus-5-5', 'claude-sonnet-5-5', 'claude-haiku-5-5', 'opus', 'sonnet', 'haiku'],
  },
  {
    file: 'codex.yaml',
    env: { AI_PROXY_CODEX_KEY: 'codex-client-key-0123456', ANTHROPIC_API_KEY: 'sk-ant-example' },
    provider: 'anthropic',
    ids: ['claude-sonnet-5', 'gpt-6.2-sol', 'gpt-5.5', 'codex-auto-review'],
  },
  {
    file: 'gemini-cli.yaml',
    env: { AI_PROXY_GEMINI_CLI_KEY: 'gemini-cli-client-key-0123', DEEPSEEK_API_KEY: 'sk-deepseek-example' },
    provider: 'deepseek',
    ids: ['deepseek-chat', 'auto', 'gemini-3.1-pro-preview', 'gemini-3-pro-preview', 'gemini-2.5-pro', 'gemini-3.5-flash', 'gemini-3.5-flash-lite'],
  },
];

for (const example of examples) {
  test(`etc/examples/${example.file} validates and routes every id its agent sends to ${example.provider}`, () => {
    const path = new URL(`../../etc/examples/${example.file}`, import.meta.url).pathname;
    const { config } = loadConfig({ path, env: example.env });
    const table = new ModelTable(config);
    for (const id of example.ids) {
      const resolution = table.resolve(id);
      assert.ok(resolution.ok, `${id}: ${resolution.ok ? '' : resolution.message}`);
      assert.deepEqual(
        resolution.candidates.map((c) => c.provider.name),
        [example.provider],
        `${id} goes to ${example.provider}`,
      );
    }
  });
}
