/**
 * The cross-format side of the translate-* integration tests: one fake upstream per wire format
 * (chat, responses, anthropic, gemini), each speaking its real protocol with the captured answers
 * under test/fixtures/translate/, one gateway in front of all four, the checks that what an
 * upstream received is a valid request in its own format, and what a client must reconstruct.
 *
 * Models are named `via-<format>-<scenario>`: the format picks the upstream, the scenario what it
 * answers (`text`, `tools`, `thinking` from the fixtures; `structured` a JSON answer (Anthropic's
 * through its forced tool, the others as text); `e429`, `e400`, `e503` its own error objects (Anthropic's overload is its 529); `wait` a 429
 * saying when to retry, the way that provider says it;
 * `cut` a stream whose connection dies after the first text; `inband` a stream that reports its
 * own error event after the first text; `short` a stream that ends cleanly after the first text
 * without saying why it stopped; `held` the text stream, held after its first text until the test
 * lets it go, so a test can see that text reach the client while the upstream sends nothing).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { TestContext } from 'node:test';
import { fakeUpstream, json, type FakeUpstream, type RecordedRequest } from './fake-upstream.ts';
import { childrenOf, isAlive, waitUntil } from './cli.ts';
import { startGateway, type RunningGateway } from '../integration/gateway-harness.ts';

export type Format = 'chat' | 'responses' | 'anthropic' | 'gemini';
export const FORMATS: readonly Format[] = ['chat', 'responses', 'anthropic', 'gemini'];

export const CLIENT_KEY = 'client-key-translate-5f1e2d3c4b5a';
export const UPSTREAM_KEYS: Record<Format, string> = {
  chat: 'sk-upstream-translate-chat-0a1b2c3d',
  responses: 'sk-upstream-translate-responses-4e5f6a7b',
  anthropic: 'sk-ant-upstream-translate-8c9d0e1f',
  gemini: 'AIzaUpstreamTranslateGemini-2a3b4c5d',
};

export type Scenario = 'text' | 'tools' | 'thinking' | 'structured' | 'e429' | 'e400' | 'e503' | 'wait' | 'cut' | 'inband' | 'short' | 'held';

export const model = (upstream: Format, scenario: Scenario): string => `via-${upstream}-${scenario}`;

const FIXTURES = new URL('../fixtures/translate/', import.meta.url);
const fixture = (path: string): string => readFileSync(new URL(path, FIXTURES), 'utf8');

/** A fixture stream as the events the upstream writes one by one, each with its blank line, in the file's own line endings (some are CRLF). */
function fixtureEvents(format: Format, name: string): string[] {
  const text = fixture(`streams/${format}/${name}.sse`);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  return text
    .split(eol + eol)
    .filter((block) => block.trim() !== '')
    .map((block) => block + eol + eol);
}

/** The events of the text stream up to and including the first text ("Berlin"). */
function eventsUntilFirstText(format: Format): string[] {
  const events = fixtureEvents(format, 'text');
  const at = events.findIndex((e) => e.includes('"Berlin"'));
  assert.ok(at >= 0, `the ${format} text fixture has a "Berlin" event`);
  return events.slice(0, at + 1);
}

/** What each upstream says when it refuses; the messages name the upstream so a test can see they came through. */
export const UPSTREAM_ERRORS: Record<Format, { 429: unknown; 400: unknown; 503: unknown; inband: string }> = {
  chat: {
    429: { error: { message: 'Rate limit reached for requests (fake chat upstream).', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
    400: { error: { message: "Invalid 'temperature' (fake chat upstream).", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } },
    503: { error: { message: 'The engine is currently overloaded (fake chat upstream).', type: 'server_error', param: null, code: null } },
    inband: `data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request (fake chat upstream).', type: 'server_error', param: null, code: null } })}\n\n`,
  },
  responses: {
    429: { error: { message: 'Rate limit reached for requests (fake responses upstream).', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
    400: { error: { message: "Invalid 'temperature' (fake responses upstream).", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } },
    503: { error: { message: 'The engine is currently overloaded (fake responses upstream).', type: 'server_error', param: null, code: null } },
    inband: `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'server_error', message: 'The server had an error while processing your request (fake responses upstream).', param: null, sequence_number: 5 })}\n\n`,
  },
  anthropic: {
    429: { type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your rate limit (fake anthropic upstream).' }, request_id: 'req_011fake429' },
    400: { type: 'error', error: { type: 'invalid_request_error', message: 'temperature: out of range (fake anthropic upstream).' }, request_id: 'req_011fake400' },
    503: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (fake anthropic upstream).' }, request_id: 'req_011fake529' },
    inband: `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (fake anthropic upstream).' } })}\n\n`,
  },
  gemini: {
    429: { error: { code: 429, message: 'Resource has been exhausted (fake gemini upstream).', status: 'RESOURCE_EXHAUSTED' } },
    400: { error: { code: 400, message: 'Invalid value at temperature (fake gemini upstream).', status: 'INVALID_ARGUMENT' } },
    503: { error: { code: 503, message: 'The model is overloaded. Please try again later (fake gemini upstream).', status: 'UNAVAILABLE' } },
    inband: `data: ${JSON.stringify({ error: { code: 503, message: 'The model is overloaded (fake gemini upstream).', status: 'UNAVAILABLE' } })}\n\n`,
  },
};

/** The wait every `wait` 429 asks for, in seconds. */
export const RETRY_SECONDS = 7;

/** A 429 body and headers saying "retry in 7 s" as each provider says it. */
const RETRY_HINTS: Record<Format, [unknown, Record<string, string>]> = {
  // OpenAI: the exhausted bucket's reset, a Go duration.
  chat: [UPSTREAM_ERRORS.chat[429], { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': `${RETRY_SECONDS}s` }],
  responses: [UPSTREAM_ERRORS.responses[429], { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': `${RETRY_SECONDS}s` }],
  anthropic: [UPSTREAM_ERRORS.anthropic[429], { 'retry-after': String(RETRY_SECONDS), 'anthropic-ratelimit-requests-remaining': '0' }],
  // Gemini: RetryInfo in the error body, no header.
  gemini: [
    {
      error: {
        ...(UPSTREAM_ERRORS.gemini[429] as { error: object }).error,
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${RETRY_SECONDS}s` }],
      },
    },
    {},
  ],
};

/** The upstream's message, as the client's error should quote it. */
export function upstreamErrorMessage(format: Format, status: 429 | 400 | 503): string {
  const body = UPSTREAM_ERRORS[format][status] as { error: { message: string } };
  return body.error.message;
}

/** The mid-stream failures every client is tested with. */
export const MID_STREAM_FAILURES = ['cut', 'inband', 'short'] as const;

/** What the client's error says for each mid-stream failure of `upstream`. */
export function midStreamMessage(upstream: Format, scenario: (typeof MID_STREAM_FAILURES)[number]): RegExp {
  switch (scenario) {
    case 'cut':
      return /upstream stream failed/;
    case 'inband':
      return new RegExp(`\\(fake ${upstream} upstream\\)`);
    case 'short':
      return /ended the stream before it was complete/;
  }
}

/** Model id and whether a stream was asked, as the upstream of `format` sees them. */
function requestOf(format: Format, recorded: RecordedRequest): { model: string; stream: boolean } {
  if (format === 'gemini') {
    const match = /^\/v1beta\/models\/([^:]+):(\w+)/.exec(recorded.path);
    assert.ok(match, `a Gemini path: ${recorded.path}`);
    return { model: decodeURIComponent(match[1] as string), stream: match[2] === 'streamGenerateContent' };
  }
  const body = JSON.parse(recorded.body) as { model?: unknown; stream?: unknown };
  return { model: String(body.model), stream: body.stream === true };
}

const EXPECTED_PATH: Record<Format, RegExp> = {
  chat: /^\/v1\/chat\/completions$/,
  responses: /^\/v1\/responses$/,
  anthropic: /^\/v1\/messages$/,
  gemini: /^\/v1beta\/models\/[^:]+:(generateContent|streamGenerateContent\?alt=sse)$/,
};

/** Writes `events` one by one, then ends cleanly, dies (`cut`: once the last event is on the wire), or ends with a last event. */
function writeStream(res: ServerResponse, events: string[], then: 'end' | 'cut' | { last: string }): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  events.forEach((event, i) => {
    if (then === 'cut' && i === events.length - 1) res.write(event, () => res.socket?.destroy());
    else res.write(event);
  });
  if (then === 'end') res.end();
  else if (then !== 'cut') res.end(then.last);
}

/** The answer to a structured-output request. */
export const PERSON = { name: 'Ada Lovelace', born: 1815 };
export const PERSON_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string' }, born: { type: 'integer' } },
  required: ['name', 'born'],
  additionalProperties: false,
} as const;

/** A text fixture retold as the JSON answer, in the same pieces (what a chat, Responses or Gemini upstream sends for structured output). */
function asJsonAnswer(text: string): string {
  const pieces = ['{"name":', '"Ada Lovelace",', '"born":1815}'] as const;
  const inJson = (value: string): string => JSON.stringify(value).slice(1, -1);
  return text
    .replaceAll(inJson(TEXT), inJson(pieces.join('')))
    .replaceAll('"Berlin"', JSON.stringify(pieces[0]))
    .replaceAll('" is the capital"', JSON.stringify(pieces[1]))
    .replaceAll('" of Germany. 🇩🇪"', JSON.stringify(pieces[2]));
}

/** How long a `held` stream waits for the test before it goes on anyway (the test then fails): the client's first text takes milliseconds idle, this bound is for a loaded machine. */
const HOLD_MS = 30_000;

/**
 * The one `held` stream in flight (tests ask one at a time): `release()` lets it go on and says
 * whether it was still holding, i.e. whether the client saw the first text before the rest was sent.
 */
class Hold {
  #release: (() => void) | null = null;

  wait(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#release = null;
        resolve();
      }, HOLD_MS);
      this.#release = () => {
        clearTimeout(timer);
        this.#release = null;
        resolve();
      };
    });
  }

  release(): boolean {
    const release = this.#release;
    release?.();
    return release !== null;
  }
}

/** One fake upstream speaking `format`; answers by the scenario in the model id. */
async function formatUpstream(t: TestContext, format: Format, hold: Hold): Promise<FakeUpstream> {
  return fakeUpstream(t, async (_req, res, recorded) => {
    const path = recorded.path.split('?')[0] as string;
    if (!EXPECTED_PATH[format].test(recorded.path)) {
      return json(res, 404, { error: { message: `fake ${format} upstream: no such endpoint ${recorded.path}` } });
    }
    const { model: id, stream } = requestOf(format, recorded);
    const scenario = id.replace(/^via-[a-z]+-/, '') as Scenario;
    switch (scenario) {
      case 'text':
      case 'tools':
      case 'thinking':
        if (stream) return writeStream(res, fixtureEvents(format, scenario), 'end');
        return json(res, 200, JSON.parse(fixture(`responses/${format}/${scenario}.json`)));
      case 'structured':
        if (format === 'anthropic') {
          if (stream) return writeStream(res, fixtureEvents(format, 'structured'), 'end');
          return json(res, 200, JSON.parse(fixture('responses/anthropic/structured.json')));
        }
        if (stream) return writeStream(res, fixtureEvents(format, 'text').map(asJsonAnswer), 'end');
        return json(res, 200, JSON.parse(asJsonAnswer(fixture(`responses/${format}/text.json`))));
      case 'e429':
        return json(res, 429, UPSTREAM_ERRORS[format][429]);
      case 'e400':
        return json(res, 400, UPSTREAM_ERRORS[format][400]);
      case 'wait':
        return json(res, 429, ...RETRY_HINTS[format]);
      case 'e503':
        return json(res, format === 'anthropic' ? 529 : 503, UPSTREAM_ERRORS[format][503]);
      case 'cut':
        return writeStream(res, eventsUntilFirstText(format), 'cut');
      case 'inband':
        return writeStream(res, eventsUntilFirstText(format), { last: UPSTREAM_ERRORS[format].inband });
      case 'short':
        return writeStream(res, eventsUntilFirstText(format), 'end');
      case 'held': {
        const events = fixtureEvents(format, 'text');
        const first = eventsUntilFirstText(format).length;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        for (const event of events.slice(0, first)) res.write(event);
        await hold.wait();
        for (const event of events.slice(first)) res.write(event);
        res.end();
        return;
      }
      default:
        return json(res, 404, { error: { message: `fake ${format} upstream (${path}): no scenario '${scenario}'` } });
    }
  });
}

export interface TranslateGateway {
  url: string;
  gateway: RunningGateway;
  upstreams: Record<Format, FakeUpstream>;
  /** The last request `format`'s upstream received (fails when none came). */
  last(format: Format): RecordedRequest;
  /** Lets the `held` stream go on; true when it was still holding (the client got its first text first). */
  release(): boolean;
}

/**
 * Stops the daemon by its launcher's PID when the test ends: SIGTERM (the launcher stops its
 * server), bounded, then SIGKILL for both. The harness's own hooks cannot: `after` hooks run in
 * the order they were registered, so the instance directory with the PID file they read is
 * already gone by then, and a daemon not stopped in the test body would outlive the run.
 */
function stopOnExit(t: TestContext, launcher: number): void {
  assert.ok(Number.isInteger(launcher) && launcher > 0, `the launcher's PID: ${launcher}`);
  const server = childrenOf(launcher);
  t.after(async () => {
    if (!isAlive(launcher)) return;
    process.kill(launcher, 'SIGTERM');
    try {
      await waitUntil(`launcher ${launcher} stopped`, () => !isAlive(launcher));
    } catch (error) {
      for (const pid of [launcher, ...server]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      throw error;
    }
  });
}

/**
 * Four fake upstreams and one gateway (real CLI, `run -d`, port 0) in front of them. One attempt
 * per request and no cooldowns, so each client request is exactly one upstream request and a 429
 * or a cut stream cannot take a provider out for the tests after it.
 */
export async function startTranslateGateway(t: TestContext): Promise<TranslateGateway> {
  const upstreams = {} as Record<Format, FakeUpstream>;
  const hold = new Hold();
  for (const format of FORMATS) upstreams[format] = await formatUpstream(t, format, hold);
  const gateway = await startGateway(
    t,
    `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
client-keys:
  - { name: translate, key: "\${CLIENT_KEY}" }
retry: { attempts: 1 }
cooldown: { rate-limit: 0s, server-error: 0s, network-error: 0s }
providers:
  - { name: up-chat, type: openai-compatible, wire-api: chat, base-url: "${upstreams.chat.url}/v1", api-keys: ["\${CHAT_KEY}"], models: ["via-chat-*"] }
  - { name: up-responses, type: openai-compatible, wire-api: responses, base-url: "${upstreams.responses.url}/v1", api-keys: ["\${RESPONSES_KEY}"], models: ["via-responses-*"] }
  - { name: up-anthropic, type: anthropic, base-url: "${upstreams.anthropic.url}", api-keys: ["\${ANTHROPIC_KEY}"], models: ["via-anthropic-*"] }
  - { name: up-gemini, type: gemini, base-url: "${upstreams.gemini.url}", api-keys: ["\${GEMINI_KEY}"], models: ["via-gemini-*"] }
`,
    { CLIENT_KEY, CHAT_KEY: UPSTREAM_KEYS.chat, RESPONSES_KEY: UPSTREAM_KEYS.responses, ANTHROPIC_KEY: UPSTREAM_KEYS.anthropic, GEMINI_KEY: UPSTREAM_KEYS.gemini },
  );
  stopOnExit(t, Number(readFileSync(gateway.inst.pidFile, 'utf8').trim()));
  return {
    url: gateway.url,
    gateway,
    upstreams,
    release: () => hold.release(),
    last(format) {
      const recorded = upstreams[format].requests.at(-1);
      assert.ok(recorded, `the ${format} upstream received a request`);
      return recorded;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// What the client asks, in every format's words, and what each upstream must have received.

export const SYSTEM = 'You are a terse assistant.';
export const QUESTION = 'What is the weather in Paris, and what time is it there?';
export const MAX_TOKENS = 300;
export const TEMPERATURE = 0.25;
export const WEATHER_PARAMS = {
  type: 'object',
  properties: { city: { type: 'string', description: 'City name' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city'],
};
export const TOOL_RESULTS: Record<string, string> = { get_weather: '{"temperature":18,"sky":"cloudy"}', get_time: '14:05' };

export interface Expectation {
  model: string;
  stream: boolean;
  /** The client sent the two tools. */
  tools: boolean;
  /** The client's token limit; undefined when it set none. */
  maxTokens: number | undefined;
  /** The client asked for reasoning (low effort / 2048 budget). */
  reasoning?: boolean;
}

type Json = Record<string, unknown>;
const obj = (v: unknown, what: string): Json => {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${what} is an object: ${JSON.stringify(v)}`);
  return v as Json;
};
const arr = (v: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(v), `${what} is an array: ${JSON.stringify(v)}`);
  return v;
};

/** The upstream got the provider's key in its own header, and nothing of the client's. */
function assertAuth(format: Format, recorded: RecordedRequest): void {
  const h = recorded.headers;
  const key = UPSTREAM_KEYS[format];
  switch (format) {
    case 'chat':
    case 'responses':
      assert.equal(h.authorization, `Bearer ${key}`);
      assert.equal(h['x-api-key'], undefined);
      assert.equal(h['x-goog-api-key'], undefined);
      assert.equal(h['anthropic-version'], undefined, 'no Anthropic version header on an OpenAI request');
      break;
    case 'anthropic':
      assert.equal(h['x-api-key'], key);
      assert.equal(h.authorization, undefined);
      assert.match(String(h['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/);
      break;
    case 'gemini':
      assert.equal(h['x-goog-api-key'], key);
      assert.equal(h.authorization, undefined);
      assert.equal(h['anthropic-version'], undefined);
      assert.doesNotMatch(recorded.path, /[?&]key=/);
      break;
  }
  assert.equal(String(h['content-type']).split(';')[0], 'application/json');
  for (const [name, value] of Object.entries(h)) assert.ok(!String(value).includes(CLIENT_KEY), `the client's key went upstream in ${name}`);
}

/** Requests asking for reasoning send no temperature (Anthropic refuses one with thinking on). */
function assertTemperature(value: unknown, want: Expectation): void {
  assert.equal(value, want.reasoning === true ? undefined : TEMPERATURE, 'temperature');
}

/** Text of an OpenAI/Anthropic content field (string or parts). */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (typeof p === 'object' && p !== null && typeof (p as Json).text === 'string' ? ((p as Json).text as string) : '')).join('');
}

/** A received tool schema carries the weather tool's parameters (Gemini may drop what its subset lacks). */
function assertWeatherSchema(schema: unknown, what: string): void {
  const s = obj(schema, what);
  assert.equal(String(s.type).toLowerCase(), 'object', `${what}.type`);
  const props = obj(s.properties, `${what}.properties`);
  assert.equal(String(obj(props.city, 'city').type).toLowerCase(), 'string');
  assert.deepEqual(obj(props.unit, 'unit').enum, ['celsius', 'fahrenheit']);
  assert.deepEqual(s.required, ['city']);
}

/**
 * What the upstream of `format` received is a valid request in that format, carrying the client's
 * conversation: model id, system prompt in its slot, the question, tools, limits, stream flags.
 */
export function assertValidRequest(format: Format, recorded: RecordedRequest, want: Expectation): Json {
  assert.equal(recorded.method, 'POST');
  assert.match(recorded.path, EXPECTED_PATH[format]);
  assertAuth(format, recorded);
  const body = obj(JSON.parse(recorded.body), 'the upstream body');
  switch (format) {
    case 'chat': {
      assert.equal(body.model, want.model);
      const messages = arr(body.messages, 'messages').map((m, i) => obj(m, `messages[${i}]`));
      assert.equal(messages[0]?.role, 'system');
      assert.equal(textOf(messages[0]?.content), SYSTEM);
      assert.equal(messages[1]?.role, 'user');
      assert.equal(textOf(messages[1]?.content), QUESTION);
      for (const m of messages) assert.ok(['system', 'developer', 'user', 'assistant', 'tool'].includes(String(m.role)), `chat role ${String(m.role)}`);
      if (want.stream) {
        assert.equal(body.stream, true);
        assert.deepEqual(body.stream_options, { include_usage: true }, 'usage asked of a chat upstream');
      } else assert.ok(body.stream === undefined || body.stream === false, 'no stream flag');
      assert.equal(body.max_completion_tokens ?? body.max_tokens, want.maxTokens, 'token limit');
      assertTemperature(body.temperature, want);
      if (want.tools) {
        const tools = arr(body.tools, 'tools').map((x, i) => obj(x, `tools[${i}]`));
        assert.deepEqual(tools.map((x) => x.type), ['function', 'function']);
        const fns = tools.map((x) => obj(x.function, 'function'));
        assert.deepEqual(fns.map((f) => f.name), ['get_weather', 'get_time']);
        assertWeatherSchema(fns[0]?.parameters, 'get_weather parameters');
      } else assert.equal(body.tools, undefined);
      if (want.reasoning === true) assert.equal(body.reasoning_effort, 'low');
      break;
    }
    case 'responses': {
      assert.equal(body.model, want.model);
      assert.equal(body.instructions, SYSTEM);
      assert.equal(body.store, false, 'the client holds the conversation');
      const input = arr(body.input, 'input').map((m, i) => obj(m, `input[${i}]`));
      const first = input[0] as Json;
      assert.equal(first.role, 'user');
      assert.equal(textOf(first.content), QUESTION);
      if (want.stream) assert.equal(body.stream, true);
      else assert.ok(body.stream === undefined || body.stream === false, 'no stream flag');
      assert.equal(body.max_output_tokens, want.maxTokens, 'token limit');
      assertTemperature(body.temperature, want);
      if (want.tools) {
        const tools = arr(body.tools, 'tools').map((x, i) => obj(x, `tools[${i}]`));
        assert.deepEqual(tools.map((x) => [x.type, x.name]), [['function', 'get_weather'], ['function', 'get_time']]);
        assert.equal(tools[0]?.strict, false);
        assertWeatherSchema(tools[0]?.parameters, 'get_weather parameters');
      } else assert.equal(body.tools, undefined);
      if (want.reasoning === true) assert.equal(obj(body.reasoning, 'reasoning').effort, 'low');
      break;
    }
    case 'anthropic': {
      assert.equal(body.model, want.model);
      assert.equal(textOf(body.system), SYSTEM);
      assert.equal(typeof body.max_tokens, 'number', 'max_tokens is required by Anthropic');
      assert.equal(body.max_tokens, want.maxTokens ?? 4096);
      assertTemperature(body.temperature, want);
      if (want.reasoning === true) {
        const thinking = obj(body.thinking, 'thinking');
        assert.equal(thinking.type, 'enabled');
        assert.equal(thinking.budget_tokens, 2048);
        assert.ok((body.max_tokens as number) > 2048, 'max_tokens above the thinking budget');
      }
      const messages = arr(body.messages, 'messages').map((m, i) => obj(m, `messages[${i}]`));
      assert.equal(messages[0]?.role, 'user');
      assert.equal(textOf(messages[0]?.content), QUESTION);
      messages.forEach((m, i) => {
        assert.ok(m.role === 'user' || m.role === 'assistant', `Anthropic role ${String(m.role)}`);
        if (i > 0) assert.notEqual(m.role, messages[i - 1]?.role, 'Anthropic turns alternate');
      });
      if (want.stream) assert.equal(body.stream, true);
      else assert.ok(body.stream === undefined || body.stream === false, 'no stream flag');
      if (want.tools) {
        const tools = arr(body.tools, 'tools').map((x, i) => obj(x, `tools[${i}]`));
        assert.deepEqual(tools.map((x) => x.name), ['get_weather', 'get_time']);
        assertWeatherSchema(tools[0]?.input_schema, 'get_weather input_schema');
        assert.equal(obj(tools[1]?.input_schema, 'get_time input_schema').type, 'object');
      } else assert.equal(body.tools, undefined);
      break;
    }
    case 'gemini': {
      assert.equal(body.model, undefined, 'Gemini carries the model in the URL');
      assert.equal(requestOf('gemini', recorded).model, want.model);
      assert.equal(recorded.path.endsWith(':streamGenerateContent?alt=sse'), want.stream, `stream URL: ${recorded.path}`);
      assert.equal(recorded.path.endsWith(':generateContent'), !want.stream, `URL: ${recorded.path}`);
      assert.equal(textOf(obj(body.systemInstruction, 'systemInstruction').parts), SYSTEM);
      const contents = arr(body.contents, 'contents').map((c, i) => obj(c, `contents[${i}]`));
      assert.equal(contents[0]?.role, 'user');
      assert.equal(textOf(contents[0]?.parts), QUESTION);
      for (const c of contents) assert.ok(c.role === 'user' || c.role === 'model', `Gemini role ${String(c.role)}`);
      const config = obj(body.generationConfig, 'generationConfig');
      assert.equal(config.maxOutputTokens, want.maxTokens, 'token limit');
      assertTemperature(config.temperature, want);
      if (want.tools) {
        const tools = arr(body.tools, 'tools').map((x, i) => obj(x, `tools[${i}]`));
        const declarations = arr(tools[0]?.functionDeclarations, 'functionDeclarations').map((d, i) => obj(d, `functionDeclarations[${i}]`));
        assert.deepEqual(declarations.map((d) => d.name), ['get_weather', 'get_time']);
        assertWeatherSchema(declarations[0]?.parameters, 'get_weather parameters');
      } else assert.equal(body.tools, undefined);
      if (want.reasoning === true) assert.equal(obj(config.thinkingConfig, 'thinkingConfig').thinkingBudget, 2048);
      break;
    }
  }
  return body;
}

/** A structured-output request reached the upstream as that format asks for JSON (Anthropic: a forced tool). */
export function assertStructuredRequest(format: Format, recorded: RecordedRequest): void {
  assertAuth(format, recorded);
  const body = obj(JSON.parse(recorded.body), 'the upstream body');
  let schema: unknown;
  switch (format) {
    case 'chat': {
      const rf = obj(body.response_format, 'response_format');
      assert.equal(rf.type, 'json_schema');
      schema = obj(rf.json_schema, 'json_schema').schema;
      break;
    }
    case 'responses': {
      const f = obj(obj(body.text, 'text').format, 'text.format');
      assert.equal(f.type, 'json_schema');
      schema = f.schema;
      break;
    }
    case 'anthropic': {
      const tools = arr(body.tools, 'tools').map((x, i) => obj(x, `tools[${i}]`));
      const tool = tools.find((x) => x.name === 'json_response');
      assert.ok(tool, `the structured-output tool: ${JSON.stringify(tools)}`);
      assert.deepEqual(body.tool_choice, { type: 'tool', name: 'json_response' });
      schema = tool.input_schema;
      break;
    }
    case 'gemini': {
      const config = obj(body.generationConfig, 'generationConfig');
      assert.equal(config.responseMimeType, 'application/json');
      schema = config.responseSchema ?? config.responseJsonSchema;
      break;
    }
  }
  const s = obj(schema, 'the schema');
  assert.deepEqual(Object.keys(obj(s.properties, 'properties')), ['name', 'born']);
  assert.deepEqual(s.required, ['name', 'born']);
}

/** A tool call as the upstream emitted it in its answer, and how its result must come back. */
export interface ToolTurn {
  id: string;
  name: string;
  args: unknown;
  result: string;
}

/**
 * The second turn of a tool loop reached the upstream with the calls its first answer made (same
 * ids, names, arguments) and each result linked to its call, in the upstream's own format.
 */
export function assertToolLoop(format: Format, recorded: RecordedRequest, calls: ToolTurn[]): void {
  const body = obj(JSON.parse(recorded.body), 'the upstream body');
  switch (format) {
    case 'chat': {
      const messages = arr(body.messages, 'messages').map((m, i) => obj(m, `messages[${i}]`));
      const assistant = messages.find((m) => m.role === 'assistant');
      assert.ok(assistant, 'the assistant turn with the calls');
      const sent = arr(assistant.tool_calls, 'tool_calls').map((c, i) => obj(c, `tool_calls[${i}]`));
      assert.deepEqual(
        sent.map((c) => ({ id: c.id, name: obj(c.function, 'function').name, args: JSON.parse(String(obj(c.function, 'function').arguments)) })),
        calls.map((c) => ({ id: c.id, name: c.name, args: c.args })),
      );
      const results = messages.filter((m) => m.role === 'tool');
      assert.deepEqual(results.map((m) => [m.tool_call_id, textOf(m.content)]), calls.map((c) => [c.id, c.result]));
      break;
    }
    case 'responses': {
      const input = arr(body.input, 'input').map((m, i) => obj(m, `input[${i}]`));
      const sent = input.filter((i) => i.type === 'function_call');
      assert.deepEqual(sent.map((c) => ({ id: c.call_id, name: c.name, args: JSON.parse(String(c.arguments)) })), calls.map((c) => ({ id: c.id, name: c.name, args: c.args })));
      const results = input.filter((i) => i.type === 'function_call_output');
      assert.deepEqual(results.map((r) => [r.call_id, textOf(r.output)]), calls.map((c) => [c.id, c.result]));
      break;
    }
    case 'anthropic': {
      const messages = arr(body.messages, 'messages').map((m, i) => obj(m, `messages[${i}]`));
      const blocks: Json[] = messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as Json[]).map((b) => ({ ...b, role: m.role })) : []));
      const uses = blocks.filter((b) => b.type === 'tool_use');
      assert.ok(uses.every((b) => b.role === 'assistant'));
      assert.deepEqual(uses.map((b) => ({ id: b.id, name: b.name, args: b.input })), calls.map((c) => ({ id: c.id, name: c.name, args: c.args })));
      const results = blocks.filter((b) => b.type === 'tool_result');
      assert.ok(results.every((b) => b.role === 'user'));
      assert.deepEqual(results.map((b) => [b.tool_use_id, textOf(b.content)]), calls.map((c) => [c.id, c.result]));
      // Tool results come first in their user turn.
      const resultTurn = messages.find((m) => Array.isArray(m.content) && (m.content as Json[]).some((b) => b.type === 'tool_result'));
      assert.equal(((resultTurn?.content as Json[])[0] as Json).type, 'tool_result');
      break;
    }
    case 'gemini': {
      const contents = arr(body.contents, 'contents').map((c, i) => obj(c, `contents[${i}]`));
      const parts: Json[] = contents.flatMap((c) => (arr(c.parts, 'parts') as Json[]).map((p) => ({ ...p, role: c.role })));
      const fcs = parts.filter((p) => p.functionCall !== undefined);
      assert.ok(fcs.every((p) => p.role === 'model'));
      assert.deepEqual(fcs.map((p) => ({ name: obj(p.functionCall, 'functionCall').name, args: obj(p.functionCall, 'functionCall').args })), calls.map((c) => ({ name: c.name, args: c.args })));
      // The first call's thought signature (carried in the id a non-Gemini client held) is restored.
      assert.equal(fcs[0]?.thoughtSignature, 'CiQBVKhc7g==');
      const frs = parts.filter((p) => p.functionResponse !== undefined).map((p) => obj(p.functionResponse, 'functionResponse'));
      assert.ok(parts.filter((p) => p.functionResponse !== undefined).every((p) => p.role === 'user'));
      assert.deepEqual(frs.map((r) => r.name), calls.map((c) => c.name));
      // A JSON-object result is sent as the object; anything else as { output: text }.
      assert.deepEqual(frs.map((r) => r.response), calls.map((c) => (c.result.startsWith('{') ? JSON.parse(c.result) : { output: c.result })));
      break;
    }
  }
}

/** The signature Anthropic gave the thinking in its fixtures. */
export const ANTHROPIC_SIGNATURE = 'EqQBCkYIBxgCIkBsigAnthropic==';

/**
 * A second turn after Anthropic's thinking answer (thinking fixture) reached Anthropic with the
 * thinking as it was issued: the whole text under its own signature (Anthropic rejects a block
 * whose text does not match), before the answer text, and thinking still on.
 */
export function assertSignedThinkingBack(recorded: RecordedRequest, redacted: boolean): void {
  const body = obj(JSON.parse(recorded.body), 'the upstream body');
  assert.equal(obj(body.thinking, 'thinking').type, 'enabled');
  const messages = arr(body.messages, 'messages').map((m, i) => obj(m, `messages[${i}]`));
  assert.equal(messages[1]?.role, 'assistant');
  const content = arr(messages[1]?.content, 'the assistant turn').map((b, i) => obj(b, `block ${i}`));
  const want: Json[] = [{ type: 'thinking', thinking: THOUGHT, signature: ANTHROPIC_SIGNATURE }];
  if (redacted) want.push({ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4a' });
  assert.deepEqual(content.slice(0, want.length), want);
  assert.equal(content.slice(want.length).map((b) => (b.type === 'text' ? b.text : `<${String(b.type)}>`)).join(''), '223 is prime.');
}

// ---------------------------------------------------------------------------------------------
// What a client reconstructs, in canonical terms, and what it must be for each fixture.

export interface Call {
  id: string;
  name: string;
  args: unknown;
}

export interface Usage {
  input: number;
  output: number;
  cached: number;
  reasoning: number | null;
}

export interface Reconstructed {
  text: string;
  thinking: string;
  calls: Call[];
  /** Input counts the whole prompt (cache reads included), output the reasoning; `reasoning` null where the format has no such count (Anthropic). */
  usage: Usage | null;
  /** In the client format's own words. */
  finish: string | null;
}

export type Finish = 'stop' | 'tool_calls' | 'length' | 'stop_sequence';

export const FINISH_NAMES: Record<Format, Record<Finish, string>> = {
  chat: { stop: 'stop', tool_calls: 'tool_calls', length: 'length', stop_sequence: 'stop' },
  anthropic: { stop: 'end_turn', tool_calls: 'tool_use', length: 'max_tokens', stop_sequence: 'stop_sequence' },
  responses: { stop: 'completed', tool_calls: 'completed', length: 'incomplete', stop_sequence: 'completed' },
  gemini: { stop: 'STOP', tool_calls: 'STOP', length: 'MAX_TOKENS', stop_sequence: 'STOP' },
};

export const TEXT = 'Berlin is the capital of Germany. 🇩🇪';
export const THOUGHT = 'Check divisors up to 14: 2,3,5,7,11,13 — none divide 223.';

/** Tool calls in the fixtures, by upstream: ids as the upstream sent them (Gemini sends none). */
export const FIXTURE_CALLS: Record<Format, Array<{ id: string | null; name: string; args: Json }>> = {
  chat: [{ id: 'call_abc123', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, { id: 'call_def456', name: 'get_time', args: {} }],
  responses: [{ id: 'call_abc123', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, { id: 'call_def456', name: 'get_time', args: {} }],
  anthropic: [{ id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, { id: 'toolu_01B12x45yz67ab89cd01ef2', name: 'get_time', args: {} }],
  gemini: [{ id: null, name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, { id: null, name: 'get_time', args: {} }],
};

/**
 * The client's reconstruction of fixture `scenario` from `upstream` equals what the upstream said.
 * `withUsage` false: a chat stream whose client did not ask for usage gets none (as from OpenAI).
 */
export function assertReconstructed(actual: Reconstructed, upstream: Format, client: Format, scenario: 'text' | 'tools' | 'thinking', streaming: boolean, withUsage = true): void {
  const where = `${upstream} → ${client} (${scenario}, ${streaming ? 'stream' : 'whole'})`;
  // Anthropic counts no reasoning tokens: its clients have no field for them, its answers say none.
  const reasoning = (tokens: number): number | null => (client === 'anthropic' ? null : upstream === 'anthropic' ? 0 : tokens);
  let want: { text: string; thinking: string; usage: Usage; finish: Finish };
  switch (scenario) {
    case 'text':
      want = { text: TEXT, thinking: '', usage: { input: 1117, output: 12, cached: 1024, reasoning: reasoning(0) }, finish: 'stop' };
      break;
    case 'tools':
      want = {
        text: upstream === 'anthropic' || upstream === 'gemini' ? 'Let me check both.' : '',
        thinking: '',
        usage: { input: 82, output: 40, cached: 0, reasoning: reasoning(upstream === 'gemini' ? 10 : 0) },
        finish: 'tool_calls',
      };
      break;
    case 'thinking':
      want = {
        text: '223 is prime.',
        thinking: THOUGHT,
        usage: { input: upstream === 'anthropic' ? 25 : 20, output: 60, cached: 0, reasoning: reasoning(48) },
        finish: upstream === 'anthropic' ? 'stop_sequence' : upstream === 'responses' && !streaming ? 'length' : 'stop',
      };
      break;
  }
  assert.equal(actual.text, want.text, `${where}: visible text, no reasoning in it`);
  assert.equal(actual.thinking, want.thinking, `${where}: reasoning, apart from the text`);
  assert.deepEqual(actual.usage, withUsage ? want.usage : null, `${where}: usage (input, output, cached, reasoning)`);
  assert.equal(actual.finish, FINISH_NAMES[client][want.finish], `${where}: finish reason`);
  const calls = scenario === 'tools' ? FIXTURE_CALLS[upstream] : [];
  assert.deepEqual(actual.calls.map((c) => ({ name: c.name, args: c.args })), calls.map((c) => ({ name: c.name, args: c.args })), `${where}: tool calls, arguments parsed as JSON`);
  actual.calls.forEach((c, i) => {
    const id = calls[i]?.id;
    if (id !== null && id !== undefined) assert.equal(c.id, id, `${where}: call ${i} keeps its id`);
    // Gemini sends no ids: the gateway makes them, the first carrying the call's thought signature
    // (a Gemini client gets the signature in its own field instead).
    else assert.match(c.id, client === 'gemini' ? /^call_[\w-]+_\d$/ : i === 0 ? /^call_[\w-]+_0__ts_CiQBVKhc7g$/ : /^call_[\w-]+_1$/, `${where}: call ${i} id`);
  });
  assert.equal(new Set(actual.calls.map((c) => c.id)).size, actual.calls.length, `${where}: distinct call ids`);
}
