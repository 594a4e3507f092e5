/**
 * Token usage from the end of a relayed response, without parsing the stream: every format puts
 * its final usage in the last event (or the body), so the last occurrence of each counter in the
 * relay's tail is the answer. OpenAI: prompt_tokens/completion_tokens (Responses: input_tokens/
 * output_tokens), with cached_tokens and reasoning_tokens in their details; Anthropic:
 * input_tokens/output_tokens (message_start has the input, the final message_delta the output)
 * and cache_read_input_tokens/cache_creation_input_tokens beside them; Gemini:
 * promptTokenCount/candidatesTokenCount, cachedContentTokenCount, thoughtsTokenCount.
 *
 * The counts are normalised to OpenAI's convention, as the translators' canonical usage is:
 * input includes the cached tokens, output includes the reasoning tokens.
 */
export interface Usage {
  input: number;
  output: number;
  cached: number;
  reasoning: number;
}

const inputPattern = /"(?:prompt_tokens|input_tokens|promptTokenCount)"\s*:\s*(\d+)/g;
const outputPattern = /"(?:completion_tokens|output_tokens|candidatesTokenCount)"\s*:\s*(\d+)/g;
const openaiCachedPattern = /"(?:cached_tokens|cachedContentTokenCount)"\s*:\s*(\d+)/g;
const reasoningPattern = /"reasoning_tokens"\s*:\s*(\d+)/g;
const thoughtsPattern = /"thoughtsTokenCount"\s*:\s*(\d+)/g;
const cacheReadPattern = /"cache_read_input_tokens"\s*:\s*(\d+)/g;
const cacheWritePattern = /"cache_creation_input_tokens"\s*:\s*(\d+)/g;

function last(pattern: RegExp, text: string): number | null {
  let value: number | null = null;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) value = Number(m[1]);
  return value;
}

const either = (pattern: RegExp, tail: string, head: string): number | null => last(pattern, tail) ?? (head === '' ? null : last(pattern, head));

/** `head`: the start of a stream, for a format that reports input tokens only there (Anthropic's message_start). */
export function extractUsage(tail: string, head = ''): Usage | null {
  const output = last(outputPattern, tail);
  if (output === null) return null;
  let input = either(inputPattern, tail, head) ?? 0;
  let cached = either(openaiCachedPattern, tail, head) ?? 0;
  // Anthropic counts cache reads and writes apart from input_tokens.
  const cacheRead = either(cacheReadPattern, tail, head);
  if (cacheRead !== null) {
    cached = cacheRead;
    input += cacheRead + (either(cacheWritePattern, tail, head) ?? 0);
  }
  // Gemini counts thoughts apart from candidates.
  const thoughts = last(thoughtsPattern, tail);
  const reasoning = thoughts ?? last(reasoningPattern, tail) ?? 0;
  return { input, output: thoughts === null ? output : output + thoughts, cached, reasoning };
}
