/**
 * The four API formats a request or an answer can be written in (DESIGN §8): OpenAI chat
 * completions, OpenAI Responses, Anthropic Messages and Gemini generateContent. Defined here, in
 * shared code, because the config (`wire-api`) names them as well as the server's translators.
 */
export const wireFormats = ['chat', 'responses', 'anthropic', 'gemini'] as const;
export type WireFormat = (typeof wireFormats)[number];
