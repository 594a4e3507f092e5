/**
 * Format translation: a client speaking one API (chat, responses, anthropic, gemini) uses a model
 * served in another. Everything goes through the canonical shape in canonical.ts: each format has
 * one reader (wire → canonical) and one writer (canonical → wire) for requests and responses, and
 * one of each for streams, so any pair works and a new format adds two modules, not N² of them.
 * Same-format traffic never comes here (the gateway passes it through), though from === to works.
 */
import { AnthropicStreamReader } from './anthropic/stream-reader.ts';
import { AnthropicStreamWriter } from './anthropic/stream-writer.ts';
import { readAnthropicRequest, readAnthropicResponse } from './anthropic/reader.ts';
import { writeAnthropicRequest, writeAnthropicResponse } from './anthropic/writer.ts';
import { anthropicBuiltinName, builtinsFor } from './builtin-tools.ts';
import type { WireFormat } from '../../shared/wire-format.ts';
import type { Request, Response, ResponseContext, StreamSink, Usage } from './canonical.ts';
import { ChatStreamReader } from './chat/stream-reader.ts';
import { ChatStreamWriter } from './chat/stream-writer.ts';
import { readChatRequest, readChatResponse } from './chat/reader.ts';
import { writeChatRequest, writeChatResponse } from './chat/writer.ts';
import type { ErrorOptions } from '../errors/vocabulary.ts';
import { clientStatus, errorBody, errorMessage, errorStatus } from './error-bodies.ts';
import { GeminiStreamReader } from './gemini/stream-reader.ts';
import { GeminiStreamWriter } from './gemini/stream-writer.ts';
import { readGeminiRequest, readGeminiResponse } from './gemini/reader.ts';
import { writeGeminiRequest, writeGeminiResponse } from './gemini/writer.ts';
import { ResponsesStreamReader } from './responses/stream-reader.ts';
import { ResponsesStreamWriter } from './responses/stream-writer.ts';
import { readResponsesRequest, readResponsesResponse } from './responses/reader.ts';
import { writeResponsesRequest, writeResponsesResponse } from './responses/writer.ts';
import { SseDecoder, type SseEventHandler } from './sse.ts';
import type { StreamWriter } from './stream-writer.ts';
import { STRUCTURED_OUTPUT_TOOL, STRUCTURED_OUTPUT_WRAPPED_TOOL } from './structured-output.ts';
import { settleSystemMessages } from './system-messages.ts';
import { assignToolNames, type ToolNames } from './tool-names.ts';
import { TranslationError } from './translation-error.ts';

export type { Request as CanonicalRequest, ResponseContext, Usage } from './canonical.ts';
export type { WireFormat } from '../../shared/wire-format.ts';
export { TranslationError, isTranslationError } from './translation-error.ts';
export type { ToolNames } from './tool-names.ts';
export { DEFAULT_ANTHROPIC_MAX_TOKENS } from './anthropic/writer.ts';

const readRequest: Record<WireFormat, (body: unknown) => Request> = {
  chat: readChatRequest,
  responses: readResponsesRequest,
  anthropic: readAnthropicRequest,
  gemini: readGeminiRequest,
};

const writeRequest: Record<WireFormat, (request: Request, model: string, stream: boolean) => unknown> = {
  chat: writeChatRequest,
  responses: writeResponsesRequest,
  anthropic: writeAnthropicRequest,
  gemini: writeGeminiRequest,
};

const readResponse: Record<WireFormat, (body: unknown, requestId: string) => Response> = {
  chat: readChatResponse,
  responses: readResponsesResponse,
  anthropic: readAnthropicResponse,
  gemini: readGeminiResponse,
};

const writeResponse: Record<WireFormat, (response: Response, ctx: ResponseContext) => unknown> = {
  chat: writeChatResponse,
  responses: writeResponsesResponse,
  anthropic: writeAnthropicResponse,
  gemini: writeGeminiResponse,
};

/** A client request body in format `from`, read into the canonical shape (for the token estimate). */
export function readCanonicalRequest(from: WireFormat, body: unknown): Request {
  return readRequest[from](body);
}

/** What to do with what the target cannot take (the config's `translation.unsupported`). */
export type UnsupportedPolicy = 'omit' | 'reject';

export interface TranslatedRequest {
  body: unknown;
  stream: boolean;
  model: string;
  /** What was left out (`tool:web_search`, `item:web_search_call`, …), each once, in the order met. */
  omitted: string[];
  /** The client's tools by the upstream's names for them: the answer's ResponseContext.tools. */
  tools: ToolNames;
}

/**
 * A client request body in format `from` → the upstream body in format `to`. `model` is the
 * upstream model id: in the body for every format but Gemini, which carries it in the URL (so it
 * is returned too). Throws TranslationError (status 400) for what the target cannot express, and,
 * with `unsupported: 'reject'`, for what it would otherwise leave out.
 */
export function translateRequest(
  from: WireFormat,
  to: WireFormat,
  body: unknown,
  opts: { model: string; stream: boolean; unsupported?: UnsupportedPolicy },
): TranslatedRequest {
  const request = readRequest[from](body);
  settleSystemMessages(request.messages);
  builtinsFor(request, to, opts.model);
  const tools = assignToolNames(request, to, reservedNames(request, to));
  const written = writeRequest[to](request, opts.model, opts.stream);
  const omitted = omittedList(request.omitted);
  if (omitted.length > 0 && opts.unsupported === 'reject') {
    throw new TranslationError(`This request holds what the upstream's API cannot take, and the gateway is set to refuse rather than leave it out (translation.unsupported: reject): ${omitted.join(', ')}.`);
  }
  return { body: written, stream: opts.stream, model: opts.model, omitted, tools };
}

/**
 * Labels name client-sent types (`item:<type>`), and go into a response header and a log line:
 * kept to a header's safe characters, each once, at most MAX_OMITTED of them.
 */
const MAX_OMITTED = 16;

function omittedList(labels: string[]): string[] {
  if (labels.length === 0) return labels;
  const unique = [...new Set(labels.map((label) => label.replace(/[^\w.:-]/g, '_').slice(0, 80)))];
  return unique.length <= MAX_OMITTED ? unique : [...unique.slice(0, MAX_OMITTED), `${unique.length - MAX_OMITTED} more`];
}

/** Names the Anthropic writer gives its own tools: a client tool may not have them there. */
function reservedNames(request: Request, to: WireFormat): string[] {
  if (to !== 'anthropic') return [];
  return [STRUCTURED_OUTPUT_TOOL, STRUCTURED_OUTPUT_WRAPPED_TOOL, ...(request.builtins ?? []).map(anthropicBuiltinName)];
}

/** A non-streaming upstream response in format `from` → the client's response in format `to`. */
export function translateResponse(from: WireFormat, to: WireFormat, body: unknown, ctx: ResponseContext): unknown {
  const response = readResponse[from](body, ctx.requestId);
  const tools = ctx.tools;
  if (tools !== undefined) {
    for (const part of response.parts) {
      if (part.type !== 'tool_call') continue;
      const tool = tools.client(part.name);
      part.name = tool.name;
      if (tool.namespace !== undefined) part.namespace = tool.namespace;
      if (tool.kind !== undefined) part.kind = tool.kind;
    }
  }
  return writeResponse[to](response, ctx);
}

/** An upstream error (status + body in format `from`) → the same error in the client's format `to`. */
export function translateError(from: WireFormat, to: WireFormat, status: number, body: unknown): { status: number; body: unknown } {
  if (from === to) return { status, body };
  const upstreamStatus = from === 'gemini' ? errorStatus(body, status) : status;
  const outStatus = clientStatus(to, upstreamStatus);
  return { status: outStatus, body: errorBody(to, outStatus, errorMessage(body, status)) };
}

/** A gateway-originated error in a client's format; `options.kind` overrides the kind the status implies. */
export function makeError(format: WireFormat, status: number, message: string, options: ErrorOptions = {}): unknown {
  return errorBody(format, status, message, options);
}

export interface StreamTranslator {
  /** Upstream bytes, split anywhere. Translated events are written before this returns. */
  push(chunk: Buffer): void;
  /** The upstream ended: write the client format's final events (or an error if it ended early). */
  end(): void;
  /** End the client's stream with an error event in its format (never a fake success). */
  fail(message: string): void;
  /** Token counts seen so far (complete once the stream has ended), for metrics. */
  usage(): Usage | null;
  /**
   * Whether the client's stream was ended by an error event: the upstream reported an error in
   * its stream, sent something unreadable, stopped without saying why, or `fail` was called.
   * Nothing more will be written.
   */
  failed(): boolean;
}

function createStreamWriter(to: WireFormat, write: (bytes: string) => void, ctx: ResponseContext): StreamWriter {
  switch (to) {
    case 'chat':
      return new ChatStreamWriter(write, ctx);
    case 'responses':
      return new ResponsesStreamWriter(write, ctx);
    case 'anthropic':
      return new AnthropicStreamWriter(write, ctx);
    case 'gemini':
      return new GeminiStreamWriter(write, ctx);
  }
}

function createStreamReader(from: WireFormat, sink: StreamSink, ctx: ResponseContext): SseEventHandler {
  switch (from) {
    case 'chat':
      return new ChatStreamReader(sink, ctx.requestId);
    case 'responses':
      return new ResponsesStreamReader(sink);
    case 'anthropic':
      return new AnthropicStreamReader(sink);
    case 'gemini':
      return new GeminiStreamReader(sink, ctx.requestId);
  }
}

/**
 * A streaming translator: upstream SSE bytes in format `from` → client SSE in format `to`, one
 * `write` per client event, each written as soon as the upstream event behind it is complete.
 */
export function createStreamTranslator(from: WireFormat, to: WireFormat, write: (bytes: string) => void, ctx: ResponseContext): StreamTranslator {
  const writer = createStreamWriter(to, write, ctx);
  const decoder = new SseDecoder(createStreamReader(from, writer, ctx));
  return {
    push: (chunk) => decoder.push(chunk),
    end: () => {
      decoder.end();
      writer.end();
    },
    fail: (message) => writer.fail(message),
    usage: () => writer.collectedUsage(),
    failed: () => writer.hasFailed(),
  };
}
