/**
 * Stop under load (issue 5): SIGTERM lets in-flight streams and requests that fit in the shutdown
 * timeout finish byte for byte and exits 0; what outlives the timeout is cut at the deadline with
 * an error event in its client's format, both processes are gone within deadline + grace, and the
 * forced exit (code 2) is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connectRefused, Foreground, instance, loggedBetween, runCli, serverPidOf, SLACK_MS, startDaemon, waitUntil, type Instance } from '../helpers/cli.ts';
import { exchange, processesMatching, within, scriptedChat, scriptedMessages, scriptedUpstream, type Exchange, type ScriptedUpstream, killInstanceOnExit } from '../helpers/reliability.ts';

/** The launcher's own deadline grace after the shutdown timeout (KILL_GRACE_MS in supervisor.ts). */
const KILL_GRACE_MS = 2_000;
/** What every exchange may take, whatever the load: a hung one fails here. */
const EXCHANGE_MS = 3 * SLACK_MS;

const yamlFor = (up: ScriptedUpstream, shutdownTimeout: string): string =>
  `listen:\n  host: 127.0.0.1\n  port: 0\nshutdown-timeout: ${shutdownTimeout}\nproviders:\n${up.providerYaml('up', ['rel-model'])}`;

/** Foreground `run` with its log on stdout, so the test reads the launcher's exit code and its words. */
function foreground(t: Parameters<typeof instance>[0], inst: Instance): Foreground {
  return new Foreground(t, ['-c', inst.config, '--pid-file', inst.pidFile], inst.env);
}

function assertNothingLeft(inst: Instance): void {
  assert.deepEqual(processesMatching(inst.dir).map((p) => `${p.pid} ${p.cmdline}`), [], 'no process of the instance is left');
  assert.equal(existsSync(inst.pidFile), false, 'the PID file is removed');
}

/** Split a cut stream into what was relayed and the error event that ended it. */
function splitCut(body: string): { relayed: string; error: string } {
  const at = body.lastIndexOf('data: {"error"');
  const anthropicAt = body.lastIndexOf('event: error\n');
  const start = anthropicAt !== -1 ? anthropicAt : at;
  assert.notEqual(start, -1, `the cut stream ends with an error event:\n…${body.slice(-400)}`);
  return { relayed: body.slice(0, start), error: body.slice(start) };
}

test('SIGTERM with streams shorter than the timeout: every stream and request completes, byte-exact, exit 0', { timeout: 180_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  // The work lasts ~2.4 s; a drain that waited for the timeout instead of the work would take 60 s.
  const inst = instance(t, yamlFor(up, '60s'));
  killInstanceOnExit(t, inst.dir);
  const run = foreground(t, inst);
  const url = await run.url();
  const port = Number(new URL(url).port);
  const serverPid = await serverPidOf(run.child.pid as number);

  const streams = Array.from({ length: 6 }, (_, i) => ({ id: `short-${i}`, result: exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id: `short-${i}`, events: 40, gapMs: 60 }, true), { timeoutMs: EXCHANGE_MS }) }));
  const anthropic = exchange(`${url}/v1/messages`, scriptedMessages('rel-model', { id: 'short-anthropic', events: 40, gapMs: 60 }, true), { timeoutMs: EXCHANGE_MS });
  const requests = Array.from({ length: 4 }, (_, i) => ({ id: `req-${i}`, result: exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id: `req-${i}`, gapMs: 1_200 }, false), { timeoutMs: EXCHANGE_MS }) }));
  // Everything is in flight: every stream has started writing and every request reached the upstream.
  await waitUntil('all streams and requests are in flight', () => up.upstream.requests.length === 11 && [...streams.map((s) => s.id), 'short-anthropic'].every((id) => (up.sent.get(id)?.length ?? 0) > 0));

  const sentAt = Date.now();
  run.child.kill('SIGTERM');
  // The listener closes at once: new connections are refused while the in-flight work drains (one
  // caught in the backlog as it closes is reset: try again).
  await waitUntil('the listener is closed', () => connectRefused(port).catch(() => false));
  // The server closes the listener before it says it drains (gateway.ts): its count is the proof,
  // not a race between this test's poll and the end of the work.
  await run.waitFor(/draining: \d+ requests in flight/);
  assert.ok(Number(/draining: (\d+) requests in flight/.exec(run.output)?.[1]) > 0, 'the listener closed while work was still in flight');

  const failures: string[] = [];
  for (const { id, result } of streams) {
    const r = await result;
    if (r.status !== 200 || !r.complete || !(up.sent.get(id) ?? Buffer.alloc(0)).equals(r.body) || !up.finished.has(id)) failures.push(`${id}: ${r.status} complete=${r.complete} ${r.error} (${r.body.length} bytes of ${up.sent.get(id)?.length})`);
  }
  const a = await anthropic;
  if (a.status !== 200 || !a.complete || !a.body.toString('utf8').includes('event: message_stop')) failures.push(`anthropic: ${a.status} complete=${a.complete}: …${a.body.toString('utf8').slice(-300)}`);
  for (const { id, result } of requests) {
    const r = await result;
    if (r.status !== 200 || !r.body.toString('utf8').includes(`reply to ${id}`)) failures.push(`${id}: ${r.status} ${r.error} ${r.body.toString('utf8').slice(0, 200)}`);
  }
  const exit = await within(run.exited, 4 * SLACK_MS, () => `the launcher did not exit:\n${run.output}`);
  const elapsed = Date.now() - sentAt;
  t.diagnostic(`in flight at SIGTERM: 7 streams, 4 requests; completed byte-exact: ${6 - failures.filter((f) => f.startsWith('short')).length}/6 (+ the translated stream), failed: ${failures.length}; exit ${exit.code} after ${elapsed} ms`);
  assert.deepEqual(failures, []);
  assert.deepEqual(exit, { code: 0, signal: null }, run.output);
  assert.ok(elapsed < 2 * SLACK_MS, `drained long before the 60 s timeout (${elapsed} ms)`);
  assert.match(run.output, /SIGTERM: shutting down/);
  assert.doesNotMatch(run.output, /forced/);
  await waitUntil('the server is gone', () => processesMatching(inst.dir).every((p) => p.pid !== serverPid));
  assertNothingLeft(inst);
});

test('SIGTERM with streams longer than the timeout: cut at the deadline with an error event, gone within deadline + grace, exit 2', { timeout: 180_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const timeoutMs = 1_000;
  const inst = instance(t, yamlFor(up, '1s'));
  killInstanceOnExit(t, inst.dir);
  const run = foreground(t, inst);
  const url = await run.url();
  const serverPid = await serverPidOf(run.child.pid as number);

  const ids = Array.from({ length: 4 }, (_, i) => `long-${i}`);
  const streams = ids.map((id) => exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id, events: 200, gapMs: 50 }, true), { timeoutMs: EXCHANGE_MS }));
  const anthropic = exchange(`${url}/v1/messages`, scriptedMessages('rel-model', { id: 'long-anthropic', events: 200, gapMs: 50 }, true), { timeoutMs: EXCHANGE_MS });
  const slow = exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id: 'slow-request', gapMs: 10_000 }, false), { timeoutMs: EXCHANGE_MS });
  await waitUntil('all streams are in flight', () => up.upstream.requests.length === 6 && [...ids, 'long-anthropic'].every((id) => (up.sent.get(id)?.length ?? 0) > 0));

  const sentAt = Date.now();
  run.child.kill('SIGTERM');
  const exit = await within(run.exited, 4 * SLACK_MS, () => `the launcher did not exit:\n${run.output}`);
  const elapsed = Date.now() - sentAt;
  const results: Exchange[] = await Promise.all(streams);
  const failures: string[] = [];
  for (const [i, r] of results.entries()) {
    const id = ids[i] as string;
    const body = r.body.toString('utf8');
    if (r.status !== 200 || !r.complete) {
      failures.push(`${id}: status ${r.status}, complete ${r.complete}, ${r.error}: …${body.slice(-200)}`);
      continue;
    }
    // What was relayed is exactly what the upstream wrote (a prefix of it), then one error event.
    const { relayed, error } = splitCut(body);
    const sent = (up.sent.get(id) ?? Buffer.alloc(0)).toString('utf8');
    const prefix = relayed.endsWith('\n\n') && !sent.startsWith(relayed) ? relayed.slice(0, -2) : relayed;
    if (!sent.startsWith(prefix) || prefix.length === 0) failures.push(`${id}: the relayed part is not a prefix of what the upstream sent`);
    const parsed = JSON.parse(error.slice('data: '.length)) as { error: { message: string; type: string } };
    if (!/shutting down/.test(parsed.error.message) || parsed.error.type !== 'server_error') failures.push(`${id}: unexpected error event ${error}`);
    if (up.finished.has(id)) failures.push(`${id}: the upstream finished, so the stream was not cut`);
  }
  const a = await anthropic;
  const aBody = a.body.toString('utf8');
  if (a.status !== 200 || !a.complete || !/event: error\ndata: \{"type":"error","error":\{"type":"\w+","message":"[^"]*shutting down/.test(aBody)) failures.push(`anthropic: ${a.status} complete=${a.complete}: …${aBody.slice(-300)}`);
  // A request whose answer had not started gets a 503 in its client's format, never a fake success.
  const s = await slow;
  if (s.status !== 503 || !/shutting down/.test(s.body.toString('utf8'))) failures.push(`slow-request: expected a 503 saying the gateway is shutting down, got ${s.status}: ${s.error ?? ''} ${s.body.toString('utf8').slice(0, 200)}`);

  t.diagnostic(`in flight at SIGTERM: 5 streams longer than the 1 s timeout and 1 slow request; cut with an error event: ${5 - failures.length}/5; slow request: ${s.status === 0 ? s.error : s.status}; exit ${exit.code} after ${elapsed} ms (deadline ${timeoutMs} ms + grace ${KILL_GRACE_MS} ms)`);
  assert.deepEqual(failures, []);
  assert.deepEqual(exit, { code: 2, signal: null }, run.output);
  assert.ok(elapsed >= timeoutMs - 100, `the streams were given the whole timeout (${elapsed} ms)`);
  assert.match(run.output, /shutdown forced/);
  // The cut on the server's clock (its own deadline, not the launcher's kill), then the exit on ours.
  const cutAfter = loggedBetween(run.output, /SIGTERM: shutting down/, /INFO server stopped \(forced/);
  assert.ok(cutAfter < timeoutMs + SLACK_MS, `cut ${cutAfter} ms after SIGTERM, with a ${timeoutMs} ms timeout`);
  assert.ok(elapsed < timeoutMs + KILL_GRACE_MS + SLACK_MS, `gone within deadline + grace (${elapsed} ms)`);
  await waitUntil('the server is gone', () => processesMatching(inst.dir).every((p) => p.pid !== serverPid));
  assertNothingLeft(inst);
});

test('ai-proxy stop --timeout with streams longer than it: exit 2 and "forced" reported, nothing left', { timeout: 180_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const inst = instance(t, yamlFor(up, '60s'));
  killInstanceOnExit(t, inst.dir);
  const { url } = await startDaemon(inst);
  const ids = Array.from({ length: 3 }, (_, i) => `daemon-${i}`);
  const streams = ids.map((id) => exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id, events: 200, gapMs: 50 }, true), { timeoutMs: EXCHANGE_MS }));
  await waitUntil('all streams are in flight', () => ids.every((id) => (up.sent.get(id)?.length ?? 0) > 0));

  const sentAt = Date.now();
  const stop = await runCli(['stop', '--timeout', '1s', '--pid-file', inst.pidFile], { env: inst.env });
  const elapsed = Date.now() - sentAt;
  const results = await Promise.all(streams);
  t.diagnostic(`stop --timeout 1s with 3 streams of ~10 s: exit ${stop.code} after ${elapsed} ms; streams cut with an error event: ${results.filter((r) => r.complete && /shutting down/.test(r.body.toString('utf8').slice(-400))).length}/3`);
  assert.equal(stop.code, 2, stop.stdout + stop.stderr);
  assert.match(stop.stdout, /forced/);
  // The cut on the product's clock; the wall-clock figure includes starting the `stop` command
  // itself (up to 3.6 s seen on a loaded machine), so it only keeps a sanity bound.
  const log = readFileSync(inst.logFile, 'utf8');
  const cutAfter = loggedBetween(log, /ai-proxy stop: shutting down \(delay 0s, timeout 1s\)/, /shutdown forced/);
  assert.ok(cutAfter < 1_000 + SLACK_MS, `cut ${cutAfter} ms after the stop request, with --timeout 1s (the config says 60s)`);
  assert.ok(elapsed >= 1_000 && elapsed < 1_000 + KILL_GRACE_MS + 2 * SLACK_MS, `stop returned within deadline + grace (${elapsed} ms)`);
  for (const r of results) {
    assert.equal(r.complete, true, `the cut stream ended properly: ${r.error}`);
    splitCut(r.body.toString('utf8'));
  }
  assert.match(log, /shutdown forced/);
  assertNothingLeft(inst);
});
