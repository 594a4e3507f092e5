/**
 * What differs between upstream types (DESIGN §8): default base URL, where the key goes, and how
 * an inbound route maps to the upstream URL. Everything else about a provider is configuration.
 */
import type { ProviderConfig, ProviderType } from '../../shared/config/schema.ts';
import type { ModelRoute } from '../http/routes.ts';

const defaultBaseUrl: Record<Exclude<ProviderType, 'mock'>, string | null> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com',
  'openai-compatible': null,
};

/** The API family a provider speaks, i.e. which inbound routes it can take without translation. */
export function familyOf(type: ProviderType): 'openai' | 'anthropic' | 'gemini' | 'any' {
  switch (type) {
    case 'openai':
    case 'openai-compatible':
      return 'openai';
    case 'anthropic':
      return 'anthropic';
    case 'gemini':
      return 'gemini';
    case 'mock':
      return 'any';
  }
}

export function baseUrlOf(provider: ProviderConfig): string {
  const base = provider.baseUrl ?? (provider.type === 'mock' ? null : defaultBaseUrl[provider.type]);
  if (base === null) throw new Error(`provider ${provider.name} has no base-url`);
  return base.endsWith('/') ? base.slice(0, -1) : base;
}

/** A Gemini base URL may already end in the API version; if not, v1beta is the one to use. */
function geminiRoot(base: string): string {
  return /\/v1(beta|alpha)?\d*$/.test(base) ? base : `${base}/v1beta`;
}

/**
 * The upstream URL for a same-family request. `sse`: a Gemini client asked for `alt=sse`; without
 * it, streamGenerateContent answers with a JSON array streamed as it grows, and so must we.
 */
export function upstreamUrl(provider: ProviderConfig, route: ModelRoute, model: string, stream: boolean, sse = true): string {
  const base = baseUrlOf(provider);
  if (route.family !== 'gemini') return base + route.upstreamPath;
  const root = geminiRoot(base);
  const alt = (route.endpoint === 'stream-generate-content' && sse) || (stream && route.endpoint === 'generate-content') ? '?alt=sse' : '';
  const action = stream && route.endpoint === 'generate-content' ? 'streamGenerateContent' : route.upstreamPath;
  return `${root}/models/${encodeURIComponent(model)}:${action}${alt}`;
}

/** The upstream URL for a request translated into the provider's wire format. */
export function translatedUrl(provider: ProviderConfig, wire: 'chat' | 'responses' | 'anthropic' | 'gemini', model: string, stream: boolean): string {
  const base = baseUrlOf(provider);
  switch (wire) {
    case 'chat':
      return `${base}/chat/completions`;
    case 'responses':
      return `${base}/responses`;
    case 'anthropic':
      return `${base}/v1/messages`;
    case 'gemini': {
      const root = geminiRoot(base);
      return `${root}/models/${encodeURIComponent(model)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
    }
  }
}

/** Sets the provider's credential header(s) on an outgoing header object. */
export function applyCredential(type: ProviderType, headers: Record<string, string>, key: string | null, anthropicVersion: string): void {
  switch (type) {
    case 'anthropic':
      if (key !== null) headers['x-api-key'] = key;
      headers['anthropic-version'] ??= anthropicVersion;
      return;
    case 'gemini':
      if (key !== null) headers['x-goog-api-key'] = key;
      return;
    default:
      if (key !== null) headers.authorization = `Bearer ${key}`;
  }
}
