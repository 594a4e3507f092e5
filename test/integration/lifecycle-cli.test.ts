/**
 * The command line itself (issue 2, points 1, 7 and 8): help, version, usage errors, `validate`,
 * the example config, the entry point's size, and the default paths every command resolves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultLogFile, defaultPidFile } from '../../src/shared/paths.ts';
import { cleanEnv, runCli, tempDir } from '../helpers/cli.ts';

const root = new URL('../../', import.meta.url).pathname;
const commands = ['run', 'stop', 'status', 'reload', 'validate', 'systemd-unit'];

test('--help lists every command with a one-line description', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  const descriptions: Record<string, RegExp> = {
    run: /Run the gateway/,
    stop: /Stop the running gateway/,
    status: /Show whether the gateway runs/,
    reload: /Reload the running gateway's config/,
    validate: /Check a config file/,
    'systemd-unit': /Print the systemd unit for this installation/,
  };
  for (const command of commands) {
    const at = stdout.search(new RegExp(`^  ai-proxy ${command}\\b`, 'm'));
    assert.notEqual(at, -1, `--help does not list "${command}":\n${stdout}`);
    const nextLine = stdout.slice(at).split('\n')[1] ?? '';
    assert.match(nextLine, descriptions[command] as RegExp, `the description of ${command}`);
  }
  // The hidden launcher command is not for people.
  assert.doesNotMatch(stdout, /__launcher/);
});

test('<command> --help shows the options and examples', async () => {
  const expectations: Record<string, string[]> = {
    run: ['--config', '--host', '--port', '--log-level', '--log-file', '--pid-file', '--shutdown-timeout', '--daemon', '--startup-timeout', '--json'],
    stop: ['--timeout', '--pid-file', '--json'],
    status: ['--json', '--pid-file'],
    reload: ['--wait', '--pid-file', '--json'],
    validate: ['--config', '--json'],
  };
  await Promise.all(
    commands.map(async (command) => {
      const { code, stdout } = await runCli([command, '--help']);
      assert.equal(code, 0, command);
      if ((expectations[command] ?? []).length > 0) assert.match(stdout, /Options/, command);
      assert.match(stdout, /Examples/, command);
      assert.match(stdout, new RegExp(`\\$ ai-proxy ${command}`), `${command} --help shows a usage line`);
      for (const option of expectations[command] ?? []) assert.ok(stdout.includes(option), `${command} --help lacks ${option}:\n${stdout}`);
    }),
  );
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const { code, stdout } = await runCli(['--version']);
  assert.equal(code, 0);
  assert.equal(stdout.trim(), version);
});

test('a usage error exits 64 with a message', async () => {
  const cases: Array<{ args: string[]; message: RegExp }> = [
    { args: ['frobnicate'], message: /Extraneous positional argument|frobnicate/ },
    { args: ['status', '--bogus'], message: /--bogus/ },
    { args: ['run', '--port', 'abc'], message: /--port/ },
    { args: ['run', '--port', '70000'], message: /--port/ },
    { args: ['stop', '--timeout', 'soon'], message: /--timeout: expected a duration/ },
    { args: ['run', '-d', '--startup-timeout', 'soon'], message: /--startup-timeout: expected a duration/ },
    // Found while the command runs, not while parsing: still a UsageError, still 64.
    { args: ['run', '--json'], message: /Usage Error: --json reports the outcome of a start in the background; use it with -d/ },
  ];
  await Promise.all(
    cases.map(async ({ args, message }) => {
      const result = await runCli(args, { env: cleanEnv({ XDG_CONFIG_HOME: '/nonexistent' }) });
      assert.equal(result.code, 64, `ai-proxy ${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout + result.stderr, message, args.join(' '));
    }),
  );
});

test('validate prints OK for a good config', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'good.yaml');
  writeFileSync(file, 'listen:\n  host: 127.0.0.1\n  port: 9123\nproviders:\n  - name: mock\n    type: mock\n    models: [mock]\n');
  const { code, stdout } = await runCli(['validate', '-c', file]);
  assert.equal(code, 0);
  assert.match(stdout, /^OK: /);
  assert.ok(stdout.includes(file));
  assert.match(stdout, /listen 127\.0\.0\.1:9123/);
});

test('validate names every error with file:line:col and key path, exit 1', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, ['listen:', '  host: 127.0.0.1', '  port: "x"', 'shutdown-timout: 3s', 'providers:', '  - name: m', '    type: mocky', ''].join('\n'));
  const { code, stdout, stderr } = await runCli(['validate', '-c', file]);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /invalid \(3 errors\)/);
  assert.ok(stderr.includes(`${file}:3:9 listen.port: expected an integer`), stderr);
  assert.ok(stderr.includes(`${file}:4:1 shutdown-timout: unknown key "shutdown-timout"; did you mean "shutdown-timeout"?`), stderr);
  assert.ok(stderr.includes(`${file}:7:11 providers[0].type: expected one of`), stderr);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace for a user error');
});

test('validate reports a YAML syntax error with its position', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'listen:\n  host: 127.0.0.1\n  port: [\n');
  const { code, stderr } = await runCli(['validate', '-c', file]);
  assert.equal(code, 1);
  assert.match(stderr, /not valid YAML/);
  assert.match(stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:\\d+:\\d+`));
});

test('validate of a missing file says so, exit 1', async (t) => {
  const file = join(tempDir(t), 'missing.yaml');
  const { code, stderr } = await runCli(['validate', '-c', file]);
  assert.equal(code, 1);
  assert.match(stderr, /not found/);
});

test('the example config validates once its key variables are set, and names each missing one otherwise', async () => {
  const example = join(root, 'etc', 'ai-proxy.example.yaml');
  const keys = { OPENAI_API_KEY: 'sk-a', OPENAI_API_KEY_2: 'sk-b', ANTHROPIC_API_KEY: 'sk-ant', GEMINI_API_KEY: 'g-key', AI_PROXY_KEY_ALICE: 'alice-client-key-0123456789' };
  const good = await runCli(['validate', '-c', example], { env: cleanEnv(keys) });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^OK: /);

  const bare = await runCli(['validate', '-c', example], { env: cleanEnv() });
  assert.equal(bare.code, 1);
  for (const name of Object.keys(keys)) assert.match(bare.stderr, new RegExp(`environment variable ${name} is not set`), name);
  for (const value of Object.values(keys)) assert.ok(!(good.stdout + good.stderr).includes(value), 'no secret reaches the output');
});

test('the entry point only dispatches and stays under 50 lines', () => {
  const lines = readFileSync(join(root, 'src', 'launcher', 'cli.ts'), 'utf8').trimEnd().split('\n');
  assert.ok(lines.length < 50, `src/launcher/cli.ts has ${lines.length} lines`);
});

test('default paths: LOGS_DIRECTORY and RUNTIME_DIRECTORY first, then root, then the user state/runtime dirs', () => {
  assert.equal(defaultLogFile({ LOGS_DIRECTORY: '/var/log/svc' }, true), '/var/log/svc/ai-proxy.log');
  assert.equal(defaultLogFile({ LOGS_DIRECTORY: '/var/log/a:/var/log/b' }, false), '/var/log/a/ai-proxy.log');
  assert.equal(defaultLogFile({}, true), '/var/log/ai-proxy/ai-proxy.log');
  assert.equal(defaultLogFile({ XDG_STATE_HOME: '/home/u/.state' }, false), '/home/u/.state/ai-proxy/ai-proxy.log');
  assert.match(defaultLogFile({ XDG_STATE_HOME: '' }, false), /\/\.local\/state\/ai-proxy\/ai-proxy\.log$/);

  assert.equal(defaultPidFile({ RUNTIME_DIRECTORY: '/run/svc' }, true), '/run/svc/ai-proxy.pid');
  assert.equal(defaultPidFile({}, true), '/run/ai-proxy/ai-proxy.pid');
  assert.equal(defaultPidFile({ XDG_RUNTIME_DIR: '/run/user/1000' }, false), '/run/user/1000/ai-proxy/ai-proxy.pid');
  assert.equal(defaultPidFile({ XDG_STATE_HOME: '/home/u/.state' }, false), '/home/u/.state/ai-proxy/ai-proxy.pid');
});
