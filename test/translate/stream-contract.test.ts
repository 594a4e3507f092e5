/**
 * The shape of every translated stream, checked event by event against what each format's
 * clients rely on, plus how a stream ends: normally, cut short, or failed by the gateway.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- events are inspected as plain JSON */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreamTranslator, type WireFormat } from '../../src/server/translate/index.ts';
import { CTX, FORMATS, fixtureNames, readBytes } from './fixtures.ts';

interface Event {
  event: string | undefined;
  data: string;
  raw: string;
}

function translate(from: WireFormat, to: WireFormat, bytes: Buffer, ctx: Parameters<typeof createStreamTranslator>[3] = CTX): string[] {
  const out: string[] = [];
  const translator = createStreamTranslator(from, to, (s) => out.push(s), ctx);
  translator.push(bytes);
  translator.end();
  return out;
}

/** Each write is exactly one SSE event. */
function parse(writes: string[], separator: string): Event[] {
  return writes.map((raw) => {
    assert.ok(raw.endsWith(separator), `one complete event per write: ${JSON.stringify(raw.slice(-20))}`);
    assert.equal(raw.indexOf(separator), raw.length - separator.length, 'no more than one event per write');
    let event: string | undefined;
    let data = '';
    for (const line of raw.slice(0, -separator.length).split(separator === '\r\n\r\n' ? '\r\n' : '\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    return { event, data, raw };
  });
}

function checkChat(writes: string[]): void {
  const events = parse(writes, '\n\n');
  assert.equal(events.at(-1)?.data, '[DONE]', 'ends with data: [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the first chunk carries the role');
  let finished = false;
  let usageSeen = false;
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, chunks[0].id, 'one id for the whole stream');
    if (chunk.choices.length === 0) {
      assert.ok(finished && !usageSeen, 'the usage chunk comes once, after the finish');
      usageSeen = true;
      continue;
    }
    assert.ok(!finished, 'nothing after the finish_reason but usage');
    if (chunk.choices[0].finish_reason !== null) finished = true;
  }
  assert.ok(finished, 'a finish_reason is sent');
}

function checkAnthropic(writes: string[]): void {
  const events = parse(writes, '\n\n').map((e) => {
    const data = JSON.parse(e.data);
    assert.equal(e.event, data.type, 'the event name matches the data type');
    return data;
  });
  assert.equal(events[0].type, 'message_start');
  assert.equal(events.at(-1).type, 'message_stop');
  assert.equal(events.at(-2).type, 'message_delta');
  let open: any = null;
  let next = 0;
  for (const e of events.slice(1, -2)) {
    if (e.type === 'ping') continue;
    if (e.type === 'content_block_start') {
      assert.equal(open, null, 'blocks do not nest');
      assert.equal(e.index, next++, 'blocks are numbered in order');
      open = e;
    } else if (e.type === 'content_block_delta') {
      assert.ok(open && e.index === open.index, 'deltas belong to the open block');
      const kind = open.content_block.type;
      const allowed: Record<string, string[]> = { text: ['text_delta'], thinking: ['thinking_delta', 'signature_delta'], tool_use: ['input_json_delta'] };
      assert.ok(allowed[kind]?.includes(e.delta.type), `${e.delta.type} in a ${kind} block`);
    } else if (e.type === 'content_block_stop') {
      assert.ok(open && e.index === open.index, 'stop closes the open block');
      open = null;
    } else assert.fail(`unexpected ${e.type} between message_start and message_delta`);
  }
  assert.equal(open, null, 'every block is closed before message_delta');
  assert.ok(events.at(-2).delta.stop_reason, 'message_delta says why it stopped');
}

function checkResponses(writes: string[]): void {
  const events = parse(writes, '\n\n').map((e) => {
    const data = JSON.parse(e.data);
    assert.equal(e.event, data.type, 'the event name matches the data type');
    return data;
  });
  events.forEach((e, i) => assert.equal(e.sequence_number, i, 'sequence numbers count from 0 without gaps'));
  assert.deepEqual(events.slice(0, 2).map((e) => e.type), ['response.created', 'response.in_progress']);
  const last = events.at(-1);
  assert.ok(last.type === 'response.completed' || last.type === 'response.incomplete');
  const done: any[] = [];
  let open: any = null;
  for (const e of events.slice(2, -1)) {
    if (e.type === 'response.output_item.added') {
      assert.equal(open, null, 'one output item at a time');
      assert.equal(e.output_index, done.length);
      open = e.item;
    } else if (e.type === 'response.output_item.done') {
      assert.equal(e.item.id, open?.id);
      done.push(e.item);
      open = null;
    } else {
      assert.ok(open, `${e.type} inside an item`);
      assert.equal(e.item_id, open.id);
      assert.equal(e.output_index, done.length);
    }
  }
  assert.equal(open, null);
  assert.deepEqual(last.response.output, done, 'the final response repeats every item as done');
}

function checkGemini(writes: string[]): void {
  const chunks = parse(writes, '\r\n\r\n').map((e) => JSON.parse(e.data));
  chunks.forEach((c, i) => {
    assert.equal(c.candidates.length, 1);
    assert.equal(c.candidates[0].finishReason !== undefined, i === chunks.length - 1, 'only the last chunk has a finishReason');
  });
  assert.ok(chunks.at(-1).usageMetadata, 'the last chunk carries usage');
}

const CHECKS: Record<WireFormat, (writes: string[]) => void> = { chat: checkChat, anthropic: checkAnthropic, responses: checkResponses, gemini: checkGemini };

describe('translated streams follow each client format’s event order', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('streams', from).filter((n) => n !== 'error')) {
      for (const to of FORMATS) {
        it(`${from} → ${to}: ${name}`, () => CHECKS[to](translate(from, to, readBytes(`streams/${from}/${name}.sse`))));
      }
    }
  }
});

const ERROR_EVENT: Record<WireFormat, RegExp> = {
  chat: /^data: \{"error":\{"message":"boom"/,
  responses: /^event: error\ndata: \{"type":"error","code":"server_error","message":"boom"/,
  anthropic: /^event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"boom"/,
  gemini: /^data: \{"error":\{"code":502,"message":"boom","status":"INTERNAL"\}\}\r\n\r\n$/,
};

describe('how a stream ends', () => {
  const text = readBytes('streams/anthropic/text.sse');
  const cut = text.subarray(0, text.indexOf('event: message_delta'));

  for (const to of FORMATS) {
    it(`fail() ends a ${to} stream with its error event, and nothing follows`, () => {
      const out: string[] = [];
      const translator = createStreamTranslator('anthropic', to, (s) => out.push(s), CTX);
      translator.push(cut);
      const before = out.length;
      translator.fail('boom');
      assert.equal(out.length, before + 1);
      assert.match(out.at(-1) ?? '', ERROR_EVENT[to]);
      translator.push(text.subarray(cut.length));
      translator.end();
      translator.fail('again');
      assert.equal(out.length, before + 1, 'a failed stream stays failed');
      assert.equal(out.join('').includes('[DONE]') || out.join('').includes('message_stop') || out.join('').includes('response.completed') || out.join('').includes('finishReason'), false, 'no fake success');
    });

    it(`an upstream that stops before saying why ends the ${to} stream with an error, not a success`, () => {
      const out = translate('anthropic', to, cut);
      assert.match(out.at(-1) ?? '', /before it was complete/);
    });
  }

  it('reports usage from the final chunk, and none before it arrives', () => {
    const bytes = readBytes('streams/chat/text.sse');
    const usageAt = bytes.indexOf('"choices":[],"usage"');
    const lineStart = bytes.lastIndexOf('data:', usageAt);
    const translator = createStreamTranslator('chat', 'anthropic', () => {}, CTX);
    translator.push(bytes.subarray(0, lineStart));
    assert.equal(translator.usage(), null);
    translator.push(bytes.subarray(lineStart));
    translator.end();
    assert.deepEqual(translator.usage(), { inputTokens: 1117, outputTokens: 12, totalTokens: 1129, cachedInputTokens: 1024, cacheWriteTokens: 0, reasoningTokens: 0 });
  });

  it('adds Anthropic’s message_start input tokens to the final output tokens', () => {
    const translator = createStreamTranslator('anthropic', 'chat', () => {}, CTX);
    translator.push(readBytes('streams/anthropic/thinking.sse'));
    translator.end();
    assert.deepEqual(translator.usage(), { inputTokens: 25, outputTokens: 60, totalTokens: 85, cachedInputTokens: 0, cacheWriteTokens: 5, reasoningTokens: 0 });
  });

  it('sends the chat usage chunk only to a client that asked for it (stream_options.include_usage)', () => {
    const plain = translate('anthropic', 'chat', readBytes('streams/anthropic/text.sse'));
    assert.equal(plain.some((s) => s.includes('"usage"')), false);
    assert.equal(plain.at(-1), 'data: [DONE]\n\n');
    const asked = translate('anthropic', 'chat', readBytes('streams/anthropic/text.sse'), { ...CTX, includeUsage: true });
    assert.match(asked.at(-2) ?? '', /"choices":\[\],"usage":\{"prompt_tokens":1117,"completion_tokens":12/);
    checkChat(asked);
  });

  it('failed() tells a stream ended by an error (in-stream error, stopped short, fail()) from a completed one', () => {
    const run = (bytes: Buffer, then: (t: ReturnType<typeof createStreamTranslator>) => void = (t) => t.end()): boolean => {
      const translator = createStreamTranslator('anthropic', 'gemini', () => {}, CTX);
      translator.push(bytes);
      then(translator);
      return translator.failed();
    };
    assert.equal(run(text), false, 'a completed stream');
    assert.equal(run(readBytes('streams/anthropic/error.sse'), () => {}), true, 'the upstream’s own error event, before the upstream closes');
    assert.equal(run(cut), true, 'stopped before saying why');
    assert.equal(run(cut, (t) => t.fail('boom')), true, 'fail()');
    assert.equal(run(text, (t) => (t.end(), t.fail('late'))), false, 'fail() after the end changes nothing');
  });

  it('turns a chat upstream’s in-stream error into the client’s error event', () => {
    const bytes = Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"error":{"message":"context length exceeded","type":"invalid_request_error"}}\n\n');
    const out = translate('chat', 'anthropic', bytes);
    assert.match(out.at(-1) ?? '', /^event: error\ndata: .*"message":"context length exceeded"/);
  });
});
