/**
 * System and developer messages after the start of a conversation keep their place and their
 * text in every target (docs/translation.md, "system / developer"):
 *
 *   - chat and Responses: a system (developer) message at that position;
 *   - Anthropic: a `role: "system"` message on the models that take one (mid-conversation system
 *     messages, from claude-opus-4-8 on), else text in the user turn at that position;
 *   - Gemini: text in the user turn at that position (Gemini has only systemInstruction, which is
 *     the conversation's start).
 *
 * The text folded into a user turn is wrapped as `<system-reminder>…</system-reminder>`, the form
 * Claude Code itself falls back to when an API refuses its system messages, so the model can tell
 * it from the user's words.
 *
 * One place is not a position any target takes: between a tool call and its results (every format
 * wants the results right after the call). A system message there moves to just after the results.
 */
import type { Message } from './canonical.ts';

export function markedSystemText(text: string): string {
  return `<system-reminder>\n${text}\n</system-reminder>`;
}

export function systemText(message: Message): string {
  let text = '';
  for (const part of message.parts) if (part.type === 'text') text += part.text;
  return text;
}

/**
 * Anthropic models that take `role: "system"` messages inside `messages`: Claude 4.8 and later
 * (any family). Older ones, and ids this cannot read, get the folded text, which every model takes.
 */
export function anthropicTakesSystemMessages(model: string): boolean {
  const match = /^claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:$|[-@])/.exec(model);
  if (match === null) return false;
  const major = Number(match[1]);
  const minor = match[2] === undefined ? 0 : Number(match[2]);
  return major > 4 || (major === 4 && minor >= 8);
}

/** Moves system messages that sit between a tool call turn and the turn of its results to after the results. */
export function settleSystemMessages(messages: Message[]): void {
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as Message;
    if (message.role !== 'assistant' || !message.parts.some((p) => p.type === 'tool_call')) continue;
    let end = i + 1;
    while (messages[end]?.role === 'system') end++;
    const results = messages[end];
    if (end === i + 1 || results?.role !== 'user' || !results.parts.some((p) => p.type === 'tool_result')) continue;
    const moved = messages.splice(i + 1, end - i - 1);
    messages.splice(i + 2, 0, ...moved);
  }
}
