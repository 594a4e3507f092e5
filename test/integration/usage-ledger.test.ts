/**
 * The usage ledger as an operator meets it: every model request recorded once it ends (tokens as
 * the upstream reported them, cost from the pricing table, null for an unpriced model), kept
 * across a restart, read back by `ai-proxy usage` (table, JSON, CSV) and /admin/usage with the
 * same totals as the requests sent; chat streams asked for usage upstream without the client that
 * did not ask seeing it; budgets refusing a key in its own format, across a restart, with the
 * overshoot of concurrent requests within its stated bound; and a broken ledger file costing a
 * log line and a metric, never a request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instance, post, runCli, SLACK_MS, startDaemon, waitUntil, type Instance } from '../helpers/cli.ts';
import { bodyOf, fakeUpstream, json, openaiCompletion, sse, OPENAI_DONE, type Handler } from '../helpers/fake-upstream.ts';
import { expectJson, metrics, metricValue, SseReader } from './gateway-harness.ts';

const ADMIN_KEY = 'admin-key-usage-ledger-0a1b2c3d4e';
const ALICE = 'client-key-alice-usage-5f6e7d8c9b';
const BOB = 'client-key-bob-usage-a1b2c3d4e5f6';
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** api.openai.com's chat completions: usage always on a whole answer, on a stream only with include_usage. */
const USAGE = { prompt_tokens: 1000, completion_tokens: 400, total_tokens: 1400, prompt_tokens_details: { cached_tokens: 200 }, completion_tokens_details: { reasoning_tokens: 100 } };
function openaiWithUsage(): Handler {
  return (_req, res, recorded) => {
    const body = bodyOf(recorded);
    const model = String(body.model);
    if (body.stream !== true) return json(res, 200, { ...openaiCompletion(model, 'Hello.'), usage: USAGE });
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model };
    const extra = includeUsage ? { usage: null } : {};
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sse({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }], ...extra }));
    res.write(sse({ ...base, choices: [{ index: 0, delta: { content: 'lo.' }, finish_reason: 'stop' }], ...extra }));
    if (includeUsage) res.write(sse({ ...base, choices: [], usage: USAGE }));
    res.end(OPENAI_DONE);
  };
}

/** USD per request of USAGE at the prices below: (800 × 2.5 + 200 × 1.25 + 300 × 10 + 100 × 20) / 1e6. */
const COST = (800 * 2.5 + 200 * 1.25 + 300 * 10 + 100 * 20) / 1e6;

function config(upstreamUrl: string, extra = '', keys = `  - { name: alice, key: "${ALICE}" }\n  - { name: bob, key: "${BOB}" }\n`): string {
  return `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
watch-config: false
admin: { key: "${ADMIN_KEY}" }
client-keys:
${keys}providers:
  - name: openai
    type: openai
    base-url: ${upstreamUrl}/v1
    api-keys: [sk-upstream-usage-test-000000]
    models: [gpt-4o, unpriced-model]
pricing:
  gpt-4o: { input: 2.5, output: 10, cached: 1.25, reasoning: 20 }
${extra}`;
}

async function usageJson(inst: Instance, args: string[] = []): Promise<{ total: Record<string, number>; groups: Array<Record<string, unknown>> }> {
  const result = await runCli(['usage', '-c', inst.config, '--json', ...args], { env: inst.env });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return JSON.parse(result.stdout) as { total: Record<string, number>; groups: Array<Record<string, unknown>> };
}

async function stop(inst: Instance): Promise<void> {
  const result = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

const chat = (model: string, stream = false): Record<string, unknown> => ({ model, stream, messages: [{ role: 'user', content: 'hello' }] });

test('the ledger records every request, survives a restart, and `ai-proxy usage` totals equal the requests sent', async (t) => {
  const upstream = await fakeUpstream(t, openaiWithUsage());
  const inst = instance(t, config(upstream.url));
  t.after(() => runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env }).then(() => undefined));
  let { url } = await startDaemon(inst);

  for (let i = 0; i < 5; i++) await expectJson(await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(ALICE)), 200);
  // bob streams without asking for usage: the upstream is asked, bob does not see the usage chunk.
  for (let i = 0; i < 3; i++) {
    const response = await post(`${url}/v1/chat/completions`, chat('gpt-4o', true), bearer(BOB));
    assert.equal(response.status, 200);
    const events = await new SseReader(response).rest();
    assert.deepEqual(events.map((e) => e.data).slice(-1), ['[DONE]']);
    assert.ok(events.every((e) => !e.data.includes('"usage"')), `bob asked for no usage: ${events.map((e) => e.data).join('\n')}`);
  }
  const streamed = upstream.requests.filter((r) => bodyOf(r).stream === true);
  assert.equal(streamed.length, 3);
  for (const r of streamed) assert.deepEqual(bodyOf(r).stream_options, { include_usage: true });
  // A client that asks for usage gets it, as OpenAI sends it.
  const asked = await post(`${url}/v1/chat/completions`, { ...chat('gpt-4o', true), stream_options: { include_usage: true } }, bearer(BOB));
  const askedEvents = await new SseReader(asked).rest();
  assert.equal(askedEvents.filter((e) => e.data.includes('"choices":[]') && e.data.includes('"prompt_tokens":1000')).length, 1);
  await expectJson(await post(`${url}/v1/chat/completions`, chat('unpriced-model'), bearer(BOB)), 200);
  // Refused requests are recorded too (no tokens, no cost).
  assert.equal((await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer('client-key-nobody-0000000000'))).status, 401);
  // 5 + 3 + 1 + 1 + 1 requests.
  const sent = 11;

  await stop(inst);
  const report = await usageJson(inst);
  assert.equal(report.total.requests, sent);
  assert.equal(report.total.inputTokens, 10 * 1000);
  assert.equal(report.total.outputTokens, 10 * 400);
  assert.equal(report.total.cachedTokens, 10 * 200);
  assert.equal(report.total.reasoningTokens, 10 * 100);
  assert.ok(Math.abs((report.total.cost as number) - 9 * COST) < 1e-9, `cost ${report.total.cost}, expected ${9 * COST}`);
  assert.equal(report.total.unpriced, 1, 'the unpriced model costs null, not zero');
  assert.deepEqual(report.groups.map((g) => [g.key, g.requests]), [['alice', 5], ['bob', 5], ['none', 1]]);

  // A second run on the same state directory keeps the file and adds to it.
  ({ url } = await startDaemon(inst));
  for (let i = 0; i < 4; i++) await expectJson(await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(ALICE)), 200);
  // The gateway writes in batches (1 s at most): poll /admin/usage, which flushes first.
  const admin = await waitUntil('/admin/usage counts the new requests', async () => {
    const got = await fetch(`${url}/admin/usage?since=1h&by=model`, { headers: bearer(ADMIN_KEY), signal: AbortSignal.timeout(SLACK_MS) });
    const body = (await got.json()) as { total: { requests: number }; groups: Array<{ key: string; requests: number }> };
    return body.total.requests === sent + 4 ? body : false;
  });
  // The refused request never named a model: it was turned away before its body was read.
  assert.deepEqual(admin.groups.map((g) => [g.key, g.requests]), [['-', 1], ['gpt-4o', 13], ['unpriced-model', 1]]);
  const scraped = await metrics(url);
  const aliceCost = metricValue(scraped, 'ai_proxy_cost_usd_total', { client: 'alice', provider: 'openai', model: 'gpt-4o' });
  assert.ok(aliceCost !== undefined && Math.abs(aliceCost - 4 * COST) < 1e-9, `this run's cost for alice: ${aliceCost}`);
  assert.equal(metricValue(scraped, 'ai_proxy_usage_tokens_total', { client: 'alice', provider: 'openai', model: 'gpt-4o', kind: 'cached' }), 4 * 200);
  await stop(inst);

  const after = await usageJson(inst, ['--by', 'key']);
  assert.equal(after.total.requests, sent + 4);
  const table = await runCli(['usage', '-c', inst.config, '--by', 'day'], { env: inst.env });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^TOTAL\\s+${sent + 4}\\s+14000\\s+5600\\s+2800\\s+1400\\s+\\$`, 'm'));
  const csv = await runCli(['usage', '-c', inst.config, '--csv', '--since', '2000-01-01'], { env: inst.env });
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines[0], 'ts,request_id,client,route,model,resolved_model,provider,upstream_model,input_tokens,output_tokens,cached_tokens,reasoning_tokens,cost,status,latency_ms,ttfb_ms,attempts,outcome');
  assert.equal(lines.length, 1 + sent + 4);
  // No content, ever: the reply text and the prompt are nowhere in the file.
  const file = readFileSync(join(inst.dir, 'state', 'usage.db'));
  assert.equal(file.indexOf('Hello.'), -1);
  assert.equal(file.indexOf('hello'), -1);

  const bad = await runCli(['usage', '-c', inst.config, '--since', 'yesterday'], { env: inst.env });
  assert.equal(bad.code, 64, 'a bad --since is a usage error');
  assert.match(bad.stdout + bad.stderr, /--since expects a duration such as 24h or 7d/);
});

test('budgets: past its budget a key gets 429 in its own format with the reset time, kept across a restart; concurrent requests overshoot by at most what was in flight', async (t) => {
  let hold: Promise<void> | null = null;
  let arrived = 0;
  const plain = openaiWithUsage();
  const upstream = await fakeUpstream(t, async (req, res, recorded) => {
    arrived++;
    if (hold !== null) await hold;
    return plain(req, res, recorded);
  });
  // Each request costs COST (≈ $0.00725); alice may spend $0.02 a day: 3 requests (0, 1, 2 × COST < 0.02), then refused.
  const keys = `  - { name: alice, key: "${ALICE}", budget: { usd: 0.02, period: day } }\n  - { name: bob, key: "${BOB}", budget: { usd: 0.001, period: month } }\n`;
  const inst = instance(t, config(upstream.url, '', keys));
  t.after(() => runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env }).then(() => undefined));
  let { url } = await startDaemon(inst);

  for (let i = 0; i < 3; i++) await expectJson(await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(ALICE)), 200);
  const refused = await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(ALICE));
  const body = await expectJson(refused, 429);
  const tomorrow = new Date();
  tomorrow.setUTCHours(24, 0, 0, 0);
  assert.deepEqual((body.error as { code: string }).code, 'insufficient_quota');
  assert.match((body.error as { message: string }).message, new RegExp(`budget of \\$0.02 per day .*resets at ${tomorrow.toISOString().replace(/\./g, '\\.')}`));
  assert.equal(refused.headers.get('x-ai-proxy-budget-reset'), tomorrow.toISOString());
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(Math.abs(retryAfter - (tomorrow.getTime() - Date.now()) / 1000) < SLACK_MS / 1000 + 1, `retry-after ${retryAfter}`);
  // Anthropic and Gemini clients get their own shape of a 429.
  const anthropic = await expectJson(await post(`${url}/v1/messages`, { model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': ALICE }), 429);
  assert.deepEqual([anthropic.type, (anthropic.error as { type: string }).type], ['error', 'rate_limit_error']);
  const gemini = await expectJson(await post(`${url}/v1beta/models/gpt-4o:generateContent`, { contents: [{ parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': ALICE }), 429);
  assert.equal((gemini.error as { status: string }).status, 'RESOURCE_EXHAUSTED');
  const upstreamCalls = upstream.requests.length;
  assert.equal(upstreamCalls, 3, 'refused requests never reach the upstream');

  // Concurrency: bob's 4 requests are admitted together (nothing spent yet) and all finish.
  let release!: () => void;
  hold = new Promise<void>((resolve) => (release = resolve));
  const before = arrived;
  const concurrent = Array.from({ length: 4 }, () => post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(BOB)));
  await waitUntil('4 concurrent requests reached the upstream', () => arrived - before === 4);
  release();
  hold = null;
  for (const response of await Promise.all(concurrent)) assert.equal(response.status, 200);
  assert.equal((await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(BOB))).status, 429);
  const budgets = (await expectJson(await fetch(`${url}/admin/budgets`, { headers: bearer(ADMIN_KEY) }), 200)) as { budgets: Array<{ client: string; usd: number; spent: number; exhausted: boolean; period: string }> };
  const bob = budgets.budgets.find((b) => b.client === 'bob');
  assert.ok(bob !== undefined && bob.exhausted && bob.period === 'month');
  // The stated bound: budget + (requests in flight when it was crossed) × (cost of one).
  assert.ok(Math.abs(bob.spent - 4 * COST) < 1e-9, `bob spent ${bob.spent}`);
  assert.ok(bob.spent <= 0.001 + 4 * COST + 1e-9);
  assert.ok(bob.spent > bob.usd, 'the overshoot is real: cost is known only when a request ends');

  // A restart seeds the spend from the ledger: alice is still refused, at once.
  await stop(inst);
  ({ url } = await startDaemon(inst));
  assert.equal((await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(ALICE))).status, 429);
  assert.equal((await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(BOB))).status, 429);
  const spent = (await expectJson(await fetch(`${url}/admin/budgets`, { headers: bearer(ADMIN_KEY) }), 200)) as { budgets: Array<{ client: string; spent: number }> };
  assert.ok(Math.abs((spent.budgets.find((b) => b.client === 'alice')?.spent ?? 0) - 3 * COST) < 1e-9);
  assert.equal(upstream.requests.length, upstreamCalls + 4);
});

test('a broken or full ledger file costs a log line and a metric, never a request; a fail-closed budget refuses meanwhile', async (t) => {
  const upstream = await fakeUpstream(t, openaiWithUsage());
  const keys = `  - { name: alice, key: "${ALICE}" }\n  - { name: bob, key: "${BOB}", budget: { usd: 100, period: day, fail-closed: true } }\n`;
  for (const kind of ['garbage', '/dev/full', 'read-only directory'] as const) {
    await t.test(kind, async (t) => {
      const inst = instance(t, 'placeholder');
      let file: string;
      if (kind === 'garbage') {
        file = join(inst.dir, 'usage.db');
        writeFileSync(file, 'this is not an SQLite database, but a file that got damaged '.repeat(100));
      } else if (kind === '/dev/full') {
        file = '/dev/full';
      } else {
        // Root ignores directory modes, so the directory is a file's path below a regular file.
        writeFileSync(join(inst.dir, 'not-a-dir'), '');
        file = join(inst.dir, 'not-a-dir', 'usage.db');
      }
      writeFileSync(inst.config, config(upstream.url, `usage: { file: ${JSON.stringify(file)} }\n`, keys));
      t.after(() => runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env }).then(() => undefined));
      const { url } = await startDaemon(inst);
      for (let i = 0; i < 3; i++) await expectJson(await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(ALICE)), 200);
      const refused = await post(`${url}/v1/chat/completions`, chat('gpt-4o'), bearer(BOB));
      assert.equal(refused.status, 503, 'fail-closed: the spend is unknown');
      assert.match(await refused.text(), /fail-closed/);
      const scraped = await waitUntil('the dropped records are counted', async () => {
        const text = await metrics(url);
        return (metricValue(text, 'ai_proxy_ledger_records_total', { outcome: 'write_failed' }) ?? 0) >= 4 ? text : false;
      });
      assert.equal(metricValue(scraped, 'ai_proxy_ledger_up'), 0);
      await stop(inst);
      const log = readFileSync(inst.logFile, 'utf8');
      assert.equal(log.match(/cannot open the usage ledger/g)?.length, 1, `one line for the failing spell:\n${log}`);
      assert.match(log, /requests are served, their usage is not recorded/);
    });
  }
});
