/** Chat Completions' names for canonical usage and finish reasons, both directions. */
import type { FinishReason, Usage } from '../canonical.ts';
import { isObject, optNumber, type JsonObject } from '../json-value.ts';

export function readChatUsage(value: unknown): Usage | null {
  if (!isObject(value)) return null;
  const input = optNumber(value.prompt_tokens) ?? 0;
  const output = optNumber(value.completion_tokens) ?? 0;
  const promptDetails = isObject(value.prompt_tokens_details) ? value.prompt_tokens_details : undefined;
  const completionDetails = isObject(value.completion_tokens_details) ? value.completion_tokens_details : undefined;
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: optNumber(value.total_tokens) ?? input + output,
    // DeepSeek reports cache hits as prompt_cache_hit_tokens rather than in the details object.
    cachedInputTokens: optNumber(promptDetails?.cached_tokens) ?? optNumber(value.prompt_cache_hit_tokens) ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: optNumber(completionDetails?.reasoning_tokens) ?? 0,
  };
}

export function writeChatUsage(usage: Usage): JsonObject {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  };
}

export function readChatFinish(value: unknown): FinishReason {
  switch (value) {
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    case 'stop':
      return 'stop';
    default:
      return 'other';
  }
}

export function writeChatFinish(reason: FinishReason): string {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool_calls':
      return 'tool_calls';
    case 'content_filter':
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}
