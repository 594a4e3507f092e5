/** OpenAI's own API: it serves both chat completions and Responses, so both pass through. */
import type { ProviderDescriptor } from '../descriptor.ts';
import { openaiLike } from '../openai-family.ts';

const BOTH = Object.freeze(['chat', 'responses'] as const);

export const openai: ProviderDescriptor = {
  ...openaiLike,
  type: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  speaks: () => BOTH,
  // Anthropic and Gemini requests go to the API `wire-api` names.
  translatesTo: (config) => config.wireApi,
};
