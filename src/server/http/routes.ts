/**
 * Inbound endpoints (DESIGN §8) and what each needs: the client's error format, the wire format
 * a translator would read (null where only same-format passthrough makes sense), and where the
 * model id lives (body field, or the Gemini URL).
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import type { ClientFormat } from '../errors/client-error.ts';

export type Endpoint =
  | 'chat-completions'
  | 'completions'
  | 'embeddings'
  | 'responses'
  | 'messages'
  | 'count-tokens'
  | 'generate-content'
  | 'stream-generate-content'
  | 'gemini-count-tokens'
  | 'embed-content';

export interface ModelRoute {
  readonly endpoint: Endpoint;
  readonly client: ClientFormat;
  /** The API family the request body is written in. */
  readonly family: 'openai' | 'anthropic' | 'gemini';
  /** For endpoints a translator can carry across families; null for same-family only. */
  readonly wire: WireFormat | null;
  /** Path under the provider's base URL for the same family (Gemini adds the model). */
  readonly upstreamPath: string;
}

const route = (endpoint: Endpoint, family: ModelRoute['family'], wire: WireFormat | null, upstreamPath: string): ModelRoute => ({
  endpoint,
  client: family,
  family,
  wire,
  upstreamPath,
});

/** POST routes whose model is in the body, by exact path. */
export const bodyModelRoutes: ReadonlyMap<string, ModelRoute> = new Map([
  ['/v1/chat/completions', route('chat-completions', 'openai', 'chat', '/chat/completions')],
  ['/v1/completions', route('completions', 'openai', null, '/completions')],
  ['/v1/embeddings', route('embeddings', 'openai', null, '/embeddings')],
  ['/v1/responses', route('responses', 'openai', 'responses', '/responses')],
  ['/v1/messages', route('messages', 'anthropic', 'anthropic', '/v1/messages')],
  ['/v1/messages/count_tokens', route('count-tokens', 'anthropic', null, '/v1/messages/count_tokens')],
]);

const geminiActions: ReadonlyMap<string, ModelRoute> = new Map([
  ['generateContent', route('generate-content', 'gemini', 'gemini', 'generateContent')],
  ['streamGenerateContent', route('stream-generate-content', 'gemini', 'gemini', 'streamGenerateContent')],
  ['countTokens', route('gemini-count-tokens', 'gemini', null, 'countTokens')],
  ['embedContent', route('embed-content', 'gemini', null, 'embedContent')],
]);

/** `/v1beta/models/{model}:{action}` → the route and the model id from the URL. */
export function geminiRoute(path: string): { route: ModelRoute; model: string } | null {
  const prefix = '/v1beta/models/';
  if (!path.startsWith(prefix)) return null;
  const colon = path.lastIndexOf(':');
  if (colon <= prefix.length) return null;
  const found = geminiActions.get(path.slice(colon + 1));
  if (found === undefined) return null;
  let model: string;
  try {
    model = decodeURIComponent(path.slice(prefix.length, colon));
  } catch {
    return null;
  }
  return { route: found, model };
}
