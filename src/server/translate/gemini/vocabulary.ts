/**
 * Gemini's names for canonical usage and finish reasons, both directions. Gemini counts thoughts
 * apart from candidates; canonical output includes them.
 */
import type { FinishReason, Usage } from '../canonical.ts';
import { isObject, optNumber, type JsonObject } from '../json-value.ts';

export function readGeminiUsage(value: unknown): Usage | null {
  if (!isObject(value)) return null;
  const input = (optNumber(value.promptTokenCount) ?? 0) + (optNumber(value.toolUsePromptTokenCount) ?? 0);
  const thoughts = optNumber(value.thoughtsTokenCount) ?? 0;
  const output = (optNumber(value.candidatesTokenCount) ?? 0) + thoughts;
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: optNumber(value.totalTokenCount) ?? input + output,
    cachedInputTokens: optNumber(value.cachedContentTokenCount) ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: thoughts,
  };
}

export function writeGeminiUsage(usage: Usage): JsonObject {
  const out: JsonObject = {
    promptTokenCount: usage.inputTokens,
    candidatesTokenCount: Math.max(0, usage.outputTokens - usage.reasoningTokens),
    totalTokenCount: usage.totalTokens,
  };
  if (usage.cachedInputTokens > 0) out.cachedContentTokenCount = usage.cachedInputTokens;
  if (usage.reasoningTokens > 0) out.thoughtsTokenCount = usage.reasoningTokens;
  return out;
}

/** Gemini says STOP after function calls too; the reader turns that into tool_calls when it saw one. */
export function readGeminiFinish(value: unknown, sawToolCall: boolean): FinishReason {
  switch (value) {
    case 'STOP':
      return sawToolCall ? 'tool_calls' : 'stop';
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
    case 'IMAGE_PROHIBITED_CONTENT':
      return 'content_filter';
    default:
      return 'other';
  }
}

export function writeGeminiFinish(reason: FinishReason): string {
  switch (reason) {
    case 'length':
      return 'MAX_TOKENS';
    case 'content_filter':
    case 'refusal':
      return 'SAFETY';
    case 'other':
      return 'OTHER';
    default:
      return 'STOP';
  }
}
