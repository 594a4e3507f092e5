/**
 * What an operator watches: /healthz and /readyz (503 during the shutdown delay while requests
 * are still served), the Prometheus families with the values the traffic of the test implies
 * (usage from a stream's final chunk included, also in the access line), reload outcomes, and the
 * admin API behind its own key, redacted. Ends with the log and every admin body grepped for
 * every secret of the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { get, post, runCli, SLACK_MS, waitUntil } from '../helpers/cli.ts';
import { anthropicLike, anthropicStream, Counter, fakeUpstream, json, openaiError, openaiLike, openaiStream, type Handler } from '../helpers/fake-upstream.ts';
import { assertRedacted, expectJson, metrics, metricValue, SseReader, startGateway } from './gateway-harness.ts';

const CLIENT_KEY = 'client-key-observability-4d3c2b1a09';
const ADMIN_KEY = 'admin-key-observability-f0e1d2c3b4';
const OPENAI_KEYS = ['sk-observe-openai-main-aaaaaaaaaaaa', 'sk-observe-openai-spare-bbbbbbbbbbb'];
const ANTHROPIC_KEY = 'sk-ant-observe-cccccccccccccccccccc';
const HEADER_SECRET = 'hdr-secret-observability-ddddddddd';
const SECRETS = [CLIENT_KEY, ADMIN_KEY, ...OPENAI_KEYS, ANTHROPIC_KEY, HEADER_SECRET];

test('gateway: health, readiness, metrics, access lines and the admin API', async (t) => {
  const plain = openaiLike();
  let openaiHandler: Handler = plain;
  const openai = await fakeUpstream(t, (req, res, recorded) => openaiHandler(req, res, recorded));
  const anthropic = await fakeUpstream(t, anthropicLike());
  const yaml = (alias = ''): string => `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
shutdown-delay: 5s
watch-config: false
server: { cors: { enabled: true, origins: ["https://app.example"] } }
admin: { key: "\${ADMIN_KEY}" }
client-keys: [{ name: observer, key: "\${CLIENT_KEY}" }]
retry: { backoff-base: 5ms, backoff-max: 10ms }
providers:
  - name: openai
    type: openai
    base-url: ${openai.url}/v1
    strategy: fill-first
    api-keys: [{ key: "\${OA_MAIN}", name: main }, "\${OA_SPARE}"]
    models: [gpt-4o, "gpt-4.1*"]
    headers: { X-Upstream-Token: "\${HEADER_SECRET}" }
  - name: anthropic
    type: anthropic
    base-url: ${anthropic.url}
    api-keys: ["\${ANTHROPIC_KEY}"]
    models: ["claude-*"]
models:
  aliases: { sonnet: claude-sonnet-4-5${alias} }
  fallbacks: { gpt-4o: [gpt-4.1] }
`;
  const gateway = await startGateway(t, yaml(), { CLIENT_KEY, ADMIN_KEY, OA_MAIN: OPENAI_KEYS[0], OA_SPARE: OPENAI_KEYS[1], ANTHROPIC_KEY, HEADER_SECRET });
  const url = gateway.url;
  const openaiAuth = { authorization: `Bearer ${CLIENT_KEY}` };
  const anthropicAuth = { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
  const messages = [{ role: 'user', content: 'hi' }];
  /** The access line of one request, once the log has it. */
  const accessLine = (id: string): Promise<string> => waitUntil(`the access line of ${id}`, () => gateway.log().split('\n').find((l) => l.includes(` access id=${id} `)));

  await t.test('/healthz and /readyz answer 200 while serving', async () => {
    assert.deepEqual(await expectJson(await get(`${url}/healthz`), 200), { status: 'ok' });
    assert.deepEqual(await expectJson(await get(`${url}/readyz`), 200), { status: 'ready', generation: 1 });
  });

  await t.test('usage from the final chunk of a stream is recorded: ai_proxy_tokens_total and the access line', async () => {
    const response = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages }, { ...openaiAuth, 'x-request-id': 'usage-openai-stream' });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /"prompt_tokens":11/);
    const line = await accessLine('usage-openai-stream');
    assert.match(line, / client=observer POST \/v1\/chat\/completions model=gpt-4o provider=openai status=200 /);
    assert.match(line, / in=11 out=5 /);
    assert.match(line, / ttfb=\d+ /);
    assert.match(line, / bytes=[1-9]\d*$/);

    const anthropicResponse = await post(`${url}/v1/messages`, { model: 'sonnet', stream: true, max_tokens: 32, messages }, { ...anthropicAuth, 'x-request-id': 'usage-anthropic-stream' });
    assert.equal(anthropicResponse.status, 200);
    await anthropicResponse.text();
    assert.match(await accessLine('usage-anthropic-stream'), / model=sonnet provider=anthropic status=200 .* in=13 out=6 /);

    // A long answer: message_start (input tokens) is far from the end of the stream.
    anthropic.setHandler(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Event by event, as the real API sends them, so the gateway reads them as separate chunks.
      for (const event of anthropicStream('claude-sonnet-4-5', Array.from({ length: 60 }, (_, i) => `part ${i} `.padEnd(200, '.')), { input_tokens: 1234, output_tokens: 3000 })) {
        res.write(event);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      res.end();
    });
    const long = await post(`${url}/v1/messages`, { model: 'claude-sonnet-4-5', stream: true, max_tokens: 4096, messages }, { ...anthropicAuth, 'x-request-id': 'usage-anthropic-long' });
    assert.ok((await long.text()).length > 12_000);
    assert.match(await accessLine('usage-anthropic-long'), / in=1234 out=3000 /);
    anthropic.setHandler(anthropicLike());

    const whole = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', messages }, { ...openaiAuth, 'x-request-id': 'usage-openai-json' });
    await expectJson(whole, 200);
    assert.match(await accessLine('usage-openai-json'), / in=7 out=3 /);

    const text = await metrics(url);
    assert.equal(metricValue(text, 'ai_proxy_tokens_total', { direction: 'in', model: 'gpt-4o', provider: 'openai' }), 11 + 7);
    assert.equal(metricValue(text, 'ai_proxy_tokens_total', { direction: 'out', model: 'gpt-4o', provider: 'openai' }), 5 + 3);
    assert.equal(metricValue(text, 'ai_proxy_tokens_total', { direction: 'in', model: 'claude-sonnet-4-5', provider: 'anthropic' }), 13 + 1234);
    assert.equal(metricValue(text, 'ai_proxy_tokens_total', { direction: 'out', model: 'claude-sonnet-4-5', provider: 'anthropic' }), 6 + 3000);
    assert.equal(metricValue(text, 'ai_proxy_time_to_first_byte_seconds_count', { route: 'chat-completions', provider: 'openai' }), 2);
  });

  await t.test('in-flight requests and open streams are gauges that follow a live stream', async () => {
    const received = new Counter();
    const release = new Counter();
    openaiHandler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = openaiStream('gpt-4o', ['held']);
      res.write(events[0]);
      await release.reached(1, 3 * SLACK_MS, 'the test to read the gauges');
      res.end(events.slice(1).join(''));
    };
    const response = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', stream: true, messages }, openaiAuth);
    const reader = new SseReader(response);
    assert.ok((await reader.next()) !== null);
    received.advance();
    const during = await metrics(url);
    assert.equal(metricValue(during, 'ai_proxy_open_streams'), 1);
    assert.ok((metricValue(during, 'ai_proxy_in_flight_requests') ?? 0) >= 2, 'the stream and this scrape');
    release.advance();
    await reader.rest();
    openaiHandler = plain;
    const after = await waitUntil('the stream is closed in the gauges', async () => {
      const text = await metrics(url);
      return metricValue(text, 'ai_proxy_open_streams') === 0 ? text : undefined;
    });
    assert.equal(metricValue(after, 'ai_proxy_in_flight_requests'), 1, 'only the scrape itself');
  });

  await t.test('a 429 on the first key: attempts, retries and cooldowns appear in /metrics', async () => {
    openaiHandler = (req, res, recorded) => {
      if (recorded.headers.authorization === `Bearer ${OPENAI_KEYS[0]}`) return json(res, 429, openaiError('Rate limit reached', 'requests', 'rate_limit_exceeded'), { 'retry-after': '60' });
      return plain(req, res, recorded);
    };
    const response = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', messages }, openaiAuth);
    await expectJson(response, 200);
    assert.equal(response.headers.get('x-ai-proxy-attempts'), '2');
    openaiHandler = plain;
    const text = await metrics(url);
    assert.equal(metricValue(text, 'ai_proxy_upstream_attempts_total', { provider: 'openai', outcome: 'http_429' }), 1);
    assert.ok((metricValue(text, 'ai_proxy_upstream_attempts_total', { provider: 'openai', outcome: 'success' }) ?? 0) >= 4);
    assert.equal(metricValue(text, 'ai_proxy_retries_total', { provider: 'openai' }), 1);
    assert.equal(metricValue(text, 'ai_proxy_cooldowns_active', { provider: 'openai' }), 1);
    assert.equal(metricValue(text, 'ai_proxy_cooldowns_active', { provider: 'anthropic' }), 0);
  });

  await t.test('/metrics has every family, in Prometheus text format, with request counts by route, model, provider and status', async () => {
    await post(`${url}/v1/chat/completions`, { model: 'no-such-model', messages }, openaiAuth);
    const response = await get(`${url}/metrics`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const families: Record<string, string> = {
      ai_proxy_requests_total: 'counter',
      ai_proxy_request_duration_seconds: 'histogram',
      ai_proxy_time_to_first_byte_seconds: 'histogram',
      ai_proxy_upstream_attempts_total: 'counter',
      ai_proxy_retries_total: 'counter',
      ai_proxy_cooldowns_active: 'gauge',
      ai_proxy_in_flight_requests: 'gauge',
      ai_proxy_open_streams: 'gauge',
      ai_proxy_tokens_total: 'counter',
      ai_proxy_config_generation: 'gauge',
      ai_proxy_reloads_total: 'counter',
    };
    for (const [name, type] of Object.entries(families)) assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} (${type})`);
    assert.ok((metricValue(text, 'ai_proxy_requests_total', { route: '/v1/chat/completions', model: 'gpt-4o', provider: 'openai', status: '200' }) ?? 0) >= 4);
    assert.equal(metricValue(text, 'ai_proxy_requests_total', { route: '/v1/chat/completions', model: 'none', provider: 'none', status: '404' }), 1);
    assert.ok((metricValue(text, 'ai_proxy_request_duration_seconds_count', { route: '/v1/messages', provider: 'anthropic' }) ?? 0) >= 1);
    assert.equal(metricValue(text, 'ai_proxy_config_generation'), 1);
  });

  await t.test('paths nobody serves do not become metric labels (bounded cardinality)', async () => {
    for (const path of ['/wp-login.php', '/v1/unknown-abc123', '/admin/../../etc/passwd-x9']) await (await get(`${url}${path}`)).body?.cancel();
    const text = await metrics(url);
    assert.ok(!/wp-login|unknown-abc123|passwd-x9/.test(text), 'unmatched paths are folded into one label');
    assert.equal(metricValue(text, 'ai_proxy_requests_total', { route: 'unmatched', status: '404' }), 3);
  });

  await t.test('reloads: an applied one bumps the generation, a rejected one keeps it; both are counted', async () => {
    writeFileSync(gateway.inst.config, yaml(', newest: gpt-4.1-mini'));
    const applied = await runCli(['reload', '--pid-file', gateway.inst.pidFile], { env: gateway.inst.env });
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    writeFileSync(gateway.inst.config, yaml().replace('client-keys:', 'client-keyz:'));
    const rejected = await runCli(['reload', '--pid-file', gateway.inst.pidFile], { env: gateway.inst.env });
    assert.notEqual(rejected.code, 0);
    assert.ok(!(rejected.stdout + rejected.stderr).includes(CLIENT_KEY), 'the rejection does not print a secret');
    writeFileSync(gateway.inst.config, yaml(', newest: gpt-4.1-mini'));
    const text = await metrics(url);
    assert.equal(metricValue(text, 'ai_proxy_config_generation'), 2);
    assert.equal(metricValue(text, 'ai_proxy_reloads_total', { source: 'control', outcome: 'applied' }), 1);
    assert.equal(metricValue(text, 'ai_proxy_reloads_total', { source: 'control', outcome: 'rejected' }), 1);
    assert.deepEqual(await expectJson(await get(`${url}/readyz`), 200), { status: 'ready', generation: 2 });
    const cooling = JSON.parse((await gateway.admin('/admin/credentials', ADMIN_KEY)).body) as { credentials: Array<{ credential: string; state: string }> };
    assert.equal(cooling.credentials.find((c) => c.credential === 'main')?.state, 'cooling', 'a cooldown survives the reload');
  });

  await t.test('/admin needs the admin key: 401 without it, with a wrong one, or with a client key', async () => {
    for (const key of [null, 'not-the-admin-key', CLIENT_KEY]) {
      for (const path of ['/admin/config', '/admin/routes', '/admin/credentials']) {
        const r = await gateway.admin(path, key);
        assert.equal(r.status, 401, `${path} with ${key === null ? 'no key' : 'a wrong key'}`);
        assert.equal((JSON.parse(r.body) as { error: { type: string } }).error.type, 'invalid_request_error');
      }
    }
    const unknown = await gateway.admin('/admin/nothing', ADMIN_KEY);
    assert.equal(unknown.status, 404);
  });

  await t.test('/admin/config is the config with every secret replaced, in the file\'s kebab-case', async () => {
    const r = await gateway.admin('/admin/config', ADMIN_KEY);
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { generation: number; hash: string; config: Record<string, unknown> };
    assert.equal(body.generation, 2);
    const config = body.config;
    assert.deepEqual(config['client-keys'], [{ name: 'observer', key: '[redacted]' }]);
    assert.deepEqual(config.admin, { key: '[redacted]' });
    const providers = config.providers as Array<Record<string, unknown>>;
    assert.deepEqual(providers[0]?.['api-keys'], [{ key: '[redacted]', name: 'main', weight: 1 }, '[redacted]']);
    assert.deepEqual(providers[0]?.headers, { 'X-Upstream-Token': '[redacted]' });
    assert.equal(providers[0]?.['base-url'], `${openai.url}/v1`);
    assert.deepEqual((config.models as Record<string, unknown>).aliases, { sonnet: 'claude-sonnet-4-5', newest: 'gpt-4.1-mini' });
  });

  await t.test('/admin/routes explains how an id resolves: alias chain, candidates, fallbacks; and lists the table', async () => {
    const alias = JSON.parse((await gateway.admin('/admin/routes?model=sonnet', ADMIN_KEY)).body) as Record<string, unknown>;
    assert.deepEqual(alias.aliasChain, ['sonnet', 'claude-sonnet-4-5']);
    assert.deepEqual((alias.candidates as Array<Record<string, unknown>>).map((c) => [c.provider, c.upstreamModel]), [['anthropic', 'claude-sonnet-4-5']]);
    const withFallback = JSON.parse((await gateway.admin('/admin/routes?model=gpt-4o', ADMIN_KEY)).body) as Record<string, unknown>;
    assert.deepEqual(withFallback.fallbacks, ['gpt-4.1']);
    assert.deepEqual(withFallback.skipped, [{ provider: 'anthropic', reason: 'no entry in models matches' }]);
    const unknown = JSON.parse((await gateway.admin('/admin/routes?model=nope', ADMIN_KEY)).body) as Record<string, unknown>;
    assert.deepEqual(unknown.candidates, []);
    assert.match(String(unknown.message), /GET \/v1\/models/);
    const table = JSON.parse((await gateway.admin('/admin/routes', ADMIN_KEY)).body) as Record<string, unknown>;
    assert.ok((table.models as Array<{ id: string }>).some((m) => m.id === 'gpt-4o'));
    assert.deepEqual(table.globs, [{ provider: 'openai', pattern: 'gpt-4.1*' }, { provider: 'anthropic', pattern: 'claude-*' }]);
  });

  await t.test('/admin/credentials: health per key, names or masked keys only', async () => {
    const r = await gateway.admin('/admin/credentials', ADMIN_KEY);
    const rows = (JSON.parse(r.body) as { credentials: Array<Record<string, unknown>> }).credentials;
    assert.deepEqual(rows.map((c) => [c.provider, c.credential]), [['openai', 'main'], ['openai', 'sk-...bbbb'], ['anthropic', 'sk-...cccc']]);
    const main = rows[0] as Record<string, unknown>;
    assert.equal(main.reason, 'rate-limit');
    assert.equal(main.lastStatus, 429);
  });

  await t.test('CORS when enabled: preflights answered for allowed origins, gateway headers exposed, other origins ignored', async () => {
    const preflight = await get(`${url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.equal(preflight.headers.get('access-control-max-age'), '600');
    assert.match(preflight.headers.get('vary') ?? '', /origin/i);
    const actual = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', messages }, { ...openaiAuth, origin: 'https://app.example' });
    await expectJson(actual, 200);
    assert.equal(actual.headers.get('access-control-allow-origin'), 'https://app.example');
    const exposed = (actual.headers.get('access-control-expose-headers') ?? '').split(', ');
    for (const header of ['x-request-id', 'x-ai-proxy-model', 'retry-after', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-tokens']) {
      assert.ok(exposed.includes(header), `${header} is exposed to browser clients: ${exposed.join(', ')}`);
    }
    const other = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', messages }, { ...openaiAuth, origin: 'https://evil.example' });
    await expectJson(other, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  await t.test('stop with shutdown-delay: /readyz turns 503 at once while requests are still served, then the gateway exits', async () => {
    // The shutdown-delay (5 s) is the window in which the two requests below must be served: it
    // opens when the stop command, whose own start takes seconds on a loaded machine, gets through.
    const stopping = gateway.stop();
    const notReady = await waitUntil('/readyz answers 503', async () => {
      const r = await get(`${url}/readyz`);
      const body = await r.text();
      return r.status === 503 ? body : undefined;
    });
    assert.deepEqual(JSON.parse(notReady), { status: 'stopping' });
    const served = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', messages }, openaiAuth);
    await expectJson(served, 200);
    assert.deepEqual(await expectJson(await get(`${url}/healthz`), 200), { status: 'ok' });
    const result = await stopping;
    assert.equal(result.code, 0, result.stdout + result.stderr);
    await assert.rejects(get(`${url}/readyz`, {}, 2_000), 'the listener is closed after the delay');
  });

  await t.test('no secret in any log line or admin response of the run', async () => {
    await assertRedacted(gateway, SECRETS);
  });
});
