/** OpenAI's own API: it serves both chat completions and Responses, so both pass through. */
import { countField, pickFields } from '../count-tokens-api.ts';
import type { ProviderDescriptor } from '../descriptor.ts';
import { openaiLike } from '../openai-family.ts';

const BOTH = Object.freeze(['chat', 'responses'] as const);
/** openai-node 6.30's InputTokenCountParams, less conversation and previous_response_id (server-side state); any other parameter is refused. */
const COUNT_FIELDS = Object.freeze(['model', 'input', 'instructions', 'tools', 'tool_choice', 'parallel_tool_calls', 'reasoning', 'text', 'truncation']);

export const openai: ProviderDescriptor = {
  ...openaiLike,
  type: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  speaks: () => BOTH,
  // Anthropic and Gemini requests go to the API `wire-api` names.
  translatesTo: (config) => config.wireApi,
  // POST /v1/responses/input_tokens (openai-node's responses.inputTokens.count), whatever wire-api says.
  countTokens: {
    wire: 'responses',
    url: (base) => `${base}/responses/input_tokens`,
    body: (translated) => pickFields(translated, COUNT_FIELDS),
    read: (answer) => countField(answer, 'input_tokens'),
  },
};
