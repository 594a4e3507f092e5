/** Finish reasons, usage and errors, translated in every direction. */
/* eslint-disable @typescript-eslint/no-explicit-any -- translated bodies are inspected as plain JSON */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeError, translateError, translateResponse, type WireFormat } from '../../src/server/translate/index.ts';
import { FORMATS } from './fixtures.ts';

const ctx = { model: 'client-model', requestId: 'r1', created: 1 };

/** A minimal upstream answer in each format, finishing for `reason` (canonical names). */
function upstream(format: WireFormat, reason: 'stop' | 'length' | 'tool_calls' | 'content_filter'): unknown {
  const call = reason === 'tool_calls';
  switch (format) {
    case 'chat':
      return {
        choices: [{ index: 0, message: { role: 'assistant', content: call ? null : 'x', tool_calls: call ? [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] : undefined }, finish_reason: reason }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      };
    case 'anthropic':
      return {
        content: call ? [{ type: 'tool_use', id: 'c1', name: 'f', input: {} }] : [{ type: 'text', text: 'x' }],
        stop_reason: { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', content_filter: 'refusal' }[reason],
        usage: { input_tokens: 10, output_tokens: 5 },
      };
    case 'gemini':
      return {
        candidates: [{ content: { role: 'model', parts: call ? [{ functionCall: { name: 'f', args: {} } }] : [{ text: 'x' }] }, finishReason: { stop: 'STOP', length: 'MAX_TOKENS', tool_calls: 'STOP', content_filter: 'SAFETY' }[reason] }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
      };
    case 'responses':
      return {
        status: reason === 'length' || reason === 'content_filter' ? 'incomplete' : 'completed',
        incomplete_details: reason === 'length' ? { reason: 'max_output_tokens' } : reason === 'content_filter' ? { reason: 'content_filter' } : null,
        output: call ? [{ type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' }] : [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'x' }] }],
        usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 },
      };
  }
}

function finishOf(format: WireFormat, body: any): unknown {
  switch (format) {
    case 'chat':
      return body.choices[0].finish_reason;
    case 'anthropic':
      return body.stop_reason;
    case 'gemini':
      return body.candidates[0].finishReason;
    case 'responses':
      return [body.status, body.incomplete_details?.reason ?? null];
  }
}

const EXPECTED: Record<string, Record<WireFormat, unknown>> = {
  stop: { chat: 'stop', anthropic: 'end_turn', gemini: 'STOP', responses: ['completed', null] },
  length: { chat: 'length', anthropic: 'max_tokens', gemini: 'MAX_TOKENS', responses: ['incomplete', 'max_output_tokens'] },
  tool_calls: { chat: 'tool_calls', anthropic: 'tool_use', gemini: 'STOP', responses: ['completed', null] },
  content_filter: { chat: 'content_filter', anthropic: 'refusal', gemini: 'SAFETY', responses: ['incomplete', 'content_filter'] },
};

describe('finish reasons', () => {
  for (const reason of ['stop', 'length', 'tool_calls', 'content_filter'] as const) {
    for (const from of FORMATS) {
      it(`${reason} from ${from} reads right in every client format`, () => {
        for (const to of FORMATS) assert.deepEqual(finishOf(to, translateResponse(from, to, upstream(from, reason), ctx)), EXPECTED[reason]?.[to], `${from} → ${to}`);
      });
    }
  }

  it('keeps the stop sequence Anthropic matched, for Anthropic clients', () => {
    const body: any = translateResponse('anthropic', 'anthropic', { content: [{ type: 'text', text: 'x' }], stop_reason: 'stop_sequence', stop_sequence: 'END', usage: { input_tokens: 1, output_tokens: 1 } }, ctx);
    assert.deepEqual([body.stop_reason, body.stop_sequence], ['stop_sequence', 'END']);
  });
});

describe('usage', () => {
  it('counts Anthropic cache reads and writes into the prompt, and splits them back out', () => {
    const anthropic = { content: [{ type: 'text', text: 'x' }], stop_reason: 'end_turn', usage: { input_tokens: 100, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50, output_tokens: 20 } };
    const chat: any = translateResponse('anthropic', 'chat', anthropic, ctx);
    assert.deepEqual(chat.usage, { prompt_tokens: 1150, completion_tokens: 20, total_tokens: 1170, prompt_tokens_details: { cached_tokens: 1000 }, completion_tokens_details: { reasoning_tokens: 0 } });
    const back: any = translateResponse('chat', 'anthropic', chat, ctx);
    assert.deepEqual(back.usage, { input_tokens: 150, cache_creation_input_tokens: 0, cache_read_input_tokens: 1000, output_tokens: 20 });
  });

  it('counts Gemini thoughts as output and reasoning, and splits them back out', () => {
    const gemini = { candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 30, cachedContentTokenCount: 10, candidatesTokenCount: 5, thoughtsTokenCount: 40, totalTokenCount: 75 } };
    const responses: any = translateResponse('gemini', 'responses', gemini, ctx);
    assert.deepEqual(responses.usage, { input_tokens: 30, input_tokens_details: { cached_tokens: 10 }, output_tokens: 45, output_tokens_details: { reasoning_tokens: 40 }, total_tokens: 75 });
    const back: any = translateResponse('responses', 'gemini', responses, ctx);
    assert.deepEqual(back.usageMetadata, gemini.usageMetadata);
  });

  it('reads DeepSeek’s cache-hit field', () => {
    const chat = { choices: [{ message: { content: 'x' }, finish_reason: 'stop' }], usage: { prompt_tokens: 50, completion_tokens: 5, prompt_cache_hit_tokens: 40 } };
    assert.equal((translateResponse('chat', 'anthropic', chat, ctx) as any).usage.cache_read_input_tokens, 40);
  });
});

describe('errors', () => {
  it('builds a gateway error in every client format', () => {
    assert.deepEqual(makeError('chat', 404, 'No such model.'), { error: { message: 'No such model.', type: 'invalid_request_error', param: null, code: null } });
    assert.deepEqual(makeError('responses', 429, 'Slow down.'), { error: { message: 'Slow down.', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
    assert.deepEqual(makeError('anthropic', 401, 'Bad key.'), { type: 'error', error: { type: 'authentication_error', message: 'Bad key.' } });
    assert.deepEqual(makeError('gemini', 400, 'Bad request.'), { error: { code: 400, message: 'Bad request.', status: 'INVALID_ARGUMENT' } });
    assert.deepEqual(makeError('anthropic', 400, 'Too big.', { kind: 'request_too_large' }), { type: 'error', error: { type: 'request_too_large', message: 'Too big.' } });
  });

  it('maps Anthropic’s 529 to 503 for clients that do not know it, and keeps Retry-After-worthy 429s', () => {
    const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    assert.equal(translateError('anthropic', 'chat', 529, overloaded).status, 503);
    assert.equal(translateError('anthropic', 'gemini', 529, overloaded).status, 503);
    assert.equal(translateError('gemini', 'anthropic', 429, { error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' } }).status, 429);
  });

  it('passes same-format errors through untouched', () => {
    const body = { error: { message: 'x', type: 'invalid_request_error', param: 'messages', code: 'bad' } };
    assert.deepEqual(translateError('chat', 'chat', 400, body), { status: 400, body });
  });

  it('keeps only the gist of an HTML error page', () => {
    const page = `<html>${'x'.repeat(2000)}</html>`;
    const out: any = translateError('chat', 'anthropic', 502, page).body;
    assert.ok(out.error.message.length <= 501);
  });
});
