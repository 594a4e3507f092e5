/** JSON Schema ↔ Gemini's OpenAPI subset: what Gemini would reject is rewritten or dropped. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromGeminiSchema, toGeminiSchema } from '../../src/server/translate/json-schema.ts';

describe('toGeminiSchema', () => {
  it('drops keywords Gemini rejects ($schema, additionalProperties, $id, examples) and upper-cases types', () => {
    const out = toGeminiSchema({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'x',
      type: 'object',
      additionalProperties: false,
      examples: [{}],
      properties: { q: { type: 'string', description: 'query', minLength: 1 } },
      required: ['q'],
    });
    assert.deepEqual(out, { type: 'OBJECT', properties: { q: { type: 'STRING', description: 'query', minLength: 1 } }, required: ['q'] });
  });

  it('inlines $ref from $defs and definitions, and stops at recursion', () => {
    const tree = {
      type: 'object',
      $defs: { node: { type: 'object', properties: { child: { $ref: '#/$defs/node' }, name: { type: 'string' } } } },
      definitions: { leaf: { type: 'integer' } },
      properties: { root: { $ref: '#/$defs/node' }, n: { $ref: '#/definitions/leaf' } },
    };
    const out = toGeminiSchema(tree) as { properties: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(out.properties.n.type, 'INTEGER');
    let node = out.properties.root;
    let depth = 0;
    while (node.properties?.child) {
      node = node.properties.child;
      depth++;
    }
    assert.ok(depth > 3 && depth <= 17, `recursion is cut off (depth ${depth})`);
    assert.deepEqual(node, { type: 'OBJECT' });
  });

  it('turns type unions with null into nullable, and other unions into anyOf', () => {
    assert.deepEqual(toGeminiSchema({ type: ['string', 'null'] }), { nullable: true, type: 'STRING' });
    assert.deepEqual(toGeminiSchema({ anyOf: [{ type: 'integer' }, { type: 'null' }] }), { type: 'INTEGER', nullable: true });
    assert.deepEqual(toGeminiSchema({ type: ['string', 'integer'] }), { anyOf: [{ type: 'STRING' }, { type: 'INTEGER' }] });
  });

  it('keeps string enums and const, and describes enums Gemini cannot hold', () => {
    assert.deepEqual(toGeminiSchema({ type: 'string', enum: ['a', 'b'] }), { type: 'STRING', enum: ['a', 'b'] });
    assert.deepEqual(toGeminiSchema({ const: 'fixed' }), { enum: ['fixed'], type: 'STRING' });
    assert.deepEqual(toGeminiSchema({ type: 'integer', enum: [1, 2], description: 'Count.' }), { type: 'INTEGER', description: 'Count. Allowed values: 1, 2.' });
  });

  it('keeps only the formats Gemini accepts', () => {
    assert.deepEqual(toGeminiSchema({ type: 'string', format: 'date-time' }), { type: 'STRING', format: 'date-time' });
    assert.deepEqual(toGeminiSchema({ type: 'string', format: 'uri' }), { type: 'STRING' });
    assert.deepEqual(toGeminiSchema({ type: 'integer', format: 'int64' }), { type: 'INTEGER', format: 'int64' });
  });

  it('merges allOf, and omits an empty properties object', () => {
    const out = toGeminiSchema({ allOf: [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, { properties: { b: { type: 'number' } } }] });
    assert.deepEqual(out, { type: 'OBJECT', properties: { a: { type: 'STRING' }, b: { type: 'NUMBER' } }, required: ['a'] });
    assert.deepEqual(toGeminiSchema({ type: 'object', properties: {} }), { type: 'OBJECT' });
  });

  it('keeps only required names that are properties', () => {
    assert.deepEqual(toGeminiSchema({ type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'ghost'] }), {
      type: 'OBJECT',
      properties: { a: { type: 'STRING' } },
      required: ['a'],
    });
  });
});

describe('fromGeminiSchema', () => {
  it('lower-cases types, turns nullable into a null union and drops propertyOrdering', () => {
    assert.deepEqual(
      fromGeminiSchema({ type: 'OBJECT', propertyOrdering: ['a'], properties: { a: { type: 'STRING', nullable: true }, b: { type: 'ARRAY', items: { type: 'INTEGER' } } } }),
      { type: 'object', properties: { a: { type: ['string', 'null'] }, b: { type: 'array', items: { type: 'integer' } } } },
    );
  });

  it('round-trips what Gemini can express', () => {
    const gemini = { type: 'OBJECT', properties: { city: { type: 'STRING', enum: ['Paris', 'Berlin'] }, n: { type: 'INTEGER', minimum: 1 } }, required: ['city'] };
    assert.deepEqual(toGeminiSchema(fromGeminiSchema(gemini)), gemini);
  });
});
