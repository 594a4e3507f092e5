/**
 * The two scenarios every agent is driven through, against the strict fake of its own format:
 *
 *   - `plain`: a plain prompt; the fake streams a fixed text, which must reach the agent's stdout;
 *   - `tool-loop`: the prompt asks to run a command that prints a random token the test wrote
 *     into a file; the fake has the agent's shell tool run it and answers with the tool result
 *     copied, so the token (which the fake never saw but through the tool result) must reach the
 *     agent's stdout.
 *
 * With AI_PROXY_RECORD_AGENTS=1 every request the fake received is written to
 * test/fixtures/agents/<agent>/<scenario>/.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { requireAgent, type AgentName } from './install.ts';
import { FIXTURES_DIR, recording, writeFixtures } from './recorder.ts';
import { describeRun, runAgent, type AgentRun, type CodexProvider } from './run.ts';
import { strictUpstream, type Format, type StrictUpstream, type UpstreamOptions } from './strict-upstream.ts';

/** Each agent's own wire format. */
export const OWN_FORMAT: Record<AgentName, Format> = { claude: 'anthropic', codex: 'responses', gemini: 'gemini' };

/** The model each agent picks by itself today (Gemini CLI's `auto` routes with a classifier request first). */
export const DEFAULT_MODEL: Record<AgentName, string> = { claude: 'claude-opus-5-5', codex: 'gpt-6.2-sol', gemini: 'auto' };

export const PLAIN_PROMPT = 'Say hello to the test harness.';
export const PLAIN_ANSWER = 'Hello from the strict fake upstream: plain answer 7f3a.';
export const RESULT_PREFIX = 'The command printed: ';

export type ScenarioName = 'plain' | 'tool-loop';

export interface ScenarioOptions {
  agent: AgentName;
  scenario: ScenarioName;
  model?: string;
  /** Where the fixtures go (under test/fixtures/agents/<agent>/); default: the scenario's name. */
  fixture?: string;
  codexProvider?: CodexProvider;
  upstream?: UpstreamOptions;
  /** The fake's format; default: the agent's own. */
  upstreamFormat?: Format;
  /**
   * Something between the agent and the fake (the gateway): given the fake, returns the base URL
   * the agent is pointed at instead of the fake's. Default: the fake itself.
   */
  via?: (upstream: StrictUpstream) => Promise<string>;
  timeoutMs?: number;
}

export interface ScenarioResult {
  run: AgentRun;
  upstream: StrictUpstream;
  /** The token the tool loop's command prints (undefined for `plain`). */
  token: string | undefined;
  prompt: string;
  command: string | undefined;
  model: string;
}

export async function runScenario(t: TestContext, options: ScenarioOptions): Promise<ScenarioResult> {
  const agent = requireAgent(t, options.agent);
  const model = options.model ?? DEFAULT_MODEL[options.agent];
  let token: string | undefined;
  let command: string | undefined;
  let prompt = PLAIN_PROMPT;
  if (options.scenario === 'tool-loop') {
    const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-secret-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    token = `token-${randomBytes(6).toString('hex')}`;
    const file = join(dir, 'secret.txt');
    writeFileSync(file, `${token}\n`);
    command = `cat ${file}`;
    prompt = `Run the shell command \`${command}\` and tell me exactly what it printed.`;
  }
  const upstream = await strictUpstream(t, options.upstreamFormat ?? OWN_FORMAT[options.agent], {
    ...options.upstream,
    script: { text: PLAIN_ANSWER, resultPrefix: RESULT_PREFIX, ...(command === undefined ? {} : { trigger: command, command }), ...options.upstream?.script },
  });
  const baseUrl = options.via === undefined ? upstream.url : await options.via(upstream);
  const run = await runAgent(t, agent, { prompt, model, baseUrl, timeoutMs: options.timeoutMs ?? 60_000, codexProvider: options.codexProvider });
  if (recording()) {
    const dir = join(FIXTURES_DIR, options.agent, options.fixture ?? options.scenario);
    writeFixtures(dir, upstream.requests);
    writeFileSync(
      join(dir, 'scenario.json'),
      `${JSON.stringify({ agent: agent.name, package: agent.package, version: agent.version, format: upstream.format, model, prompt, command: command ?? null, codexProvider: options.codexProvider ?? null, argv: run.argv.slice(agent.argsPrefix.length + 1), exit: run.code, durationMs: run.durationMs, stdout: run.stdout }, null, 2)}\n`,
    );
  }
  return { run, upstream, token, prompt, command, model };
}

export function assertAllAccepted(result: ScenarioResult): void {
  // (A refused WebSocket upgrade is the fake's choice, not a rule the agent broke.)
  const refused = result.upstream.requests.filter((r) => r.status !== 200 && r.kind !== 'websocket-upgrade');
  assert.deepEqual(
    refused.map((r) => `${r.method} ${r.path}: ${r.status} ${r.error ?? r.kind}`),
    [],
    `the fake refused requests the agent sent\n${describeRun(result.run)}`,
  );
}

export function assertPlain(result: ScenarioResult): void {
  assert.equal(result.run.timedOut, false, `the agent finished\n${describeRun(result.run)}`);
  assert.equal(result.run.code, 0, `the agent exited 0\n${describeRun(result.run)}`);
  assert.ok(result.run.stdout.includes(PLAIN_ANSWER), `the fake's answer is on stdout\n${describeRun(result.run)}`);
  assert.ok(result.upstream.requests.some((r) => r.kind === 'plain'), 'the fake answered a plain prompt');
  assertAllAccepted(result);
}

export function assertToolLoop(result: ScenarioResult): void {
  const token = result.token as string;
  assert.equal(result.run.timedOut, false, `the agent finished\n${describeRun(result.run)}`);
  assert.equal(result.run.code, 0, `the agent exited 0\n${describeRun(result.run)}`);
  const kinds = result.upstream.requests.map((r) => r.kind);
  assert.ok(kinds.includes('tool-call'), `the fake had the shell tool called (answers: ${kinds.join(', ')})`);
  assert.ok(
    result.upstream.toolResults().some((r) => r.includes(token)),
    `the fake saw the tool result with the token ${token}; results: ${JSON.stringify(result.upstream.toolResults())}`,
  );
  assert.ok(result.run.stdout.includes(RESULT_PREFIX) && result.run.stdout.includes(token), `the token reached the agent's stdout\n${describeRun(result.run)}`);
  assertAllAccepted(result);
}
