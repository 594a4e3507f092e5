/**
 * The error vocabulary of each client format, typed by the format union: a format added to
 * ClientFormat without its vocabulary here is a compile error.
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import type { ClientFormat } from './client-error.ts';
import { anthropicErrors } from './formats/anthropic.ts';
import { geminiErrors } from './formats/gemini.ts';
import { openaiErrors } from './formats/openai.ts';
import type { ErrorVocabulary } from './vocabulary.ts';

export const errorVocabularies = {
  openai: openaiErrors,
  anthropic: anthropicErrors,
  gemini: geminiErrors,
} as const satisfies Record<ClientFormat, ErrorVocabulary>;

/** The client format whose errors a wire format's clients read (both OpenAI APIs share one). */
export const clientFormatOfWire = {
  chat: 'openai',
  responses: 'openai',
  anthropic: 'anthropic',
  gemini: 'gemini',
} as const satisfies Record<WireFormat, ClientFormat>;
