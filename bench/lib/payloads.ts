/** The fake upstream's non-streaming answer, shared by the Node upstream and nginx's static one. */
export const COMPLETION_JSON = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the bench upstream. This reply is a fixed, precomputed buffer.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 14, total_tokens: 26 },
});
