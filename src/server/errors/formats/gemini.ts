/**
 * Gemini's error vocabulary: Google's JSON error with the HTTP code and the google.rpc.Code name,
 *   {"error":{"code":404,"message":"…","status":"NOT_FOUND"}}
 * In an `alt=sse` stream the same envelope is a `data:` event ending in \r\n\r\n, as the API's own
 * events do (and the gateway's translated Gemini events).
 */
import { kindOfStatus, type ErrorKind } from '../error-kind.ts';
import type { ErrorVocabulary } from '../vocabulary.ts';

const statuses: Record<ErrorKind, string> = {
  invalid_request: 'INVALID_ARGUMENT',
  authentication: 'UNAUTHENTICATED',
  // Google has no billing code of its own: an unfunded project is a bad request.
  billing: 'INVALID_ARGUMENT',
  permission: 'PERMISSION_DENIED',
  not_found: 'NOT_FOUND',
  conflict: 'ABORTED',
  request_too_large: 'INVALID_ARGUMENT',
  rate_limit: 'RESOURCE_EXHAUSTED',
  server: 'INTERNAL',
  timeout: 'DEADLINE_EXCEEDED',
  overloaded: 'UNAVAILABLE',
};

const body: ErrorVocabulary['body'] = (status, message, options) => ({ error: { code: status, message, status: statuses[options.kind ?? kindOfStatus(status)] } });

export const geminiErrors: ErrorVocabulary = {
  status: (status) => (status === 529 ? 503 : status),
  body,
  streamEvent: (status, message, options) => `data: ${JSON.stringify(body(status, message, options))}\r\n\r\n`,
};
