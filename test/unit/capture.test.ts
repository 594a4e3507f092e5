/**
 * The capture's parts that decide what a record may hold (src/server/observability/capture.ts):
 * redaction of headers, URLs and bodies, the cut at the body limit, the admin endpoint's request,
 * the hub's arming and deadline, and the CLI's reading of admin.key. The whole path, daemon and
 * CLI, is test/integration/debug-capture.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/cli.ts';
import { captureBody, CaptureHub, configuredSecrets, redactHeaders, redactUrl, REDACTED, type CaptureEndReason } from '../../src/server/observability/capture.ts';
import { parseCaptureRequest } from '../../src/server/observability/capture-endpoint.ts';
import { adminKeyInFile } from '../../src/shared/config/admin-key-setting.ts';
import { AppError } from '../../src/shared/errors.ts';
import type { Config } from '../../src/shared/config/schema.ts';

const SECRET = 'sk-secret-0123456789abcdef';

test('credential headers are replaced by name, and known secrets inside any other header', () => {
  const headers = redactHeaders(
    {
      authorization: `Bearer ${SECRET}`,
      'x-api-key': 'anything',
      'x-goog-api-key': 'anything',
      'proxy-authorization': 'Basic eA==',
      cookie: 'a=b',
      'x-custom-token': 'tok',
      'x-forwarded-note': `key ${SECRET} seen`,
      'content-type': 'application/json',
      accept: ['a', `b ${SECRET}`],
    },
    [SECRET],
  );
  for (const name of ['authorization', 'x-api-key', 'x-goog-api-key', 'proxy-authorization', 'cookie', 'x-custom-token']) assert.equal(headers[name], REDACTED, name);
  assert.equal(headers['x-forwarded-note'], `key ${REDACTED} seen`);
  assert.deepEqual(headers.accept, ['a', `b ${REDACTED}`]);
  assert.equal(headers['content-type'], 'application/json');
});

test('the key query parameter is replaced wherever it stands', () => {
  assert.equal(redactUrl('/v1beta/models/g:generateContent?key=AIzaXYZ&alt=sse', []), `/v1beta/models/g:generateContent?key=${REDACTED}&alt=sse`);
  assert.equal(redactUrl('/v1beta/models/g:streamGenerateContent?alt=sse&key=AIzaXYZ', []), `/v1beta/models/g:streamGenerateContent?alt=sse&key=${REDACTED}`);
  assert.equal(redactUrl('/v1/messages?beta=true', []), '/v1/messages?beta=true');
});

test('a whole JSON body comes back as JSON, its secrets replaced', () => {
  const bytes = Buffer.from(JSON.stringify({ prompt: `use ${SECRET}` }));
  assert.deepEqual(captureBody(bytes, [SECRET]), { body: { prompt: `use ${REDACTED}` }, bytes: bytes.length, truncated: false });
});

test('a body is cut at the limit after redaction: a key straddling the cut leaves no part of itself', () => {
  const limit = 100;
  for (let at = limit - SECRET.length; at <= limit; at++) {
    const text = `${'a'.repeat(at)}${SECRET}${'b'.repeat(200)}`;
    const captured = captureBody(Buffer.from(text), [SECRET], limit);
    assert.equal(captured.truncated, true);
    assert.equal(captured.bytes, text.length);
    const body = captured.body as string;
    assert.ok(Buffer.byteLength(body) <= limit);
    // No run of 6 or more characters of the key survives.
    for (let i = 0; i + 6 <= SECRET.length; i++) assert.ok(!body.includes(SECRET.slice(i, i + 6)), `a piece of the key at offset ${at}: ${body.slice(-40)}`);
  }
});

test('every secret of the config is known to the capture, short strings aside', () => {
  const config = {
    admin: { key: 'admin-key-12345678' },
    clientKeys: [{ name: 'a', key: 'client-key-12345678' }, { name: 'b', sha256: 'f'.repeat(64) }],
    providers: [{ apiKeys: ['upstream-key-12345678', { key: 'weighted-key-12345678', weight: 1 }, 'short'], headers: { 'x-extra-token': 'header-secret-12345678', 'x-title': 'not a secret at all' } }],
  } as unknown as Config;
  assert.deepEqual(configuredSecrets(config).sort(), ['admin-key-12345678', 'client-key-12345678', 'header-secret-12345678', 'upstream-key-12345678', 'weighted-key-12345678']);
});

test('the admin endpoint refuses a bad capture request with the reason', () => {
  assert.deepEqual(parseCaptureRequest(''), { ok: true, filter: { model: null, client: null }, count: 1, maxWaitMs: 60_000 });
  assert.deepEqual(parseCaptureRequest('{"model":"gpt-4o","client":"ci","count":5,"maxWaitMs":1000}'), { ok: true, filter: { model: 'gpt-4o', client: 'ci' }, count: 5, maxWaitMs: 1000 });
  const refused = (text: string): string => {
    const parsed = parseCaptureRequest(text);
    assert.equal(parsed.ok, false, text);
    return parsed.ok ? '' : parsed.message;
  };
  assert.match(refused('{"count":0}'), /"count" must be an integer from 1 to 1000/);
  assert.match(refused('{"count":1.5}'), /"count"/);
  assert.match(refused('{"maxWaitMs":10}'), /"maxWaitMs" must be an integer from 1000/);
  assert.match(refused('{"model":""}'), /"model" must be a non-empty string/);
  assert.match(refused('{"models":"x"}'), /Unknown field "models"/);
  assert.match(refused('[1]'), /must be a JSON object/);
  assert.match(refused('{'), /not valid JSON/);
});

test('the hub is armed only while a capture is open, and a capture ends at its deadline', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const hub = new CaptureHub();
  assert.equal(hub.armed, false);
  const ended: Array<[CaptureEndReason, number]> = [];
  const listener = { record: () => undefined, end: (reason: CaptureEndReason, captured: number) => ended.push([reason, captured]) };
  const first = hub.open({ model: null, client: null }, 2, 5_000, listener);
  const second = hub.open({ model: 'gpt-4o', client: null }, 1, 60_000, listener);
  assert.equal(hub.armed, true);
  t.mock.timers.tick(5_000);
  assert.equal(first.ended, true);
  assert.deepEqual(ended, [['timeout', 0]]);
  assert.equal(hub.armed, true, 'the other capture is still open');
  assert.equal(second.take('claude-sonnet-5', null), false, 'its filter does not take another model');
  assert.equal(second.take('gpt-4o', 'ci'), true);
  assert.equal(second.take('gpt-4o', 'ci'), false, 'its count is taken');
  hub.closeAll('shutdown');
  assert.deepEqual(ended, [['timeout', 0], ['shutdown', 0]]);
  assert.equal(hub.armed, false);
});

test('the CLI reads admin.key from the config file alone, and says why it cannot', async (t) => {
  const dir = tempDir(t);
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  assert.equal(await adminKeyInFile(file('plain.yaml', 'admin:\n  key: admin-plain-12345678\n'), {}), 'admin-plain-12345678');
  // Other secrets of the file need not resolve: only admin.key is read.
  assert.equal(await adminKeyInFile(file('env.yaml', 'admin:\n  key: ${ADMIN}\nproviders:\n  - { name: x, type: openai, api-keys: ["${UNSET_UPSTREAM}"] }\n'), { ADMIN: 'from-env-12345678' }), 'from-env-12345678');
  writeFileSync(join(dir, 'admin.key'), 'from-file-12345678\n');
  assert.equal(await adminKeyInFile(file('file.yaml', 'admin:\n  key: ${file:admin.key}\n'), {}), 'from-file-12345678');
  const fails = async (path: string, env: NodeJS.ProcessEnv, message: RegExp): Promise<void> => {
    await assert.rejects(adminKeyInFile(path, env), (error: unknown) => error instanceof AppError && message.test(error.message));
  };
  await fails(file('none.yaml', 'listen: { port: 0 }\n'), {}, /the admin API is off: .* sets no admin\.key/);
  await fails(join(dir, 'env.yaml'), {}, /admin\.key in .* cannot be resolved in this shell: .*ADMIN/);
  await fails(file('broken.yaml', 'admin: [\n'), {}, /not valid YAML/);
  await fails(join(dir, 'missing.yaml'), {}, /missing\.yaml/);
});
