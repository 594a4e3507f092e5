/**
 * `ai-proxy reload` (issue 2, point 5, DESIGN §3): one verdict on every path. Applied → exit 0
 * with the new generation, new requests see the new model table while in-flight ones finish on
 * the old; rejected → non-zero with the reason while the old config keeps serving; SIGHUP and a
 * file change take the same path and log the same verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawExchange, type RawResult } from '../helpers/reliability.ts';
import { SLACK_MS, chatStream, defaultYaml, gatedUpstream, get, instance, killOnExit, loggedBetween, openStream, post, runCli, serverPidOf, startDaemon, waitUntil, type Instance } from '../helpers/cli.ts';

const chat = (model = 'mock') => ({ model, messages: [{ role: 'user', content: 'hi' }] });

/** The gateway still answers a real request with its current config. */
async function assertServes(url: string, model = 'mock'): Promise<void> {
  const reply = await post(`${url}/v1/chat/completions`, chat(model));
  assert.equal(reply.status, 200, await reply.text());
}

function logOf(inst: Instance): string {
  return readFileSync(inst.logFile, 'utf8');
}

/** The log lines of reload verdicts, in order. */
function verdictLines(inst: Instance): string[] {
  return logOf(inst)
    .split('\n')
    .filter((line) => / launcher reload \((control|signal|watch)\) (applied|rejected)/.test(line));
}

/** A verdict line without its time stamp and source: what must be equal whatever the path. */
const verdictOf = (line: string): string => line.replace(/^\S+ /, '').replace(/reload \((control|signal|watch)\)/, 'reload (SOURCE)');

test('reload applied: exit 0 with the new generation; new requests get the new model table while a stream started before finishes on the old', async (t) => {
  const before = await gatedUpstream(t, 'old-table');
  const after = await gatedUpstream(t, 'new-table');
  const head = 'listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: 5s\nwatch-config: false\nproviders:\n';
  const inst = instance(t, head + before.providerYaml('up', ['chat']));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));

  const early = openStream(t, `${url}/v1/chat/completions`, chatStream('chat'));
  await early.waitFor(/first chunk from old-table/);

  writeFileSync(inst.config, head + after.providerYaml('up', ['chat']));
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /^reload applied: generation 2, hash [0-9a-f]+ \(changed: providers\)\n$/);

  const late = openStream(t, `${url}/v1/chat/completions`, chatStream('chat'));
  await late.waitFor(/first chunk from new-table/);
  assert.equal(before.requests.length, 1, 'the new request did not go to the old table');

  before.release();
  const early$ = await early.done;
  assert.ok(early$.complete, early$.body);
  assert.match(early$.body, /last chunk from old-table/);
  assert.match(early$.body, /\[DONE\]/);
  assert.doesNotMatch(early$.body, /new-table/);

  after.release();
  const late$ = await late.done;
  assert.ok(late$.complete, late$.body);
  assert.match(late$.body, /last chunk from new-table/);
  assert.doesNotMatch(late$.body, /old-table/);

  assert.match(logOf(inst), /INFO launcher reload \(control\) applied: generation 2, hash [0-9a-f]+, changed providers/);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('a rejected reload (YAML syntax, schema, missing secret) exits 1 with the reason, and the old config keeps serving', async (t) => {
  const inst = instance(t, defaultYaml('watch-config: false\n'));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  const original = readFileSync(inst.config, 'utf8');

  const cases: Array<{ what: string; yaml: string; reason: RegExp }> = [
    { what: 'YAML syntax', yaml: 'listen:\n  host: 127.0.0.1\n  port: [\n', reason: new RegExp(`not valid YAML \\(1 error\\)\\n  ${inst.config.replace(/\./g, '\\.')}:4:1: `) },
    { what: 'schema', yaml: original.replace('type: mock', 'type: mocky'), reason: new RegExp(`${inst.config.replace(/\./g, '\\.')}:7:11 providers\\[0\\]\\.type: expected one of .*did you mean "mock"\\?`) },
    { what: 'missing secret', yaml: original + 'admin:\n  key: ${ADMIN_KEY_NOT_SET}\n', reason: /admin\.key: environment variable ADMIN_KEY_NOT_SET is not set/ },
  ];
  for (const { what, yaml, reason } of cases) {
    writeFileSync(inst.config, yaml);
    const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
    assert.equal(reload.code, 1, `${what}: ${reload.stdout}`);
    assert.match(reload.stderr, /^ai-proxy: reload rejected; still serving generation 1:\n/, what);
    assert.match(reload.stderr, reason, what);
    assert.equal(reload.stdout, '', what);
    await assertServes(url);
  }
  const status = JSON.parse((await runCli(['status', '--json', '--pid-file', inst.pidFile], { env: inst.env })).stdout) as {
    config: { generation: number };
    lastReload: { ok: boolean; error: { message: string } };
  };
  assert.equal(status.config.generation, 1);
  assert.equal(status.lastReload.ok, false);
  assert.match(status.lastReload.error.message, /invalid/);
  // Each command returned on its verdict; their log lines may still be on their way to the file.
  const controlRejected = (): string[] => verdictLines(inst).filter((line) => /ERROR launcher reload \(control\) rejected, still serving generation 1: /.test(line));
  await waitUntil('the three verdicts are logged', () => controlRejected().length >= 3);
  assert.equal(controlRejected().length, 3);

  // A good file afterwards is applied: rejection left nothing half-applied.
  writeFileSync(inst.config, original.replace('models: [mock, mock-*]', 'models: [mock, mock-*, other]'));
  const good = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /generation 2/);
  await assertServes(url, 'other');
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('a reload that changes the listen address is rejected with that reason, and nothing of it is applied', async (t) => {
  const inst = instance(t, defaultYaml('watch-config: false\n'));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  // Together with a change that could be applied: the reload is rejected whole.
  writeFileSync(inst.config, defaultYaml('watch-config: false\n').replace('host: 127.0.0.1', 'host: 127.0.0.2').replace('models: [mock, mock-*]', 'models: [mock, mock-*, other]'));
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 1);
  assert.match(reload.stderr, /the listen address cannot change on reload \(127\.0\.0\.1:0 → 127\.0\.0\.2:0\); apply it with ai-proxy restart/);
  await assertServes(url);
  const other = await post(`${url}/v1/chat/completions`, chat('other'));
  assert.notEqual(other.status, 200, 'the model added in the rejected file is not served');
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('SIGHUP, a change of the file on disk and ai-proxy reload take the same path and log the same verdict', async (t) => {
  const inst = instance(t);
  const secret = join(inst.dir, 'admin.key');
  writeFileSync(secret, 'admin-key-one-0123456789\n');
  const good = defaultYaml(`admin:\n  key: \${file:${secret}}\n`);
  writeFileSync(inst.config, good);
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));

  // Rejected: the same broken file, by each path in turn, gives the same verdict.
  writeFileSync(inst.config, good.replace('shutdown-timeout: 5s', 'shutdown-timeout: soon'));
  await waitUntil('the file watcher reloads', () => verdictLines(inst).length === 1);
  process.kill(pid, 'SIGHUP');
  await waitUntil('SIGHUP reloads', () => verdictLines(inst).length === 2);
  const control = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(control.code, 1);
  // The command returns on the verdict; the launcher's log line of it may still be on its way to the file.
  await waitUntil('the control reload\'s verdict is logged', () => verdictLines(inst).length >= 3);
  const rejected = verdictLines(inst);
  assert.equal(rejected.length, 3, rejected.join('\n'));
  assert.match(rejected[0] as string, /reload \(watch\) rejected, still serving generation 1: config .* is invalid/);
  assert.match(rejected[1] as string, /reload \(signal\) rejected/);
  assert.match(rejected[2] as string, /reload \(control\) rejected/);
  assert.equal(verdictOf(rejected[1] as string), verdictOf(rejected[0] as string));
  assert.equal(verdictOf(rejected[2] as string), verdictOf(rejected[0] as string));
  assert.ok(control.stderr.includes(/: (config .*? is invalid \(\d+ errors?\))/.exec(rejected[0] as string)?.[1] as string), 'the command prints the logged reason');
  await assertServes(url);

  // Applied, by each path: the watcher sees the file; a rotated secret (not the watched file) is read again on SIGHUP and on reload.
  writeFileSync(inst.config, good);
  await waitUntil('the file watcher applies the fixed file', () => verdictLines(inst).length === 4);
  writeFileSync(secret, 'admin-key-two-0123456789\n');
  process.kill(pid, 'SIGHUP');
  await waitUntil('SIGHUP applies the rotated secret', () => verdictLines(inst).length === 5);
  writeFileSync(secret, 'admin-key-three-0123456789\n');
  const applied = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /reload applied: generation 3, hash \w+ \(changed: admin\)/);
  await waitUntil('the control reload\'s verdict is logged', () => verdictLines(inst).length >= 6);
  const lines = verdictLines(inst).slice(3);
  assert.equal(lines.length, 3, lines.join('\n'));
  // The watcher saw the same content as generation 1: applied, no change.
  assert.match(lines[0] as string, /INFO launcher reload \(watch\) applied: generation 1, hash \w+, no change$/);
  assert.match(lines[1] as string, /INFO launcher reload \(signal\) applied: generation 2, hash \w+, changed admin$/);
  assert.match(lines[2] as string, /INFO launcher reload \(control\) applied: generation 3, hash \w+, changed admin$/);
  for (const line of verdictLines(inst)) assert.doesNotMatch(line, /admin-key-/, 'no secret in the log');
  assert.equal((await get(`${url}/healthz`)).status, 200);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('a reload reaches the launcher too: a new shutdown-timeout governs the next stop, a new log format its lines; the log file cannot change live', async (t) => {
  const upstream = await gatedUpstream(t, 'upstream');
  const yaml = (extra: string) => `listen:\n  host: 127.0.0.1\n  port: 0\nwatch-config: false\n${extra}providers:\n${upstream.providerYaml('up', ['slow'])}`;
  const inst = instance(t, yaml('shutdown-timeout: 60s\n'));
  const { pid, url } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  killOnExit(t, pid, server);

  writeFileSync(inst.config, yaml('shutdown-timeout: 60s\nlog:\n  rotate: external\n  max-files: 3\n'));
  const sink = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(sink.code, 1);
  assert.match(sink.stderr, /log\.rotate, log\.max-files cannot change while running \(the launcher owns the log file\); stop and start ai-proxy to apply it/);

  writeFileSync(inst.config, yaml('shutdown-timeout: 1s\nlog:\n  format: json\n'));
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /changed: shutdown-timeout, log/);

  const stream = openStream(t, `${url}/v1/chat/completions`, chatStream('slow'));
  await stream.waitFor(/first chunk from upstream/);
  const started = Date.now();
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  const took = Date.now() - started;
  assert.equal(stop.code, 2, stop.stdout + stop.stderr);
  // On the launcher's clock (its JSON lines' "time"): the stop command's own start is not in it.
  const cutAfter = loggedBetween(logOf(inst), /shutting down/, /shutdown forced/);
  assert.ok(took >= 1_000 && cutAfter < 1_000 + SLACK_MS, `the stop took ${took} ms, ${cutAfter} ms after the request; the reloaded shutdown-timeout is 1s, the old one 60s`);
  assert.ok(took < 1_000 + 2 * SLACK_MS, `the stop took ${took} ms; the old shutdown-timeout is 60s`);
  const lines = logOf(inst).trimEnd().split('\n');
  const shuttingDown = lines.find((line) => line.includes('shutting down'));
  assert.ok(shuttingDown !== undefined && shuttingDown.startsWith('{'), `the launcher logs JSON after the reload: ${shuttingDown}`);
  assert.match(shuttingDown, /timeout 1s/);
  assert.ok((lines[lines.length - 1] as string).startsWith('{'), lines.join('\n'));
});

test("a reload applies the HTTP server's timeouts: keep-alive-timeout to idle connections, body-timeout to the next request", async (t) => {
  const yaml = (server: string) => `listen:\n  host: 127.0.0.1\n  port: 0\nwatch-config: false\nserver:\n${server}providers:\n  - name: mock\n    type: mock\n    models: [mock]\n`;
  const inst = instance(t, yaml('  keep-alive-timeout: 60s\n  body-timeout: 60s\n'));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  const port = Number(new URL(url).port);
  // How long the test watches a connection: before the reload the 60 s timeouts keep both open
  // for all of it; after, the reloaded 200 ms and 300 ms must close them well within it.
  const idleConnection = (watchMs: number): Promise<RawResult> => rawExchange(port, ['GET /healthz HTTP/1.1\r\nhost: g\r\n\r\n'], { timeoutMs: watchMs });
  const body = JSON.stringify(chat());
  const stalled = (watchMs: number): Promise<RawResult> => rawExchange(port, [`POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 10)}`], { timeoutMs: watchMs });

  // Before: both connections are still open when the test stops waiting.
  const [idleBefore, stalledBefore] = await Promise.all([idleConnection(1_500), stalled(1_500)]);
  assert.deepEqual([idleBefore.end, idleBefore.responses[0]?.status], ['timeout', 200]);
  assert.deepEqual([stalledBefore.end, stalledBefore.responses.length], ['timeout', 0]);

  writeFileSync(inst.config, yaml('  keep-alive-timeout: 200ms\n  body-timeout: 300ms\n'));
  const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /changed: server/);

  const [idle, cut] = await Promise.all([idleConnection(2 * SLACK_MS), stalled(2 * SLACK_MS)]);
  assert.equal(idle.responses[0]?.status, 200);
  assert.equal(idle.end, 'closed', `an idle keep-alive connection is closed after the reloaded 200 ms (${idle.end} after ${idle.ms} ms)`);
  assert.equal(cut.responses[0]?.status, 408, `a stalled body is given up after the reloaded 300 ms: ${cut.raw.toString('latin1').slice(0, 200)}`);
  assert.equal(cut.end, 'closed');
  await assertServes(url);
});

test('reload --no-wait only signals: it returns at once and the verdict goes to the log', async (t) => {
  const inst = instance(t, defaultYaml('watch-config: false\n'));
  const { pid } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));
  writeFileSync(inst.config, defaultYaml('watch-config: false\nmodels:\n  aliases:\n    demo: mock\n'));
  const reload = await runCli(['reload', '--no-wait', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(reload.code, 0);
  assert.equal(reload.stdout, `sent SIGHUP to pid ${pid}; the verdict goes to the log\n`);
  await waitUntil('the verdict is logged', () => verdictLines(inst).length === 1);
  assert.match(verdictLines(inst)[0] as string, /reload \(signal\) applied: generation 2, hash \w+, changed models/);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('reload when nothing runs: "not running", exit 3', async (t) => {
  const inst = instance(t);
  for (const args of [['reload'], ['reload', '--no-wait']]) {
    const result = await runCli([...args, '--pid-file', inst.pidFile], { env: inst.env });
    assert.equal(result.code, 3, args.join(' '));
    assert.equal(result.stderr, `ai-proxy: not running (pid file ${inst.pidFile})\n`);
  }
});

test('watch-config follows the config in force: off, the file is not watched; turned on by a reload, later edits apply by themselves', async (t) => {
  const inst = instance(t, defaultYaml('watch-config: false\n'));
  const { pid, url } = await startDaemon(inst);
  killOnExit(t, pid, await serverPidOf(pid));

  writeFileSync(inst.config, defaultYaml('watch-config: true\n'));
  const turnedOn = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(turnedOn.code, 0, turnedOn.stderr);
  assert.equal(verdictLines(inst).filter((line) => / reload \(watch\) /.test(line)).length, 0, 'with watch-config off, the first edit was not acted on');

  writeFileSync(inst.config, defaultYaml('watch-config: true\nshutdown-delay: 100ms\n'));
  await waitUntil('the watcher applies the edit', () => verdictLines(inst).some((line) => / reload \(watch\) applied: generation 3/.test(line)));
  await assertServes(url);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});
