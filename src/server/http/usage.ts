/**
 * Token usage from the end of a relayed response, without parsing the stream: every format puts
 * its final usage in the last event (or the body), so the last occurrence of each counter in the
 * relay's tail is the answer. OpenAI: prompt_tokens/completion_tokens (Responses: input_tokens/
 * output_tokens); Anthropic: input_tokens/output_tokens (message_start has the input, the final
 * message_delta the output); Gemini: promptTokenCount/candidatesTokenCount.
 */
export interface Usage {
  input: number;
  output: number;
}

const inputPattern = /"(?:prompt_tokens|input_tokens|promptTokenCount)"\s*:\s*(\d+)/g;
const outputPattern = /"(?:completion_tokens|output_tokens|candidatesTokenCount)"\s*:\s*(\d+)/g;

function last(pattern: RegExp, text: string): number | null {
  let value: number | null = null;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) value = Number(m[1]);
  return value;
}

/** `head`: the start of a stream, for a format that reports input tokens only there (Anthropic's message_start). */
export function extractUsage(tail: string, head = ''): Usage | null {
  const output = last(outputPattern, tail);
  if (output === null) return null;
  return { input: last(inputPattern, tail) ?? last(inputPattern, head) ?? 0, output };
}
