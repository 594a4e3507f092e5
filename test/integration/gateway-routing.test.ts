/**
 * Credentials and failover, observed where they matter: at the fake upstream, through the key
 * each request arrived with. Round-robin cycles exactly, fill-first sticks to the first healthy
 * key, weighted follows its ratio; a 429 cools its key for as long as Retry-After (or the
 * provider's reset headers) said, visible in /admin/credentials, and the traffic moves to the
 * other key meanwhile; 5xx and network errors fail over to the next provider, then to the fallback
 * models; 400/404 come back at once after exactly one upstream request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { post, SLACK_MS, waitUntil } from '../helpers/cli.ts';
import {
  anthropicError,
  anthropicMessage,
  bodyOf,
  Counter,
  fakeUpstream,
  geminiError,
  geminiResponse,
  json,
  openaiCompletion,
  openaiError,
  requestsReached,
  type RecordedRequest,
} from '../helpers/fake-upstream.ts';
import { assertRedacted, expectJson, startGateway } from './gateway-harness.ts';

const CLIENT_KEY = 'client-key-routing-8e7d6c5b4a';
const ADMIN_KEY = 'admin-key-routing-0f1e2d3c4b5a';
/** Upstream keys by the name /admin shows for them (the unnamed one is shown masked). */
const KEYS = {
  'rr-one': 'sk-rr-one-aaaaaaaaaaaaaaaa-1111',
  'rr-two': 'sk-rr-two-bbbbbbbbbbbbbbbb-2222',
  'rr-three': 'sk-rr-three-cccccccccccccc-3333',
  'ff-first': 'sk-ff-first-dddddddddddddd-4444',
  'ff-second': 'sk-ff-second-eeeeeeeeeeeee-5555',
  heavy: 'sk-weighted-heavy-ffffffffff-6666',
  light: 'sk-weighted-light-gggggggggg-7777',
  down: 'sk-provider-down-hhhhhhhhhhh-8888',
  up: 'sk-provider-up-iiiiiiiiiiiiii-9999',
  dead: 'sk-provider-dead-jjjjjjjjjjj-aaaa',
  primary: 'sk-primary-model-kkkkkkkkkk-bbbb',
  backup: 'sk-backup-model-llllllllllll-cccc',
  strict: 'sk-strict-400-mmmmmmmmmmmmm-dddd',
  'strict-b': 'sk-strict-400-b-nnnnnnnnnnn-eeee',
  alt: 'sk-alternative-ooooooooooooo-ffff',
  solo: 'sk-solo-ppppppppppppppppppp-0000',
  'ant-first': 'sk-ant-first-qqqqqqqqqqqqq-1212',
  'ant-second': 'sk-ant-second-rrrrrrrrrrrr-3434',
  'gem-first': 'AIzaGemFirst-sssssssssssssss-5656',
  'gem-second': 'AIzaGemSecond-ttttttttttttt-7878',
  'revoked-a': 'sk-revoked-a-uuuuuuuuuuuuu-abab',
  'revoked-b': 'sk-revoked-b-vvvvvvvvvvvvv-cdcd',
  sluggish: 'sk-sluggish-wwwwwwwwwwwwwww-efef',
  capped: 'sk-capped-xxxxxxxxxxxxxxxxx-0101',
} as const;
type KeyName = keyof typeof KEYS;
const byKey = new Map<string, KeyName>(Object.entries(KEYS).map(([name, key]) => [key, name as KeyName]));
const SECRETS = [CLIENT_KEY, ADMIN_KEY, ...Object.values(KEYS)];

/** Which configured key an upstream request carried, by its name. */
function keyName(recorded: RecordedRequest): KeyName {
  const h = recorded.headers;
  const presented = typeof h['x-api-key'] === 'string' ? h['x-api-key'] : typeof h['x-goog-api-key'] === 'string' ? h['x-goog-api-key'] : String(h.authorization).replace(/^Bearer /, '');
  const name = byKey.get(presented);
  assert.ok(name !== undefined, `the upstream got an unknown key: ${presented.slice(0, 8)}…`);
  return name;
}

/**
 * A cooldown's remaining time, read after the 429 that started it: at most `cooldownMs`, and short
 * of it by no more than the time since `since` (taken before that request), however slow the run.
 */
function assertRemaining(remainingMs: number | undefined, cooldownMs: number, since: number, what: string): void {
  const elapsed = Date.now() - since;
  assert.ok(remainingMs !== undefined && remainingMs <= cooldownMs && remainingMs >= cooldownMs - elapsed - 10, `${what}: ${remainingMs} ms left of ${cooldownMs} ms, ${elapsed} ms after the request`);
}

/** What the fake OpenAI-style upstream does for a request made with a given key; the default is a 200. */
type Behaviour = (res: ServerResponse, recorded: RecordedRequest) => void;

interface CredentialRow {
  provider: string;
  credential: string;
  state: 'healthy' | 'cooling';
  reason: string | null;
  cooldownRemainingMs: number;
  picks: number;
}

test('gateway: credential strategies, cooldowns and failover', async (t) => {
  const behaviour = new Map<KeyName, Behaviour>();
  const openai = await fakeUpstream(t, (_req, res, recorded) => {
    const custom = behaviour.get(keyName(recorded));
    if (custom !== undefined) return custom(res, recorded);
    json(res, 200, openaiCompletion(String(bodyOf(recorded).model), `served with ${keyName(recorded)}`));
  });
  const anthropic = await fakeUpstream(t, (_req, res, recorded) => {
    const custom = behaviour.get(keyName(recorded));
    if (custom !== undefined) return custom(res, recorded);
    json(res, 200, anthropicMessage(String(bodyOf(recorded).model), `served with ${keyName(recorded)}`));
  });
  const gemini = await fakeUpstream(t, (_req, res, recorded) => {
    const custom = behaviour.get(keyName(recorded));
    if (custom !== undefined) return custom(res, recorded);
    json(res, 200, geminiResponse('gemini-rl', `served with ${keyName(recorded)}`));
  });
  // A port nobody listens on any more: connecting is refused.
  const gone = await fakeUpstream(t, (_req, res) => json(res, 500, {}));
  await gone.close();

  const keyEnv = Object.fromEntries(Object.entries(KEYS).map(([name, key]) => [`KEY_${name.toUpperCase().replace('-', '_')}`, key]));
  const ref = (name: KeyName): string => `\${KEY_${name.toUpperCase().replace('-', '_')}}`;
  const v1 = `${openai.url}/v1`;
  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
log: { level: debug }
admin: { key: "\${ADMIN_KEY}" }
client-keys: [{ name: routing-tester, key: "\${CLIENT_KEY}" }]
retry: { attempts: 4, backoff-base: 5ms, backoff-max: 20ms, total-timeout: 10s }
cooldown: { rate-limit: 1m, server-error: 1m, network-error: 1m }
providers:
  - { name: rr, type: openai, base-url: "${v1}", strategy: round-robin, models: [rr-model],
      api-keys: [{ key: "${ref('rr-one')}", name: rr-one }, { key: "${ref('rr-two')}", name: rr-two }, { key: "${ref('rr-three')}", name: rr-three }] }
  - { name: ff, type: openai, base-url: "${v1}", strategy: fill-first, models: [ff-model],
      api-keys: [{ key: "${ref('ff-first')}", name: ff-first }, { key: "${ref('ff-second')}", name: ff-second }] }
  - { name: wt, type: openai, base-url: "${v1}", strategy: weighted, models: [wt-model],
      api-keys: [{ key: "${ref('heavy')}", name: heavy, weight: 3 }, { key: "${ref('light')}", name: light, weight: 1 }] }
  - { name: down, type: openai, base-url: "${v1}", models: [shared-model], api-keys: ["${ref('down')}"] }
  - { name: dead, type: openai, base-url: "${gone.url}/v1", models: [net-model], api-keys: ["${ref('dead')}"] }
  - { name: up, type: openai-compatible, base-url: "${v1}", models: [shared-model, net-model], api-keys: ["${ref('up')}"] }
  - { name: prim, type: openai, base-url: "${v1}", models: [primary-model], api-keys: ["${ref('primary')}"] }
  - { name: back, type: openai, base-url: "${v1}", models: [backup-model], api-keys: ["${ref('backup')}"] }
  - { name: strict, type: openai, base-url: "${v1}", models: [strict-model], api-keys: ["${ref('strict')}", "${ref('strict-b')}"] }
  - { name: alt, type: openai, base-url: "${v1}", models: [strict-model], api-keys: ["${ref('alt')}"] }
  - { name: solo, type: openai, base-url: "${v1}", models: [solo-model], api-keys: ["${ref('solo')}"] }
  - { name: revoked, type: openai, base-url: "${v1}", models: [revoked-model], api-keys: ["${ref('revoked-a')}", "${ref('revoked-b')}"] }
  - { name: sluggish, type: openai, base-url: "${v1}", models: [slow-model], api-keys: ["${ref('sluggish')}"], timeouts: { first-byte: 300ms } }
  - { name: capped, type: openai, base-url: "${v1}", models: [capped-model, slow-model], api-keys: ["${ref('capped')}"], max-concurrent: 1 }
  - { name: ant, type: anthropic, base-url: "${anthropic.url}", strategy: fill-first, models: [claude-rl],
      api-keys: [{ key: "${ref('ant-first')}", name: ant-first }, { key: "${ref('ant-second')}", name: ant-second }] }
  - { name: gem, type: gemini, base-url: "${gemini.url}", strategy: fill-first, models: [gemini-rl],
      api-keys: [{ key: "${ref('gem-first')}", name: gem-first }, { key: "${ref('gem-second')}", name: gem-second }] }
models:
  fallbacks: { primary-model: [backup-model] }
`,
    { CLIENT_KEY, ADMIN_KEY, ...keyEnv },
  );
  const url = gateway.url;
  const auth = { authorization: `Bearer ${CLIENT_KEY}` };
  const chat = (model: string, headers: Record<string, string> = {}) => post(`${url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] }, { ...auth, ...headers });
  /** The keys (by name) of the upstream requests made while `run` ran. */
  const keysDuring = async (upstream: { requests: RecordedRequest[] }, run: () => Promise<void>): Promise<KeyName[]> => {
    const before = upstream.requests.length;
    await run();
    return upstream.requests.slice(before).map(keyName);
  };
  const credentials = async (): Promise<Map<string, CredentialRow>> => {
    const r = await gateway.admin('/admin/credentials', ADMIN_KEY);
    assert.equal(r.status, 200, r.body);
    const rows = (JSON.parse(r.body) as { credentials: CredentialRow[] }).credentials;
    return new Map(rows.map((row) => [row.credential, row]));
  };
  const served = async (response: Response, provider: string, attempts: string): Promise<void> => {
    await expectJson(response, 200);
    assert.equal(response.headers.get('x-ai-proxy-provider'), provider);
    assert.equal(response.headers.get('x-ai-proxy-attempts'), attempts);
  };

  await t.test('round-robin: six requests cycle the three keys in exact order, twice', async () => {
    const keys = await keysDuring(openai, async () => {
      for (let i = 0; i < 6; i++) await served(await chat('rr-model'), 'rr', '1');
    });
    assert.deepEqual(keys, ['rr-one', 'rr-two', 'rr-three', 'rr-one', 'rr-two', 'rr-three']);
  });

  await t.test('fill-first: every request goes to the first key while it is healthy', async () => {
    const keys = await keysDuring(openai, async () => {
      for (let i = 0; i < 4; i++) await served(await chat('ff-model'), 'ff', '1');
    });
    assert.deepEqual(keys, ['ff-first', 'ff-first', 'ff-first', 'ff-first']);
  });

  await t.test('weighted 3:1: eight requests split 6:2, interleaved (smooth weighted round-robin)', async () => {
    const keys = await keysDuring(openai, async () => {
      for (let i = 0; i < 8; i++) await served(await chat('wt-model'), 'wt', '1');
    });
    assert.equal(keys.filter((k) => k === 'heavy').length, 6);
    assert.equal(keys.filter((k) => k === 'light').length, 2);
    assert.deepEqual(keys, ['heavy', 'heavy', 'light', 'heavy', 'heavy', 'heavy', 'light', 'heavy']);
  });

  await t.test('429 with Retry-After: the request fails over to the next key; the key cools down exactly that long, then serves again', async () => {
    // Long enough for the requests below to run inside it on a loaded machine; the configured rate-limit cooldown is 1m.
    const retryAfterMs = 6_000;
    behaviour.set('ff-first', (res) => json(res, 429, openaiError('Rate limit reached for requests', 'requests', 'rate_limit_exceeded'), { 'retry-after': String(retryAfterMs / 1000), 'x-ratelimit-remaining-requests': '0' }));
    const asked = Date.now();
    const keys = await keysDuring(openai, async () => served(await chat('ff-model'), 'ff', '2'));
    assert.deepEqual(keys, ['ff-first', 'ff-second'], 'the same request moved to the other key');
    behaviour.delete('ff-first');
    const cooling = (await credentials()).get('ff-first');
    assert.equal(cooling?.state, 'cooling');
    assert.equal(cooling?.reason, 'rate-limit');
    assertRemaining(cooling?.cooldownRemainingMs, retryAfterMs, asked, 'cooldown follows Retry-After');
    assert.equal((await credentials()).get('ff-second')?.state, 'healthy');

    const during = await keysDuring(openai, async () => {
      for (let i = 0; i < 3; i++) await served(await chat('ff-model'), 'ff', '1');
    });
    assert.deepEqual(during, ['ff-second', 'ff-second', 'ff-second'], 'fill-first skips the cooling key');
    const stillCooling = (await credentials()).get('ff-first');
    assert.equal(stillCooling?.state, 'cooling', 'those requests ran within the cooldown');

    await waitUntil('ff-first is healthy again', async () => (await credentials()).get('ff-first')?.state === 'healthy', retryAfterMs + SLACK_MS);
    const after = await keysDuring(openai, async () => served(await chat('ff-model'), 'ff', '1'));
    assert.deepEqual(after, ['ff-first'], 'back to the first key once the cooldown is over');
  });

  await t.test('Anthropic 429 without Retry-After: anthropic-ratelimit-*-reset sets the cooldown', async () => {
    const asked = Date.now();
    const reset = new Date(asked + 30_000).toISOString().replace(/\.\d+Z$/, 'Z');
    behaviour.set('ant-first', (res) =>
      json(res, 429, anthropicError('Number of requests has exceeded your rate limit', 'rate_limit_error'), { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': reset, 'anthropic-ratelimit-tokens-remaining': '5000', 'anthropic-ratelimit-tokens-reset': new Date(Date.now() + 600_000).toISOString() }),
    );
    const before = anthropic.requests.length;
    const response = await post(`${url}/v1/messages`, { model: 'claude-rl', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' });
    await served(response, 'ant', '2');
    assert.deepEqual(anthropic.requests.slice(before).map(keyName), ['ant-first', 'ant-second']);
    const row = (await credentials()).get('ant-first');
    assert.equal(row?.reason, 'rate-limit');
    // The header has whole seconds: the reset is up to 1 s before asked + 30 s.
    assertRemaining(row?.cooldownRemainingMs, 30_000, asked - 1_000, "the requests bucket's reset (30 s), not the tokens bucket's (600 s)");
  });

  await t.test('Gemini 429 RESOURCE_EXHAUSTED: RetryInfo.retryDelay in the body sets the cooldown', async () => {
    behaviour.set('gem-first', (res) => {
      const body = geminiError(429, 'Resource has been exhausted (e.g. check quota).', 'RESOURCE_EXHAUSTED') as { error: Record<string, unknown> };
      body.error.details = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '45s' }];
      json(res, 429, body);
    });
    const before = gemini.requests.length;
    const asked = Date.now();
    const response = await post(`${url}/v1beta/models/gemini-rl:generateContent`, { contents: [{ parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': CLIENT_KEY });
    await served(response, 'gem', '2');
    assert.deepEqual(gemini.requests.slice(before).map(keyName), ['gem-first', 'gem-second']);
    const row = (await credentials()).get('gem-first');
    assert.equal(row?.reason, 'rate-limit');
    assertRemaining(row?.cooldownRemainingMs, 45_000, asked, 'retryDelay 45s');
  });

  await t.test('the only key answering 429: relayed at once; the next request, while it cools, gets 503 with Retry-After and no upstream request', async () => {
    behaviour.set('solo', (res) => json(res, 429, openaiError('Rate limit reached', 'requests', 'rate_limit_exceeded'), { 'retry-after': '30' }));
    const asked = Date.now();
    const first = await keysDuring(openai, async () => {
      const r = await chat('solo-model');
      const body = await expectJson(r, 429);
      assert.equal((body.error as Record<string, unknown>).code, 'rate_limit_exceeded', 'the upstream\'s own error, relayed');
      assert.equal(r.headers.get('retry-after'), '30');
    });
    assert.deepEqual(first, ['solo']);
    const second = await keysDuring(openai, async () => {
      const r = await chat('solo-model');
      const body = await expectJson(r, 503);
      assert.equal((body.error as Record<string, unknown>).type, 'server_error');
      const retryAfter = Number(r.headers.get('retry-after'));
      // What is left of the 30 s, in whole seconds: time this test took since the 429 is not a fault.
      assert.ok(retryAfter <= 30 && retryAfter >= 29 - Math.ceil((Date.now() - asked) / 1000), `retry-after ${retryAfter}`);
    });
    assert.deepEqual(second, [], 'a cooling key is not asked');
  });

  await t.test('5xx fails over to the next provider; the failed one then cools down and is skipped', async () => {
    behaviour.set('down', (res) => json(res, 500, openaiError('The server had an error while processing your request.', 'server_error')));
    const keys = await keysDuring(openai, async () => served(await chat('shared-model'), 'up', '2'));
    assert.deepEqual(keys, ['down', 'up']);
    const row = [...(await credentials()).values()].find((c) => c.provider === 'down');
    assert.equal(row?.state, 'cooling');
    assert.equal(row?.reason, 'server-error');
    const next = await keysDuring(openai, async () => served(await chat('shared-model'), 'up', '1'));
    assert.deepEqual(next, ['up'], 'the cooling provider is not asked again');
  });

  await t.test('a connection refused fails over to the next provider', async () => {
    const keys = await keysDuring(openai, async () => served(await chat('net-model'), 'up', '2'));
    assert.deepEqual(keys, ['up'], 'the dead provider never answered');
    const row = [...(await credentials()).values()].find((c) => c.provider === 'dead');
    assert.equal(row?.reason, 'network-error');
  });

  await t.test('models.fallbacks: when primary-model fails everywhere, backup-model serves the request', async () => {
    behaviour.set('primary', (res) => json(res, 503, openaiError('The engine is currently overloaded, please try again later.', 'server_error')));
    const before = openai.requests.length;
    const response = await chat('primary-model');
    await served(response, 'back', '2');
    assert.equal(response.headers.get('x-ai-proxy-model'), 'backup-model');
    const seen = openai.requests.slice(before);
    assert.deepEqual(seen.map(keyName), ['primary', 'backup']);
    assert.deepEqual(seen.map((r) => bodyOf(r).model), ['primary-model', 'backup-model']);
  });

  await t.test('400 and 404 from the upstream are returned at once: exactly one upstream request, the upstream\'s own body', async () => {
    for (const [status, error] of [
      [400, openaiError("Invalid value for 'temperature': must be at most 2.", 'invalid_request_error', 'invalid_value')],
      [404, openaiError('The model `strict-model` does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found')],
    ] as const) {
      behaviour.set('strict', (res) => json(res, status, error));
      behaviour.set('strict-b', (res) => json(res, status, error));
      const keys = await keysDuring(openai, async () => {
        const r = await chat('strict-model');
        assert.deepEqual(await expectJson(r, status), error);
        assert.equal(r.headers.get('x-ai-proxy-attempts'), '1');
        assert.equal(r.headers.get('x-ai-proxy-provider'), 'strict');
      });
      assert.equal(keys.length, 1, `one upstream request for a ${status}, got ${keys.join(', ')}`);
      assert.ok(keys[0] === 'strict' || keys[0] === 'strict-b');
    }
    const rows = [...(await credentials()).values()].filter((c) => c.provider === 'strict');
    assert.ok(rows.every((c) => c.state === 'healthy'), 'a request error cools no key');
  });

  await t.test('every key refused by the upstream (401): both keys tried, then a 502 that is not the client\'s auth error and quotes nothing of the upstream\'s', async () => {
    const refusal = (res: ServerResponse, recorded: RecordedRequest): void => {
      const key = String(recorded.headers.authorization).slice('Bearer '.length);
      json(res, 401, openaiError(`Incorrect API key provided: ${key.slice(0, 8)}****${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'));
    };
    behaviour.set('revoked-a', refusal);
    behaviour.set('revoked-b', refusal);
    const keys = await keysDuring(openai, async () => {
      const r = await chat('revoked-model');
      const text = await r.text();
      assert.equal(r.status, 502, text);
      const error = (JSON.parse(text) as { error: Record<string, unknown> }).error;
      assert.equal(error.type, 'server_error');
      assert.notEqual(error.code, 'invalid_api_key', 'the client\'s SDK must not take it for its own bad key');
      assert.match(String(error.message), /refused the gateway's credentials/);
      assert.ok(!text.includes('sk-revok'), 'no fragment of an upstream key');
    });
    assert.deepEqual(keys.sort(), ['revoked-a', 'revoked-b']);
    const rows = [...(await credentials()).values()].filter((c) => c.provider === 'revoked');
    assert.deepEqual(rows.map((c) => c.reason), ['auth', 'auth']);
  });

  await t.test('an upstream silent past timeouts.first-byte fails over to the next provider', async () => {
    behaviour.set('sluggish', (_res, recorded) => void recorded.closed);
    const before = openai.requests.length;
    const started = Date.now();
    await served(await chat('slow-model'), 'capped', '2');
    assert.ok(Date.now() - started >= 300, 'the first provider was given its first-byte timeout');
    assert.deepEqual(openai.requests.slice(before).map(keyName), ['sluggish', 'capped']);
    assert.ok(openai.requests[before]?.aborted(), 'the timed-out request was abandoned');
  });

  await t.test('max-concurrent: 1 holds a second request until the first one is done', async () => {
    const release = new Counter();
    let inFlight = 0;
    let most = 0;
    behaviour.set('capped', (res, recorded) => {
      inFlight++;
      most = Math.max(most, inFlight);
      void release.reached(1, 3 * SLACK_MS, 'the test to release the first request').then(() => {
        inFlight--;
        json(res, 200, openaiCompletion(String(bodyOf(recorded).model), 'capped'));
      });
    });
    const before = openai.requests.length;
    const first = chat('capped-model');
    await requestsReached(openai, before + 1);
    const second = chat('capped-model');
    // Absence over a window: the second request must not reach the upstream while the first holds the only slot.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(openai.requests.length, before + 1, 'the second request waits for the slot');
    release.advance();
    await served(await first, 'capped', '1');
    await served(await second, 'capped', '1');
    assert.equal(most, 1);
    assert.equal(openai.requests.length, before + 2);
    behaviour.delete('capped');
  });

  await t.test('/admin/credentials shows names or masked keys, never a key', async () => {
    const r = await gateway.admin('/admin/credentials', ADMIN_KEY);
    const rows = (JSON.parse(r.body) as { credentials: CredentialRow[] }).credentials;
    const solo = rows.find((c) => c.provider === 'solo');
    assert.equal(solo?.credential, 'sk-...0000', 'an unnamed long key is shown as its first 3 and last 4 characters');
    assert.equal(rows.find((c) => c.provider === 'rr' && c.credential === 'rr-one')?.picks, 2);
    for (const key of Object.values(KEYS)) assert.ok(!r.body.includes(key));
  });

  await t.test('no secret in any log line or admin response', async () => {
    await assertRedacted(gateway, SECRETS);
  });
});
