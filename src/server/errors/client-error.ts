/**
 * The gateway's own errors in the client's API format, so that an OpenAI, Anthropic or Gemini SDK
 * raises its usual typed error (the SDKs pick the error class from the status and read the body's
 * fields). What each format calls each error is its vocabulary (formats/*.ts), shared with the
 * upstream errors the translator carries across formats.
 */
import { errorVocabularies } from './vocabularies.ts';
import type { ErrorOptions, StreamErrorOptions } from './vocabulary.ts';

export type ClientFormat = 'openai' | 'anthropic' | 'gemini';

export interface ClientErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The status is the one the gateway chose, used as is: only an upstream's status carried to
 * another format is mapped (translate/error-bodies.ts), so the mock's injected `mock-error-529`
 * still reaches every client as 529.
 */
export function clientErrorBody(format: ClientFormat, status: number, message: string, options: ErrorOptions = {}): string {
  return JSON.stringify(errorVocabularies[format].body(status, message, options));
}

/** A complete error response in the client's format. */
export function clientError(format: ClientFormat, status: number, message: string, options: ErrorOptions = {}): ClientErrorResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(options.retryAfterSeconds)));
  return { status, headers, body: clientErrorBody(format, status, message, options) };
}

/**
 * The SSE event that ends a stream with an error, for a failure after the response started.
 * OpenAI chat and Gemini (`alt=sse`) send a bare `data:` event holding the error envelope;
 * Anthropic sends `event: error`; the Responses API sends `event: error` with a flat payload.
 */
export function streamError(format: ClientFormat, status: number, message: string, options: StreamErrorOptions = {}): string {
  return errorVocabularies[format].streamEvent(status, message, options);
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
