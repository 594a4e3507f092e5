/**
 * An OpenAI-compatible server (vLLM, Ollama, DeepSeek, LiteLLM, …): it speaks the one OpenAI API
 * its `wire-api` names; a chat or Responses request of the other kind is translated to it. There
 * is no default base URL: the config must say where the server is.
 */
import type { ProviderDescriptor } from '../descriptor.ts';
import { openaiLike } from '../openai-family.ts';

const CHAT = Object.freeze(['chat'] as const);
const RESPONSES = Object.freeze(['responses'] as const);

export const openaiCompatible: ProviderDescriptor = {
  ...openaiLike,
  type: 'openai-compatible',
  defaultBaseUrl: null,
  speaks: (config) => (config.wireApi === 'responses' ? RESPONSES : CHAT),
  translatesTo: (config) => config.wireApi,
  // vLLM, Ollama, DeepSeek… share no count endpoint: a count is estimated.
  countTokens: null,
};
