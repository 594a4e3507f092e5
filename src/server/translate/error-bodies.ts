/**
 * Upstream errors read in any format and written in the client's, with the same vocabulary as
 * the gateway's own errors (errors/vocabularies.ts): the status decides the error's kind, so a
 * translated 404 or 429 reads exactly like one the gateway raised. Anthropic's 529 "overloaded"
 * becomes 503 for clients whose SDKs do not know 529.
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import { clientFormatOfWire, errorVocabularies } from '../errors/vocabularies.ts';
import type { ErrorOptions } from '../errors/vocabulary.ts';
import { isObject, optString } from './json-value.ts';

/** The status a client of `format` gets for an upstream's `status` (Anthropic's 529 is 503 for the others). */
export function clientStatus(format: WireFormat, status: number): number {
  return errorVocabularies[clientFormatOfWire[format]].status(status);
}

/** The error body a client of `format` expects, as a value (for JSON bodies): the gateway's own vocabulary. */
export function errorBody(format: WireFormat, status: number, message: string, options: ErrorOptions = {}): object {
  const vocabulary = errorVocabularies[clientFormatOfWire[format]];
  return vocabulary.body(vocabulary.status(status), message, options);
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
  const vocabulary = errorVocabularies[clientFormatOfWire[format]];
  return vocabulary.streamEvent(vocabulary.status(status), message, { responses: format === 'responses', sequenceNumber });
}
