import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { camelize } from '../../src/shared/config/camelize.ts';
import { configSchema, type Config } from '../../src/shared/config/schema.ts';
import { AppError } from '../../src/shared/errors.ts';
import { ModelTable, type Resolution } from '../../src/server/routing/model-table.ts';

/** A config from YAML-shaped (kebab-case) input, defaults applied as the loader does. */
function config(raw: Record<string, unknown>): Config {
  return camelize(configSchema.parse(raw), configSchema) as Config;
}

function route(resolution: Resolution): string[] {
  assert.ok(resolution.ok, `expected ${resolution.requested} to resolve`);
  return resolution.candidates.map((c) => `${c.provider.name}:${c.upstreamModel}:${c.rule.kind}`);
}

const key = ['sk-test-key-0123456789'];

describe('model table: resolution order', () => {
  it('puts exact ids before globs, whatever the config order', () => {
    const table = new ModelTable(
      config({
        providers: [
          { name: 'router', type: 'openai-compatible', 'base-url': 'http://r/v1', models: ['gpt-*'] },
          { name: 'openai', type: 'openai', 'api-keys': key, models: ['gpt-4o'] },
        ],
      }),
    );
    assert.deepEqual(route(table.resolve('gpt-4o')), ['openai:gpt-4o:exact', 'router:gpt-4o:glob']);
    assert.deepEqual(route(table.resolve('gpt-4.1')), ['router:gpt-4.1:glob']);
  });

  it('orders globs by literal prefix length, then config order', () => {
    const table = new ModelTable(
      config({
        providers: [
          { name: 'a', type: 'mock', models: ['gpt-*'] },
          { name: 'b', type: 'mock', models: ['gpt-4o*'] },
          { name: 'c', type: 'mock', models: ['gpt-?o*'] },
          { name: 'd', type: 'mock', models: ['gpt-*'] },
        ],
      }),
    );
    // b: literal "gpt-4o" (6); a, c, d: "gpt-" (4) → config order a, c, d.
    assert.deepEqual(route(table.resolve('gpt-4o-mini')), ['b:gpt-4o-mini:glob', 'a:gpt-4o-mini:glob', 'c:gpt-4o-mini:glob', 'd:gpt-4o-mini:glob']);
  });

  it('lists each provider once, by its best rule', () => {
    const table = new ModelTable(config({ providers: [{ name: 'a', type: 'mock', models: ['*', 'gpt-*', 'gpt-4o'] }] }));
    assert.deepEqual(route(table.resolve('gpt-4o')), ['a:gpt-4o:exact']);
    const r = table.resolve('gpt-5');
    assert.ok(r.ok);
    assert.equal(r.candidates[0]?.rule.pattern, 'gpt-*'); // the more specific of its globs
  });

  it('sends the upstream name of a renamed id', () => {
    const table = new ModelTable(config({ providers: [{ name: 'a', type: 'mock', models: [{ id: 'fast', upstream: 'gpt-4o-mini' }, 'gpt-4o'] }] }));
    assert.deepEqual(route(table.resolve('fast')), ['a:gpt-4o-mini:exact']);
    assert.equal(table.resolve('gpt-4o-mini').ok, false);
  });

  it('matches ids containing "/" with a plain star (model ids are not paths)', () => {
    const table = new ModelTable(config({ providers: [{ name: 'router', type: 'mock', models: ['*'] }] }));
    assert.deepEqual(route(table.resolve('meta-llama/llama-3.1-70b')), ['router:meta-llama/llama-3.1-70b:glob']);
  });

  it('treats a bare "@" as a literal, not a glob', () => {
    const table = new ModelTable(config({ providers: [{ name: 'vertex', type: 'mock', models: ['claude-3-5-sonnet@20240620'] }] }));
    assert.deepEqual(route(table.resolve('claude-3-5-sonnet@20240620')), ['vertex:claude-3-5-sonnet@20240620:exact']);
  });

  it('returns the same frozen resolution for a repeated id', () => {
    const table = new ModelTable(config({ providers: [{ name: 'a', type: 'mock', models: ['m-*'] }] }));
    const first = table.resolve('m-1');
    assert.equal(table.resolve('m-1'), first);
    assert.ok(Object.isFrozen(first));
  });
});

describe('model table: aliases', () => {
  const table = new ModelTable(
    config({
      providers: [{ name: 'anthropic', type: 'anthropic', 'api-keys': key, models: ['claude-*'] }],
      models: { aliases: { sonnet: 'claude-latest', 'claude-latest': 'claude-sonnet-4-5', ghost: 'nothing-serves-this' } },
    }),
  );

  it('follows a chain of aliases to the concrete id', () => {
    const r = table.resolve('sonnet');
    assert.ok(r.ok);
    assert.equal(r.requested, 'sonnet');
    assert.equal(r.model, 'claude-sonnet-4-5');
    assert.deepEqual(route(r), ['anthropic:claude-sonnet-4-5:glob']);
  });

  it('reports an alias whose target nobody serves as unknown', () => {
    assert.equal(table.resolve('ghost').ok, false);
  });

  it('refuses a cycle at build time instead of looping', () => {
    assert.throws(
      () => new ModelTable(config({ models: { aliases: { a: 'b', b: 'c', c: 'a' } } })),
      (e: unknown) => e instanceof AppError && e.code === 'E_CONFIG_INVALID' && e.message.includes('a → b → c → a'),
    );
  });
});

describe('model table: provider prefixes', () => {
  const table = new ModelTable(
    config({
      providers: [
        { name: 'router', type: 'openai-compatible', 'base-url': 'http://r/v1', models: ['*'] },
        { name: 'deepseek', type: 'openai-compatible', 'base-url': 'http://d/v1', models: ['deepseek-*'], exclude: ['deepseek-old*'] },
        { name: 'ollama', type: 'openai-compatible', 'base-url': 'http://o/v1', prefix: 'local' },
        { name: 'openai', type: 'openai', 'api-keys': key, models: ['gpt-*'] },
        { name: 'off', type: 'mock', models: ['*'], disabled: true },
      ],
    }),
  );

  it('routes name/model to that provider only, with the prefix stripped', () => {
    const r = table.resolve('deepseek/deepseek-chat');
    assert.deepEqual(route(r), ['deepseek:deepseek-chat:glob']);
    assert.equal(r.ok && r.candidates[0]?.rule.prefix, 'deepseek');
  });

  it('accepts the configured prefix and the name, and any model for a provider that lists none', () => {
    assert.deepEqual(route(table.resolve('local/qwen3:8b')), ['ollama:qwen3:8b:any']);
    assert.deepEqual(route(table.resolve('ollama/qwen3:8b')), ['ollama:qwen3:8b:any']);
    // Without a prefix, a provider that lists nothing is never chosen.
    assert.deepEqual(route(table.resolve('qwen3:8b')), ['router:qwen3:8b:glob']);
  });

  it('matches the whole id as a plain id when the named provider does not serve the rest', () => {
    // openai serves gpt-* only; "openai/whisper-large" is a Hugging Face style id.
    assert.deepEqual(route(table.resolve('openai/whisper-large')), ['router:openai/whisper-large:glob']);
  });

  it('applies excludes behind a prefix too', () => {
    assert.deepEqual(route(table.resolve('deepseek/deepseek-old-1')), ['router:deepseek/deepseek-old-1:glob']);
  });

  it('ignores the prefix of a disabled provider', () => {
    assert.deepEqual(route(table.resolve('off/anything')), ['router:off/anything:glob']);
  });
});

describe('model table: excludes, disabled, unknown', () => {
  const table = new ModelTable(
    config({
      providers: [
        { name: 'openai', type: 'openai', 'api-keys': key, models: ['gpt-*', 'o3'], exclude: ['gpt-4o-audio*', 'o3'] },
        { name: 'backup', type: 'mock', models: ['gpt-*'], disabled: true },
        { name: 'router', type: 'mock', models: ['gpt-4o-audio-preview'] },
      ],
    }),
  );

  it('never routes an excluded id to the provider, even when listed exactly', () => {
    assert.deepEqual(route(table.resolve('gpt-4o-audio-preview')), ['router:gpt-4o-audio-preview:exact']);
    assert.equal(table.resolve('o3').ok, false);
  });

  it('skips disabled providers', () => {
    assert.deepEqual(route(table.resolve('gpt-4o')), ['openai:gpt-4o:glob']);
  });

  it('answers an unknown id with a 404 that says where the valid ids are', () => {
    const r = table.resolve('no-such-model');
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.status, 404);
    assert.match(r.message, /'no-such-model'/);
    assert.match(r.message, /GET \/v1\/models/);
  });
});

describe('model table: wire formats', () => {
  it('derives the upstream format from type and wire-api', () => {
    const table = new ModelTable(
      config({
        providers: [
          { name: 'o', type: 'openai', 'api-keys': key, models: ['o'] },
          { name: 'r', type: 'openai', 'api-keys': key, models: ['r'], 'wire-api': 'responses' },
          { name: 'v', type: 'openai-compatible', 'base-url': 'http://v/v1', models: ['v'] },
          { name: 'a', type: 'anthropic', 'api-keys': key, models: ['a'] },
          { name: 'g', type: 'gemini', 'api-keys': key, models: ['g'] },
          { name: 'm', type: 'mock', models: ['m'] },
        ],
      }),
    );
    const wire = (id: string) => {
      const r = table.resolve(id);
      return r.ok ? r.candidates[0]?.provider.wire : null;
    };
    assert.deepEqual(['o', 'r', 'v', 'a', 'g', 'm'].map(wire), ['chat', 'responses', 'chat', 'anthropic', 'gemini', 'any']);
  });
});

describe('model table: fallbacks, listing, explain', () => {
  const table = new ModelTable(
    config({
      providers: [
        { name: 'anthropic', type: 'anthropic', 'api-keys': key, models: ['claude-sonnet-4-5', 'claude-*'] },
        { name: 'openai', type: 'openai', 'api-keys': key, models: ['gpt-4o', 'gpt-4o-mini', 'gpt-*', 'gpt-4o-audio'], exclude: ['gpt-4o-audio'] },
        { name: 'off', type: 'mock', models: ['hidden'], disabled: true },
      ],
      models: {
        aliases: { sonnet: 'claude-sonnet-4-5', best: 'sonnet', nowhere: 'missing-model' },
        fallbacks: { 'claude-sonnet-4-5': ['gpt-4o', 'claude-sonnet-4-5', 'gpt-4o-mini'], best: ['gpt-4o-mini'] },
      },
    }),
  );

  it('finds fallbacks for the id, else along its alias chain, without the id itself', () => {
    assert.deepEqual(table.fallbacks('claude-sonnet-4-5'), ['gpt-4o', 'gpt-4o-mini']);
    assert.deepEqual(table.fallbacks('sonnet'), ['gpt-4o', 'gpt-4o-mini']);
    assert.deepEqual(table.fallbacks('best'), ['gpt-4o-mini']);
    assert.deepEqual(table.fallbacks('gpt-4o'), []);
  });

  it('lists exact ids and resolvable aliases, not globs, excluded or disabled ids', () => {
    assert.deepEqual(
      table.listModels().map((m) => (m.aliasOf === undefined ? m.id : `${m.id}=${m.aliasOf}`)),
      ['claude-sonnet-4-5', 'gpt-4o', 'gpt-4o-mini', 'sonnet=claude-sonnet-4-5', 'best=claude-sonnet-4-5'],
    );
    assert.deepEqual(table.listModels()[1]?.providers, ['openai']);
    assert.deepEqual(table.listGlobs(), [
      { provider: 'anthropic', pattern: 'claude-*' },
      { provider: 'openai', pattern: 'gpt-*' },
    ]);
  });

  it('explains which rule chose each candidate and why the others were skipped', () => {
    const e = table.explain('best');
    assert.deepEqual(e.aliasChain, ['best', 'sonnet', 'claude-sonnet-4-5']);
    assert.equal(e.model, 'claude-sonnet-4-5');
    assert.deepEqual(e.candidates, [{ provider: 'anthropic', upstreamModel: 'claude-sonnet-4-5', rule: { kind: 'exact', pattern: 'claude-sonnet-4-5', prefix: null } }]);
    assert.deepEqual(e.skipped, [
      { provider: 'off', reason: 'disabled' },
      { provider: 'openai', reason: 'no entry in models matches' },
    ]);
    assert.deepEqual(e.fallbacks, ['gpt-4o-mini']);
    const excluded = table.explain('gpt-4o-audio');
    assert.ok(excluded.skipped.some((s) => s.provider === 'openai' && s.reason === "excluded by 'gpt-4o-audio'"));
    assert.match(excluded.message ?? '', /GET \/v1\/models/);
  });
});

describe('model table: the example in docs/routing.md', () => {
  const table = new ModelTable(
    config({
      providers: [
        { name: 'openai', type: 'openai', 'api-keys': key, models: ['gpt-4o', 'gpt-*'], exclude: ['gpt-4o-audio*'] },
        { name: 'router', type: 'openai-compatible', 'base-url': 'https://openrouter.ai/api/v1', models: ['*'] },
        { name: 'ollama', type: 'openai-compatible', 'base-url': 'http://127.0.0.1:11434/v1', prefix: 'local' },
      ],
      models: { aliases: { fast: 'gpt-4o-mini' }, fallbacks: { 'gpt-4o': ['claude-sonnet-4-5'] } },
    }),
  );

  it('routes as the table there says', () => {
    assert.deepEqual(route(table.resolve('gpt-4o')), ['openai:gpt-4o:exact', 'router:gpt-4o:glob']);
    assert.deepEqual(route(table.resolve('fast')), ['openai:gpt-4o-mini:glob', 'router:gpt-4o-mini:glob']);
    assert.deepEqual(route(table.resolve('gpt-4o-audio-preview')), ['router:gpt-4o-audio-preview:glob']);
    assert.deepEqual(route(table.resolve('local/qwen3:8b')), ['ollama:qwen3:8b:any']);
    assert.deepEqual(route(table.resolve('openai/gpt-oss-120b')), ['openai:gpt-oss-120b:glob']);
    assert.deepEqual(route(table.resolve('openai/whisper-1')), ['router:openai/whisper-1:glob']);
    assert.deepEqual(route(table.resolve('router/openai/gpt-oss-120b')), ['router:openai/gpt-oss-120b:glob']);
  });
});
