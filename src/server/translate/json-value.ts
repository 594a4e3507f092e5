/**
 * Narrowing for bodies that arrive as `unknown` JSON. Readers are lenient about what they do not
 * use and precise about what they do: a wrong type where a value matters is a 400, not a crash.
 */
import { TranslationError } from './translation-error.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asObject(value: unknown, what: string): JsonObject {
  if (!isObject(value)) throw new TranslationError(`${what} must be a JSON object.`);
  return value;
}

export function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new TranslationError(`${what} must be an array.`);
  return value;
}

export function optString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function optNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function optBoolean(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/** Copies the keys whose value is defined, so written bodies carry no `"key": undefined` noise. */
export function compact<T extends JsonObject>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}

/**
 * Tool arguments as the object Anthropic and Gemini carry. Empty text is `{}` (a call with no
 * arguments); anything that is not a JSON object cannot be expressed there.
 */
export function parseArguments(text: string, toolName: string): JsonObject {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TranslationError(`The arguments of the call to tool "${toolName}" are not valid JSON, which the upstream format requires.`);
  }
  if (!isObject(value)) throw new TranslationError(`The arguments of the call to tool "${toolName}" must be a JSON object.`);
  return value;
}

/** Like parseArguments, for upstream output: a model's malformed arguments must not fail the client's response. */
export function parseArgumentsLeniently(text: string): JsonObject {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : { value };
  } catch {
    return {};
  }
}
