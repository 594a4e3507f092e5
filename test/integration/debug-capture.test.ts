/**
 * `ai-proxy debug capture`, the operators' redacted capture (issue 10 point 4), driven as an
 * operator would: a daemon (`run -d`) with client, upstream and admin keys, a capture armed from
 * the CLI, requests sent with real keys through the gateway to a strict Anthropic fake by an
 * OpenAI chat client (so the upstream side shows the translation), and the file it wrote.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Foreground, post, runCli, SLACK_MS, waitUntil } from '../helpers/cli.ts';
import { strictUpstream } from '../helpers/agents/strict-upstream.ts';
import { assertNoSecrets, assertRedacted, expectJson, startGateway } from './gateway-harness.ts';

const CLIENT_KEY = 'sk-client-capture-5e1f0c';
const UPSTREAM_KEY = 'sk-ant-upstream-capture-9b2d77';
const ADMIN_KEY = 'admin-capture-key-3c4d5e6f';
const LIMIT = 64 * 1024;

type Json = Record<string, unknown>;

test('debug capture records the next requests on both sides, redacted and cut at the limit', async (t) => {
  const upstream = await strictUpstream(t, 'anthropic');
  const yaml = `listen: { host: 127.0.0.1, port: 0 }
watch-config: false
retry: { attempts: 1 }
admin:
  key: \${CAPTURE_TEST_ADMIN_KEY}
client-keys:
  - { name: capture-agent, key: "${CLIENT_KEY}" }
providers:
  - { name: anthropic, type: anthropic, base-url: "${upstream.url}", api-keys: ["${UPSTREAM_KEY}"], models: ["claude-sonnet-5"] }
`;
  const gateway = await startGateway(t, yaml, { CAPTURE_TEST_ADMIN_KEY: ADMIN_KEY });
  const { inst } = gateway;
  const output = join(inst.dir, 'capture.jsonl');
  const auth = { authorization: `Bearer ${CLIENT_KEY}` };

  // A request the capture must not take: it is sent before the capture is armed.
  await expectJson(await post(`${gateway.url}/v1/chat/completions`, { model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'before the capture' }] }, auth), 200);

  const capture = new Foreground(t, ['--pid-file', inst.pidFile, '-c', inst.config, '--count', '3', '--output', output, '--timeout', '2m'], inst.env, ['debug', 'capture']);
  await capture.waitFor(/capturing the next 3 requests/);

  // 1: larger than the limit, the client's key inside its text (an agent that pasted it).
  const long = `Summarise this log. ${'x'.repeat(LIMIT)} The key was ${CLIENT_KEY}. Thanks.`;
  const first = await expectJson(await post(`${gateway.url}/v1/chat/completions`, { model: 'claude-sonnet-5', messages: [{ role: 'system', content: `Upstream key ${UPSTREAM_KEY} must not leak.` }, { role: 'user', content: long }] }, auth), 200);
  assert.equal((first.object as string), 'chat.completion');
  // 2: small and streamed.
  const second = await post(`${gateway.url}/v1/chat/completions`, { model: 'claude-sonnet-5', stream: true, messages: [{ role: 'user', content: 'Say hello.' }] }, auth);
  assert.equal(second.status, 200);
  assert.match(await second.text(), /data: \[DONE\]/);
  // 3: refused by the gateway itself: the answer's body is kept, as for every error answer.
  await expectJson(await post(`${gateway.url}/v1/chat/completions`, { model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }, auth), 404);

  const exited = await Promise.race([capture.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`debug capture did not exit:\n${capture.output}`)), 3 * SLACK_MS))]);
  assert.equal(exited.code, 0, capture.output);
  assert.match(capture.output, /captured 3 requests into .*capture\.jsonl/);
  assert.match(capture.output, /POST \/v1\/chat\/completions claude-sonnet-5 \(capture-agent\) → 200; anthropic 200/);

  assert.equal(statSync(output).mode & 0o777, 0o600, 'the file holds prompts: only its owner reads it');
  const text = readFileSync(output, 'utf8');
  const records = text.trim().split('\n').map((line) => JSON.parse(line) as Json);
  assert.equal(records.length, 3);
  // Each record is written when its response closes: found by what it holds, not by its place.
  const find = (what: string, match: (r: Json) => boolean): Json => {
    const found = records.filter(match);
    assert.equal(found.length, 1, `one record of ${what}`);
    return found[0] as Json;
  };
  const big = find('the large request', (r) => (r.client as Json).truncated === true);
  const small = find('the streamed request', (r) => ((r.client as Json).body as Json | undefined)?.stream === true);
  const refused = find('the refused request', (r) => r.model === 'no-such-model');

  // The client's side, as received.
  const bigClient = big.client as Json;
  assert.equal(big.type, 'exchange');
  assert.equal(big.model, 'claude-sonnet-5');
  assert.equal(bigClient.name, 'capture-agent');
  assert.equal(bigClient.path, '/v1/chat/completions');
  assert.equal((bigClient.headers as Json).authorization, '[redacted]');
  assert.equal(bigClient.truncated, true);
  assert.ok((bigClient.bytes as number) > LIMIT);
  assert.equal(typeof bigClient.body, 'string');
  assert.ok(Buffer.byteLength(bigClient.body as string) <= LIMIT, 'the body is cut at the limit');
  assert.match(bigClient.body as string, /\[redacted\] must not leak/, 'a configured secret inside a body is replaced');

  // The upstream's side, as sent after translation: Anthropic Messages, the gateway's key redacted.
  const [bigUp] = big.upstream as [Json];
  assert.equal(bigUp.provider, 'anthropic');
  assert.equal(bigUp.url, `${upstream.url}/v1/messages`);
  assert.equal((bigUp.headers as Json)['x-api-key'], '[redacted]');
  assert.equal(bigUp.truncated, true);
  assert.equal(((bigUp.answer as Json).status as number), 200);
  assert.match(String(((bigUp.answer as Json).headers as Json)['content-type']), /application\/json/);
  assert.equal((big.answer as Json).status, 200);

  const smallClient = small.client as Json;
  assert.equal(smallClient.truncated, false);
  assert.deepEqual(smallClient.body, { model: 'claude-sonnet-5', stream: true, messages: [{ role: 'user', content: 'Say hello.' }] });
  const [smallUp] = small.upstream as [Json];
  const sent = smallUp.body as Json;
  assert.equal(sent.model, 'claude-sonnet-5');
  assert.equal(sent.stream, true);
  assert.equal(typeof sent.max_tokens, 'number', 'the translated body, in Anthropic\'s format');
  assert.deepEqual(sent.messages, [{ role: 'user', content: [{ type: 'text', text: 'Say hello.' }] }]);
  assert.match(String(((smallUp.answer as Json).headers as Json)['content-type']), /text\/event-stream/);
  assert.equal(((small.answer as Json).headers as Json)['x-ai-proxy-provider'], 'anthropic');

  assert.equal(refused.model, 'no-such-model');
  assert.deepEqual(refused.upstream, [], 'nothing went upstream');
  const refusal = refused.answer as Json;
  assert.equal(refusal.status, 404);
  assert.match(String(((refusal.body as Json).error as Json).message), /no-such-model/);

  // Nowhere in the file, whole or as the start of one, and nowhere in the command's output.
  assertNoSecrets({ 'the capture file': text, 'the command output': capture.output }, [CLIENT_KEY, UPSTREAM_KEY, ADMIN_KEY]);
  // The server's log lines reach the file through the launcher's pipe, a moment after the answer.
  await waitUntil('the log says the capture was armed and ended', () => /capture armed \(count 3, up to 120s\)[^]*capture ended \(count\): 3 of 3 requests captured/.test(gateway.log()));

  await t.test('a capture that gets no request in time ends with the reason, exit 1 and no file', async () => {
    const none = join(inst.dir, 'none.jsonl');
    const result = await runCli(['debug', 'capture', '--pid-file', inst.pidFile, '-c', inst.config, '--model', 'nobody-uses-this', '--timeout', '1s', '--output', none, '--json'], { env: inst.env });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const report = JSON.parse(result.stdout) as Json;
    assert.equal(report.command, 'debug capture');
    assert.equal(report.outcome, 'timeout');
    assert.equal((report.error as Json).code, 'E_CAPTURE_TIMEOUT');
    assert.equal(report.captured, 0);
    assert.equal(existsSync(none), false);
  });

  await t.test('an existing file is never overwritten', async () => {
    const result = await runCli(['debug', 'capture', '--pid-file', inst.pidFile, '-c', inst.config, '--timeout', '1s', '--output', output], { env: inst.env });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /capture\.jsonl exists; choose another --output/);
    assert.equal(readFileSync(output, 'utf8'), text);
  });

  await t.test('without the admin key in the environment, a clear error naming the variable', async () => {
    const env = { ...inst.env };
    delete env.CAPTURE_TEST_ADMIN_KEY;
    const result = await runCli(['debug', 'capture', '--pid-file', inst.pidFile, '-c', inst.config, '--timeout', '1s', '--output', join(inst.dir, 'never.jsonl')], { env });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /admin\.key in .* cannot be resolved in this shell: .*CAPTURE_TEST_ADMIN_KEY/);
  });

  await assertRedacted(gateway, [CLIENT_KEY, UPSTREAM_KEY, ADMIN_KEY]);

  await t.test('with no instance running: exit 3, not-running', async () => {
    const result = await runCli(['debug', 'capture', '--pid-file', inst.pidFile, '--json'], { env: inst.env });
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.equal((JSON.parse(result.stdout) as Json).outcome, 'not-running');
  });
});
