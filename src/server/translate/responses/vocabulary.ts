/** OpenAI Responses' names for canonical usage and finish reasons, both directions. */
import type { FinishReason, ThinkingPart, Usage } from '../canonical.ts';
import { isObject, optNumber, type JsonObject } from '../json-value.ts';
import { signatureForSlot, signatureFromSlot } from '../signatures.ts';

export function readResponsesUsage(value: unknown): Usage | null {
  if (!isObject(value)) return null;
  const input = optNumber(value.input_tokens) ?? 0;
  const output = optNumber(value.output_tokens) ?? 0;
  const inputDetails = isObject(value.input_tokens_details) ? value.input_tokens_details : undefined;
  const outputDetails = isObject(value.output_tokens_details) ? value.output_tokens_details : undefined;
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: optNumber(value.total_tokens) ?? input + output,
    cachedInputTokens: optNumber(inputDetails?.cached_tokens) ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: optNumber(outputDetails?.reasoning_tokens) ?? 0,
  };
}

export function writeResponsesUsage(usage: Usage): JsonObject {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedInputTokens },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.totalTokens,
  };
}

/** Responses has a status, not a finish reason: only incomplete responses say why. */
export function readResponsesFinish(status: unknown, incompleteDetails: unknown, sawToolCall: boolean): FinishReason {
  if (status === 'incomplete') {
    const reason = isObject(incompleteDetails) ? incompleteDetails.reason : undefined;
    return reason === 'content_filter' ? 'content_filter' : 'length';
  }
  if (status === 'failed' || status === 'cancelled') return 'other';
  return sawToolCall ? 'tool_calls' : 'stop';
}

export function writeResponsesStatus(reason: FinishReason): { status: string; incomplete_details: JsonObject | null } {
  if (reason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (reason === 'content_filter' || reason === 'refusal') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/**
 * A reasoning item's encrypted_content is the Responses client's slot for a signature: another
 * provider's is tagged with its signer (signatures.ts). Anthropic's redacted thinking is marked
 * apart, since it goes back as a different block.
 */
export const REDACTED_MARK = 'anthropic-redacted:';

export function encryptedContentOf(part: ThinkingPart): string | undefined {
  if (part.redacted !== undefined) return REDACTED_MARK + part.redacted;
  return part.signature === undefined ? undefined : signatureForSlot('openai', part.signer ?? 'openai', part.signature);
}

export function thinkingFromEncrypted(text: string, encrypted: string | undefined): ThinkingPart {
  if (encrypted === undefined || encrypted === '') return { type: 'thinking', text };
  if (encrypted.startsWith(REDACTED_MARK)) return { type: 'thinking', text: '', redacted: encrypted.slice(REDACTED_MARK.length) };
  const { signer, signature } = signatureFromSlot('openai', encrypted);
  return { type: 'thinking', text, signature, signer };
}
