/**
 * The one internal shape every wire format is read into and written from. Adding a format means
 * one reader (wire → canonical) and one writer (canonical → wire); no format knows another.
 *
 * The model is Anthropic-like (messages of typed parts, tool results as parts of a user turn)
 * because that is the richest of the four: chat's `tool` messages, Gemini's `functionResponse`
 * parts and Responses' `function_call_output` items all fold into it without loss.
 */
import type { Signer } from './signatures.ts';
import type { ToolNames } from './tool-names.ts';


/**
 * Token counts in one convention whatever the upstream reported. `inputTokens` counts the whole
 * prompt (cache reads and writes included, as OpenAI and Gemini count it; Anthropic reports them
 * apart and its reader adds them back); `outputTokens` counts everything generated, reasoning
 * included (as OpenAI and Anthropic count it; Gemini reports thoughts apart).
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, totalTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
}

/** Where the bytes of an image or document are. `text` is a plain-text document (Anthropic's text source). */
export type MediaSource =
  | { kind: 'base64'; mediaType: string; data: string }
  | { kind: 'url'; url: string; mediaType?: string }
  | { kind: 'text'; text: string };

export interface TextPart {
  type: 'text';
  text: string;
}

export interface ImagePart {
  type: 'image';
  source: MediaSource;
  /** OpenAI's detail hint; the other formats have none. */
  detail?: 'auto' | 'low' | 'high';
}

export interface DocumentPart {
  type: 'document';
  source: MediaSource;
  filename?: string;
  title?: string;
}

/**
 * Reasoning the model did before answering. `signature` is the opaque token a provider needs back
 * to trust the block (Anthropic's signature, Responses' encrypted_content, a Gemini thought's
 * thoughtSignature); `redacted` holds Anthropic's encrypted redacted_thinking data, in which case
 * `text` is empty.
 */
export interface ThinkingPart {
  type: 'thinking';
  text: string;
  signature?: string;
  /** Who issued `signature`; only that provider accepts it back (see signatures.ts). */
  signer?: Signer;
  redacted?: string;
}

/**
 * What a client-side tool is besides a function: a Responses `custom` tool (free-form text input,
 * carried as a function with one string parameter `input`) or a client-executed `tool_search`.
 */
export type ToolKind = 'function' | 'custom' | 'tool_search';

export interface ToolCallPart {
  type: 'tool_call';
  id: string;
  /** The client's name for the tool (within its namespace) until tool-names.ts gives it the upstream's. */
  name: string;
  /** JSON text, as OpenAI carries it; formats that carry an object parse it once when written. */
  arguments: string;
  /** Gemini's thoughtSignature for this call, which Gemini 3 requires back in later turns. */
  signature?: string;
  /** A Responses namespace tool's namespace. */
  namespace?: string;
  /** Absent for a function. A custom call's arguments are `{"input": text}`. */
  kind?: Exclude<ToolKind, 'function'>;
}

export interface ToolResultPart {
  type: 'tool_result';
  id: string;
  /** The called tool's name; Gemini needs it and chat does not carry it, so it is linked from the call. */
  name?: string;
  content: Array<TextPart | ImagePart>;
  isError?: boolean;
}

export type Part = TextPart | ImagePart | DocumentPart | ThinkingPart | ToolCallPart | ToolResultPart;

/**
 * A turn of the conversation. `system` is a system or developer message that came after the
 * conversation started (Claude Code's environment after the prompt, a chat client's mid-run
 * instruction): it holds text parts only and stays at its place (see system-messages.ts);
 * leading ones are `Request.system`.
 */
export interface Message {
  role: 'user' | 'assistant' | 'system';
  parts: Part[];
  /** chat's participant name; only chat can carry it. */
  name?: string;
  /** A system message the client sent as `developer` (OpenAI formats keep the role). */
  developer?: boolean;
}

export interface ToolDefinition {
  /** The client's name (within its namespace) until tool-names.ts gives it the upstream's. */
  name: string;
  description?: string;
  /** A JSON Schema object (never Gemini's OpenAPI subset: the Gemini reader converts it). */
  parameters: Record<string, unknown>;
  strict?: boolean;
  /** A Responses namespace tool's namespace (`functions`, the default one, is no namespace). */
  namespace?: string;
  kind?: Exclude<ToolKind, 'function'>;
}

/**
 * A tool the provider runs itself. Each format's reader maps its own to these, each writer to its
 * own equivalent: OpenAI `web_search` / Anthropic `web_search_*` / Gemini `googleSearch`, and
 * OpenAI `code_interpreter` / Anthropic `code_execution_*` / Gemini `codeExecution`.
 */
export type BuiltinTool = ({ type: 'web_search'; allowedDomains?: string[]; blockedDomains?: string[] } | { type: 'code_execution' }) & {
  /** What the client called it (its own type name), to say what was left out. */
  label: string;
};

export type ToolChoice = { type: 'auto' } | { type: 'none' } | { type: 'required' } | { type: 'tool'; name: string };

export type ResponseFormat =
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean; description?: string };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';

/** What the client asked for; writers turn an effort into a budget or back (see reasoning.ts). */
export interface ReasoningConfig {
  enabled: boolean;
  effort?: ReasoningEffort;
  budgetTokens?: number;
}

export interface Request {
  /** Leading system and developer instructions, in order; later ones are `system` messages. */
  system: string[];
  messages: Message[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  reasoning?: ReasoningConfig;
  user?: string;
  builtins?: BuiltinTool[];
  /**
   * What the target cannot take and the translation left out (`tool:file_search`,
   * `block:web_search_tool_result`, …): readers and writers add to it, the gateway names it in a
   * response header and a log line, or refuses the request when configured to.
   */
  omitted: string[];
}

/**
 * Why generation stopped. `stop_sequence` carries the matched sequence where the upstream says
 * which one (Anthropic); `other` is anything without an equivalent elsewhere.
 */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'stop_sequence' | 'refusal' | 'pause' | 'other';

export interface Response {
  id?: string;
  model?: string;
  parts: Array<TextPart | ThinkingPart | ToolCallPart>;
  finish: FinishReason;
  stopSequence?: string;
  usage: Usage | null;
}

/** Context a writer needs that the canonical response does not carry. */
export interface ResponseContext {
  /** The model id the client asked for: echoed so the client never sees the upstream's. */
  model: string;
  requestId: string;
  /** Unix seconds for `created` fields; defaults to now (tests pin it). */
  created?: number;
  /** The client's tools by their upstream names (tool-names.ts); absent: names are the client's. */
  tools?: ToolNames;
  /**
   * chat streams: send the final usage chunk (`choices: []`), as OpenAI does only when the client
   * set stream_options.include_usage: clients that did not ask may index choices[0] blindly.
   * Default false. usage() reports the counts for metrics either way.
   */
  includeUsage?: boolean;
}

/**
 * Canonical stream events, as method calls so a reader allocates no event objects. Readers call
 * them in the upstream's order; writers derive their own block structure from the sequence.
 * Tool calls are numbered 0, 1, … in the order they start.
 */
export interface StreamSink {
  start(id: string | undefined, model: string | undefined): void;
  text(delta: string): void;
  thinking(delta: string): void;
  thinkingSignature(signature: string, signer: Signer): void;
  redactedThinking(data: string): void;
  toolCallStart(index: number, id: string, name: string, signature?: string): void;
  toolCallArgs(index: number, delta: string): void;
  toolCallEnd(index: number): void;
  /** Counts so far; fields the upstream did not send are left as they were. */
  usage(usage: Partial<Usage>): void;
  finish(reason: FinishReason, stopSequence?: string): void;
  /** The upstream's terminal event (chat [DONE], message_stop, response.completed, a Gemini finishReason). */
  done(): void;
  /** The upstream reported an error inside the stream. */
  error(message: string, status: number): void;
}

/** Fills tool results' names from the calls they answer, so writers that need a name (Gemini) have it. */
export function linkToolResultNames(messages: Message[]): void {
  const names = new Map<string, string>();
  for (const message of messages) {
    for (const part of message.parts) {
      if (part.type === 'tool_call') names.set(part.id, part.name);
      else if (part.type === 'tool_result' && part.name === undefined) {
        const name = names.get(part.id);
        if (name !== undefined) part.name = name;
      }
    }
  }
}

/** Arguments as JSON text: a call with none is `{}`, which every client can parse. */
export function argumentsText(part: ToolCallPart): string {
  return part.arguments === '' ? '{}' : part.arguments;
}
