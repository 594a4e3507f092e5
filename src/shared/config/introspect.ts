/**
 * Reading the zod schema as data: which keys a level allows, what a value should look like, its
 * default and description. The loader (coercion, error messages, camelCase), the docs generator
 * and the tests all walk the schema through these functions, so the schema stays the single
 * source of truth. zod 4 keeps a schema's structure in `_zod.def`; only the kinds the config
 * schema uses are understood, the rest are treated as opaque leaves.
 */
import type { z } from 'zod';
import { configTypes } from './schema.ts';

export type Schema = z.core.$ZodType;
export type PathSegment = string | number;

/** Which side of a transform to follow: the YAML value (input) or the program's value (output). */
export type Side = 'input' | 'output';

interface Def {
  type: z.core.$ZodTypeDef['type'];
  innerType?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
  options?: readonly Schema[];
  in?: Schema;
  out?: Schema;
  entries?: Record<string, string | number>;
  values?: readonly unknown[];
  defaultValue?: unknown;
  getter?: () => Schema;
  format?: string;
  checks?: readonly { _zod: { def: CheckDef } }[];
}

interface CheckDef {
  check: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  format?: string;
}

export function defOf(schema: Schema): Def {
  return schema._zod.def as unknown as Def;
}

const wrappers = new Set(['default', 'prefault', 'optional', 'nullable', 'nonoptional', 'readonly', 'catch']);

/** Strips defaults, optionals and (on the input side) transforms down to the schema that checks the value. */
export function unwrap(schema: Schema, side: Side = 'input'): Schema {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (wrappers.has(def.type) && def.innerType !== undefined) current = def.innerType;
    else if (def.type === 'lazy' && def.getter !== undefined) current = def.getter();
    else if (def.type === 'pipe' && def.in !== undefined && def.out !== undefined) {
      // A transform's output has no schema: on the output side it is an opaque leaf.
      if (side === 'output' && defOf(def.out).type === 'transform') return def.out;
      current = side === 'input' ? def.in : def.out;
    } else return current;
  }
}

/** The registered human label (duration, size, URL, …) of a schema or any wrapper around it. */
export function typeInfo(schema: Schema): { type: string; expected: string } | undefined {
  let current: Schema | undefined = schema;
  while (current !== undefined) {
    const info = configTypes.get(current);
    if (info !== undefined) return info;
    const def = defOf(current);
    current = wrappers.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
  }
  return undefined;
}

/** The description of a key: the outermost `.describe()` wins, as written in the schema. */
export function descriptionOf(schema: Schema): string | undefined {
  let current: Schema | undefined = schema;
  while (current !== undefined) {
    const text = (current as { description?: string }).description;
    if (text !== undefined) return text;
    const def = defOf(current);
    current = wrappers.has(def.type) ? def.innerType : undefined;
  }
  return undefined;
}

/** The default value, if the key has one (in output form: milliseconds for durations). */
export function defaultOf(schema: Schema): { value: unknown } | undefined {
  let current: Schema | undefined = schema;
  while (current !== undefined) {
    const def = defOf(current);
    if (def.type === 'default' || def.type === 'prefault') return { value: def.defaultValue };
    current = wrappers.has(def.type) ? def.innerType : undefined;
  }
  return undefined;
}

/** Whether a key may be left out (it is optional or has a default). */
export function isOptional(schema: Schema): boolean {
  return schema._zod.optin !== undefined;
}

/** The object shapes a schema may take at this level (several for a union of objects). */
export function shapesOf(schema: Schema, side: Side = 'input'): Record<string, Schema>[] {
  const bare = unwrap(schema, side);
  const def = defOf(bare);
  if (def.type === 'object' && def.shape !== undefined) return [def.shape];
  if (def.type === 'union' && def.options !== undefined) return def.options.flatMap((option) => shapesOf(option, side));
  return [];
}

/** The keys allowed at this level, for "did you mean" and the docs. */
export function allowedKeys(schema: Schema): string[] {
  return [...new Set(shapesOf(schema).flatMap((shape) => Object.keys(shape)))];
}

export function isRecord(schema: Schema, side: Side = 'input'): boolean {
  return defOf(unwrap(schema, side)).type === 'record';
}

/** The schema of one child: an object's key, an array's element, a record's value. */
export function childSchema(schema: Schema, segment: PathSegment, side: Side = 'input'): Schema | undefined {
  const bare = unwrap(schema, side);
  const def = defOf(bare);
  switch (def.type) {
    case 'object':
      return typeof segment === 'string' ? def.shape?.[segment] : undefined;
    case 'array':
      return typeof segment === 'number' ? def.element : undefined;
    case 'record':
      return typeof segment === 'string' ? def.valueType : undefined;
    case 'union':
      for (const option of def.options ?? []) {
        const child = childSchema(option, segment, side);
        if (child !== undefined) return child;
      }
      return undefined;
    default:
      return undefined;
  }
}

export function schemaAt(root: Schema, path: readonly PathSegment[], side: Side = 'input'): Schema | undefined {
  let current: Schema | undefined = root;
  for (const segment of path) {
    if (current === undefined) return undefined;
    current = childSchema(current, segment, side);
  }
  return current;
}

/** The primitive kinds a value may have here, following unions and the input side of transforms. */
export function acceptedKinds(schema: Schema): Set<'string' | 'number' | 'boolean' | 'object' | 'array'> {
  const kinds = new Set<'string' | 'number' | 'boolean' | 'object' | 'array'>();
  const visit = (s: Schema): void => {
    const def = defOf(unwrap(s));
    switch (def.type) {
      case 'string':
      case 'enum':
      case 'template_literal':
        kinds.add('string');
        break;
      case 'number':
      case 'int':
        kinds.add('number');
        break;
      case 'boolean':
        kinds.add('boolean');
        break;
      case 'object':
      case 'record':
        kinds.add('object');
        break;
      case 'array':
        kinds.add('array');
        break;
      case 'literal':
        for (const value of def.values ?? []) kinds.add(typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'string');
        break;
      case 'union':
        for (const option of def.options ?? []) visit(option);
        break;
      default:
        break;
    }
  };
  visit(schema);
  return kinds;
}

export function enumValues(schema: Schema): string[] | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === 'enum' && def.entries !== undefined) return Object.values(def.entries).map(String);
  return undefined;
}

interface NumberBounds {
  integer: boolean;
  min?: { value: number; inclusive: boolean };
  max?: { value: number; inclusive: boolean };
}

function numberBounds(schema: Schema): NumberBounds {
  const bounds: NumberBounds = { integer: false };
  for (const check of defOf(schema).checks ?? []) {
    const c = check._zod.def;
    if (c.check === 'number_format' && c.format !== undefined && /int/.test(c.format)) bounds.integer = true;
    else if (c.check === 'greater_than' && c.value !== undefined) bounds.min = { value: c.value, inclusive: c.inclusive ?? false };
    else if (c.check === 'less_than' && c.value !== undefined) bounds.max = { value: c.value, inclusive: c.inclusive ?? false };
  }
  return bounds;
}

function describeNumber(schema: Schema): string {
  const { integer, min, max } = numberBounds(schema);
  const noun = integer ? 'an integer' : 'a number';
  if (min !== undefined && max !== undefined && min.inclusive && max.inclusive) return `${noun} from ${min.value} to ${max.value}`;
  const parts: string[] = [];
  if (min !== undefined) {
    if (min.value === 0 && !min.inclusive) parts.push('greater than 0');
    else if (min.value === 0) parts.push('not negative');
    else parts.push(min.inclusive ? `at least ${min.value}` : `greater than ${min.value}`);
  }
  if (max !== undefined) parts.push(max.inclusive ? `at most ${max.value}` : `less than ${max.value}`);
  if (integer && min?.value === 0 && !min.inclusive && max === undefined) return 'a positive integer';
  return parts.length === 0 ? noun : `${noun} ${parts.join(' and ')}`;
}

/** What a value here should look like, as a phrase: "an integer from 0 to 65535", "true or false". */
export function describeExpected(schema: Schema): string {
  const info = typeInfo(schema);
  if (info !== undefined) return info.expected;
  const bare = unwrap(schema);
  const def = defOf(bare);
  switch (def.type) {
    case 'string':
      return 'a string';
    case 'number':
    case 'int':
      return describeNumber(bare);
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${(enumValues(bare) ?? []).join(', ')}`;
    case 'object':
      return 'a map of settings';
    case 'record':
      return `a map of names to ${plural(describeExpected(def.valueType as Schema))}`;
    case 'array': {
      const each = describeExpected(def.element as Schema);
      return each.includes(' or ') ? `a list, each entry ${each}` : `a list of ${plural(each)}`;
    }
    case 'union':
      return (def.options ?? []).map(describeExpected).join(', or ');
    default:
      return 'a value';
  }
}

/** "a string" → "strings", for "a list of strings". Only the phrases describeExpected makes. */
function plural(phrase: string): string {
  if (phrase === 'a map of settings') return 'maps of settings';
  return phrase.replace(/^an? (\S+)/, (_m, noun: string) => `${noun}s`);
}

/** A short type name for the docs table: "duration", "integer (0–65535)", "list of string". */
export function typeLabel(schema: Schema): string {
  const info = typeInfo(schema);
  if (info !== undefined) return info.type;
  const bare = unwrap(schema);
  const def = defOf(bare);
  switch (def.type) {
    case 'string':
      return 'string';
    case 'number':
    case 'int': {
      const { integer, min, max } = numberBounds(bare);
      const noun = integer ? 'integer' : 'number';
      if (min !== undefined && max !== undefined) return `${noun} (${min.value}–${max.value})`;
      if (min !== undefined) return `${noun} (${min.inclusive ? '≥' : '>'} ${min.value})`;
      return noun;
    }
    case 'boolean':
      return 'boolean';
    case 'enum':
      return (enumValues(bare) ?? []).map((v) => `\`${v}\``).join(' \\| ');
    case 'object':
      return 'map';
    case 'record':
      return `map of name → ${typeLabel(def.valueType as Schema)}`;
    case 'array':
      return `list of ${typeLabel(def.element as Schema)}`;
    case 'union':
      return (def.options ?? []).map(typeLabel).join(' or ');
    default:
      return def.type;
  }
}

/** The name of a value's kind, for "expected …, got a list": never the value itself (secrets). */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return typeof value;
}

export interface KeyPathEntry {
  /** Display path: `providers[].api-keys[].weight`. */
  path: string;
  schema: Schema;
}

/**
 * Every key the schema knows, depth first in schema order: objects contribute their keys, arrays
 * `[]`, records stop (their keys are the user's). A union of a scalar and a map (`api-keys`
 * entries) contributes the map's keys.
 */
export function keyPaths(root: Schema): KeyPathEntry[] {
  const out: KeyPathEntry[] = [];
  const walk = (schema: Schema, prefix: string): void => {
    const bare = unwrap(schema);
    const def = defOf(bare);
    if (def.type === 'array' && def.element !== undefined) {
      walk(def.element, `${prefix}[]`);
      return;
    }
    for (const shape of shapesOf(bare)) {
      for (const [key, child] of Object.entries(shape)) {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        out.push({ path, schema: child });
        walk(child, path);
      }
    }
  };
  walk(root, '');
  return out;
}
