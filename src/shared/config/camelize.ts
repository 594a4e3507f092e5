/**
 * kebab-case YAML keys → camelCase program keys, guided by the schema: only keys the schema
 * declares are renamed, so the user's own keys inside maps (header names, model aliases,
 * fallback model ids) come through exactly as written. `x-api-key` as a header must stay
 * `x-api-key`, which a blind recursive rename would break.
 */
import { defOf, unwrap, type Schema } from './introspect.ts';

export function camelCase(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** A parsed (output-side) value and its schema → the same value with schema keys in camelCase. */
export function camelize(value: unknown, schema: Schema): unknown {
  if (value === null || typeof value !== 'object') return value;
  const bare = unwrap(schema, 'output');
  const def = defOf(bare);
  switch (def.type) {
    case 'object': {
      const shape = def.shape ?? {};
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value)) {
        const childSchema = shape[key];
        // A key outside the shape can only come from a loose/catchall object: keep it as written.
        out[childSchema === undefined ? key : camelCase(key)] = childSchema === undefined ? child : camelize(child, childSchema);
      }
      return out;
    }
    case 'record': {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value)) out[key] = def.valueType === undefined ? child : camelize(child, def.valueType);
      return out;
    }
    case 'array':
      return Array.isArray(value) && def.element !== undefined ? value.map((item) => camelize(item, def.element as Schema)) : value;
    case 'union': {
      const option = pickOption(value, def.options ?? []);
      return option === undefined ? value : camelize(value, option);
    }
    default:
      return value;
  }
}

/** The union member a parsed value came from: arrays to arrays, maps to the object whose keys cover it. */
function pickOption(value: object, options: readonly Schema[]): Schema | undefined {
  const candidates = options.filter((option) => {
    const type = defOf(unwrap(option, 'output')).type;
    return Array.isArray(value) ? type === 'array' : type === 'object' || type === 'record' || type === 'union';
  });
  if (Array.isArray(value)) return candidates[0];
  const keys = Object.keys(value);
  return (
    candidates.find((option) => {
      const def = defOf(unwrap(option, 'output'));
      return def.type === 'object' && keys.every((key) => def.shape !== undefined && key in def.shape);
    }) ?? candidates[0]
  );
}
