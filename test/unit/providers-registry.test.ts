import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { camelize } from '../../src/shared/config/camelize.ts';
import { configSchema, providerNeeds, providerTypes, type Config, type ProviderConfig, type ProviderType } from '../../src/shared/config/schema.ts';
import type { ProviderDescriptor } from '../../src/server/providers/descriptor.ts';
import { baseUrlOf, descriptorOf, providerDescriptors } from '../../src/server/providers/registry.ts';
import { bodyModelRoutes, geminiRoute } from '../../src/server/http/routes.ts';
import { anthropic } from '../../src/server/providers/types/anthropic.ts';
import { gemini } from '../../src/server/providers/types/gemini.ts';
import { openaiCompatible } from '../../src/server/providers/types/openai-compatible.ts';
import { openai } from '../../src/server/providers/types/openai.ts';

function provider(raw: Record<string, unknown>): ProviderConfig {
  const config = camelize(configSchema.parse({ providers: [{ name: 'p', 'api-keys': ['sk-test-key-0123456789'], ...raw }] }), configSchema) as Config;
  return config.providers[0] as ProviderConfig;
}

const chat = bodyModelRoutes.get('/v1/chat/completions')!;
const messages = bodyModelRoutes.get('/v1/messages')!;
const generate = geminiRoute('/v1beta/models/gemini-2.5-pro:generateContent')!.route;
const streamGenerate = geminiRoute('/v1beta/models/gemini-2.5-pro:streamGenerateContent')!.route;

describe('provider registry', () => {
  it('has one descriptor per type of the schema, each under its own type', () => {
    assert.deepEqual(Object.keys(providerDescriptors).sort(), [...providerTypes].sort());
    for (const type of providerTypes) assert.equal(descriptorOf(type).type, type);
  });

  it('is complete at compile time: a registry without a type does not type-check', () => {
    // @ts-expect-error -- 'gemini' and 'mock' are missing, which `satisfies` reports.
    const incomplete = { openai, anthropic, 'openai-compatible': openaiCompatible } satisfies Record<ProviderType, ProviderDescriptor>;
    assert.equal(Object.keys(incomplete).length, 3);
    assert.equal(gemini.family, 'gemini');
  });

  it('asks the config for a base-url exactly where a type has no default', () => {
    for (const type of providerTypes) {
      const d = descriptorOf(type);
      if (d.serveLocally !== null) continue;
      assert.equal(providerNeeds[type].baseUrl !== null, d.defaultBaseUrl === null, type);
    }
  });
});

describe('provider descriptors: URLs and credentials', () => {
  it('builds each type\'s URLs from its default base URL', () => {
    const o = provider({ type: 'openai' });
    assert.equal(descriptorOf('openai').passthroughUrl(baseUrlOf(o), chat, 'gpt-4o', false, true), 'https://api.openai.com/v1/chat/completions');
    assert.equal(descriptorOf('openai').translatedUrl(baseUrlOf(o), 'responses', 'gpt-4o', true), 'https://api.openai.com/v1/responses');
    const a = provider({ type: 'anthropic' });
    assert.equal(descriptorOf('anthropic').passthroughUrl(baseUrlOf(a), messages, 'claude', true, true), 'https://api.anthropic.com/v1/messages');
    assert.equal(descriptorOf('anthropic').translatedUrl(baseUrlOf(a), 'anthropic', 'claude', true), 'https://api.anthropic.com/v1/messages');
    const g = provider({ type: 'gemini' });
    const d = descriptorOf('gemini');
    assert.equal(d.passthroughUrl(baseUrlOf(g), generate, 'gemini-2.5-pro', false, true), 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent');
    assert.equal(d.passthroughUrl(baseUrlOf(g), streamGenerate, 'gemini-2.5-pro', true, false), 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent');
    assert.equal(d.passthroughUrl(baseUrlOf(g), generate, 'gemini-2.5-pro', true, true), 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
    assert.equal(d.translatedUrl('http://g/v1', 'gemini', 'a/b', true), 'http://g/v1/models/a%2Fb:streamGenerateContent?alt=sse');
  });

  it('requires a base-url for openai-compatible and trims its trailing slash', () => {
    assert.equal(baseUrlOf(provider({ type: 'openai-compatible', 'base-url': 'http://127.0.0.1:11434/v1/' })), 'http://127.0.0.1:11434/v1');
    assert.throws(() => baseUrlOf({ ...provider({ type: 'openai' }), type: 'openai-compatible' }), /has no base-url/);
  });

  it('puts the key where each API reads it', () => {
    const headers = (type: ProviderType, own: Record<string, string> = {}): Record<string, string> => {
      const h = { ...own };
      descriptorOf(type).applyCredential(h, 'sk-k', provider({ type, 'base-url': 'http://x' }));
      return h;
    };
    assert.deepEqual(headers('openai'), { authorization: 'Bearer sk-k' });
    assert.deepEqual(headers('openai-compatible'), { authorization: 'Bearer sk-k' });
    assert.deepEqual(headers('anthropic'), { 'x-api-key': 'sk-k', 'anthropic-version': '2023-06-01' });
    assert.deepEqual(headers('anthropic', { 'anthropic-version': '2024-01-01' }), { 'x-api-key': 'sk-k', 'anthropic-version': '2024-01-01' });
    assert.deepEqual(headers('gemini'), { 'x-goog-api-key': 'sk-k' });
  });

  it('says which formats each type speaks and translates to', () => {
    const speaks = (raw: Record<string, unknown>) => {
      const p = provider(raw);
      return [descriptorOf(p.type).speaks(p).join('+'), descriptorOf(p.type).translatesTo(p)];
    };
    assert.deepEqual(speaks({ type: 'openai' }), ['chat+responses', 'chat']);
    assert.deepEqual(speaks({ type: 'openai', 'wire-api': 'responses' }), ['chat+responses', 'responses']);
    assert.deepEqual(speaks({ type: 'openai-compatible', 'base-url': 'http://x', 'wire-api': 'responses' }), ['responses', 'responses']);
    assert.deepEqual(speaks({ type: 'anthropic' }), ['anthropic', 'anthropic']);
    assert.deepEqual(speaks({ type: 'gemini' }), ['gemini', 'gemini']);
    assert.deepEqual(speaks({ type: 'mock' }), ['', 'any']);
  });
});

describe('provider descriptors: errors and model lists', () => {
  it('reads Gemini\'s status from its error body, the others\' from the HTTP status', () => {
    const body = { error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED' } };
    assert.deepEqual(descriptorOf('gemini').readError(500, body), { status: 429, message: 'Resource has been exhausted' });
    assert.deepEqual(descriptorOf('anthropic').readError(529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), { status: 529, message: 'Overloaded' });
    assert.deepEqual(descriptorOf('openai').readError(404, { error: { message: 'nope', type: 'invalid_request_error' } }), { status: 404, message: 'nope' });
  });

  it('reads each API\'s model list', () => {
    const list = (type: ProviderType, base: string, body: unknown) => {
      const models = descriptorOf(type).models;
      assert.ok(models !== null);
      return [models.path(base), models.ids(body)];
    };
    assert.deepEqual(list('openai', 'https://api.openai.com/v1', { object: 'list', data: [{ id: 'gpt-4o', object: 'model' }] }), ['https://api.openai.com/v1/models', ['gpt-4o']]);
    assert.deepEqual(list('anthropic', 'https://api.anthropic.com', { data: [{ type: 'model', id: 'claude-sonnet-4-5' }], has_more: false }), ['https://api.anthropic.com/v1/models', ['claude-sonnet-4-5']]);
    assert.deepEqual(list('gemini', 'https://generativelanguage.googleapis.com', { models: [{ name: 'models/gemini-2.5-pro' }] }), ['https://generativelanguage.googleapis.com/v1beta/models', ['gemini-2.5-pro']]);
    assert.deepEqual(list('openai-compatible', 'http://x/v1', { nonsense: true }), ['http://x/v1/models', []]);
    assert.equal(descriptorOf('mock').models, null);
  });
});
