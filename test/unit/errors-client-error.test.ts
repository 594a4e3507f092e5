import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientError, clientErrorBody, clientFormatOf, streamError } from '../../src/server/errors/client-error.ts';
import { kindOfStatus } from '../../src/server/errors/error-kind.ts';

describe('client errors: OpenAI shape', () => {
  it('has message, type, param and code, as the real API sends them', () => {
    const e = clientError('openai', 404, "The model 'x' does not exist.", { code: 'model_not_found' });
    assert.equal(e.status, 404);
    assert.deepEqual(e.headers, { 'content-type': 'application/json' });
    assert.equal(e.body, '{"error":{"message":"The model \'x\' does not exist.","type":"invalid_request_error","param":null,"code":"model_not_found"}}');
  });

  it('maps statuses to OpenAI types and codes', () => {
    const shape = (status: number) => JSON.parse(clientErrorBody('openai', status, 'm')).error;
    assert.deepEqual(shape(400), { message: 'm', type: 'invalid_request_error', param: null, code: null });
    assert.deepEqual(shape(401), { message: 'm', type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    assert.deepEqual(shape(429), { message: 'm', type: 'requests', param: null, code: 'rate_limit_exceeded' });
    assert.deepEqual(shape(500), { message: 'm', type: 'server_error', param: null, code: null });
    assert.deepEqual(shape(503), { message: 'm', type: 'server_error', param: null, code: null });
  });

  it('takes an explicit kind, code, param and Retry-After', () => {
    const e = clientError('openai', 400, 'bad', { kind: 'invalid_request', code: 'context_length_exceeded', param: 'messages', retryAfterSeconds: 2.2 });
    assert.deepEqual(JSON.parse(e.body), { error: { message: 'bad', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
    assert.equal(e.headers['retry-after'], '3');
    assert.equal(JSON.parse(clientErrorBody('openai', 401, 'no key', { code: null })).error.code, null);
  });
});

describe('client errors: Anthropic shape', () => {
  it('wraps {type, message} in {"type":"error","error":…}', () => {
    assert.equal(clientErrorBody('anthropic', 404, 'model: x'), '{"type":"error","error":{"type":"not_found_error","message":"model: x"}}');
  });

  it('uses the documented type for each status', () => {
    const type = (status: number) => JSON.parse(clientErrorBody('anthropic', status, 'm')).error.type;
    assert.deepEqual(
      [400, 401, 403, 404, 413, 429, 500, 502, 503, 504, 529].map(type),
      ['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'request_too_large', 'rate_limit_error', 'api_error', 'api_error', 'overloaded_error', 'timeout_error', 'overloaded_error'],
    );
  });
});

describe('client errors: Gemini shape', () => {
  it('carries the HTTP code and the google.rpc status name', () => {
    assert.equal(clientErrorBody('gemini', 404, 'models/x is not found.'), '{"error":{"code":404,"message":"models/x is not found.","status":"NOT_FOUND"}}');
  });

  it('maps statuses to google.rpc codes', () => {
    const status = (code: number) => JSON.parse(clientErrorBody('gemini', code, 'm')).error.status;
    assert.deepEqual(
      [400, 401, 403, 404, 429, 500, 503, 504].map(status),
      ['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'RESOURCE_EXHAUSTED', 'INTERNAL', 'UNAVAILABLE', 'DEADLINE_EXCEEDED'],
    );
  });
});

describe('client errors: stream events', () => {
  it('ends an OpenAI chat stream with a data line holding the error envelope', () => {
    assert.equal(streamError('openai', 502, 'upstream failed'), 'data: {"error":{"message":"upstream failed","type":"server_error","param":null,"code":null}}\n\n');
  });

  it('ends an Anthropic stream with an error event', () => {
    assert.equal(streamError('anthropic', 529, 'Overloaded'), 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n');
  });

  it('ends a Gemini SSE stream with a data line holding the error envelope', () => {
    assert.equal(streamError('gemini', 503, 'down'), 'data: {"error":{"code":503,"message":"down","status":"UNAVAILABLE"}}\r\n\r\n');
  });

  it('ends a Responses API stream with its flat error event', () => {
    assert.equal(
      streamError('openai', 500, 'boom', { responses: true, sequenceNumber: 7 }),
      'event: error\ndata: {"type":"error","code":"server_error","message":"boom","param":null,"sequence_number":7}\n\n',
    );
  });
});

describe('clientFormatOf', () => {
  it('maps each inbound route to the format its clients expect', () => {
    const cases: [string, string | null][] = [
      ['/v1/chat/completions', 'openai'],
      ['/v1/completions', 'openai'],
      ['/v1/embeddings', 'openai'],
      ['/v1/responses', 'openai'],
      ['/v1/models', 'openai'],
      ['/v1/models?limit=5', 'openai'],
      ['/v1/messages', 'anthropic'],
      ['/v1/messages/count_tokens', 'anthropic'],
      ['/v1/messages?beta=true', 'anthropic'],
      ['/v1beta/models/gemini-2.5-pro:generateContent', 'gemini'],
      ['/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse', 'gemini'],
      ['/v1beta/models', 'gemini'],
      ['/v1/models/gemini-2.5-pro:generateContent', 'gemini'],
      ['/healthz', null],
      ['/admin/routes', null],
    ];
    for (const [path, format] of cases) assert.equal(clientFormatOf(path), format, path);
  });

  it('derives a kind from any status', () => {
    assert.deepEqual([400, 401, 403, 404, 408, 413, 418, 429, 500, 501, 503, 504, 529].map(kindOfStatus), [
      'invalid_request',
      'authentication',
      'permission',
      'not_found',
      'timeout',
      'request_too_large',
      'invalid_request',
      'rate_limit',
      'server',
      'server',
      'overloaded',
      'timeout',
      'overloaded',
    ]);
  });
});
