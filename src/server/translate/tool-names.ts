/**
 * The names a client gives its tools are not always names the upstream takes: Codex groups tools
 * in namespaces (`multi_agent_v1` → `spawn_agent`), Gemini allows `.` and `:`, and each API has its
 * own pattern and length limit. Each client tool gets a name valid for the target:
 *
 *   - its own name when the target takes it (the usual case, so nothing changes);
 *   - `<namespace>__<name>` for a namespaced tool (`multi_agent_v1__spawn_agent`);
 *   - a name that is invalid, too long or already taken is cleaned (invalid characters → `_`) and
 *     ends in `_` + 8 hex digits of a SHA-256 of the tool's identity (namespace and name), cut to
 *     fit: stable, and a second collision tries the next hash, so two tools never share a name.
 *
 * The map is built from the request alone, in the request's order (tools, then calls in the
 * history), so the same request always gets the same names and nothing is kept between requests:
 * the answer's calls are mapped back with the map of the request they answer.
 */
import { createHash } from 'node:crypto';
import type { WireFormat } from '../../shared/wire-format.ts';
import type { Request, ToolKind } from './canonical.ts';

/** A tool as the client knows it. */
export interface ClientTool {
  name: string;
  namespace?: string;
  kind?: Exclude<ToolKind, 'function'>;
}

/** Names each target takes (Anthropic "Define tools", OpenAI's function names, @google/genai FunctionDeclaration.name). */
const VALID: Record<WireFormat, RegExp> = {
  chat: /^[a-zA-Z0-9_-]{1,64}$/,
  responses: /^[a-zA-Z0-9_-]{1,64}$/,
  anthropic: /^[a-zA-Z0-9_-]{1,64}$/,
  gemini: /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/,
};
const INVALID_CHAR: Record<WireFormat, RegExp> = {
  chat: /[^a-zA-Z0-9_-]/g,
  responses: /[^a-zA-Z0-9_-]/g,
  anthropic: /[^a-zA-Z0-9_-]/g,
  gemini: /[^a-zA-Z0-9_.:-]/g,
};
const MAX_LENGTH = 64;
const NAMESPACE_SEPARATOR = '__';

function identity(tool: ClientTool): string {
  return `${tool.namespace ?? ''}\u0000${tool.name}`;
}

export class ToolNames {
  readonly #target: WireFormat;
  readonly #byUpstream = new Map<string, ClientTool>();
  readonly #byClient = new Map<string, string>();
  readonly #taken: Set<string>;

  /** `reserved`: names the writer itself uses in this request (Anthropic's structured-output tool, its server tools). */
  constructor(target: WireFormat, reserved: Iterable<string> = []) {
    this.#target = target;
    this.#taken = new Set(reserved);
  }

  /** The upstream's name for a client tool: assigned at first sight, the same for the rest of the request. */
  upstream(tool: ClientTool): string {
    const key = identity(tool);
    const known = this.#byClient.get(key);
    if (known !== undefined) return known;
    const base = tool.namespace === undefined ? tool.name : `${tool.namespace}${NAMESPACE_SEPARATOR}${tool.name}`;
    let name = base;
    if (!VALID[this.#target].test(base) || this.#taken.has(base)) {
      let clean = base.replace(INVALID_CHAR[this.#target], '_');
      if (this.#target === 'gemini' && !/^[a-zA-Z_]/.test(clean)) clean = `_${clean}`;
      for (let attempt = 0; ; attempt++) {
        const digest = createHash('sha256').update(attempt === 0 ? key : `${key}\u0000${attempt}`).digest('hex');
        const suffix = `_${digest.slice(0, 8)}`;
        name = clean.slice(0, MAX_LENGTH - suffix.length) + suffix;
        if (!this.#taken.has(name)) break;
      }
    }
    this.#taken.add(name);
    this.#byClient.set(key, name);
    const entry: ClientTool = { name: tool.name };
    if (tool.namespace !== undefined) entry.namespace = tool.namespace;
    if (tool.kind !== undefined) entry.kind = tool.kind;
    this.#byUpstream.set(name, entry);
    return name;
  }

  /** The client's tool behind an upstream name; a name the request never gave (a model's invention) is a function of that name. */
  client(upstreamName: string): ClientTool {
    return this.#byUpstream.get(upstreamName) ?? { name: upstreamName };
  }
}

/**
 * Gives every tool, call and result in the request its upstream name (and the tool choice), and
 * returns the map back. Results take the name of the call they answer, so a Gemini upstream gets
 * the same name on both.
 */
export function assignToolNames(request: Request, target: WireFormat, reserved: Iterable<string>): ToolNames {
  const names = new ToolNames(target, reserved);
  const choice = request.toolChoice;
  // The choice names a tool by its name only (Responses' tool_choice has no namespace): the first tool of that name.
  const chosen = choice?.type === 'tool' ? request.tools?.find((tool) => tool.name === choice.name) : undefined;
  for (const tool of request.tools ?? []) tool.name = names.upstream(tool);
  if (choice?.type === 'tool') choice.name = chosen?.name ?? names.upstream({ name: choice.name });
  const byCall = new Map<string, string>();
  for (const message of request.messages) {
    for (const part of message.parts) {
      if (part.type === 'tool_call') {
        part.name = names.upstream(part);
        byCall.set(part.id, part.name);
      } else if (part.type === 'tool_result') {
        const name = byCall.get(part.id) ?? (part.name === undefined ? undefined : names.upstream({ name: part.name }));
        if (name !== undefined) part.name = name;
      }
    }
  }
  return names;
}
