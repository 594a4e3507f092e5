/**
 * One error vocabulary per client format: a 404 or a 429 the gateway raises itself
 * (errors/client-error.ts, as sendError and the relay write them) and the same error coming from
 * an upstream of another family, translated (translate/), reach each client format as the same
 * bytes, whole and as the event that ends a stream. Both registries are complete by type.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WireFormat } from '../../src/shared/wire-format.ts';
import { clientError, streamError, type ClientFormat } from '../../src/server/errors/client-error.ts';
import { anthropicErrors } from '../../src/server/errors/formats/anthropic.ts';
import { openaiErrors } from '../../src/server/errors/formats/openai.ts';
import { clientFormatOfWire, errorVocabularies } from '../../src/server/errors/vocabularies.ts';
import type { ErrorVocabulary } from '../../src/server/errors/vocabulary.ts';
import { createStreamTranslator, translateError } from '../../src/server/translate/index.ts';

const MESSAGE = 'The thing you asked for: not here, or not now.';
const STATUSES = [404, 429] as const;

/** An upstream's error answer in its own API's real shape. */
const upstreamBodies: Record<WireFormat, (status: number) => unknown> = {
  chat: (status) => ({ error: { message: MESSAGE, type: status === 429 ? 'requests' : 'invalid_request_error', param: null, code: status === 429 ? 'rate_limit_exceeded' : 'model_not_found' } }),
  responses: (status) => ({ error: { message: MESSAGE, type: status === 429 ? 'requests' : 'invalid_request_error', param: null, code: status === 429 ? 'rate_limit_exceeded' : 'model_not_found' } }),
  anthropic: (status) => ({ type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'not_found_error', message: MESSAGE } }),
  gemini: (status) => ({ error: { code: status, message: MESSAGE, status: status === 429 ? 'RESOURCE_EXHAUSTED' : 'NOT_FOUND' } }),
};

/** The in-stream error event of the upstreams whose streams say which status they stand for. */
const upstreamStreamErrors: Partial<Record<WireFormat, (status: number) => string>> = {
  anthropic: (status) => `event: error\ndata: ${JSON.stringify(upstreamBodies.anthropic(status))}\n\n`,
  gemini: (status) => `data: ${JSON.stringify(upstreamBodies.gemini(status))}\r\n\r\n`,
};

const family = (wire: WireFormat): ClientFormat => clientFormatOfWire[wire];
const clients: WireFormat[] = ['chat', 'responses', 'anthropic', 'gemini'];
const upstreams: WireFormat[] = ['chat', 'responses', 'anthropic', 'gemini'];

describe('error vocabulary: gateway-made and translated errors read the same', () => {
  for (const client of clients) {
    for (const upstream of upstreams.filter((u) => family(u) !== family(client))) {
      for (const status of STATUSES) {
        it(`a ${status} for a ${client} client: the gateway's own and one translated from ${upstream}`, () => {
          const gateway = clientError(family(client), status, MESSAGE);
          const translated = translateError(upstream, client, status, upstreamBodies[upstream](status));
          assert.equal(translated.status, gateway.status);
          assert.equal(JSON.stringify(translated.body), gateway.body);
        });
      }
      const streamed = upstreamStreamErrors[upstream];
      if (streamed === undefined) continue;
      for (const status of STATUSES) {
        it(`a ${status} ending a ${client} stream: the relay's event and the translator's from ${upstream}`, () => {
          const written: string[] = [];
          const translator = createStreamTranslator(upstream, client, (bytes) => written.push(bytes), { model: 'm', requestId: 'req_1', created: 1 });
          translator.push(Buffer.from(streamed(status)));
          translator.end();
          assert.ok(translator.failed());
          const last = written[written.length - 1] ?? '';
          // The Responses event is numbered after whatever the translator wrote before it.
          const sequenceNumber = Number(/"sequence_number":(\d+)/.exec(last)?.[1] ?? 0);
          const gateway = streamError(family(client), status, MESSAGE, client === 'responses' ? { responses: true, sequenceNumber } : {});
          assert.equal(last, gateway);
        });
      }
    }
  }

  it('names each kind in the format\'s real words (OpenAI\'s API, Anthropic\'s ErrorType, google.rpc.Code)', () => {
    const words = (format: ClientFormat, status: number): unknown => {
      const body = JSON.parse(clientError(format, status, 'm').body);
      return format === 'openai' ? [body.error.type, body.error.code] : format === 'anthropic' ? body.error.type : body.error.status;
    };
    assert.deepEqual(words('openai', 404), ['invalid_request_error', null]);
    assert.deepEqual(words('openai', 429), ['requests', 'rate_limit_exceeded']);
    assert.equal(words('anthropic', 404), 'not_found_error');
    assert.equal(words('anthropic', 429), 'rate_limit_error');
    assert.equal(words('anthropic', 402), 'billing_error');
    assert.equal(words('anthropic', 409), 'conflict_error');
    assert.equal(words('gemini', 404), 'NOT_FOUND');
    assert.equal(words('gemini', 429), 'RESOURCE_EXHAUSTED');
    assert.equal(words('gemini', 409), 'ABORTED');
  });

  it('is complete at compile time: a registry without a format does not type-check', () => {
    // @ts-expect-error -- 'gemini' is missing, which `satisfies` reports.
    const incomplete = { openai: openaiErrors, anthropic: anthropicErrors } satisfies Record<ClientFormat, ErrorVocabulary>;
    assert.equal(Object.keys(incomplete).length, 2);
    assert.deepEqual(Object.keys(errorVocabularies).sort(), ['anthropic', 'gemini', 'openai']);
  });
});
