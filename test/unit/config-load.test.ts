/**
 * Good configs: defaults, where the file is found, the embedded default, overrides and their
 * precedence, secrets interpolation (and re-reading `${file:}` on every load), hashes, and the
 * rule that a secret never reaches an error message.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { describeConfig, loadConfig, resolveConfigPath, type Overrides } from '../../src/shared/config/load.ts';
import { collectOverrides, overrideTable } from '../../src/shared/config/overrides.ts';
import { isLoopback } from '../../src/shared/config/semantic-checks.ts';
import { AppError } from '../../src/shared/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-config-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function writeConfig(text: string, name = `config-${++counter}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** An environment with no config file anywhere: the default locations point into an empty directory. */
function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(dir, 'empty-home');
  mkdirSync(home, { recursive: true });
  return { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), CONFIGURATION_DIRECTORY: join(home, 'etc'), ...extra };
}

function rejection(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  assert.fail('expected the config to be rejected');
}

describe('defaults', () => {
  test('an empty file is valid and means all defaults', () => {
    const path = writeConfig('');
    const loaded = loadConfig({ path, env: {} });
    assert.equal(loaded.path, path);
    assert.deepEqual(loaded.config.listen, { host: '127.0.0.1', port: 8317 });
    assert.deepEqual(loaded.config.providers, []);
    assert.deepEqual(loaded.config.clientKeys, []);
    assert.equal(loaded.config.shutdownTimeout, 30_000);
    assert.equal(loaded.config.server.bodyLimit, 32 * 1024 * 1024);
    assert.equal(loaded.config.server.cors.maxAge, 600_000);
    assert.equal(loaded.config.log.maxFiles, 14);
    assert.equal(loaded.config.log.file, undefined);
    assert.equal(loaded.config.retry.backoffBase, 100);
    assert.equal(loaded.config.cooldown.rateLimit, 60_000);
    assert.equal(loaded.config.allowUnauthenticated, false);
    assert.deepEqual(loaded.config.admin, {});
  });

  test('a file of comments equals an empty file', () => {
    const empty = loadConfig({ path: writeConfig(''), env: {} });
    const comments = loadConfig({ path: writeConfig('# nothing here yet\n\n# really\n'), env: {} });
    assert.deepEqual(comments.config, empty.config);
    assert.equal(comments.hash, empty.hash);
    assert.notEqual(comments.fileHash, empty.fileHash);
  });

  test('a key with no value takes its default', () => {
    const loaded = loadConfig({ path: writeConfig('listen:\n  host:\n  port:\nlog:\n  file:\npid-file:\nproviders:\n'), env: {} });
    assert.deepEqual(loaded.config.listen, { host: '127.0.0.1', port: 8317 });
    assert.equal(loaded.config.log.file, undefined);
    assert.equal(loaded.config.pidFile, undefined);
    assert.deepEqual(loaded.config.providers, []);
  });

  test('provider defaults are filled in and keys come back in camelCase, map keys as written', () => {
    const path = writeConfig(
      [
        'providers:',
        '  - name: up',
        '    type: openai-compatible',
        '    base-url: http://127.0.0.1:9/v1',
        '    headers: { x-api-key: abc, X-Custom-Header: "1" }',
        '    api-keys: [plain-key, { key: other-key, name: second, weight: 2 }]',
        'models:',
        '  aliases: { fast-model: gpt-4o-mini, "claude-3.5": claude-3-5-sonnet }',
        '  fallbacks: { gpt-4o: [claude-sonnet-4-5] }',
      ].join('\n'),
    );
    const { config } = loadConfig({ path, env: {} });
    const provider = config.providers[0];
    assert.ok(provider !== undefined);
    assert.equal(provider.baseUrl, 'http://127.0.0.1:9/v1');
    assert.deepEqual(provider.headers, { 'x-api-key': 'abc', 'X-Custom-Header': '1' });
    assert.deepEqual(provider.apiKeys, ['plain-key', { key: 'other-key', name: 'second', weight: 2 }]);
    assert.equal(provider.strategy, 'round-robin');
    assert.equal(provider.maxConcurrent, 0);
    assert.equal(provider.wireApi, 'chat');
    assert.deepEqual(provider.timeouts, { connect: 10_000, firstByte: 120_000, idle: 300_000, total: 0 });
    assert.deepEqual(provider.mock, { latency: 0, tokensPerSecond: 0, reply: 'Hello from the ai-proxy mock provider.' });
    assert.deepEqual(config.models.aliases, { 'fast-model': 'gpt-4o-mini', 'claude-3.5': 'claude-3-5-sonnet' });
    assert.deepEqual(config.models.fallbacks, { 'gpt-4o': ['claude-sonnet-4-5'] });
  });

  test('durations and sizes are read in their units', () => {
    const path = writeConfig('shutdown-timeout: 1m30s\nshutdown-delay: 2\nserver:\n  body-limit: 1MB\n  header-timeout: 500ms\nlog:\n  max-size: 512KB\n');
    const { config } = loadConfig({ path, env: {} });
    assert.equal(config.shutdownTimeout, 90_000);
    assert.equal(config.shutdownDelay, 2_000);
    assert.equal(config.server.bodyLimit, 1024 * 1024);
    assert.equal(config.server.headerTimeout, 500);
    assert.equal(config.log.maxSize, 512 * 1024);
  });

  test('merge keys share settings between providers', () => {
    // Unknown top-level keys are errors, so the anchor is set on its first use.
    const path = writeConfig(['providers:', '  - name: a', '    type: mock', '    timeouts: &slow { connect: 1s, idle: 20m }', '  - name: b', '    type: mock', '    timeouts: { <<: *slow, total: 1h }', ''].join('\n'));
    const { config } = loadConfig({ path, env: {} });
    assert.deepEqual(config.providers[1]?.timeouts, { connect: 1_000, firstByte: 120_000, idle: 1_200_000, total: 3_600_000 });
  });
});

describe('where the config comes from', () => {
  test('an explicit path wins and is made absolute', () => {
    const resolved = resolveConfigPath('relative/ai-proxy.yaml', { AI_PROXY_CONFIG: '/elsewhere.yaml' });
    assert.equal(resolved.path, join(process.cwd(), 'relative/ai-proxy.yaml'));
    assert.equal(resolved.explicit, true);
    assert.equal(resolved.source, '-c');
  });

  test('AI_PROXY_CONFIG comes next', () => {
    const resolved = resolveConfigPath(undefined, { AI_PROXY_CONFIG: '/etc/other.yaml', CONFIGURATION_DIRECTORY: dir });
    assert.deepEqual(resolved, { path: '/etc/other.yaml', explicit: true, source: 'AI_PROXY_CONFIG', candidate: '/etc/other.yaml' });
  });

  test('then $CONFIGURATION_DIRECTORY/ai-proxy.yaml, when it exists', () => {
    const confDir = join(dir, 'systemd-conf');
    mkdirSync(confDir, { recursive: true });
    const candidate = join(confDir, 'ai-proxy.yaml');
    assert.deepEqual(resolveConfigPath(undefined, { CONFIGURATION_DIRECTORY: confDir }), { path: null, explicit: false, source: 'CONFIGURATION_DIRECTORY', candidate });
    writeFileSync(candidate, 'listen: { port: 9100 }\n');
    assert.equal(resolveConfigPath(undefined, { CONFIGURATION_DIRECTORY: `${confDir}:/other` }).path, candidate);
    const loaded = loadConfig({ env: { CONFIGURATION_DIRECTORY: confDir } });
    assert.equal(loaded.path, candidate);
    assert.equal(loaded.config.listen.port, 9100);
  });

  test('then /etc/ai-proxy/ai-proxy.yaml for root', () => {
    const resolved = resolveConfigPath(undefined, { HOME: dir }, { root: true });
    assert.equal(resolved.candidate, '/etc/ai-proxy/ai-proxy.yaml');
    assert.equal(resolved.source, 'system');
  });

  test('then $XDG_CONFIG_HOME/ai-proxy/ai-proxy.yaml, defaulting to ~/.config', () => {
    assert.equal(resolveConfigPath(undefined, { XDG_CONFIG_HOME: '/x/config', HOME: '/home/u' }, { root: false }).candidate, '/x/config/ai-proxy/ai-proxy.yaml');
    assert.equal(resolveConfigPath(undefined, { HOME: '/home/u' }, { root: false }).candidate, '/home/u/.config/ai-proxy/ai-proxy.yaml');
  });
});

describe('the embedded default', () => {
  test('with no key variables: the mock provider on 127.0.0.1:8317', () => {
    const loaded = loadConfig({ env: isolatedEnv() });
    assert.equal(loaded.path, null);
    assert.equal(loaded.fileHash, null);
    assert.match(loaded.hash, /^[0-9a-f]{12}$/);
    assert.deepEqual(loaded.config.listen, { host: '127.0.0.1', port: 8317 });
    assert.deepEqual(
      loaded.config.providers.map((p) => [p.name, p.type, p.models]),
      [['mock', 'mock', ['mock', 'mock-*']]],
    );
    assert.equal(describeConfig(loaded), 'OK: embedded default (no config file) (1 provider, 0 client keys, listen 127.0.0.1:8317)');
  });

  test('each standard key variable that is set adds its provider, in routing order', () => {
    const loaded = loadConfig({ env: isolatedEnv({ OPENAI_API_KEY: 'sk-o', GEMINI_API_KEY: 'g-k', ANTHROPIC_API_KEY: '' }) });
    assert.deepEqual(
      loaded.config.providers.map((p) => [p.name, p.type, p.apiKeys]),
      [
        ['mock', 'mock', []],
        ['openai', 'openai', ['sk-o']],
        ['gemini', 'gemini', ['g-k']],
      ],
    );
    assert.deepEqual(loaded.config.providers[1]?.models, ['gpt-*', 'o1*', 'o3*', 'o4*', 'chatgpt-*', 'text-embedding-*']);
    assert.deepEqual(loaded.config.providers[2]?.models, ['gemini-*', 'text-embedding-*', 'embedding-*']);
    const all = loadConfig({ env: isolatedEnv({ OPENAI_API_KEY: 'a', ANTHROPIC_API_KEY: 'b', GEMINI_API_KEY: 'c' }) });
    assert.deepEqual(all.config.providers.map((p) => p.name), ['mock', 'openai', 'anthropic', 'gemini']);
    assert.deepEqual(all.config.providers[2]?.models, ['claude-*']);
  });

  test('overrides apply to it too', () => {
    const loaded = loadConfig({ env: isolatedEnv({ AI_PROXY_PORT: '9999' }), overrides: { logLevel: 'debug' } });
    assert.equal(loaded.config.listen.port, 9999);
    assert.equal(loaded.config.log.level, 'debug');
  });
});

describe('precedence: flag > AI_PROXY_* > file > default', () => {
  const file = () => writeConfig('listen:\n  host: 127.0.0.2\n  port: 9001\nlog:\n  level: warn\n  format: json\n  file: /var/log/from-file.log\npid-file: /run/from-file.pid\nshutdown-timeout: 10s\n');
  const env = { AI_PROXY_HOST: '127.0.0.3', AI_PROXY_PORT: '9002', AI_PROXY_LOG_LEVEL: 'error', AI_PROXY_LOG_FILE: '/var/log/from-env.log', AI_PROXY_LOG_FORMAT: 'text', AI_PROXY_PID_FILE: '/run/from-env.pid', AI_PROXY_SHUTDOWN_TIMEOUT: '20' };
  const flags: Overrides = { host: '127.0.0.4', port: 9003, logLevel: 'debug', logFile: '/var/log/from-flag.log', pidFile: '/run/from-flag.pid', shutdownTimeout: '40s' };

  const pick = (o: { path?: string; env?: NodeJS.ProcessEnv; overrides?: Overrides }) => {
    const { config } = loadConfig({ ...o, env: o.env ?? isolatedEnv() });
    return { host: config.listen.host, port: config.listen.port, level: config.log.level, format: config.log.format, file: config.log.file, pid: config.pidFile, shutdown: config.shutdownTimeout };
  };

  test('the default when nothing is set', () => {
    assert.deepEqual(pick({ path: writeConfig('') }), { host: '127.0.0.1', port: 8317, level: 'info', format: 'text', file: undefined, pid: undefined, shutdown: 30_000 });
  });
  test('the file beats the default', () => {
    assert.deepEqual(pick({ path: file() }), { host: '127.0.0.2', port: 9001, level: 'warn', format: 'json', file: '/var/log/from-file.log', pid: '/run/from-file.pid', shutdown: 10_000 });
  });
  test('AI_PROXY_* beats the file', () => {
    assert.deepEqual(pick({ path: file(), env }), { host: '127.0.0.3', port: 9002, level: 'error', format: 'text', file: '/var/log/from-env.log', pid: '/run/from-env.pid', shutdown: 20_000 });
  });
  test('a flag beats AI_PROXY_*', () => {
    assert.deepEqual(pick({ path: file(), env, overrides: flags }), { host: '127.0.0.4', port: 9003, level: 'debug', format: 'text', file: '/var/log/from-flag.log', pid: '/run/from-flag.pid', shutdown: 40_000 });
  });
  test('an empty variable counts as unset', () => {
    assert.equal(pick({ path: file(), env: { AI_PROXY_PORT: '' } }).port, 9001);
  });
  test('an override where the file has a section fills only that key', () => {
    const { config } = loadConfig({ path: writeConfig('log:\n  level: warn\n'), env: { AI_PROXY_LOG_FILE: '/tmp/x.log' } });
    assert.equal(config.log.level, 'warn');
    assert.equal(config.log.file, '/tmp/x.log');
  });
  test('the table names every override once and collectOverrides follows it', () => {
    assert.equal(new Set(overrideTable.map((o) => o.env)).size, overrideTable.length);
    assert.ok(overrideTable.every((o) => o.env.startsWith('AI_PROXY_')));
    assert.deepEqual(
      collectOverrides({ port: 1 }, { AI_PROXY_PORT: '2', AI_PROXY_LOG_FORMAT: 'json' }).map((o) => [o.path.join('.'), o.value, o.origin]),
      [
        ['listen.port', 1, '--port'],
        ['log.format', 'json', 'AI_PROXY_LOG_FORMAT'],
      ],
    );
  });
});

describe('interpolation', () => {
  const secretDir = join(dir, 'secrets');
  mkdirSync(secretDir, { recursive: true });

  test('${VAR}, ${VAR:-default}, $${ and a lone $', () => {
    const path = writeConfig(
      [
        'admin:',
        '  key: "Bearer ${TOKEN}!"',
        'providers:',
        '  - name: p',
        '    type: openai-compatible',
        '    base-url: ${BASE_URL:-http://127.0.0.1:11434/v1}',
        '    headers:',
        '      X-Unset: "${UNSET_VAR:-fallback}"',
        '      X-Empty: "${EMPTY_VAR:-used-when-empty}"',
        '      X-Blank: "${UNSET_VAR:-}"',
        '      X-Escaped: "$${NOT_A_VAR} and $${file:/etc/passwd}"',
        '      X-Dollar: "cost: $5, $$ and $"',
        '      X-Set: "${SET_VAR:-ignored}"',
      ].join('\n'),
    );
    const { config } = loadConfig({ path, env: { TOKEN: 'tok-123', EMPTY_VAR: '', SET_VAR: 'value' } });
    assert.equal(config.admin.key, 'Bearer tok-123!');
    assert.equal(config.providers[0]?.baseUrl, 'http://127.0.0.1:11434/v1');
    assert.deepEqual(config.providers[0]?.headers, {
      'X-Unset': 'fallback',
      'X-Empty': 'used-when-empty',
      'X-Blank': '',
      'X-Escaped': '${NOT_A_VAR} and ${file:/etc/passwd}',
      'X-Dollar': 'cost: $5, $$ and $',
      'X-Set': 'value',
    });
  });

  test('${file:PATH}: absolute or relative to the config, trailing newlines trimmed', () => {
    writeFileSync(join(secretDir, 'a'), 'key-from-file-a\n');
    writeFileSync(join(secretDir, 'b'), 'key-from-file-b\r\n\r\n');
    const path = writeConfig(`client-keys:\n  - name: a\n    key: \${file:${join(secretDir, 'a')}}\n  - name: b\n    key: \${file:secrets/b}\n`);
    const { config } = loadConfig({ path, env: {} });
    assert.deepEqual(
      config.clientKeys.map((k) => k.key),
      ['key-from-file-a', 'key-from-file-b'],
    );
  });

  test('${file:} is read again on every load: a rotated key is picked up and changes the hash', () => {
    const secret = join(secretDir, 'rotating');
    writeFileSync(secret, 'first-rotating-key\n');
    const path = writeConfig(`client-keys:\n  - name: a\n    key: \${file:${secret}}\n`);
    const first = loadConfig({ path, env: {} });
    writeFileSync(secret, 'second-rotating-key\n');
    const second = loadConfig({ path, env: {} });
    assert.equal(first.config.clientKeys[0]?.key, 'first-rotating-key');
    assert.equal(second.config.clientKeys[0]?.key, 'second-rotating-key');
    assert.notEqual(first.hash, second.hash);
    assert.equal(first.fileHash, second.fileHash);
  });

  test('a reference filling a number or boolean is converted; text settings stay text', () => {
    const path = writeConfig('listen:\n  port: ${PORT:-8317}\nwatch-config: ${WATCH}\nclient-keys:\n  - name: digits\n    key: ${NUMERIC_KEY}\n');
    const { config } = loadConfig({ path, env: { PORT: '9200', WATCH: 'false', NUMERIC_KEY: '1234567890' } });
    assert.equal(config.listen.port, 9200);
    assert.equal(config.watchConfig, false);
    assert.equal(config.clientKeys[0]?.key, '1234567890');
    assert.equal(loadConfig({ path, env: { WATCH: 'true', NUMERIC_KEY: '1234567890' } }).config.listen.port, 8317);
  });

  test('keys are never expanded, only values', () => {
    const { config } = loadConfig({ path: writeConfig('models:\n  aliases:\n    "${X}": target\n'), env: { X: 'expanded' } });
    assert.deepEqual(config.models.aliases, { '${X}': 'target' });
  });

  test('several missing references are all reported, each at its own position', () => {
    const path = writeConfig('admin:\n  key: ${MISSING_ONE}\nproviders:\n  - name: o\n    type: openai\n    api-keys: ["${MISSING_TWO}"]\n');
    const error = rejection(() => loadConfig({ path, env: {} }));
    assert.equal(error.code, 'E_CONFIG_INVALID');
    assert.deepEqual(error.details, [
      `${path}:2:8 admin.key: environment variable MISSING_ONE is not set`,
      `${path}:6:17 providers[0].api-keys[0]: environment variable MISSING_TWO is not set`,
    ]);
  });
});

describe('secrets never reach an error message', () => {
  test('values from the environment and from files stay out of every error', () => {
    const secretFile = join(dir, 'never-print-me');
    writeFileSync(secretFile, 'file-secret-zz9-plural-z-alpha\n');
    const secrets = { ADMIN: 'admin-secret-q7q7q7', UPSTREAM: 'sk-upstream-secret-9x9x9', HEADER: 'header-secret-m3m3', CLIENT: 'client-secret-w2w2w2w2' };
    const path = writeConfig(
      [
        'admin:',
        '  key: ${ADMIN}',
        'client-keys:',
        '  - { name: a, key: "${CLIENT}" }',
        '  - { name: b, key: "${CLIENT}" }',
        `  - { name: c, key: "\${file:${secretFile}}", sha256: abc }`,
        'providers:',
        '  - name: up',
        '    type: openai',
        '    api-keys: [{ key: "${UPSTREAM}", weight: -1 }]',
        '    headers: { Authorization: "Bearer ${HEADER}", X-Num: 5 }',
        '    base-url: "${UPSTREAM}"',
        'listen: { port: "${UPSTREAM}" }',
      ].join('\n'),
    );
    const error = rejection(() => loadConfig({ path, env: secrets }));
    const text = error.describe();
    assert.ok(error.details.length >= 4, text);
    for (const secret of [...Object.values(secrets), 'file-secret-zz9-plural-z-alpha']) assert.ok(!text.includes(secret), `secret leaked:\n${text}`);
  });

  test('duplicate client keys are named by entry, not by value', () => {
    const path = writeConfig('client-keys:\n  - { name: a, key: "${K}" }\n  - { name: b, key: "${K}" }\n');
    const error = rejection(() => loadConfig({ path, env: { K: 'dup-secret-value-55' } }));
    assert.ok(error.describe().includes('client-keys[1] ("b") has the same key as client-keys[0]'));
    assert.ok(!error.describe().includes('dup-secret-value-55'));
  });
});

describe('hashes', () => {
  test('fileHash is the SHA-256 of the bytes; hash ignores formatting and key order', () => {
    const a = writeConfig('listen:\n  port: 9300\n  host: 127.0.0.1\nlog: { level: warn }\n');
    const b = writeConfig('# same settings, other layout\nlog:\n  level: warn\nlisten: { host: "127.0.0.1", port: 9300 }\n');
    const la = loadConfig({ path: a, env: {} });
    const lb = loadConfig({ path: b, env: {} });
    assert.equal(la.fileHash, createHash('sha256').update(readFileSync(a)).digest('hex'));
    assert.notEqual(la.fileHash, lb.fileHash);
    assert.equal(la.hash, lb.hash);
    assert.match(la.hash, /^[0-9a-f]{12}$/);
    assert.notEqual(la.hash, loadConfig({ path: a, env: {}, overrides: { port: 9301 } }).hash);
  });
});

describe('the open-relay guard', () => {
  test('a non-loopback address is accepted with client keys or allow-unauthenticated', () => {
    const withKeys = writeConfig('listen: { host: 0.0.0.0 }\nclient-keys: [{ name: a, key: some-client-key }]\n');
    const allowed = writeConfig('listen: { host: 0.0.0.0 }\nallow-unauthenticated: true\n');
    assert.equal(loadConfig({ path: withKeys, env: {} }).config.listen.host, '0.0.0.0');
    assert.equal(loadConfig({ path: allowed, env: {} }).config.allowUnauthenticated, true);
  });

  test('loopback addresses need neither', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      assert.equal(loadConfig({ path: writeConfig(`listen: { host: "${host}" }\n`), env: {} }).config.listen.host, host);
    }
  });

  test('the refusal explains the risk and both ways out', () => {
    const error = rejection(() => loadConfig({ path: writeConfig('listen:\n  host: 10.0.0.5\n'), env: {} }));
    assert.equal(error.code, 'E_CONFIG_UNSAFE');
    assert.match(error.message, /open relay/);
    assert.match(error.message, /client-keys/);
    assert.match(error.message, /allow-unauthenticated: true/);
  });

  test('isLoopback', () => {
    for (const host of ['127.0.0.1', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', 'LOCALHOST', 'api.localhost']) assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '192.168.1.1', 'fe80::1']) assert.equal(isLoopback(host), false, host);
  });
});

describe('describeConfig', () => {
  test('one line for `validate`', () => {
    const path = writeConfig('listen: { host: "::1", port: 9400 }\nclient-keys: [{ name: a, key: aaaaaaaa1 }, { name: b, key: bbbbbbbb2 }]\nproviders: [{ name: m, type: mock }]\n');
    assert.equal(describeConfig(loadConfig({ path, env: {} })), `OK: ${path} (1 provider, 2 client keys, listen [::1]:9400)`);
  });
});

describe('file paths in the config', () => {
  test('a relative pid-file or log.file means beside the config file; an override keeps its own meaning', () => {
    const path = writeConfig('pid-file: run/ai-proxy.pid\nlog:\n  file: logs/ai-proxy.log\n');
    const loaded = loadConfig({ path, env: isolatedEnv() });
    assert.equal(loaded.config.pidFile, join(dir, 'run', 'ai-proxy.pid'));
    assert.equal(loaded.config.log.file, join(dir, 'logs', 'ai-proxy.log'));
    const overridden = loadConfig({ path, env: isolatedEnv(), overrides: { logFile: '/var/tmp/other.log' } });
    assert.equal(overridden.config.log.file, '/var/tmp/other.log');
  });
});
