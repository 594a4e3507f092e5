/**
 * Upstream faults (issue 5): connection refused, reset before and during a stream, stalls before
 * and after the first byte, malformed SSE, an HTML error page from a proxy in between, and 429
 * storms. Each ends in a clean client error in the client's own format, or in a successful
 * failover to a healthy provider; after a large burst of faults the server's memory, descriptors
 * and in-flight gauges are back near where they started.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { get, instance, runCli, serverPidOf, SLACK_MS, startDaemon, waitUntil } from '../helpers/cli.ts';
import { fakeUpstream, json, type FakeUpstream } from '../helpers/fake-upstream.ts';
import {
  collectGarbage,
  cutPoints,
  inspectorUrl,
  exchange,
  metricValue,
  pause,
  pool,
  rssOf,
  scriptedChat,
  scriptedMessages,
  scriptedStreamBody,
  scriptedUpstream,
  scriptOf,
  type Exchange,
  type Script,
  killInstanceOnExit,
} from '../helpers/reliability.ts';

type Fault = 'reset-before' | 'reset-mid' | 'stall-first' | 'stall-after' | 'garbage-sse' | 'html-502' | 'rate-limited' | 'truncated-json';

/**
 * The faulty provider's timeouts: every answer the fake upstream gives at once must beat them on
 * a loaded machine, or a 502 case becomes a 504; each stall case costs one of them.
 */
const FIRST_BYTE_MS = 1_000;
const IDLE_MS = 1_000;
/** Long enough that the 'later' requests below run inside it, however slow the machine. */
const RETRY_AFTER_S = 30;

/** An OpenAI-compatible upstream that fails the way each request's script asks. */
async function faultyUpstream(t: TestContext): Promise<FakeUpstream> {
  return fakeUpstream(t, async (_req, res, recorded) => {
    const script = scriptOf(recorded) as ReturnType<typeof scriptOf> & { fault?: Fault };
    const events = scriptedStreamBody(script.model, script);
    switch (script.fault) {
      case 'reset-before':
        res.socket?.destroy();
        return;
      case 'reset-mid': {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(events.subarray(0, (cutPoints(events.length, 4, 1)[1] as number) + 0));
        await pause(30, recorded.closed);
        res.socket?.destroy();
        return;
      }
      case 'stall-first':
        await recorded.closed;
        return;
      case 'stall-after':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(events.subarray(0, events.indexOf('\n\n') + 2));
        await recorded.closed;
        return;
      case 'garbage-sse':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('this is not SSE at all\n\nevent: ???\ndata: {"broken json\n\n: a comment\n\ndata: {"choices": 42}\n\nretry: soon\n\n');
        res.end(events);
        return;
      case 'html-502':
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n');
        return;
      case 'rate-limited':
        json(res, 429, { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } }, { 'retry-after': String(RETRY_AFTER_S) });
        return;
      case 'truncated-json':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
        res.write('{"id":"chatcmpl-cut","object":"chat.completion","choices":[{"index":0,"message":{"role":"assi');
        await pause(30, recorded.closed);
        res.socket?.destroy();
        return;
      default:
        json(res, 500, { error: { message: 'no fault named', type: 'server_error' } });
    }
  });
}

/** A port nobody listens on: bound, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Format = 'openai' | 'anthropic';

function isClientError(format: Format, r: Exchange): boolean {
  try {
    const body = JSON.parse(r.body.toString('utf8')) as { type?: string; error?: { message?: unknown; type?: unknown } };
    const shaped = typeof body.error?.message === 'string' && typeof body.error.type === 'string';
    return shaped && (format === 'anthropic' ? body.type === 'error' : body.type === undefined) && /json/.test(String(r.headers['content-type']));
  } catch {
    return false;
  }
}

/** A stream that ended with an error event in the client's format (never a fake success). */
function endsWithStreamError(format: Format, text: string): boolean {
  if (format === 'anthropic') return /event: error\ndata: \{"type":"error","error":\{"type":"\w+","message":"[^"]+"\}\}\n\n$/.test(text) && !text.includes('event: message_stop');
  return /data: \{"error":\{"message":"[^"]+","type":"\w+"[^\n]*\}\}\n\n$/.test(text) && !text.includes('data: [DONE]');
}

test('upstream faults end in a clean client error or a failover, and memory returns to baseline', { timeout: 240_000 }, async (t) => {
  const faulty = await faultyUpstream(t);
  const healthy = await scriptedUpstream(t);
  const dead = await deadPort();
  const yaml = [
    'listen:\n  host: 127.0.0.1\n  port: 0',
    'log:\n  level: warn\n  access: false',
    'retry:\n  attempts: 3\n  backoff-base: 10ms\n  backoff-max: 20ms',
    // Faults must be met again on every request (no cooldown), except a 429's own Retry-After.
    'cooldown:\n  server-error: 0s\n  network-error: 0s',
    'providers:',
    `  - name: faulty\n    type: openai-compatible\n    base-url: ${faulty.url}/v1\n    api-keys: [faulty-key-1, faulty-key-2]\n    models: [faulty, faulty-fo]\n    timeouts:\n      first-byte: ${FIRST_BYTE_MS}ms\n      idle: ${IDLE_MS}ms`,
    `  - name: dead\n    type: openai-compatible\n    base-url: http://127.0.0.1:${dead}/v1\n    api-keys: [dead-key]\n    models: [dead, dead-fo]\n    timeouts:\n      connect: 1s`,
    `  - name: storm\n    type: openai-compatible\n    base-url: ${faulty.url}/v1\n    api-keys: [storm-key-1, storm-key-2, storm-key-3]\n    models: [storm, storm-fo]`,
    healthy.providerYaml('healthy', ['faulty-fo', 'dead-fo', 'storm-fo']).trimEnd(),
    '',
  ].join('\n');
  // The server's inspector (test only) lets the memory check force a full GC before each reading.
  const inst = instance(t, yaml, { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  killInstanceOnExit(t, inst.dir);
  const { pid, url } = await startDaemon(inst);
  const server = await serverPidOf(pid);
  const inspector = await waitUntil('the server printed its inspector URL', () => inspectorUrl(readFileSync(inst.logFile, 'utf8')) ?? undefined);
  let n = 0;
  const chat = (model: string, script: Omit<Script, 'id'> & { fault?: Fault }, stream: boolean): Promise<Exchange> =>
    exchange(`${url}/v1/chat/completions`, scriptedChat(model, { id: `f${n++}`, ...script } as Script, stream), { timeoutMs: 3 * SLACK_MS });
  const messages = (model: string, script: Omit<Script, 'id'> & { fault?: Fault }, stream: boolean): Promise<Exchange> =>
    exchange(`${url}/v1/messages`, scriptedMessages(model, { id: `f${n++}`, ...script } as Script, stream), { timeoutMs: 3 * SLACK_MS });
  const send = (format: Format, model: string, script: Omit<Script, 'id'> & { fault?: Fault }, stream: boolean): Promise<Exchange> =>
    format === 'openai' ? chat(model, script, stream) : messages(model, script, stream);
  const figures: string[] = [];

  // --- before the first byte: a clean error alone, a failover with a healthy provider ------
  const beforeFirstByte: Array<{ name: string; model: string; fault?: Fault; status: number }> = [
    { name: 'connection refused', model: 'dead', status: 502 },
    { name: 'reset before the headers', model: 'faulty', fault: 'reset-before', status: 502 },
    { name: `stall before the first byte (first-byte ${FIRST_BYTE_MS} ms)`, model: 'faulty', fault: 'stall-first', status: 504 },
    { name: 'an HTML 502 page from a proxy', model: 'faulty', fault: 'html-502', status: 502 },
  ];
  for (const c of beforeFirstByte) {
    for (const format of ['openai', 'anthropic'] as const) {
      for (const stream of [false, true]) {
        const alone = await send(format, c.model, { fault: c.fault, events: 5 }, stream);
        assert.equal(alone.status, c.status, `${c.name} (${format}, stream ${stream}), alone: ${alone.status} ${alone.error} ${alone.body.toString('utf8').slice(0, 300)}`);
        assert.ok(isClientError(format, alone), `${c.name} (${format}, stream ${stream}): an error in the client's format, got ${alone.headers['content-type']}: ${alone.body.toString('utf8').slice(0, 300)}`);
        const failover = await send(format, `${c.model}-fo`, { fault: c.fault, events: 5 }, stream);
        assert.equal(failover.status, 200, `${c.name} (${format}, stream ${stream}) fails over: ${failover.body.toString('utf8').slice(0, 300)}`);
        assert.equal(failover.headers['x-ai-proxy-provider'], 'healthy');
      }
    }
    figures.push(`${c.name}: ${c.status} in the client's format alone, 200 via failover`);
  }

  // --- after the first byte: the stream ends with an error event, never a fake success -------
  for (const format of ['openai', 'anthropic'] as const) {
    const reset = await send(format, 'faulty-fo', { fault: 'reset-mid', events: 30 }, true);
    const text = reset.body.toString('utf8');
    assert.equal(reset.status, 200, text);
    assert.ok(reset.complete, `reset mid-stream (${format}): the client's stream is ended properly, not cut`);
    assert.ok(endsWithStreamError(format, text), `reset mid-stream (${format}) ends with an error event:\n…${text.slice(-400)}`);
    assert.notEqual(reset.headers['x-ai-proxy-provider'], 'healthy', 'no failover once bytes were sent');

    const stalled = await send(format, 'faulty', { fault: 'stall-after', events: 30 }, true);
    const stalledText = stalled.body.toString('utf8');
    assert.ok(stalled.complete && endsWithStreamError(format, stalledText), `stall after the first byte (${format}) ends with an error event:\n…${stalledText.slice(-400)}`);
    // Without it, the default idle timeout (300 s) would hold the stream past the exchange's bound.
    assert.ok(stalled.ms >= IDLE_MS && stalled.ms < IDLE_MS + SLACK_MS, `cut after the idle timeout (${stalled.ms} ms)`);
  }
  // Passthrough relays the upstream's bytes as they are, so the relayed prefix is exact.
  const exact = await chat('faulty', { fault: 'reset-mid', events: 30 }, true);
  const prefix = exact.body.toString('utf8').slice(0, exact.body.toString('utf8').lastIndexOf('data: {"error"'));
  const sent = scriptedStreamBody('faulty', { id: `f${n - 1}`, events: 30 }).toString('utf8');
  assert.ok(sent.startsWith(prefix.endsWith('\n\n') && !sent.startsWith(prefix) ? prefix.slice(0, -2) : prefix), 'the relayed part is exactly what the upstream sent');
  figures.push('reset mid-stream and stall after the first byte: error event in the client format (OpenAI, Anthropic), no failover after the first byte');

  // --- malformed SSE: relayed as is (passthrough) or translated without breaking ------------
  const garbage = await chat('faulty', { fault: 'garbage-sse', events: 5 }, true);
  assert.equal(garbage.status, 200);
  assert.ok(garbage.complete && garbage.body.toString('utf8').includes('this is not SSE at all') && garbage.body.toString('utf8').endsWith('data: [DONE]\n\n'), 'passthrough relays the upstream bytes unchanged');
  const garbageTranslated = await messages('faulty', { fault: 'garbage-sse', events: 5 }, true);
  const gt = garbageTranslated.body.toString('utf8');
  assert.equal(garbageTranslated.status, 200);
  assert.ok(garbageTranslated.complete, 'the translated stream ends properly');
  assert.ok(/event: message_stop\n/.test(gt) || endsWithStreamError('anthropic', gt), `the translated stream ends with message_stop or an error event:\n…${gt.slice(-400)}`);
  assert.ok(!gt.includes('this is not SSE'), 'no garbage reaches an Anthropic client');
  const truncated = await chat('faulty', { fault: 'truncated-json' }, false);
  assert.ok(truncated.status !== 200 || !truncated.complete, `a truncated JSON answer is not passed off as complete: ${truncated.status} ${truncated.complete}`);
  figures.push(`malformed SSE: passthrough byte-exact, translated ends ${/message_stop/.test(gt) ? 'with message_stop' : 'with an error event'}; truncated JSON: ${truncated.status === 200 ? 'connection cut' : truncated.status}`);

  // --- a 429 storm: every key refused with Retry-After --------------------------------------
  const storm = await pool(6, Array.from({ length: 24 }, (_, i) => () => send(i % 2 === 0 ? 'openai' : 'anthropic', 'storm', { fault: 'rate-limited' }, i % 3 === 0)));
  for (const [i, r] of storm.entries()) {
    const format = i % 2 === 0 ? 'openai' : 'anthropic';
    assert.ok(r.status === 429 || r.status === 503, `storm request ${i}: 429 or 503, got ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
    assert.ok(isClientError(format, r), `storm request ${i}: an error in the client's format: ${r.body.toString('utf8').slice(0, 200)}`);
    assert.ok(Number(r.headers['retry-after']) >= 1, `storm request ${i}: a retry-after header (${r.headers['retry-after']})`);
  }
  const stormHits = (): number => faulty.requests.filter((r) => r.headers.authorization?.startsWith('Bearer storm-key')).length;
  const stormEnded = Date.now();
  const stormUpstreamHits = stormHits();
  // Without cooldowns, 24 requests × 3 attempts; with them, only what was in flight before each key's first 429.
  assert.ok(stormUpstreamHits <= 3 * 6, `the keys cool down: ${stormUpstreamHits} upstream attempts for 24 requests`);
  // Within the Retry-After every key is left alone: clients get 503 with retry-after at once.
  const later = await pool(4, Array.from({ length: 12 }, () => () => chat('storm', { fault: 'rate-limited' }, false)));
  if (Date.now() - stormEnded < (RETRY_AFTER_S - 1) * 1000) {
    assert.equal(stormHits(), stormUpstreamHits, 'no key was tried again within its Retry-After');
    assert.deepEqual([...new Set(later.map((r) => r.status))], [503]);
  }
  const stormFailover = await pool(6, Array.from({ length: 12 }, (_, i) => () => send(i % 2 === 0 ? 'openai' : 'anthropic', 'storm-fo', { fault: 'rate-limited' }, false)));
  assert.deepEqual(stormFailover.map((r) => r.status), Array(12).fill(200), 'with a healthy provider, every request of the storm fails over');
  figures.push(`429 storm: 24 requests, ${storm.filter((r) => r.status === 429).length}×429 + ${storm.filter((r) => r.status === 503).length}×503 with retry-after, ${stormUpstreamHits} upstream attempts (keys cooled down); with failover 12/12 served`);

  // --- memory and descriptors after a large fault burst -------------------------------------
  const gauges = async (): Promise<{ inFlight: number; streams: number }> => {
    const text = await (await get(`${url}/metrics`)).text();
    return { inFlight: metricValue(text, 'ai_proxy_in_flight_requests'), streams: metricValue(text, 'ai_proxy_open_streams') };
  };
  const fds = (): number => readdirSync(`/proc/${server}/fd`).length;
  // Every fault that fails fast; the stalls cost their timeouts and were met above.
  const faults: Fault[] = ['reset-before', 'reset-mid', 'garbage-sse', 'html-502', 'truncated-json'];
  const burst = (size: number, seed: number): Promise<Exchange[]> =>
    pool(16, Array.from({ length: size }, (_, i) => () => {
      const fault = faults[(i + seed) % faults.length] as Fault;
      const format: Format = i % 2 === 0 ? 'openai' : 'anthropic';
      return send(format, i % 7 === 0 ? 'dead-fo' : i % 3 === 0 ? 'faulty-fo' : 'faulty', { fault, events: 12 }, fault === 'reset-mid' || fault === 'garbage-sse' || i % 4 === 0);
    }));
  // Polled rather than paused for: the requests of a burst are over once the gauges say so.
  const quiet = (): Promise<unknown> => waitUntil('only the scrape itself in flight, no stream open', async () => {
    const g = await gauges();
    return g.inFlight === 1 && g.streams === 0;
  });
  // Warm up (JIT, pools, first allocations), then the baseline: a full GC first, so that garbage
  // not yet collected does not count.
  await burst(150, 0);
  await quiet();
  const baseline = { heap: await collectGarbage(inspector), rss: rssOf(server), fds: fds() };
  const started = Date.now();
  const results = await burst(800, 1);
  const burstMs = Date.now() - started;
  const hung = results.filter((r) => r.error !== null && /no complete response within/.test(r.error)).length;
  assert.equal(hung, 0, 'no request of the burst hung');
  // Let the last sockets close (a leaked one never does: the assertion below then fails), then the same reading.
  await quiet();
  await waitUntil('the descriptors are back near the baseline', () => fds() <= baseline.fds + 8, SLACK_MS).catch(() => undefined);
  const after = { heap: await collectGarbage(inspector), rss: rssOf(server), fds: fds(), ...(await gauges()) };
  t.diagnostic(`fault burst: ${results.length} requests in ${burstMs} ms (${results.filter((r) => r.status === 200).length} answered 200: failovers, relayed and cut streams; ${results.filter((r) => r.status >= 400).length} clean errors; ${results.filter((r) => r.status === 0).length} connections cut; hung 0)`);
  t.diagnostic(`server after a forced GC: heap used ${mb(baseline.heap)} → ${mb(after.heap)} MB (bound +4 MB); RSS ${mb(baseline.rss)} → ${mb(after.rss)} MB (bound +32 MB); descriptors ${baseline.fds} → ${after.fds}; in flight ${after.inFlight} (the scrape), open streams ${after.streams}`);
  for (const line of figures) t.diagnostic(line);
  assert.equal(after.inFlight, 1, 'only the /metrics request itself is in flight');
  assert.equal(after.streams, 0, 'no stream is left open');
  assert.ok(after.fds <= baseline.fds + 8, `descriptors back near the baseline (${baseline.fds} → ${after.fds})`);
  // The heap is measured after a full GC, so the bound is tight: 800 requests leaking even 5 KB
  // each would exceed it. RSS also holds what the allocator keeps for reuse: a loose bound.
  assert.ok(after.heap <= baseline.heap + 4 * 1024 * 1024, `heap back near the baseline (${mb(baseline.heap)} → ${mb(after.heap)} MB)`);
  assert.ok(after.rss <= baseline.rss + 32 * 1024 * 1024, `RSS back near the baseline (${mb(baseline.rss)} → ${mb(after.rss)} MB)`);

  assert.equal(await serverPidOf(pid), server, 'the same server throughout');
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
});

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
