/** Anthropic's Messages API: `x-api-key`, a required `anthropic-version`, paths under /v1. */
import { upstreamWaitMs } from '../../routing/retry-after.ts';
import { errorMessage } from '../../translate/error-bodies.ts';
import { countField, pickFields } from '../count-tokens-api.ts';
import type { ProviderDescriptor } from '../descriptor.ts';
import { dataIds } from '../openai-family.ts';

const ANTHROPIC = Object.freeze(['anthropic'] as const);
/** What count_tokens takes of a Messages body (it refuses max_tokens, stream… as extra inputs). */
const COUNT_FIELDS = Object.freeze(['model', 'messages', 'system', 'tools', 'tool_choice']);

export const anthropic: ProviderDescriptor = {
  type: 'anthropic',
  family: 'anthropic',
  speaks: () => ANTHROPIC,
  translatesTo: () => 'anthropic',
  defaultBaseUrl: 'https://api.anthropic.com',
  applyCredential(headers, key, config) {
    if (key !== null) headers['x-api-key'] = key;
    // The client's own version wins: it knows which API revision its body is written for.
    headers['anthropic-version'] ??= config.anthropicVersion;
  },
  passthroughUrl: (base, route) => base + route.upstreamPath,
  translatedUrl: (base) => `${base}/v1/messages`,
  readError: (status, body) => ({ status, message: errorMessage(body, status) }),
  waitMs: upstreamWaitMs,
  // `{"data":[{"type":"model","id":…}],"has_more":…}`
  models: { path: (base) => `${base}/v1/models`, ids: dataIds },
  countTokens: {
    wire: 'anthropic',
    url: (base) => `${base}/v1/messages/count_tokens`,
    body: (translated) => pickFields(translated, COUNT_FIELDS),
    read: (answer) => countField(answer, 'input_tokens'),
  },
  serveLocally: null,
};
