/**
 * One client format's error vocabulary (STYLE "one vocabulary per concept", after fastify's
 * error registry): how an error — status, kind, message, OpenAI's code and param — is written as
 * a body and as the event that ends a stream. The gateway's own errors (client-error.ts) and the
 * upstream errors the translator carries to another format (translate/error-bodies.ts) both
 * write through it, so a 404 or a 429 looks the same whichever path produced it.
 */
import type { ErrorKind } from './error-kind.ts';

export interface ErrorOptions {
  kind?: ErrorKind;
  /** OpenAI `code` (e.g. `model_not_found`, `invalid_api_key`); ignored by the other formats. */
  code?: string | null;
  /** OpenAI `param`. */
  param?: string | null;
  /** Adds a `retry-after` header (whole seconds). */
  retryAfterSeconds?: number;
}

export interface StreamErrorOptions extends ErrorOptions {
  /** The client is on OpenAI's Responses API, whose streams end with a typed `error` event. */
  responses?: boolean;
  /** The Responses API's `sequence_number` for the event. */
  sequenceNumber?: number;
}

export interface ErrorVocabulary {
  /** The status this format's clients get for an upstream's `status` (529 is Anthropic's own; the others' SDKs retry a 503). */
  status(status: number): number;
  /** The whole JSON body, envelope included; `status` already passed through `status()`. */
  body(status: number, message: string, options: ErrorOptions): object;
  /** The SSE bytes that end a stream with this error (never a fake success). */
  streamEvent(status: number, message: string, options: StreamErrorOptions): string;
}
