/**
 * OpenAI's error vocabulary (chat completions and Responses), as its API answers:
 *   {"error":{"message":"…","type":"invalid_request_error","param":null,"code":"model_not_found"}}
 * Most 4xx are `invalid_request_error` (a wrong key too, told apart by `code: invalid_api_key`),
 * a request-rate 429 is type `requests` with `code: rate_limit_exceeded`, a 5xx `server_error`.
 * The SDK picks its error class from the status and only reads these fields.
 */
import { kindOfStatus, type ErrorKind } from '../error-kind.ts';
import type { ErrorOptions, ErrorVocabulary } from '../vocabulary.ts';

const INVALID = { type: 'invalid_request_error', code: null };
const SERVER = { type: 'server_error', code: null };

const types: Record<ErrorKind, { readonly type: string; readonly code: string | null }> = {
  invalid_request: INVALID,
  authentication: { type: 'invalid_request_error', code: 'invalid_api_key' },
  billing: INVALID,
  permission: INVALID,
  not_found: INVALID,
  conflict: INVALID,
  request_too_large: INVALID,
  rate_limit: { type: 'requests', code: 'rate_limit_exceeded' },
  server: SERVER,
  timeout: SERVER,
  overloaded: SERVER,
};

function errorObject(status: number, message: string, options: ErrorOptions): { message: string; type: string; param: string | null; code: string | null } {
  const t = types[options.kind ?? kindOfStatus(status)];
  return { message, type: t.type, param: options.param ?? null, code: options.code === undefined ? t.code : options.code };
}

export const openaiErrors: ErrorVocabulary = {
  status: (status) => (status === 529 ? 503 : status),
  body: (status, message, options) => ({ error: errorObject(status, message, options) }),
  streamEvent(status, message, options) {
    const e = errorObject(status, message, options);
    if (options.responses === true) {
      // The Responses API's own error event: flat, `code` always set (ResponseErrorEvent in the SDK).
      const payload = { type: 'error', code: e.code ?? e.type, message, param: e.param, sequence_number: options.sequenceNumber ?? 0 };
      return `event: error\ndata: ${JSON.stringify(payload)}\n\n`;
    }
    // The chat SDK throws on any chunk carrying `error`; no [DONE] follows.
    return `data: ${JSON.stringify({ error: e })}\n\n`;
  },
};
