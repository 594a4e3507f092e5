import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { camelize } from '../../src/shared/config/camelize.ts';
import { configSchema, type Config } from '../../src/shared/config/schema.ts';
import { AdminKey } from '../../src/server/auth/admin-key.ts';
import { ANONYMOUS, ClientKeys, allowsModel, parseExpiry, type Client } from '../../src/server/auth/client-keys.ts';
import { CLIENT_KEY_HEADERS, extractKey, stripKeyParam } from '../../src/server/auth/extract-key.ts';

function config(raw: Record<string, unknown>): Config {
  return camelize(configSchema.parse(raw), configSchema) as Config;
}

const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-0123456789';
const CAROL = 'carol-key-0123456789';
const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

describe('extractKey', () => {
  it('reads every form an SDK uses', () => {
    assert.deepEqual(extractKey({ authorization: `Bearer ${ALICE}` }, '/v1/chat/completions'), { key: ALICE, source: 'authorization' });
    assert.deepEqual(extractKey({ authorization: `bearer   ${ALICE} ` }, '/v1/chat/completions'), { key: ALICE, source: 'authorization' });
    assert.deepEqual(extractKey({ 'x-api-key': ALICE }, '/v1/messages'), { key: ALICE, source: 'x-api-key' });
    assert.deepEqual(extractKey({ 'x-goog-api-key': ALICE }, '/v1beta/models/gemini-2.5-pro:generateContent'), { key: ALICE, source: 'x-goog-api-key' });
    assert.deepEqual(extractKey({}, `/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=${ALICE}`), { key: ALICE, source: 'query' });
  });

  it('prefers Authorization, then x-api-key, x-goog-api-key, ?key=', () => {
    const url = `/v1/x?key=${CAROL}`;
    assert.equal(extractKey({ authorization: `Bearer ${ALICE}`, 'x-api-key': BOB, 'x-goog-api-key': CAROL }, url)?.source, 'authorization');
    assert.equal(extractKey({ 'x-api-key': BOB, 'x-goog-api-key': CAROL }, url)?.source, 'x-api-key');
    assert.equal(extractKey({ 'x-goog-api-key': CAROL }, url)?.source, 'x-goog-api-key');
  });

  it('finds nothing in other schemes, empty values or look-alike parameters', () => {
    assert.equal(extractKey({ authorization: `Basic ${ALICE}` }, '/v1/models'), null);
    assert.equal(extractKey({ 'x-api-key': '  ' }, '/v1/models?key='), null);
    assert.equal(extractKey({}, `/v1/models?apikey=${ALICE}&monkey=1`), null);
    assert.equal(extractKey({}, '/v1/models'), null);
  });

  it('moves past a non-bearer Authorization to the other headers', () => {
    assert.deepEqual(extractKey({ authorization: 'Basic abc', 'x-api-key': BOB }, '/'), { key: BOB, source: 'x-api-key' });
  });

  it('names every header to strip, and strips the key parameter from the URL', () => {
    assert.deepEqual([...CLIENT_KEY_HEADERS], ['authorization', 'x-api-key', 'x-goog-api-key']);
    assert.equal(stripKeyParam(`/v1beta/models/g:streamGenerateContent?alt=sse&key=${ALICE}`), '/v1beta/models/g:streamGenerateContent?alt=sse');
    assert.equal(stripKeyParam(`/v1beta/models?key=${ALICE}`), '/v1beta/models');
    assert.equal(stripKeyParam('/v1beta/models?alt=sse&monkey=1'), '/v1beta/models?alt=sse&monkey=1');
    assert.equal(stripKeyParam('/v1/models'), '/v1/models');
  });
});

describe('client keys', () => {
  const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
  const keys = new ClientKeys(
    config({
      'client-keys': [
        { name: 'alice', key: ALICE, models: ['gpt-*', 'claude-sonnet-*'], rpm: 60 },
        { name: 'bob', sha256: sha(BOB).toUpperCase() },
        { name: 'old', key: CAROL, expires: '2029-12-31T23:59:59Z' },
        { name: 'dated', key: 'dated-key-0123456789', expires: '2029-12-31' },
      ],
    }).clientKeys,
    { now: () => clock.t },
  );

  it('accepts a plain key and a sha256 entry, and says who it is', () => {
    const alice = keys.authenticate(ALICE);
    assert.ok(alice.ok);
    assert.equal(alice.client.name, 'alice');
    assert.equal(alice.client.rpm, 60);
    assert.equal(alice.client.anonymous, false);
    const bob = keys.authenticate(BOB);
    assert.ok(bob.ok);
    assert.equal(bob.client.name, 'bob');
  });

  it('refuses a missing or unknown key', () => {
    assert.deepEqual(keys.authenticate(null), { ok: false, reason: 'missing' });
    assert.deepEqual(keys.authenticate(''), { ok: false, reason: 'missing' });
    assert.deepEqual(keys.authenticate('alice-key-012345678'), { ok: false, reason: 'invalid' });
    assert.deepEqual(keys.authenticate(sha(BOB)), { ok: false, reason: 'invalid' });
  });

  it('refuses an expired key; a bare date lasts through that day (UTC)', () => {
    assert.deepEqual(keys.authenticate(CAROL), { ok: false, reason: 'expired' });
    assert.equal(parseExpiry('2029-12-31'), Date.parse('2030-01-01T00:00:00Z'));
    assert.deepEqual(keys.authenticate('dated-key-0123456789'), { ok: false, reason: 'expired' });
    clock.t -= 1;
    assert.equal(keys.authenticate('dated-key-0123456789').ok, true);
    clock.t += 1;
  });

  it('compares against every entry in constant time, with no early exit', () => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      keys.authenticate(ALICE); // matches the first entry
      assert.equal(spy.mock.callCount(), 4);
      keys.authenticate('nobody-0123456789');
      assert.equal(spy.mock.callCount(), 8);
      for (const call of spy.mock.calls) {
        const [a, b] = call.arguments as [Buffer, Buffer];
        assert.equal(a.length, 32);
        assert.equal(b.length, 32);
      }
    } finally {
      spy.mock.restore();
    }
  });

  it('keeps no key in the client objects', () => {
    const text = JSON.stringify(keys.clients());
    for (const k of [ALICE, BOB, CAROL]) assert.ok(!text.includes(k));
  });

  it('lets everyone in as the anonymous client when no keys are configured', () => {
    const open = new ClientKeys([]);
    assert.equal(open.enabled, false);
    assert.deepEqual(open.authenticate(null), { ok: true, client: ANONYMOUS });
    assert.deepEqual(open.authenticate('anything'), { ok: true, client: ANONYMOUS });
  });

  it('limits models by glob, and allows all without a list', () => {
    const alice = keys.authenticate(ALICE);
    const bob = keys.authenticate(BOB);
    assert.ok(alice.ok && bob.ok);
    const a: Client = alice.client;
    assert.equal(allowsModel(a, 'gpt-4o'), true);
    assert.equal(allowsModel(a, 'claude-sonnet-4-5'), true);
    assert.equal(allowsModel(a, 'claude-opus-4-1'), false);
    assert.equal(allowsModel(a, 'o3'), false);
    assert.equal(allowsModel(bob.client, 'anything/at-all'), true);
    assert.equal(allowsModel(ANONYMOUS, 'x'), true);
  });
});

describe('admin key', () => {
  it('checks the admin key in constant time, refusing all when none is configured', () => {
    const admin = new AdminKey('admin-secret-key');
    assert.equal(admin.configured, true);
    assert.equal(admin.check('admin-secret-key'), 'ok');
    assert.equal(admin.check('admin-secret-ke'), 'invalid');
    assert.equal(admin.check('admin-secret-key-and-more'), 'invalid');
    assert.equal(admin.check(null), 'missing');
    const none = new AdminKey(undefined);
    assert.equal(none.configured, false);
    assert.equal(none.check('admin-secret-key'), 'not-configured');
  });

  it('uses timingSafeEqual on equal-length digests', () => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      new AdminKey('admin-secret-key').check('short');
      assert.equal(spy.mock.callCount(), 1);
      const [a, b] = spy.mock.calls[0]?.arguments as [Buffer, Buffer];
      assert.equal(a.length, b.length);
    } finally {
      spy.mock.restore();
    }
  });
});
