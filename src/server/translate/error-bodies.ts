/**
 * Error objects in each client format, and the mapping of one upstream's error to another. The
 * status decides the error's kind everywhere; the upstream's own type only refines it (Anthropic's
 * 529 "overloaded" becomes 503 for clients whose SDKs do not know 529).
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import { isObject, optString } from './json-value.ts';

function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function anthropicType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function geminiStatus(status: number): string {
  switch (status) {
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'ABORTED';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 503:
      return 'UNAVAILABLE';
    case 504:
      return 'DEADLINE_EXCEEDED';
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  }
}

/** 529 is Anthropic's own; every other client format (and its SDK's retry logic) knows 503. */
export function clientStatus(format: WireFormat, status: number): number {
  return status === 529 && format !== 'anthropic' ? 503 : status;
}

/** The error object a client of `format` expects, as a value (for JSON bodies). */
export function errorBody(format: WireFormat, status: number, message: string, type?: string): Record<string, unknown> {
  switch (format) {
    case 'chat':
    case 'responses':
      return { error: { message, type: type ?? openaiType(status), param: null, code: null } };
    case 'anthropic':
      return { type: 'error', error: { type: type ?? anthropicType(status), message } };
    case 'gemini': {
      const code = clientStatus(format, status);
      return { error: { code, message, status: type ?? geminiStatus(code) } };
    }
  }
}

/** The message an upstream put in its error body, whichever format it used. */
export function errorMessage(body: unknown, status: number): string {
  // A proxy's HTML error page can be long; the client needs its gist, not the whole page.
  if (typeof body === 'string' && body.trim() !== '') return body.length > 500 ? `${body.slice(0, 500)}…` : body;
  if (isObject(body)) {
    const error = body.error;
    if (isObject(error)) {
      const message = optString(error.message);
      if (message !== undefined) return message;
    }
    if (typeof error === 'string') return error;
    const message = optString(body.message);
    if (message !== undefined) return message;
  }
  if (Array.isArray(body) && body.length > 0) return errorMessage(body[0], status);
  return `The upstream returned HTTP ${status}.`;
}

/** Gemini errors may carry the status in the body; a stream error has no HTTP status of its own. */
export function errorStatus(body: unknown, fallback: number): number {
  if (isObject(body) && isObject(body.error) && typeof body.error.code === 'number') return body.error.code;
  return fallback;
}

/** The SSE bytes of an in-stream error, ending the client's stream (never a fake success). */
export function streamErrorEvent(format: WireFormat, status: number, message: string, sequenceNumber: number): string {
  switch (format) {
    case 'chat':
      // The OpenAI SDK throws on any chunk carrying `error`; no [DONE] follows.
      return `data: ${JSON.stringify(errorBody('chat', status, message))}\n\n`;
    case 'responses': {
      const code = openaiType(status);
      return `event: error\ndata: ${JSON.stringify({ type: 'error', code, message, param: null, sequence_number: sequenceNumber })}\n\n`;
    }
    case 'anthropic':
      return `event: error\ndata: ${JSON.stringify(errorBody('anthropic', status, message))}\n\n`;
    case 'gemini':
      return `data: ${JSON.stringify(errorBody('gemini', status, message))}\r\n\r\n`;
  }
}
