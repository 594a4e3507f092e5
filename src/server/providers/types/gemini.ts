/**
 * Google's Gemini API: `x-goog-api-key`, the model and the action in the URL, the API version in
 * the path (a base URL may already end in one; if not, v1beta), and the real status of an error
 * in its body (`error.code`).
 */
import { upstreamWaitMs } from '../../routing/retry-after.ts';
import { errorMessage, errorStatus } from '../../translate/error-bodies.ts';
import { isObject } from '../../translate/json-value.ts';
import { countField, pickFields } from '../count-tokens-api.ts';
import type { ProviderDescriptor } from '../descriptor.ts';

const GEMINI = Object.freeze(['gemini'] as const);
/** What countTokens takes of a generateContent body, inside a generateContentRequest. */
const COUNT_FIELDS = Object.freeze(['contents', 'systemInstruction', 'tools', 'toolConfig']);

function geminiRoot(base: string): string {
  return /\/v1(beta|alpha)?\d*$/.test(base) ? base : `${base}/v1beta`;
}

/** `{"models":[{"name":"models/gemini-2.5-pro",…}],"nextPageToken":…}` */
function modelIds(body: unknown): string[] {
  if (!isObject(body) || !Array.isArray(body.models)) return [];
  const ids: string[] = [];
  for (const entry of body.models) if (isObject(entry) && typeof entry.name === 'string') ids.push(entry.name.replace(/^models\//, ''));
  return ids;
}

export const gemini: ProviderDescriptor = {
  type: 'gemini',
  family: 'gemini',
  speaks: () => GEMINI,
  translatesTo: () => 'gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com',
  applyCredential(headers, key) {
    if (key !== null) headers['x-goog-api-key'] = key;
  },
  passthroughUrl(base, route, model, stream, sse) {
    const alt = (route.endpoint === 'stream-generate-content' && sse) || (stream && route.endpoint === 'generate-content') ? '?alt=sse' : '';
    const action = stream && route.endpoint === 'generate-content' ? 'streamGenerateContent' : route.upstreamPath;
    return `${geminiRoot(base)}/models/${encodeURIComponent(model)}:${action}${alt}`;
  },
  translatedUrl: (base, _wire, model, stream) => `${geminiRoot(base)}/models/${encodeURIComponent(model)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
  readError: (status, body) => ({ status: errorStatus(body, status), message: errorMessage(body, status) }),
  // Gemini's RetryInfo.retryDelay is in the error body; the shared reader looks there too.
  waitMs: upstreamWaitMs,
  models: { path: (base) => `${geminiRoot(base)}/models`, ids: modelIds },
  countTokens: {
    wire: 'gemini',
    url: (base, model) => `${geminiRoot(base)}/models/${encodeURIComponent(model)}:countTokens`,
    // With `contents` alone the API takes no system instruction or tools: the whole request goes inside generateContentRequest, which names its model.
    body: (translated, model) => ({ generateContentRequest: { model: `models/${model}`, ...pickFields(translated, COUNT_FIELDS) } }),
    read: (answer) => countField(answer, 'totalTokens'),
  },
  serveLocally: null,
};
