/**
 * The proof that matters for error shapes: the official SDKs, pointed at a server that answers
 * with our bodies and stream events, raise their usual typed errors with our message.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import { clientError, streamError, type ClientFormat } from '../../src/server/errors/client-error.ts';

/** What the next request gets: a plain error, or a stream that breaks after one event. */
let answer: { format: ClientFormat; status: number; message: string; stream?: string } = { format: 'openai', status: 500, message: '' };
let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (answer.stream !== undefined) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(answer.stream + streamError(answer.format, answer.status, answer.message));
        return;
      }
      const e = clientError(answer.format, answer.status, answer.message);
      res.writeHead(e.status, e.headers);
      res.end(e.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const openai = () => new OpenAI({ baseURL: `${base}/v1`, apiKey: 'test', maxRetries: 0 });
const anthropic = () => new Anthropic({ baseURL: base, apiKey: 'test', maxRetries: 0 });
const gemini = () => new GoogleGenAI({ apiKey: 'test', httpOptions: { baseUrl: base } });

describe('official SDKs read our errors', () => {
  it('OpenAI raises NotFoundError and RateLimitError with our message and code', async () => {
    answer = { format: 'openai', status: 404, message: "The model 'nope' does not exist." };
    await assert.rejects(openai().chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.type, 'invalid_request_error');
      assert.match(e.message, /does not exist/);
      return true;
    });
    answer = { format: 'openai', status: 429, message: 'Slow down.' };
    await assert.rejects(openai().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.code, 'rate_limit_exceeded');
      return true;
    });
  });

  it('OpenAI raises APIError from a chat stream ended by our error event', async () => {
    const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] };
    answer = { format: 'openai', status: 502, message: 'upstream broke', stream: `data: ${JSON.stringify(chunk)}\n\n` };
    const stream = await openai().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of stream) got.push(c.choices[0]?.delta.content ?? '');
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /upstream broke/.test(e.message),
    );
    assert.deepEqual(got, ['Hel']);
  });

  it('Anthropic raises NotFoundError with our type, and APIError from a stream error event', async () => {
    answer = { format: 'anthropic', status: 404, message: 'model: nope' };
    await assert.rejects(anthropic().messages.create({ model: 'nope', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof Anthropic.NotFoundError);
      assert.deepEqual(e.error, { type: 'error', error: { type: 'not_found_error', message: 'model: nope' } });
      return true;
    });
    const start = { type: 'message_start', message: { id: 'm1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } } };
    answer = { format: 'anthropic', status: 529, message: 'Overloaded', stream: `event: message_start\ndata: ${JSON.stringify(start)}\n\n` };
    const stream = await anthropic().messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: true });
    await assert.rejects(
      (async () => {
        for await (const _event of stream);
      })(),
      (e: unknown) => e instanceof Anthropic.APIError && /overloaded_error/.test(e.message) && /Overloaded/.test(e.message),
    );
  });

  it('Gemini raises ApiError with our status and message', async () => {
    answer = { format: 'gemini', status: 404, message: 'models/nope is not found.' };
    await assert.rejects(gemini().models.generateContent({ model: 'nope', contents: 'hi' }), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 404);
      assert.match(e.message, /models\/nope is not found/);
      assert.match(e.message, /NOT_FOUND/);
      return true;
    });
  });
});
