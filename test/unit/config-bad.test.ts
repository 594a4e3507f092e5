/**
 * The malformed-config corpus: each file under test/fixtures/configs/bad/ must fail with exactly
 * its own error (code, a specific phrase, the line:col of the offending spot, and the number
 * of errors), and no error text may contain a secret the loader had in hand.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Overrides } from '../../src/shared/config/load.ts';
import { AppError, type ErrorCode } from '../../src/shared/errors.ts';

const badDir = fileURLToPath(new URL('../fixtures/configs/bad/', import.meta.url));

/** Secrets available to the loader; none may ever appear in an error. */
const secrets = {
  OPENAI_API_KEY: 'sk-test-openai-0001',
  AI_PROXY_TEST_CLIENT_KEY: 'client-secret-value-1',
  AI_PROXY_TEST_SHORT_VAR: 'tiny',
};
const env: NodeJS.ProcessEnv = { ...secrets, AI_PROXY_TEST_EMPTY_VAR: '' };
const secretTexts = [...Object.values(secrets), 'file-secret-value-42', 'sk-literal-first', 'alice-key-0001', 'alice-key-0002'];

interface Expected {
  code: ErrorCode;
  /** A phrase specific to this error. */
  says: string;
  /** line:col of the spot to fix, as printed after the file name. */
  at: string | null;
  /** How many errors the file has (details lines); 0 for errors without details. */
  count?: number;
}

const corpus: Record<string, Expected> = {
  '01-unclosed-quote.yaml': { code: 'E_CONFIG_PARSE', says: 'Missing closing "quote', at: '4:1' },
  '02-tab-indentation.yaml': { code: 'E_CONFIG_PARSE', says: 'Tabs are not allowed as indentation', at: '2:1' },
  '03-duplicate-key.yaml': { code: 'E_CONFIG_PARSE', says: 'Map keys must be unique', at: '3:3' },
  '04-unclosed-flow-sequence.yaml': { code: 'E_CONFIG_PARSE', says: 'end with a ]', at: '5:1' },
  '05-misaligned-keys.yaml': { code: 'E_CONFIG_PARSE', says: 'All mapping items must start at the same column', at: '3:1' },
  '06-multiple-documents.yaml': { code: 'E_CONFIG_PARSE', says: 'multiple documents', at: '3:1' },
  '07-undefined-alias.yaml': { code: 'E_CONFIG_PARSE', says: 'alias *defaults refers to an anchor that is not defined', at: '4:15' },
  '08-unknown-tag.yaml': { code: 'E_CONFIG_PARSE', says: 'Unresolved tag: !vault', at: '2:8' },
  '09-top-level-list.yaml': { code: 'E_CONFIG_INVALID', says: 'expected a map of settings (key: value lines) at the top level, got a list', at: '1:1' },
  '10-top-level-scalar.yaml': { code: 'E_CONFIG_INVALID', says: 'at the top level, got a string', at: '1:1' },
  '11-port-not-a-number.yaml': { code: 'E_CONFIG_INVALID', says: 'listen.port: expected an integer from 0 to 65535, got a string', at: '2:9' },
  '12-port-negative.yaml': { code: 'E_CONFIG_INVALID', says: 'listen.port: expected an integer from 0 to 65535', at: '2:9' },
  '13-port-too-large.yaml': { code: 'E_CONFIG_INVALID', says: 'listen.port: expected an integer from 0 to 65535', at: '3:9' },
  '14-port-fraction.yaml': { code: 'E_CONFIG_INVALID', says: 'listen.port: expected an integer from 0 to 65535, got a number', at: '2:9' },
  '15-yaml11-boolean.yaml': { code: 'E_CONFIG_INVALID', says: 'watch-config: expected true or false, got a string (YAML 1.2 reads yes/no/on/off as text', at: '1:15' },
  '16-listen-not-a-map.yaml': { code: 'E_CONFIG_INVALID', says: 'listen: expected a map of settings, got an integer', at: '1:9' },
  '17-providers-not-a-list.yaml': { code: 'E_CONFIG_INVALID', says: 'providers: expected a list of maps of settings, got a map', at: '2:3' },
  '18-log-level-typo.yaml': { code: 'E_CONFIG_INVALID', says: 'log.level: expected one of trace, debug, info, warn, error, fatal; did you mean "info"?', at: '2:10' },
  '19-unknown-provider-type.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].type: expected one of openai, anthropic, gemini, openai-compatible, mock', at: '3:11' },
  '20-unknown-top-level-key.yaml': { code: 'E_CONFIG_INVALID', says: 'lisen: unknown key "lisen"; did you mean "listen"?', at: '1:1' },
  '21-unknown-nested-key.yaml': { code: 'E_CONFIG_INVALID', says: 'log.max-file: unknown key "max-file"; did you mean "max-files"?', at: '3:3' },
  '22-unknown-deep-key.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].timeouts.conect: unknown key "conect"; did you mean "connect"?', at: '5:7' },
  '23-unknown-api-key-field.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].api-keys[0].wieght: unknown key "wieght"; did you mean "weight"?', at: '6:9' },
  '24-key-at-wrong-level.yaml': { code: 'E_CONFIG_INVALID', says: 'port: unknown key "port" here; did you mean listen.port?', at: '1:1' },
  '25-unknown-key-no-suggestion.yaml': { code: 'E_CONFIG_INVALID', says: 'unknown key "frobnicate"; allowed here: listen, allow-unauthenticated,', at: '1:1' },
  '26-env-var-missing.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].api-keys[1]: environment variable AI_PROXY_TEST_MISSING_VAR is not set', at: '4:35' },
  '27-env-var-empty.yaml': { code: 'E_CONFIG_INVALID', says: 'admin.key: environment variable AI_PROXY_TEST_EMPTY_VAR is empty', at: '2:8' },
  '28-secret-file-missing.yaml': { code: 'E_CONFIG_INVALID', says: 'admin.key: cannot read secret file /nonexistent/ai-proxy/admin-key: no such file or directory (ENOENT)', at: '2:8' },
  '29-secret-file-relative-missing.yaml': { code: 'E_CONFIG_INVALID', says: 'configs/secrets/no-such-file.txt: no such file or directory (ENOENT)', at: '2:9' },
  '30-secret-file-empty.yaml': { code: 'E_CONFIG_INVALID', says: 'configs/secrets/empty.txt is empty', at: '2:8' },
  '31-interpolation-unterminated.yaml': { code: 'E_CONFIG_INVALID', says: 'admin.key: unterminated "${"', at: '2:15' },
  '32-interpolation-bad-name.yaml': { code: 'E_CONFIG_INVALID', says: 'admin.key: "${1PASSWORD}" is not a valid reference', at: '2:8' },
  '33-base-url-ftp.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].base-url: expected an http:// or https:// URL', at: '4:15' },
  '34-base-url-no-scheme.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].base-url: expected an http:// or https:// URL', at: '4:15' },
  '35-proxy-not-url.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].proxy: expected an http:// or https:// URL', at: '4:12' },
  '36-duration-words.yaml': { code: 'E_CONFIG_INVALID', says: 'shutdown-timeout: expected a duration for shutdown-timeout such as 500ms, 30s, 5m', at: '1:19' },
  '37-duration-negative.yaml': { code: 'E_CONFIG_INVALID', says: 'shutdown-delay: expected a duration such as 500ms', at: '1:17' },
  '38-duration-boolean.yaml': { code: 'E_CONFIG_INVALID', says: 'startup-timeout: expected a duration such as 500ms, 30s, 5m or a number of seconds, got true', at: '1:18' },
  '39-size-bad-unit.yaml': { code: 'E_CONFIG_INVALID', says: 'server.body-limit: expected a size for server.body-limit such as 512KB, 32MB', at: '2:15' },
  '40-size-negative.yaml': { code: 'E_CONFIG_INVALID', says: 'log.max-size: expected a size such as 512KB, 32MB or a number of bytes', at: '2:13' },
  '41-duplicate-provider-names.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[1].name: provider name "mock" is already used by providers[0]', at: '4:11' },
  '42-duplicate-client-key-names.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[1].name: client key name "alice" is already used by client-keys[0]', at: '4:11' },
  '43-duplicate-client-key-values.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[1].key: client-keys[1] ("bob") has the same key as client-keys[0]', at: '5:10' },
  '44-duplicate-key-and-sha256.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[1].sha256: client-keys[1] ("bob") has the same key as client-keys[0]', at: '5:13' },
  '45-client-key-and-sha256.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[0]: give exactly one of key or sha256', at: '2:5' },
  '46-client-key-neither.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[0]: give exactly one of key or sha256', at: '2:5' },
  '47-client-key-too-short.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[0].key: expected a key of at least 8 characters', at: '3:10' },
  '48-client-key-bad-sha256.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[0].sha256: expected 64 hex digits', at: '3:13' },
  '49-provider-without-keys.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].api-keys: a provider of type anthropic needs at least one upstream key', at: '2:5' },
  '50-compatible-without-base-url.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0]: an openai-compatible provider needs base-url', at: '2:5' },
  '51-alias-to-itself.yaml': { code: 'E_CONFIG_INVALID', says: 'models.aliases.fast: alias "fast" points to itself', at: '3:11' },
  '52-alias-cycle.yaml': { code: 'E_CONFIG_INVALID', says: 'aliases form a cycle: fast → quick → speedy → fast', at: '3:11' },
  '53-provider-missing-name.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].name: missing required key "name"', at: '2:5' },
  '54-provider-missing-type.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].type: missing required key "type" (one of openai,', at: '2:5' },
  '55-provider-name-with-space.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].name: expected a name of letters, digits', at: '2:11' },
  '56-expires-not-a-date.yaml': { code: 'E_CONFIG_INVALID', says: 'client-keys[0].expires: expected an ISO 8601 date or date-time', at: '4:14' },
  '57-backoff-base-above-max.yaml': { code: 'E_CONFIG_INVALID', says: 'retry.backoff-base: must not be larger than retry.backoff-max', at: '2:17' },
  '58-retry-attempts-zero.yaml': { code: 'E_CONFIG_INVALID', says: 'retry.attempts: expected an integer from 1 to 20', at: '2:13' },
  '59-unsafe-listen-any.yaml': { code: 'E_CONFIG_UNSAFE', says: 'refusing to listen on 0.0.0.0 (listen.host at', at: '2:9', count: 0 },
  '60-unsafe-listen-ipv6.yaml': { code: 'E_CONFIG_UNSAFE', says: 'refusing to listen on :: (listen.host at', at: '2:9', count: 0 },
  '61-header-value-not-string.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].headers.X-Retries: expected a string, got an integer', at: '5:18' },
  '62-null-api-key.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].api-keys[0]: expected a string, or a map of settings, got nothing', at: '5:8' },
  '63-three-errors.yaml': { code: 'E_CONFIG_INVALID', says: 'is invalid (3 errors)', at: '8:15', count: 3 },
  '64-syntax-two-errors.yaml': { code: 'E_CONFIG_PARSE', says: 'is not valid YAML (2 errors)', at: '5:1', count: 2 },
  '65-string-for-list.yaml': { code: 'E_CONFIG_INVALID', says: 'providers[0].models: expected a list, each entry a model id or glob', at: '4:13' },
  '66-log-format-unknown.yaml': { code: 'E_CONFIG_INVALID', says: 'log.format: expected one of text, json', at: '2:11' },
  '67-admin-key-short.yaml': { code: 'E_CONFIG_INVALID', says: 'admin.key: expected a key of at least 8 characters', at: '2:8' },
  '68-unquoted-reference-in-flow-list.yaml': { code: 'E_CONFIG_PARSE', says: 'quote values that use ${…}: ["${VAR}"]', at: '4:17' },
  '69-self-referencing-alias.yaml': { code: 'E_CONFIG_INVALID', says: 'models.fallbacks.loop: refers to itself (a YAML alias inside its own anchor)', at: '4:11' },
};

function failure(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  assert.fail('expected the config to be rejected');
}

function assertNoSecrets(text: string): void {
  for (const secret of secretTexts) assert.ok(!text.includes(secret), `error text contains the secret ${JSON.stringify(secret.slice(0, 4))}…:\n${text}`);
}

describe('malformed configs', () => {
  test('the corpus has at least 40 files and the table covers each one', () => {
    const files = readdirSync(badDir).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 40, `only ${files.length} bad configs`);
    assert.deepEqual(files.sort(), Object.keys(corpus).sort());
  });

  for (const [file, expected] of Object.entries(corpus)) {
    test(`${file}: ${expected.code} "${expected.says}"`, () => {
      const path = join(badDir, file);
      const error = failure(() => loadConfig({ path, env }));
      const text = error.describe();
      assert.equal(error.code, expected.code, text);
      assert.ok(text.includes(expected.says), `missing "${expected.says}" in:\n${text}`);
      if (expected.at !== null) assert.ok(text.includes(`${path}:${expected.at}`), `missing position ${expected.at} in:\n${text}`);
      assert.equal(error.details.length, expected.count ?? 1, text);
      // Every detail line starts with the file and a position, so editors can jump to it.
      for (const line of error.details) assert.match(line, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+`));
      assertNoSecrets(text);
    });
  }
});

describe('unreadable and missing files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a directory given as the config file is E_CONFIG_READ', () => {
    const error = failure(() => loadConfig({ path: dir, env: {} }));
    assert.equal(error.code, 'E_CONFIG_READ');
    assert.match(error.message, /is a directory, not a regular file/);
  });

  test('a path below a regular file is E_CONFIG_READ (ENOTDIR)', () => {
    const file = join(dir, 'plain');
    writeFileSync(file, 'listen: {}\n');
    const error = failure(() => loadConfig({ path: join(file, 'ai-proxy.yaml'), env: {} }));
    assert.equal(error.code, 'E_CONFIG_READ');
    assert.match(error.message, /ENOTDIR/);
  });

  test('an explicit path that does not exist is E_CONFIG_NOT_FOUND naming it', () => {
    const missing = join(dir, 'nope.yaml');
    const error = failure(() => loadConfig({ path: missing, env: {} }));
    assert.equal(error.code, 'E_CONFIG_NOT_FOUND');
    assert.ok(error.message.includes(missing));
  });

  test('AI_PROXY_CONFIG naming a missing file is E_CONFIG_NOT_FOUND and says where the path came from', () => {
    const missing = join(dir, 'from-env.yaml');
    const error = failure(() => loadConfig({ env: { AI_PROXY_CONFIG: missing } }));
    assert.equal(error.code, 'E_CONFIG_NOT_FOUND');
    assert.ok(error.message.includes(`${missing} (from AI_PROXY_CONFIG)`));
  });

  test('a default location that is not a directory falls back to the embedded default', () => {
    const file = join(dir, 'xdg-is-a-file');
    writeFileSync(file, '');
    mkdirSync(join(dir, 'home'), { recursive: true });
    // CONFIGURATION_DIRECTORY comes before the root and user defaults, so this holds as root too.
    const loaded = loadConfig({ env: { CONFIGURATION_DIRECTORY: file, XDG_CONFIG_HOME: file, HOME: join(dir, 'home') } });
    assert.equal(loaded.path, null);
  });
});

describe('invalid overrides are named by their origin', () => {
  const file = join(badDir, '..', 'good', 'minimal.yaml');
  const cases: { name: string; env?: NodeJS.ProcessEnv; overrides?: Overrides; code: ErrorCode; says: string }[] = [
    { name: 'AI_PROXY_PORT not a number', env: { AI_PROXY_PORT: 'eighty' }, code: 'E_CONFIG_INVALID', says: 'AI_PROXY_PORT: expected an integer from 0 to 65535, got a string' },
    { name: 'AI_PROXY_PORT out of range', env: { AI_PROXY_PORT: '65536' }, code: 'E_CONFIG_INVALID', says: 'AI_PROXY_PORT: expected an integer from 0 to 65535' },
    { name: '--port out of range', overrides: { port: 99999 }, code: 'E_CONFIG_INVALID', says: '--port: expected an integer from 0 to 65535' },
    { name: 'AI_PROXY_LOG_LEVEL unknown', env: { AI_PROXY_LOG_LEVEL: 'verbose' }, code: 'E_CONFIG_INVALID', says: 'AI_PROXY_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal' },
    { name: 'AI_PROXY_LOG_FORMAT unknown', env: { AI_PROXY_LOG_FORMAT: 'jsno' }, code: 'E_CONFIG_INVALID', says: 'AI_PROXY_LOG_FORMAT: expected one of text, json; did you mean "json"?' },
    { name: 'AI_PROXY_SHUTDOWN_TIMEOUT not a duration', env: { AI_PROXY_SHUTDOWN_TIMEOUT: 'soon' }, code: 'E_CONFIG_INVALID', says: 'AI_PROXY_SHUTDOWN_TIMEOUT: expected a duration' },
    { name: '--shutdown-timeout not a duration', overrides: { shutdownTimeout: 'ten' }, code: 'E_CONFIG_INVALID', says: '--shutdown-timeout: expected a duration' },
    { name: 'AI_PROXY_HOST opens the relay', env: { AI_PROXY_HOST: '0.0.0.0' }, code: 'E_CONFIG_UNSAFE', says: 'refusing to listen on 0.0.0.0 (AI_PROXY_HOST)' },
    { name: '--host opens the relay', overrides: { host: '::' }, code: 'E_CONFIG_UNSAFE', says: 'refusing to listen on :: (--host)' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const error = failure(() => loadConfig({ path: file, env: c.env ?? {}, ...(c.overrides === undefined ? {} : { overrides: c.overrides }) }));
      assert.equal(error.code, c.code);
      assert.ok(error.describe().includes(c.says), error.describe());
    });
  }

  test('an invalid override also fails the embedded default', () => {
    const error = failure(() => loadConfig({ env: { CONFIGURATION_DIRECTORY: '/nonexistent', AI_PROXY_PORT: '-3' } }));
    assert.equal(error.code, 'E_CONFIG_INVALID');
    assert.ok(error.describe().includes('AI_PROXY_PORT: expected an integer from 0 to 65535'));
  });
});
