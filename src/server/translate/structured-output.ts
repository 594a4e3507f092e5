/**
 * Anthropic structured outputs (output_config.format) exist only on recent models, so a JSON
 * response format becomes a tool the model is forced to call, which works on every Claude model;
 * its input becomes the answer text on the way back. Anthropic tool inputs are objects, so a
 * schema whose root is not an object (Gemini allows arrays) is wrapped in `{ value: … }` under a
 * second name, and unwrapped by that name. Both names are reserved: a client tool called the
 * same would be taken for them.
 */
export const STRUCTURED_OUTPUT_TOOL = 'json_response';
export const STRUCTURED_OUTPUT_WRAPPED_TOOL = 'json_response_value';

export const STRUCTURED_OUTPUT_DESCRIPTION = 'Respond to the user with a JSON value that matches this schema. Always use this tool to answer.';

export function isStructuredOutputTool(name: string): boolean {
  return name === STRUCTURED_OUTPUT_TOOL || name === STRUCTURED_OUTPUT_WRAPPED_TOOL;
}

/** The answer text a structured-output tool call stands for. */
export function structuredOutputText(name: string, input: unknown): string {
  if (name === STRUCTURED_OUTPUT_WRAPPED_TOOL && typeof input === 'object' && input !== null && 'value' in input) {
    return JSON.stringify((input as { value: unknown }).value);
  }
  return JSON.stringify(input);
}
