/**
 * Streaming through the gateway, proven in lockstep: the fake upstream writes event n+1 only
 * after the test client has received event n, so a gateway that buffers anything deadlocks and the
 * bounded reads fail the test. Also: keep-alive comments while the upstream is silent, only ever
 * between events; an upstream that dies mid-stream ends the client's stream with an error event in
 * the client's format, with no retry; a client that goes away aborts the upstream request at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { post, SLACK_MS, waitUntil } from '../helpers/cli.ts';
import {
  anthropicStream,
  closedWithin,
  Counter,
  fakeUpstream,
  geminiStream,
  json,
  openaiError,
  openaiStream,
  requestsReached,
  responsesStream,
  type FakeUpstream,
  type RecordedRequest,
} from '../helpers/fake-upstream.ts';
import { assertRedacted, SseReader, startGateway, type SseEvent } from './gateway-harness.ts';

const CLIENT_KEY = 'client-key-streaming-3c2b1a0f9e';
const OPENAI_KEYS = ['sk-stream-openai-one-aaaaaaaaaaaa', 'sk-stream-openai-two-bbbbbbbbbbbb'];
const ANTHROPIC_KEYS = ['sk-ant-stream-one-cccccccccccc', 'sk-ant-stream-two-dddddddddddd'];
const GEMINI_KEYS = ['AIzaStreamGeminiOne-eeeeeeeeee', 'AIzaStreamGeminiTwo-ffffffffff'];
const SLOW_KEY = 'sk-stream-slow-gggggggggggggggg';
const BOUNDED_KEY = 'sk-stream-bounded-hhhhhhhhhhhhhh';
const SECRETS = [CLIENT_KEY, ...OPENAI_KEYS, ...ANTHROPIC_KEYS, ...GEMINI_KEYS, SLOW_KEY, BOUNDED_KEY];
/** The gateway's keep-alive interval in this file's config. */
const KEEPALIVE_MS = 200;
/** How long either side of a lockstep waits for the other before the test fails (a step takes milliseconds when idle). */
const STEP_MS = 3 * SLACK_MS;
/** timeouts.total of the `bounded` provider: long enough for several lockstep events on a loaded machine. */
const TOTAL_MS = 2_000;

function sseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_upstream_stream' });
  res.flushHeaders();
}

/** A stream case: where the client posts, what the upstream streams, who it is. */
interface StreamCase {
  name: string;
  upstream: () => FakeUpstream;
  path: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  events: string[];
  upstreamPath: string;
}

/** The event as it goes over the wire again, for byte comparison with what the upstream wrote. */
const wire = (e: SseEvent | null): string | null => (e === null ? null : `${e.raw}\n\n`);

test('gateway: SSE in lockstep, keep-alives, mid-stream failures and client disconnects', async (t) => {
  const noHandler = (_req: IncomingMessage, res: ServerResponse): void => json(res, 500, openaiError('no handler set', 'server_error'));
  const openai = await fakeUpstream(t, noHandler);
  const anthropic = await fakeUpstream(t, noHandler);
  const gemini = await fakeUpstream(t, noHandler);
  const slow = await fakeUpstream(t, noHandler);
  const bounded = await fakeUpstream(t, noHandler);
  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
server: { stream-keepalive: ${KEEPALIVE_MS}ms }
client-keys: [{ name: streaming-tester, key: "\${CLIENT_KEY}" }]
retry: { attempts: 3, backoff-base: 5ms, backoff-max: 10ms }
# A stream cut mid-way cools its key; here every test needs both keys, whatever ran before.
cooldown: { network-error: 0s }
providers:
  - { name: openai, type: openai, base-url: "${openai.url}/v1", models: ["gpt-*"], api-keys: ["\${OA1}", "\${OA2}"] }
  - { name: anthropic, type: anthropic, base-url: "${anthropic.url}", models: ["claude-*"], api-keys: ["\${AN1}", "\${AN2}"] }
  - { name: gemini, type: gemini, base-url: "${gemini.url}", models: ["gemini-*"], api-keys: ["\${GE1}", "\${GE2}"] }
  - { name: slow, type: openai, base-url: "${slow.url}/v1", models: [slow-model], api-keys: ["\${SLOW}"], timeouts: { idle: 600ms } }
  - { name: bounded, type: openai, base-url: "${bounded.url}/v1", models: [bounded-model], api-keys: ["\${BOUNDED}"], timeouts: { total: ${TOTAL_MS}ms } }
`,
    { CLIENT_KEY, OA1: OPENAI_KEYS[0], OA2: OPENAI_KEYS[1], AN1: ANTHROPIC_KEYS[0], AN2: ANTHROPIC_KEYS[1], GE1: GEMINI_KEYS[0], GE2: GEMINI_KEYS[1], SLOW: SLOW_KEY, BOUNDED: BOUNDED_KEY },
  );
  const url = gateway.url;
  const openaiAuth = { authorization: `Bearer ${CLIENT_KEY}` };
  const anthropicAuth = { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' };
  const geminiAuth = { 'x-goog-api-key': CLIENT_KEY };
  const messages = [{ role: 'user', content: 'Count to five.' }];
  const parts = ['One', ', two', ', three', ', four', ', five.'];

  const cases: StreamCase[] = [
    { name: 'OpenAI chat completions', upstream: () => openai, path: '/v1/chat/completions', body: { model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages }, headers: openaiAuth, events: openaiStream('gpt-4o', parts), upstreamPath: '/v1/chat/completions' },
    { name: 'OpenAI Responses', upstream: () => openai, path: '/v1/responses', body: { model: 'gpt-4.1', stream: true, input: 'Count to five.' }, headers: openaiAuth, events: responsesStream('gpt-4.1', parts), upstreamPath: '/v1/responses' },
    { name: 'Anthropic Messages', upstream: () => anthropic, path: '/v1/messages', body: { model: 'claude-sonnet-4-5', stream: true, max_tokens: 64, messages }, headers: anthropicAuth, events: anthropicStream('claude-sonnet-4-5', parts), upstreamPath: '/v1/messages' },
    { name: 'Gemini streamGenerateContent', upstream: () => gemini, path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', body: { contents: [{ role: 'user', parts: [{ text: 'Count to five.' }] }] }, headers: geminiAuth, events: geminiStream('gemini-2.5-flash', parts), upstreamPath: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse' },
  ];

  for (const c of cases) {
    await t.test(`${c.name}: every event reaches the client before the upstream writes the next (lockstep), byte for byte`, async () => {
      const received = new Counter();
      const upstream = c.upstream();
      const before = upstream.requests.length;
      upstream.setHandler(async (_req, res) => {
        sseHead(res);
        for (let i = 0; i < c.events.length; i++) {
          res.write(c.events[i]);
          await received.reached(i + 1, STEP_MS, `the client to receive event ${i + 1} of ${c.name}`);
        }
        res.end();
      });
      const response = await post(`${url}${c.path}`, c.body, c.headers);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(response.headers.get('content-length'), null);
      assert.equal(response.headers.get('x-ai-proxy-attempts'), '1');
      const reader = new SseReader(response);
      for (let i = 0; i < c.events.length; i++) {
        assert.equal(wire(await reader.next(STEP_MS)), c.events[i], `event ${i + 1}`);
        received.advance();
      }
      assert.equal(await reader.next(STEP_MS), null, 'the stream ends after the last event');
      assert.equal(upstream.requests.length, before + 1);
      assert.equal((upstream.requests[before] as RecordedRequest).path, c.upstreamPath);
    });
  }

  await t.test('keep-alive comments flow while the upstream is silent between events, never inside an event', async () => {
    const comments = new Counter();
    let partialAt = 0;
    openai.setHandler(async (_req, res) => {
      sseHead(res);
      const events = openaiStream('gpt-4o', ['a', 'b']);
      res.write(events[0]);
      // Silent at an event boundary: the gateway must fill the silence (the client counts comments).
      await comments.reached(2, STEP_MS, 'two keep-alive comments while the upstream is silent');
      // Now silent for three keep-alive intervals in the middle of an event: no comment may appear.
      const event = events[1] as string;
      res.write(event.slice(0, 20));
      partialAt = comments.count;
      await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_MS * 3));
      res.write(event.slice(20));
      // And at the boundary again, comments resume.
      await comments.reached(partialAt + 1, STEP_MS, 'keep-alives again after the event completed');
      for (const e of events.slice(2)) res.write(e);
      res.end();
    });
    // Asking for usage, as the fake stream has it: the stream passes through byte for byte.
    const response = await post(`${url}/v1/chat/completions`, { model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages }, openaiAuth);
    assert.equal(response.status, 200);
    const reader = new SseReader(response);
    const events: SseEvent[] = [];
    for (let block = await reader.nextBlock(STEP_MS); block !== null; block = await reader.nextBlock(STEP_MS)) {
      if (block.data === '' && block.event === null) {
        assert.equal(block.raw, ': keep-alive', 'a comment is a whole keep-alive block');
        comments.advance();
      } else {
        events.push(block);
      }
    }
    const expected = openaiStream('gpt-4o', ['a', 'b']);
    assert.deepEqual(events.map(wire), expected, 'every event arrived whole, with nothing spliced into it');
    assert.ok(comments.count >= partialAt + 1);
    // Every comment sits at an event boundary in the raw byte stream.
    for (let at = reader.raw.indexOf(': keep-alive'); at !== -1; at = reader.raw.indexOf(': keep-alive', at + 1)) {
      assert.ok(at === 0 || reader.raw.slice(at - 2, at) === '\n\n', `a keep-alive at offset ${at} is not at an event boundary`);
    }
  });

  const failureCases: Array<{ c: StreamCase; check: (e: SseEvent) => void; cut?: true }> = [
    {
      c: cases[0] as StreamCase,
      check: (e) => {
        assert.equal(e.event, null, 'OpenAI chat streams carry errors in a bare data: line');
        const error = (JSON.parse(e.data) as { error: Record<string, unknown> }).error;
        assert.equal(error.type, 'server_error');
        assert.match(String(error.message), /upstream stream failed/);
      },
    },
    {
      c: cases[1] as StreamCase,
      check: (e) => {
        assert.equal(e.event, 'error', 'the Responses API ends a failed stream with a typed error event');
        const payload = JSON.parse(e.data) as Record<string, unknown>;
        assert.equal(payload.type, 'error');
        assert.equal(payload.sequence_number, 2, 'numbered after the two events relayed');
        assert.match(String(payload.message), /upstream stream failed/);
      },
    },
    {
      c: cases[2] as StreamCase,
      check: (e) => {
        assert.equal(e.event, 'error');
        const payload = JSON.parse(e.data) as { type: string; error: Record<string, unknown> };
        assert.equal(payload.type, 'error');
        assert.equal(payload.error.type, 'api_error');
      },
    },
    {
      c: cases[3] as StreamCase,
      check: (e) => {
        const error = (JSON.parse(e.data) as { error: Record<string, unknown> }).error;
        assert.equal(error.code, 502);
        assert.equal(error.status, 'INTERNAL');
      },
      // @google/genai ignores error events; only a cut connection makes it throw.
      cut: true,
    },
  ];
  for (const { c, check, cut } of failureCases) {
    await t.test(`${c.name}: an upstream that dies after two events → the client gets both, then an error event in its format${cut ? ' and a cut connection' : ''}; no retry`, async () => {
      const received = new Counter();
      const upstream = c.upstream();
      const before = upstream.requests.length;
      upstream.setHandler(async (_req, res) => {
        sseHead(res);
        for (let i = 0; i < 2; i++) {
          res.write(c.events[i]);
          await received.reached(i + 1, STEP_MS, `the client to receive event ${i + 1}`);
        }
        res.socket?.destroy();
      });
      const response = await post(`${url}${c.path}`, c.body, c.headers);
      assert.equal(response.status, 200);
      const reader = new SseReader(response);
      for (let i = 0; i < 2; i++) {
        assert.equal(wire(await reader.next(STEP_MS)), c.events[i]);
        received.advance();
      }
      const error = await reader.next(STEP_MS);
      assert.ok(error !== null, 'an error event follows');
      check(error);
      if (cut) await assert.rejects(reader.next(STEP_MS), /terminated/, 'then the connection is cut');
      else assert.equal(await reader.next(STEP_MS), null, 'and the stream ends');
      assert.equal(upstream.requests.length, before + 1, 'no retry after the first byte');
    });
  }

  await t.test('an upstream silent past timeouts.idle mid-stream → keep-alives, then an error event; no retry', async () => {
    slow.setHandler(async (_req, res, recorded) => {
      sseHead(res);
      res.write(openaiStream('slow-model', ['x'])[0]);
      await recorded.closed;
    });
    const response = await post(`${url}/v1/chat/completions`, { model: 'slow-model', stream: true, messages }, openaiAuth);
    const reader = new SseReader(response);
    assert.ok((await reader.next(STEP_MS)) !== null);
    const error = await reader.next(STEP_MS);
    assert.ok(error !== null);
    assert.equal((JSON.parse(error.data) as { error: { type: string } }).error.type, 'server_error');
    assert.ok(reader.comments >= 1, 'keep-alives were sent while waiting');
    assert.equal(await reader.next(STEP_MS), null);
    assert.equal(slow.requests.length, 1);
    await closedWithin(slow.requests[0] as RecordedRequest, STEP_MS);
  });

  await t.test('timeouts.total cuts a stream that never ends: an error event for the client, an abort for the upstream', async () => {
    const received = new Counter();
    bounded.setHandler(async (_req, res, recorded) => {
      sseHead(res);
      // Lockstep, forever: the only thing that can end this stream is the gateway's total timeout.
      for (let i = 0; !recorded.aborted() && !res.destroyed; i++) {
        res.write(openaiStream('bounded-model', [`tick ${i}`])[1]);
        await Promise.race([received.reached(i + 1, STEP_MS, `event ${i + 1}`), recorded.closed]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    const started = Date.now();
    const response = await post(`${url}/v1/chat/completions`, { model: 'bounded-model', stream: true, messages }, openaiAuth);
    const reader = new SseReader(response);
    let ticks = 0;
    let last: SseEvent | null = null;
    for (let e = await reader.next(STEP_MS); e !== null; e = await reader.next(STEP_MS)) {
      last = e;
      if (!e.data.includes('"error"')) ticks++;
      received.advance();
      // Without the total timeout this stream never ends: fail instead of looping for ever.
      assert.ok(Date.now() - started < TOTAL_MS + STEP_MS, `the stream outlived its total timeout (${ticks} events)`);
    }
    const elapsed = Date.now() - started;
    assert.ok(ticks >= 3, `events flowed until the deadline (${ticks})`);
    assert.ok(last !== null && /total timeout/.test(last.data), `the last event is the error: ${last?.data}`);
    // The lower bound on the test's clock (it starts before the request), the cut on the gateway's own (the access line's ms).
    const access = await waitUntil('the access line of the bounded stream', () => gateway.log().split('\n').find((l) => / access .* model=bounded-model /.test(l)));
    const ms = Number(/ ms=(\d+) /.exec(access)?.[1]);
    assert.ok(elapsed >= TOTAL_MS && ms < TOTAL_MS + SLACK_MS, `cut at the total timeout: ${elapsed} ms here, ${ms} ms in the gateway's access line`);
    await closedWithin(bounded.requests[0] as RecordedRequest, STEP_MS);
    assert.ok(bounded.requests[0]?.aborted());
    assert.equal(bounded.requests.length, 1);
  });

  await t.test('a 429 before the first byte is retried on the other key, and the client gets one clean stream', async () => {
    const events = anthropicStream('claude-sonnet-4-5', parts);
    const before = anthropic.requests.length;
    anthropic.setHandler((_req, res, recorded) => {
      if (recorded === anthropic.requests[before]) {
        json(res, 429, { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, { 'retry-after': '1' });
        return;
      }
      sseHead(res);
      res.end(events.join(''));
    });
    const response = await post(`${url}/v1/messages`, cases[2]?.body, anthropicAuth);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-ai-proxy-attempts'), '2');
    const got = await new SseReader(response).rest(STEP_MS);
    assert.deepEqual(got.map(wire), events);
    assert.equal(anthropic.requests.length, before + 2);
  });

  const disconnects = [
    { when: 'mid-stream', streaming: true },
    { when: 'while waiting for the answer', streaming: false },
    { when: "while the upstream's error body is still arriving", streaming: false, errorHead: true },
  ];
  for (const { when, streaming, errorHead } of disconnects) {
    await t.test(`a client that disconnects ${when} aborts the upstream request at once`, async () => {
      const received = new Counter();
      const before = openai.requests.length;
      openai.setHandler(async (_req, res, recorded) => {
        if (streaming) {
          sseHead(res);
          res.write(openaiStream('gpt-4o', ['first'])[0]);
        }
        if (errorHead === true) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.write('{"error": {"message": "half an erro');
        }
        // Hold the request open until the gateway lets go of it.
        await recorded.closed;
      });
      const controller = new AbortController();
      const pending = fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', stream: streaming, messages }), headers: { 'content-type': 'application/json', ...openaiAuth }, signal: controller.signal });
      if (streaming) {
        const response = await pending;
        const reader = new SseReader(response);
        assert.ok((await reader.next(STEP_MS)) !== null);
        received.advance();
      }
      const recorded = await requestsReached(openai, before + 1, STEP_MS);
      const abortedAt = Date.now();
      controller.abort();
      await pending.catch(() => undefined);
      // How fast is a latency, a benchmark's figure; this bound only has to separate the failure
      // mode, the upstream request held until the provider's first-byte (120 s) or idle (300 s) timeout.
      await closedWithin(recorded, SLACK_MS);
      assert.ok(recorded.aborted(), 'the upstream saw its request aborted, not completed');
      assert.ok(Date.now() - abortedAt < SLACK_MS, `aborted within ${Date.now() - abortedAt} ms`);
      assert.equal(openai.requests.length, before + 1, 'and nothing was retried');
    });
  }

  await t.test('no secret in any log line; the access log marks the cut streams', async () => {
    await assertRedacted(gateway, SECRETS);
    const log = gateway.log();
    assert.match(log, /outcome=client-gone/);
    assert.match(log, /outcome=upstream-failed/);
    // A client that leaves is an outcome, not a gateway failure, wherever the exchange stood.
    assert.doesNotMatch(log, /request \S+ failed/);
  });
});
