/**
 * Anthropic's error vocabulary (https://docs.anthropic.com/en/api/errors; `ErrorType` in
 * @anthropic-ai/sdk's shared.d.ts, which lacks only the documented `request_too_large`):
 *   {"type":"error","error":{"type":"not_found_error","message":"…"}}
 * In a stream the same envelope is an `event: error`.
 */
import { kindOfStatus, type ErrorKind } from '../error-kind.ts';
import type { ErrorVocabulary } from '../vocabulary.ts';

const types: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  billing: 'billing_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  conflict: 'conflict_error',
  request_too_large: 'request_too_large',
  rate_limit: 'rate_limit_error',
  server: 'api_error',
  timeout: 'timeout_error',
  overloaded: 'overloaded_error',
};

const body: ErrorVocabulary['body'] = (status, message, options) => ({ type: 'error', error: { type: types[options.kind ?? kindOfStatus(status)], message } });

export const anthropicErrors: ErrorVocabulary = {
  status: (status) => status,
  body,
  streamEvent: (status, message, options) => `event: error\ndata: ${JSON.stringify(body(status, message, options))}\n\n`,
};
