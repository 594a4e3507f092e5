/**
 * What every OpenAI-like upstream shares (OpenAI itself, and the compatible servers: vLLM,
 * Ollama, DeepSeek, …): a bearer key, paths under a base URL that already holds the version,
 * OpenAI's error envelope and list format. A new OpenAI-like type spreads `openaiLike` and says
 * what differs (its default base URL, the formats it speaks).
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import { upstreamWaitMs } from '../routing/retry-after.ts';
import { errorMessage } from '../translate/error-bodies.ts';
import { isObject } from '../translate/json-value.ts';
import type { ProviderDescriptor } from './descriptor.ts';

/** OpenAI's list answer: `{"object":"list","data":[{"id":…},…]}` (Anthropic's has the same `data`). */
export function dataIds(body: unknown): string[] {
  if (!isObject(body) || !Array.isArray(body.data)) return [];
  const ids: string[] = [];
  for (const entry of body.data) if (isObject(entry) && typeof entry.id === 'string') ids.push(entry.id);
  return ids;
}

export const openaiLike = {
  family: 'openai',
  applyCredential(headers, key) {
    if (key !== null) headers.authorization = `Bearer ${key}`;
  },
  passthroughUrl: (base, route) => base + route.upstreamPath,
  translatedUrl: (base: string, wire: WireFormat) => (wire === 'responses' ? `${base}/responses` : `${base}/chat/completions`),
  readError: (status, body) => ({ status, message: errorMessage(body, status) }),
  // Every hint, not only OpenAI's: compatible servers and the proxies in front of them relay others'.
  waitMs: upstreamWaitMs,
  models: { path: (base) => `${base}/models`, ids: dataIds },
  serveLocally: null,
} as const satisfies Partial<ProviderDescriptor>;
