/**
 * A provider type's token-count API, as its descriptor states it (`countTokens`): where a count
 * from a client of another family goes (http/count-tokens.ts). The request is first translated
 * like a generation into `wire`; `body` keeps what the count API takes, since each refuses the
 * rest (Anthropic's extra inputs, OpenAI's unknown parameters).
 */
import type { WireFormat } from '../../shared/wire-format.ts';

export interface CountTokensApi {
  /** The wire format the count request is written in. */
  readonly wire: WireFormat;
  url(base: string, model: string): string;
  /** The translated generation body → the count API's body. */
  body(translated: Record<string, unknown>, model: string): Record<string, unknown>;
  /** The count in its answer; undefined when the answer holds none. */
  read(answer: unknown): number | undefined;
}

/** The fields of `body` in `fields`, in that order. */
export function pickFields(body: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) if (body[field] !== undefined) out[field] = body[field];
  return out;
}

/** A non-negative integer at `answer[field]`, else undefined. */
export function countField(answer: unknown, field: string): number | undefined {
  const value = typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>)[field] : undefined;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}
