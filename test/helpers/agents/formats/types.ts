/** What every wire format of the strict fakes provides, and the parts they share. */
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Script } from '../strict-upstream.ts';

export type Format = 'anthropic' | 'responses' | 'chat' | 'gemini';

/** How the Responses fake answers a WebSocket upgrade: an HTTP status, a dropped connection, or nothing at all. */
export type WebSocketAnswer = 426 | 404 | 400 | 405 | 501 | 200 | 'close' | 'hang';

export interface Route {
  endpoint: string;
  /** From the path (Gemini) or undefined (the body says it). */
  model?: string;
  /** From the path (Gemini's streamGenerateContent?alt=sse); others read the body. */
  stream?: boolean;
}

export interface Problem {
  message: string;
  param?: string;
}

/** Choices where the real API's rule depends on something the fake cannot know. */
export interface Rules {
  /** Anthropic: whether `role: "system"` messages are taken (see formats/anthropic.ts). */
  systemMessages?: 'by-model' | 'never' | 'always';
}

export interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  /** A JSON body, or… */
  json?: unknown;
  /** …the SSE events, written one by one. */
  events?: string[];
  /** What the fake took the request for (`plain`, `tool-call`, `tool-result`, `structured`, `count-tokens`…). */
  kind: string;
  /** The shell tool's result that came back in this request. */
  toolResult?: string;
}

export interface FormatSpec {
  route(method: string, url: string): Route | null;
  validate(route: Route, body: unknown, rules: Rules): Problem | null;
  answer(route: Route, body: Record<string, unknown>, script: Script): Answer;
  errorBody(status: number, message: string, param?: string): unknown;
  invalidJsonMessage: string;
}

export type Json = Record<string, unknown>;

/**
 * The shell tools of every agent (Claude Code's Bash, Codex's exec_command, Gemini CLI's
 * run_shell_command, and common others): each fake must find any of them, since through the
 * gateway an agent's tools reach an upstream of another format with their names unchanged.
 */
export const SHELL_TOOLS: readonly string[] = ['Bash', 'bash', 'shell', 'exec_command', 'run_shell_command', 'shell_command', 'local_shell'];

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** An id in the style of each provider: a prefix and random base62. */
export function randomId(prefix: string, length = 24): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return prefix + out;
}

/** One SSE event: an optional `event:` line and one `data:` line. */
export function sseEvent(data: unknown, event?: string): string {
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

/** What the fake answers to the conversation it was given. */
export type Decision =
  | { kind: 'tool-call'; command: string }
  | { kind: 'tool-result'; output: string; text: string }
  | { kind: 'plain'; text: string }
  | { kind: 'structured'; value: unknown }
  | { kind: 'side'; what: string; text: string };

/** What a format reads out of a request for the decision. */
export interface Conversation {
  /** The user's text when the conversation ends in the user's prompt (not a tool result). */
  lastUserText: string | undefined;
  /** The shell tool's result when the conversation ends in one. */
  lastToolResult: string | undefined;
  /** The agent declared a shell tool the fake can call. */
  hasShellTool: boolean;
  /** The JSON schema of a structured-output request. */
  schema: unknown;
  /** The system prompt / instructions, to tell an agent's side request (title, summary, topic check) from a turn. */
  instructions?: string;
}

/**
 * Side requests an agent makes besides the conversation (no shell tool offered): what each one
 * asks for by its instructions, and an answer the agent can use.
 */
const SIDE_REQUESTS: Array<{ what: string; pattern: RegExp; text: string }> = [
  { what: 'topic', pattern: /new (conversation )?topic|isNewTopic/i, text: JSON.stringify({ isNewTopic: false, title: null }) },
  { what: 'title', pattern: /\btitle\b/i, text: 'Fake session title' },
  { what: 'summary', pattern: /\bsummar(y|ize|ise)/i, text: 'Summary: the user talked to the strict fake upstream.' },
];

export function decide(conversation: Conversation, script: Script): Decision {
  if (conversation.schema !== undefined) return { kind: 'structured', value: instanceOf(conversation.schema) };
  if (!conversation.hasShellTool && conversation.instructions !== undefined && conversation.lastToolResult === undefined) {
    const side = SIDE_REQUESTS.find((s) => s.pattern.test(conversation.instructions as string));
    if (side !== undefined) return { kind: 'side', what: side.what, text: side.text };
  }
  if (conversation.lastToolResult !== undefined) return { kind: 'tool-result', output: conversation.lastToolResult, text: `${script.resultPrefix}${conversation.lastToolResult.trim()}` };
  if (
    conversation.lastUserText !== undefined &&
    script.trigger !== undefined &&
    script.command !== undefined &&
    conversation.hasShellTool &&
    conversation.lastUserText.includes(script.trigger)
  ) {
    return { kind: 'tool-call', command: script.command };
  }
  return { kind: 'plain', text: script.text };
}

/**
 * A small instance of a JSON schema (or Gemini's OpenAPI-style Schema): every property, enums'
 * first value, strings "fake", numbers their minimum or 0, booleans false, arrays their minimum of
 * items. Enough for an agent's side request (title, classifier, topic check) to parse.
 */
export function instanceOf(schema: unknown, depth = 0): unknown {
  if (!isObject(schema) || depth > 8) return 'fake';
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('const' in schema) return schema.const;
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const options = asArray(schema[key]);
    if (options.length > 0) return instanceOf(options.find((o) => isObject(o) && o.type !== 'null') ?? options[0], depth + 1);
  }
  const rawType = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  const type = typeof rawType === 'string' ? rawType.toLowerCase() : isObject(schema.properties) ? 'object' : 'string';
  switch (type) {
    case 'object': {
      const out: Json = {};
      const props = isObject(schema.properties) ? schema.properties : {};
      for (const [name, sub] of Object.entries(props)) out[name] = instanceOf(sub, depth + 1);
      // Gemini CLI's next-speaker check: "user" ends the turn (the first enum value may not).
      if (isObject(props.next_speaker) && asArray(props.next_speaker.enum).includes('user')) out.next_speaker = 'user';
      return out;
    }
    case 'array': {
      const n = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return Array.from({ length: n }, () => instanceOf(schema.items, depth + 1));
    }
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 0;
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return 'fake';
  }
}

/** Every string inside a value, joined by newlines (a tool result's text, however it is wrapped). */
export function textIn(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(textIn).filter((s) => s !== '').join('\n');
  if (isObject(value)) {
    if (typeof value.text === 'string') return value.text;
    return Object.values(value).map(textIn).filter((s) => s !== '').join('\n');
  }
  return '';
}

/** The arguments for a shell tool, built from its schema: the command property (a string or argv) and any other required string. */
export function shellArguments(schema: unknown, command: string): Json {
  const props = isObject(schema) && isObject(schema.properties) ? schema.properties : {};
  const required = isObject(schema) ? asArray(schema.required).filter((r): r is string => typeof r === 'string') : [];
  const key = ['command', 'cmd', 'script'].find((k) => k in props) ?? 'command';
  const prop = props[key];
  const wantsArgv = isObject(prop) && String(prop.type).toLowerCase() === 'array';
  const args: Json = { [key]: wantsArgv ? ['bash', '-lc', command] : command };
  for (const name of required) {
    if (name in args) continue;
    const sub = props[name];
    args[name] = name === 'description' ? 'Print the file the user asked about' : instanceOf(sub);
  }
  if ('description' in props && !('description' in args)) args.description = 'Print the file the user asked about';
  return args;
}

/** What the fake records it took a request for: the decision, `side:<what>` for a side request. */
export const kindOf = (decision: Decision): string => (decision.kind === 'side' ? `side:${decision.what}` : decision.kind);
