/**
 * Schema-guided camelCase and the schema introspection it rests on: keys the schema declares
 * are renamed, keys inside maps (records) are the user's and stay as written, whatever the
 * wrappers (default, optional, pipe/transform) or unions around them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { camelCase, camelize } from '../../src/shared/config/camelize.ts';
import { acceptedKinds, allowedKeys, describeExpected, keyPaths, schemaAt, typeLabel } from '../../src/shared/config/introspect.ts';
import { configSchema } from '../../src/shared/config/schema.ts';
import { closest, editDistance } from '../../src/shared/config/suggest.ts';

describe('camelize', () => {
  const schema = z.strictObject({
    'top-level': z.number().default(1),
    'a-section': z
      .strictObject({
        'inner-key': z.string(),
        'the-map': z.record(z.string(), z.strictObject({ 'deep-key': z.boolean() })).default({}),
      })
      .optional(),
    'a-list': z.array(z.union([z.string(), z.strictObject({ 'item-key': z.string(), 'item-weight': z.number().default(1) })])).default([]),
    'a-duration': z
      .union([z.number(), z.string()])
      .transform(() => ({ 'not-renamed': true }))
      .default({ 'not-renamed': true }),
    'piped-object': z.string().pipe(z.transform((s) => s)).optional(),
    'nested-records': z.record(z.string(), z.record(z.string(), z.array(z.string()))).optional(),
  });

  test('renames schema keys at every depth and leaves record keys alone', () => {
    const parsed = schema.parse({
      'a-section': { 'inner-key': 'x', 'the-map': { 'user-key-1': { 'deep-key': true }, 'X-Header': { 'deep-key': false } } },
      'a-list': ['plain', { 'item-key': 'k' }],
      'a-duration': '5s',
      'nested-records': { 'outer-name': { 'inner-name': ['v-1'] } },
    });
    assert.deepEqual(camelize(parsed, schema), {
      topLevel: 1,
      aSection: { innerKey: 'x', theMap: { 'user-key-1': { deepKey: true }, 'X-Header': { deepKey: false } } },
      aList: ['plain', { itemKey: 'k', itemWeight: 1 }],
      // A transform's output has no schema to follow: it is passed through untouched.
      aDuration: { 'not-renamed': true },
      nestedRecords: { 'outer-name': { 'inner-name': ['v-1'] } },
    });
  });

  test('the real config: headers, aliases and fallbacks keep their keys', () => {
    const parsed = configSchema.parse({
      providers: [{ name: 'p', type: 'mock', headers: { 'x-api-key': 'v', 'anthropic-beta': 'b' } }],
      models: { aliases: { 'fast-one': 'gpt-4o-mini' }, fallbacks: { 'gpt-4o': ['claude-sonnet-4-5'] } },
    });
    const config = camelize(parsed, configSchema) as Record<string, unknown>;
    const provider = (config.providers as Record<string, unknown>[])[0];
    assert.deepEqual(provider?.headers, { 'x-api-key': 'v', 'anthropic-beta': 'b' });
    assert.deepEqual(config.models, { aliases: { 'fast-one': 'gpt-4o-mini' }, fallbacks: { 'gpt-4o': ['claude-sonnet-4-5'] } });
    assert.equal(typeof (provider?.timeouts as Record<string, unknown>).firstByte, 'number');
    assert.ok('allowUnauthenticated' in config && 'clientKeys' in config && 'watchConfig' in config);
  });

  test('camelCase', () => {
    assert.equal(camelCase('max-files'), 'maxFiles');
    assert.equal(camelCase('tokens-per-second'), 'tokensPerSecond');
    assert.equal(camelCase('listen'), 'listen');
  });
});

describe('introspection', () => {
  test('schemaAt follows objects, arrays, unions and records', () => {
    assert.equal(typeLabel(schemaAt(configSchema, ['listen', 'port']) ?? configSchema), 'integer (0–65535)');
    assert.equal(typeLabel(schemaAt(configSchema, ['providers', 0, 'api-keys', 1, 'weight']) ?? configSchema), 'integer (> 0)');
    assert.equal(typeLabel(schemaAt(configSchema, ['providers', 0, 'timeouts', 'idle']) ?? configSchema), 'duration');
    assert.equal(typeLabel(schemaAt(configSchema, ['models', 'fallbacks', 'any-model-id']) ?? configSchema), 'list of string');
    assert.equal(schemaAt(configSchema, ['listen', 'nope']), undefined);
  });

  test('allowedKeys, acceptedKinds, describeExpected', () => {
    assert.deepEqual(allowedKeys(schemaAt(configSchema, ['listen']) ?? configSchema), ['host', 'port']);
    assert.deepEqual(allowedKeys(schemaAt(configSchema, ['providers', 0, 'api-keys', 0]) ?? configSchema), ['key', 'name', 'weight']);
    assert.deepEqual([...acceptedKinds(schemaAt(configSchema, ['listen', 'port']) ?? configSchema)], ['number']);
    assert.deepEqual([...acceptedKinds(schemaAt(configSchema, ['shutdown-timeout']) ?? configSchema)].sort(), ['number', 'string']);
    assert.equal(describeExpected(schemaAt(configSchema, ['watch-config']) ?? configSchema), 'true or false');
    assert.equal(describeExpected(schemaAt(configSchema, ['log', 'level']) ?? configSchema), 'one of trace, debug, info, warn, error, fatal');
    assert.equal(describeExpected(schemaAt(configSchema, ['retry', 'attempts']) ?? configSchema), 'an integer from 1 to 20');
  });

  test('keyPaths lists every key, with [] for lists and no record keys', () => {
    const paths = keyPaths(configSchema).map((e) => e.path);
    for (const p of ['listen.port', 'server.cors.max-age', 'providers[].api-keys[].weight', 'providers[].models[].upstream', 'providers[].mock.tokens-per-second', 'client-keys[].sha256', 'admin.key', 'models.fallbacks']) {
      assert.ok(paths.includes(p), p);
    }
    assert.equal(new Set(paths).size, paths.length);
  });
});

describe('suggestions', () => {
  test('edit distance counts a swap as one edit', () => {
    assert.equal(editDistance('hots', 'host'), 1);
    assert.equal(editDistance('max-file', 'max-files'), 1);
    assert.equal(editDistance('', 'abc'), 3);
  });

  test('closest ignores case and snake/camel spelling, and refuses far-fetched guesses', () => {
    assert.equal(closest('max_files', ['max-files', 'max-size']), 'max-files');
    assert.equal(closest('maxFiles', ['max-files', 'max-size']), 'max-files');
    assert.equal(closest('BodyLimit', ['body-limit']), 'body-limit');
    assert.equal(closest('frobnicate', ['listen', 'log', 'providers']), undefined);
    assert.equal(closest('x', ['y']), undefined);
    assert.equal(closest('lg', ['log']), 'log');
  });
});
