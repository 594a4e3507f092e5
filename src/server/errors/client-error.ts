/**
 * Errors in the client's own API format, so that an OpenAI, Anthropic or Gemini SDK raises its
 * usual typed error (the SDKs pick the error class from the status and read the body's fields).
 * Shapes follow what the real APIs send:
 *   OpenAI     {"error":{"message":"…","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}
 *   Anthropic  {"type":"error","error":{"type":"not_found_error","message":"…"}}
 *   Gemini     {"error":{"code":404,"message":"…","status":"NOT_FOUND"}}
 */

export type ClientFormat = 'openai' | 'anthropic' | 'gemini';

/** What went wrong, independent of format; defaults from the status (`kindOfStatus`). */
export type ErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'request_too_large'
  | 'rate_limit'
  | 'server'
  | 'timeout'
  | 'overloaded';

export interface ErrorOptions {
  kind?: ErrorKind;
  /** OpenAI `code` (e.g. `model_not_found`, `invalid_api_key`); ignored by the other formats. */
  code?: string | null;
  /** OpenAI `param`. */
  param?: string | null;
  /** Adds a `retry-after` header (whole seconds). */
  retryAfterSeconds?: number;
}

export interface ClientErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function kindOfStatus(status: number): ErrorKind {
  switch (status) {
    case 401:
      return 'authentication';
    case 403:
      return 'permission';
    case 404:
      return 'not_found';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit';
    case 408:
    case 504:
      return 'timeout';
    case 503:
    case 529:
      return 'overloaded';
  }
  return status >= 500 ? 'server' : 'invalid_request';
}

/**
 * OpenAI's real API uses `invalid_request_error` for most 4xx (a wrong key included, told apart
 * by `code: invalid_api_key`), `requests` for a request-rate 429 and `server_error` for 5xx.
 */
const openaiTypes: Record<ErrorKind, { type: string; code: string | null }> = {
  invalid_request: { type: 'invalid_request_error', code: null },
  authentication: { type: 'invalid_request_error', code: 'invalid_api_key' },
  permission: { type: 'invalid_request_error', code: null },
  not_found: { type: 'invalid_request_error', code: null },
  request_too_large: { type: 'invalid_request_error', code: null },
  rate_limit: { type: 'requests', code: 'rate_limit_exceeded' },
  server: { type: 'server_error', code: null },
  timeout: { type: 'server_error', code: null },
  overloaded: { type: 'server_error', code: null },
};

/** https://docs.anthropic.com/en/api/errors */
const anthropicTypes: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  request_too_large: 'request_too_large',
  rate_limit: 'rate_limit_error',
  server: 'api_error',
  timeout: 'timeout_error',
  overloaded: 'overloaded_error',
};

/** google.rpc.Code names, as the Gemini API reports them next to the HTTP status. */
const geminiStatuses: Record<ErrorKind, string> = {
  invalid_request: 'INVALID_ARGUMENT',
  authentication: 'UNAUTHENTICATED',
  permission: 'PERMISSION_DENIED',
  not_found: 'NOT_FOUND',
  request_too_large: 'INVALID_ARGUMENT',
  rate_limit: 'RESOURCE_EXHAUSTED',
  server: 'INTERNAL',
  timeout: 'DEADLINE_EXCEEDED',
  overloaded: 'UNAVAILABLE',
};

/** The error object for `format`, without any envelope (the `error` member's value for OpenAI and Gemini). */
function errorObject(format: ClientFormat, status: number, message: string, options: ErrorOptions): object {
  const kind = options.kind ?? kindOfStatus(status);
  switch (format) {
    case 'openai': {
      const t = openaiTypes[kind];
      return { message, type: t.type, param: options.param ?? null, code: options.code === undefined ? t.code : options.code };
    }
    case 'anthropic':
      return { type: anthropicTypes[kind], message };
    case 'gemini':
      return { code: status, message, status: geminiStatuses[kind] };
  }
}

function envelope(format: ClientFormat, status: number, message: string, options: ErrorOptions): object {
  const error = errorObject(format, status, message, options);
  return format === 'anthropic' ? { type: 'error', error } : { error };
}

export function clientErrorBody(format: ClientFormat, status: number, message: string, options: ErrorOptions = {}): string {
  return JSON.stringify(envelope(format, status, message, options));
}

/** A complete error response in the client's format. */
export function clientError(format: ClientFormat, status: number, message: string, options: ErrorOptions = {}): ClientErrorResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(options.retryAfterSeconds)));
  return { status, headers, body: clientErrorBody(format, status, message, options) };
}

export interface StreamErrorOptions extends ErrorOptions {
  /** The client is on OpenAI's Responses API, whose streams end with a typed `error` event. */
  responses?: boolean;
  /** The Responses API's `sequence_number` for the event. */
  sequenceNumber?: number;
}

/**
 * The SSE event that ends a stream with an error, for a failure after the response started.
 * OpenAI chat and Gemini (`alt=sse`) send a bare `data:` line holding the error envelope;
 * Anthropic sends `event: error`; the Responses API sends `event: error` with a flat payload.
 */
export function streamError(format: ClientFormat, status: number, message: string, options: StreamErrorOptions = {}): string {
  if (format === 'openai' && options.responses === true) {
    const e = errorObject('openai', status, message, options) as { code: string | null; param: string | null; type: string };
    const payload = { type: 'error', code: e.code ?? e.type, message, param: e.param, sequence_number: options.sequenceNumber ?? 0 };
    return `event: error\ndata: ${JSON.stringify(payload)}\n\n`;
  }
  const data = JSON.stringify(envelope(format, status, message, options));
  return format === 'anthropic' ? `event: error\ndata: ${data}\n\n` : `data: ${data}\n\n`;
}

/**
 * The error format a client expects, from the request path (query string allowed); null for paths
 * outside the three APIs (e.g. /healthz, /admin), which answer in OpenAI's shape by convention.
 */
export function clientFormatOf(path: string): ClientFormat | null {
  if (path.startsWith('/v1beta/') || path.startsWith('/v1alpha/')) return 'gemini';
  if (!path.startsWith('/v1/')) return null;
  const end = path.indexOf('?');
  const route = end === -1 ? path : path.slice(0, end);
  if (route === '/v1/messages' || route.startsWith('/v1/messages/')) return 'anthropic';
  if (route.startsWith('/v1/models/') && (route.includes(':generateContent') || route.includes(':streamGenerateContent') || route.includes(':countTokens'))) {
    return 'gemini';
  }
  return 'openai';
}
