/**
 * Codex's Responses-over-WebSocket attempt and its fallback to HTTP, measured on the real binary.
 *
 * Codex tries the WebSocket transport only on a provider that supports it: the built-in OpenAI
 * provider (pointed elsewhere with the documented `openai_base_url`) or a `model_providers`
 * entry with `supports_websockets = true`. A plain entry (base_url, env_key, wire_api) does not
 * try at all. Where it tries, it sends `GET /v1/responses` with `Upgrade: websocket` and
 * `OpenAI-Beta: responses_websockets=…`; only a 426 Upgrade Required makes it fall back to HTTP at
 * once (the other refusals are retried with backoff, ~7 s, and a 400 fails the turn), and once
 * fallen back it stays on HTTP for the rest of the session.
 *
 * AI_PROXY_CODEX_WS_MATRIX=1 also measures every kind of refusal (slow: the silent server alone
 * takes over a minute) and prints the table.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { skipUnlessInstalled } from '../helpers/agents/install.ts';
import { describeRun } from '../helpers/agents/run.ts';
import { runScenario, PLAIN_ANSWER } from '../helpers/agents/scenarios.ts';
import type { RecordedExchange, WebSocketAnswer } from '../helpers/agents/strict-upstream.ts';

/** What the gateway must meet: Codex's first HTTP request within this long after its WebSocket attempt. */
const FALLBACK_BUDGET_MS = 500;

const upgrades = (requests: RecordedExchange[]): RecordedExchange[] => requests.filter((r) => r.kind === 'websocket-upgrade');
const posts = (requests: RecordedExchange[]): RecordedExchange[] => requests.filter((r) => r.method === 'POST');

describe('Codex and the WebSocket transport', { skip: skipUnlessInstalled('codex') }, () => {
  test('a model_providers entry (base_url, env_key, wire_api) makes no WebSocket attempt', async (t) => {
    const { run, upstream } = await runScenario(t, { agent: 'codex', scenario: 'plain' });
    assert.equal(run.code, 0, describeRun(run));
    assert.deepEqual(upgrades(upstream.requests), [], 'no Upgrade request');
    assert.ok(posts(upstream.requests).length > 0, 'the turn went over HTTP');
  });

  test(`built-in provider: a 426 answer brings the first POST within ${FALLBACK_BUDGET_MS} ms, and later turns stay on HTTP`, async (t) => {
    const { run, upstream, token } = await runScenario(t, { agent: 'codex', scenario: 'tool-loop', codexProvider: 'openai', upstream: { websocket: 426 } });
    assert.equal(run.code, 0, describeRun(run));
    const ws = upgrades(upstream.requests);
    assert.equal(ws.length, 1, `one WebSocket attempt in the whole session: ${ws.map((r) => r.at).join(', ')}`);
    const attempt = ws[0] as RecordedExchange;
    assert.equal(attempt.method, 'GET');
    assert.equal(attempt.path, '/v1/responses');
    assert.equal(String(attempt.headers.upgrade).toLowerCase(), 'websocket');
    assert.match(String(attempt.headers['openai-beta']), /^responses_websockets=\d{4}-\d{2}-\d{2}$/);
    const http = posts(upstream.requests);
    assert.ok(http.length >= 2, 'the tool call and its result both went over HTTP');
    const first = http[0] as RecordedExchange;
    const delay = first.at - attempt.at;
    t.diagnostic(`WebSocket attempt at ${attempt.at} ms, first POST ${delay} ms later`);
    assert.ok(delay >= 0 && delay < FALLBACK_BUDGET_MS, `first POST ${delay} ms after the WebSocket attempt`);
    assert.ok(http.every((r) => r.at > attempt.at), 'no POST before the attempt');
    assert.ok(run.stdout.includes(token as string), describeRun(run));
  });
});

const MATRIX: WebSocketAnswer[] = [426, 404, 405, 501, 200, 400, 'close', 'hang'];

describe('Codex WebSocket refusals, measured', { skip: process.env.AI_PROXY_CODEX_WS_MATRIX === '1' ? skipUnlessInstalled('codex') : 'set AI_PROXY_CODEX_WS_MATRIX=1 (slow)', concurrency: 2 }, () => {
  for (const answer of MATRIX) {
    test(`refused with ${answer}`, async (t) => {
      const { run, upstream } = await runScenario(t, { agent: 'codex', scenario: 'plain', codexProvider: 'openai', upstream: { websocket: answer }, timeoutMs: 150_000 });
      const ws = upgrades(upstream.requests);
      const http = posts(upstream.requests);
      const attempt = ws[0];
      const first = http[0];
      const row = {
        answer,
        attempts: ws.length,
        firstAttemptMs: attempt?.at ?? null,
        lastAttemptMs: ws.at(-1)?.at ?? null,
        firstPostMs: first?.at ?? null,
        fallbackDelayMs: attempt !== undefined && first !== undefined ? first.at - attempt.at : null,
        exit: run.code,
        answered: run.stdout.includes(PLAIN_ANSWER),
      };
      t.diagnostic(JSON.stringify(row));
      assert.ok(ws.length >= 1, 'Codex tried the WebSocket');
    });
  }
});
