/**
 * How many input tokens a request holds, estimated without a tokenizer: the answer to a token
 * count when the upstream has no count API (an OpenAI-compatible chat server) or its count call
 * failed. Agents use these counts to decide when to compact their context, so an estimate that
 * errs high is the safe one: the agent compacts a little early instead of overflowing.
 *
 * Method (docs/translation.md, "Token counts"): the UTF-8 bytes of every text the model reads
 * (system prompts, message text, tool calls' names and arguments, tool results, thinking text,
 * tool definitions as name + description + JSON schema), divided by 4, plus a small fixed cost
 * per message and per tool; images and binary documents count a fixed amount each. Bytes rather
 * than characters, because a CJK character is one to three tokens and three UTF-8 bytes, where
 * "characters / 4" would count a quarter of a token. Measured against o200k_base on the recorded
 * agent corpus by test/unit/token-estimate.test.ts; the figures are in docs/translation.md.
 *
 * One linear pass over the parts and one native byte count per text: no allocation per
 * character, bounded by the request's size (itself bounded by server.body-limit).
 */
import type { MediaSource, Part, Request } from './canonical.ts';

export const BYTES_PER_TOKEN = 4;
/** A message's role and separators. */
export const MESSAGE_TOKENS = 4;
/** A tool definition's framing around its name, description and schema. */
export const TOOL_TOKENS = 8;
/** An image: Anthropic's count for a full-size one (about 1.15 megapixels) is about 1,600. */
export const IMAGE_TOKENS = 1_600;

export function estimateRequestTokens(request: Request): number {
  let bytes = 0;
  let fixed = 0;
  for (const text of request.system) bytes += Buffer.byteLength(text);
  for (const message of request.messages) {
    fixed += MESSAGE_TOKENS;
    for (const part of message.parts) {
      const counted = partCost(part);
      bytes += counted.bytes;
      fixed += counted.tokens;
    }
  }
  for (const tool of request.tools ?? []) {
    fixed += TOOL_TOKENS;
    bytes += Buffer.byteLength(tool.name) + Buffer.byteLength(tool.description ?? '') + Buffer.byteLength(JSON.stringify(tool.parameters));
  }
  return Math.ceil(bytes / BYTES_PER_TOKEN) + fixed;
}

/** For a body no reader could make sense of: its bytes, at the same rate. */
export function estimateRawTokens(byteLength: number): number {
  return Math.ceil(byteLength / BYTES_PER_TOKEN);
}

const noCost = { bytes: 0, tokens: 0 };

function partCost(part: Part): { bytes: number; tokens: number } {
  switch (part.type) {
    case 'text':
      return { bytes: Buffer.byteLength(part.text), tokens: 0 };
    case 'thinking':
      return part.text === '' ? noCost : { bytes: Buffer.byteLength(part.text), tokens: 0 };
    case 'tool_call':
      return { bytes: Buffer.byteLength(part.name) + Buffer.byteLength(part.arguments), tokens: 0 };
    case 'tool_result': {
      let bytes = 0;
      let tokens = 0;
      for (const inner of part.content) {
        if (inner.type === 'text') bytes += Buffer.byteLength(inner.text);
        else tokens += IMAGE_TOKENS;
      }
      return { bytes, tokens };
    }
    case 'image':
      return { bytes: 0, tokens: IMAGE_TOKENS };
    case 'document':
      return documentCost(part.source);
  }
}

/**
 * A plain-text document is its text. A PDF's cost depends on its pages, which the gateway does
 * not parse: a page of a text PDF is a few KB and 1,500 to 3,000 tokens, so one token per 2
 * bytes of the file, and never less than an image. Not measured (the corpus holds no documents).
 */
function documentCost(source: MediaSource): { bytes: number; tokens: number } {
  if (source.kind === 'text') return { bytes: Buffer.byteLength(source.text), tokens: 0 };
  if (source.kind === 'url') return { bytes: 0, tokens: IMAGE_TOKENS };
  return { bytes: 0, tokens: Math.max(IMAGE_TOKENS, Math.ceil((source.data.length * 3) / 4 / 2)) };
}
