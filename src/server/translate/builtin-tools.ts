/**
 * Provider-run tools (web search, code execution) cross to the upstream's equivalent where it has
 * one, and are left out where it has none (recorded in `Request.omitted`, so the gateway names
 * them in its answer): a model that cannot search can still answer.
 *
 *   web search      OpenAI `web_search`   Anthropic `web_search_20250305`   Gemini `googleSearch`   chat: none
 *   code execution  `code_interpreter`    `code_execution_20250825`        `codeExecution`         chat: none
 *
 * The Anthropic versions are the oldest current ones, which every Claude model in service takes.
 * Gemini 1.x and 2.x reject built-in tools beside function declarations in one request; there
 * they are left out when the request has function tools (Gemini 3 takes both).
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import type { BuiltinTool, Request } from './canonical.ts';

export function builtinsFor(request: Request, target: WireFormat, model: string): void {
  const builtins = request.builtins;
  if (builtins === undefined || builtins.length === 0) return;
  const keep = target !== 'chat' && !(target === 'gemini' && /gemini-(1|2)(\.|-)/.test(model) && (request.tools?.length ?? 0) > 0);
  if (keep) return;
  for (const tool of builtins) request.omitted.push(`tool:${tool.label}`);
  delete request.builtins;
}

/** Anthropic names its server tools; a client tool of the same name must get another. */
export function anthropicBuiltinName(tool: BuiltinTool): string {
  return tool.type === 'web_search' ? 'web_search' : 'code_execution';
}
