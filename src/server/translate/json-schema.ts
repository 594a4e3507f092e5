/**
 * Gemini's `parameters` and `responseSchema` take an OpenAPI 3.0 subset, not JSON Schema: upper-
 * case types, `nullable` instead of type unions, string-only enums, no $ref, no
 * additionalProperties, and a 400 for keywords it does not know. These two functions convert
 * between that subset and JSON Schema; everything else in the gateway speaks JSON Schema.
 */
import { isObject, type JsonObject } from './json-value.ts';

/** Keywords Gemini's Schema message accepts; anything else is dropped rather than rejected upstream. */
const GEMINI_KEYS: ReadonlySet<string> = new Set([
  'description',
  'title',
  'nullable',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minProperties',
  'maxProperties',
  'default',
  'example',
  'propertyOrdering',
]);

/** Formats Gemini accepts per type (it rejects others, e.g. "uri" on a string). */
const GEMINI_FORMATS: Record<string, ReadonlySet<string>> = {
  STRING: new Set(['enum', 'date-time']),
  NUMBER: new Set(['float', 'double']),
  INTEGER: new Set(['int32', 'int64']),
};

const MAX_REF_DEPTH = 16;

export function toGeminiSchema(schema: unknown): JsonObject {
  const defs = isObject(schema) ? collectDefs(schema) : undefined;
  return convertToGemini(schema, defs, 0);
}

function collectDefs(root: JsonObject): JsonObject | undefined {
  const defs = isObject(root.$defs) ? root.$defs : undefined;
  const definitions = isObject(root.definitions) ? root.definitions : undefined;
  if (defs && definitions) return { ...definitions, ...defs };
  return defs ?? definitions;
}

function resolveRef(ref: string, defs: JsonObject | undefined): unknown {
  const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
  if (!match || !defs || match[1] === undefined) return undefined;
  return defs[match[1].replace(/~1/g, '/').replace(/~0/g, '~')];
}

function convertToGemini(input: unknown, defs: JsonObject | undefined, depth: number): JsonObject {
  if (!isObject(input)) return {};
  let schema = input;
  if (typeof schema.$ref === 'string') {
    // Recursive schemas cannot be inlined forever: past the limit the node becomes a bare object.
    const target = depth < MAX_REF_DEPTH ? resolveRef(schema.$ref, defs) : undefined;
    if (!isObject(target)) return { type: 'OBJECT' };
    schema = { ...target, ...withoutKey(schema, '$ref') };
    depth++;
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) schema = mergeAllOf(schema, schema.allOf);

  const out: JsonObject = {};
  const union = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined;
  if (union) {
    const variants = union.filter((v) => !(isObject(v) && v.type === 'null'));
    const nullable = variants.length < union.length;
    if (variants.length === 1) {
      Object.assign(out, convertToGemini(variants[0], defs, depth));
    } else {
      out.anyOf = variants.map((v) => convertToGemini(v, defs, depth));
    }
    if (nullable) out.nullable = true;
  }

  let type: string | undefined;
  if (typeof schema.type === 'string') type = schema.type;
  else if (Array.isArray(schema.type)) {
    const types = schema.type.filter((t): t is string => typeof t === 'string' && t !== 'null');
    if (types.length < schema.type.length) out.nullable = true;
    if (types.length === 1) type = types[0];
    else if (types.length > 1) out.anyOf = types.map((t) => convertToGemini({ ...schema, type: t }, defs, depth));
  }
  if (type === undefined && isObject(schema.properties)) type = 'object';
  if (type !== undefined && type !== 'null') out.type = type.toUpperCase();

  for (const key of Object.keys(schema)) {
    if (GEMINI_KEYS.has(key)) out[key] = schema[key];
  }

  if (typeof schema.format === 'string' && typeof out.type === 'string' && GEMINI_FORMATS[out.type]?.has(schema.format)) {
    out.format = schema.format;
  }

  const enumValues = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
  if (enumValues) {
    if (enumValues.every((v) => typeof v === 'string')) {
      out.enum = enumValues;
      out.type = 'STRING';
    } else {
      // Gemini enums are strings only; keep the constraint for the model to read instead.
      const allowed = `Allowed values: ${enumValues.map((v) => JSON.stringify(v)).join(', ')}.`;
      out.description = typeof out.description === 'string' ? `${out.description} ${allowed}` : allowed;
    }
  }

  if (isObject(schema.properties)) {
    const properties: JsonObject = {};
    for (const [name, value] of Object.entries(schema.properties)) properties[name] = convertToGemini(value, defs, depth);
    // Gemini rejects an OBJECT whose `properties` is present but empty.
    if (Object.keys(properties).length > 0) out.properties = properties;
    if (Array.isArray(schema.required)) {
      const required = schema.required.filter((r): r is string => typeof r === 'string' && r in properties);
      if (required.length > 0) out.required = required;
    }
  }
  if (schema.items !== undefined) out.items = convertToGemini(schema.items, defs, depth);
  return out;
}

function withoutKey(schema: JsonObject, key: string): JsonObject {
  const copy = { ...schema };
  delete copy[key];
  return copy;
}

function mergeAllOf(schema: JsonObject, parts: unknown[]): JsonObject {
  const merged: JsonObject = withoutKey(schema, 'allOf');
  const properties: JsonObject = isObject(schema.properties) ? { ...schema.properties } : {};
  const required = new Set<unknown>(Array.isArray(schema.required) ? schema.required : []);
  for (const part of parts) {
    if (!isObject(part)) continue;
    for (const [key, value] of Object.entries(part)) {
      if (key === 'properties' && isObject(value)) Object.assign(properties, value);
      else if (key === 'required' && Array.isArray(value)) for (const r of value) required.add(r);
      else if (!(key in merged)) merged[key] = value;
    }
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.size > 0) merged.required = [...required];
  return merged;
}

/** Gemini's subset back to JSON Schema, for a Gemini client's tools sent to another upstream. */
export function fromGeminiSchema(input: unknown): JsonObject {
  if (!isObject(input)) return {};
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(input)) {
    switch (key) {
      case 'type':
        if (typeof value === 'string' && value !== 'TYPE_UNSPECIFIED') out.type = value.toLowerCase();
        break;
      case 'nullable':
      case 'propertyOrdering':
        break;
      case 'properties':
        if (isObject(value)) {
          const properties: JsonObject = {};
          for (const [name, prop] of Object.entries(value)) properties[name] = fromGeminiSchema(prop);
          out.properties = properties;
        }
        break;
      case 'items':
        out.items = fromGeminiSchema(value);
        break;
      case 'anyOf':
        if (Array.isArray(value)) out.anyOf = value.map(fromGeminiSchema);
        break;
      default:
        out[key] = value;
    }
  }
  if (input.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (Array.isArray(out.anyOf)) out.anyOf = [...out.anyOf, { type: 'null' }];
  }
  return out;
}

const OPENAPI_TYPES: ReadonlySet<string> = new Set(['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL']);

/**
 * A JSON Schema with OpenAPI's upper-case type names (`"OBJECT"`, which Gemini accepts in
 * `responseJsonSchema` and Gemini CLI sends) in JSON Schema's lower case, which the other
 * providers require. Everything else is kept; an unchanged schema is returned as is.
 */
export function lowerCaseTypes(schema: JsonObject): JsonObject {
  return lowerCased(schema) as JsonObject;
}

function lowerCased(value: unknown): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const next = lowerCased(item);
      if (next !== item) (copy ??= [...value])[i] = next;
    });
    return copy ?? value;
  }
  if (!isObject(value)) return value;
  let copy: JsonObject | undefined;
  for (const [key, item] of Object.entries(value)) {
    let next: unknown;
    if (key === 'type' && typeof item === 'string' && OPENAPI_TYPES.has(item)) next = item.toLowerCase();
    else if (key === 'type' && Array.isArray(item)) next = item.map((t) => (typeof t === 'string' && OPENAPI_TYPES.has(t) ? t.toLowerCase() : t));
    else next = lowerCased(item);
    if (next !== item && !(Array.isArray(next) && Array.isArray(item) && next.every((t, i) => t === item[i]))) (copy ??= { ...value })[key] = next;
  }
  return copy ?? value;
}
