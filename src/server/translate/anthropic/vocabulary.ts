/**
 * Anthropic Messages' names for canonical usage and finish reasons, both directions.
 * Anthropic's input_tokens excludes cache reads and writes; canonical input includes them.
 */
import type { FinishReason, Usage } from '../canonical.ts';
import { isObject, optNumber, type JsonObject } from '../json-value.ts';

/** Only the fields present: message_delta usage repeats some counters and omits others. */
export function readAnthropicUsage(value: unknown): Partial<Usage> | null {
  if (!isObject(value)) return null;
  const usage: Partial<Usage> = {};
  const input = optNumber(value.input_tokens);
  const cacheRead = optNumber(value.cache_read_input_tokens);
  const cacheWrite = optNumber(value.cache_creation_input_tokens);
  if (input !== undefined) usage.inputTokens = input + (cacheRead ?? 0) + (cacheWrite ?? 0);
  if (cacheRead !== undefined) usage.cachedInputTokens = cacheRead;
  if (cacheWrite !== undefined) usage.cacheWriteTokens = cacheWrite;
  const output = optNumber(value.output_tokens);
  if (output !== undefined) usage.outputTokens = output;
  const details = isObject(value.output_tokens_details) ? value.output_tokens_details : undefined;
  const thinking = optNumber(details?.thinking_tokens);
  if (thinking !== undefined) usage.reasoningTokens = thinking;
  return usage;
}

export function fullUsage(partial: Partial<Usage> | null): Usage | null {
  if (partial === null) return null;
  const input = partial.inputTokens ?? 0;
  const output = partial.outputTokens ?? 0;
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: input + output,
    cachedInputTokens: partial.cachedInputTokens ?? 0,
    cacheWriteTokens: partial.cacheWriteTokens ?? 0,
    reasoningTokens: partial.reasoningTokens ?? 0,
  };
}

export function writeAnthropicUsage(usage: Usage): JsonObject {
  const out: JsonObject = {
    input_tokens: Math.max(0, usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens),
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_input_tokens: usage.cachedInputTokens,
    output_tokens: usage.outputTokens,
  };
  if (usage.reasoningTokens > 0) out.output_tokens_details = { thinking_tokens: usage.reasoningTokens };
  return out;
}

export function readAnthropicFinish(value: unknown): FinishReason {
  switch (value) {
    case 'end_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'stop_sequence':
      return 'stop_sequence';
    case 'tool_use':
      return 'tool_calls';
    case 'pause_turn':
      return 'pause';
    case 'refusal':
      return 'refusal';
    default:
      return 'other';
  }
}

/** A stop_sequence reason needs the sequence; formats that do not say which one matched get end_turn. */
export function writeAnthropicFinish(reason: FinishReason, stopSequence: string | undefined): string {
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'stop_sequence':
      return stopSequence === undefined ? 'end_turn' : 'stop_sequence';
    case 'content_filter':
    case 'refusal':
      return 'refusal';
    case 'pause':
      return 'pause_turn';
    default:
      return 'end_turn';
  }
}

/** The HTTP status an in-stream error type stands for. */
export function anthropicErrorStatus(type: unknown): number {
  switch (type) {
    case 'invalid_request_error':
      return 400;
    case 'authentication_error':
      return 401;
    case 'permission_error':
      return 403;
    case 'not_found_error':
      return 404;
    case 'request_too_large':
      return 413;
    case 'rate_limit_error':
      return 429;
    case 'overloaded_error':
      return 529;
    case 'timeout_error':
      return 504;
    default:
      return 500;
  }
}
