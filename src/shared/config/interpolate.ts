/**
 * `${VAR}`, `${VAR:-default}`, `${file:PATH}` and the `$${` escape in string values. Secrets
 * live in the environment or in files (systemd credentials, Docker/Kubernetes secrets), never
 * in the config file itself. Files are read on every load, so a reload picks up a rotated key.
 *
 * Nothing here ever puts a resolved value into a message: errors name the variable or the file,
 * which are not secret, and the caller adds the position.
 */
import { FileProblem, osReason, readRegularFile } from '../files.ts';
import { resolve } from 'node:path';
import { acceptedKinds, childSchema, defOf, unwrap, type PathSegment, type Schema } from './introspect.ts';

export interface InterpolationContext {
  env: NodeJS.ProcessEnv;
  /** Relative `${file:}` paths are resolved against the config file's directory. */
  baseDir: string;
}

export type Interpolated = { ok: true; value: string; changed: boolean } | { ok: false; message: string; needle: string };

const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;


function readSecretFile(path: string, ctx: InterpolationContext): { ok: true; value: string } | { ok: false; message: string } {
  const full = resolve(ctx.baseDir, path);
  let text: string;
  try {
    text = readRegularFile(full, 'secret file').toString('utf8');
  } catch (error) {
    return { ok: false, message: error instanceof FileProblem ? error.message : `cannot read secret file ${full}: ${osReason(error)}` };
  }
  // Files written by `echo` or editors end in a newline that is not part of the key.
  const value = text.replace(/(\r?\n)+$/, '');
  if (value === '') return { ok: false, message: `secret file ${full} is empty` };
  return { ok: true, value };
}

/** Expands one string. The first problem wins; `needle` is the text that caused it, for the column. */
export function interpolate(text: string, ctx: InterpolationContext): Interpolated {
  if (!text.includes('$')) return { ok: true, value: text, changed: false };
  let out = '';
  let i = 0;
  let changed = false;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      changed = true;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      return { ok: false, message: 'unterminated "${": close it with "}", or write "$${" for a literal "${"', needle: text.slice(dollar, dollar + 2) };
    }
    const body = text.slice(dollar + 2, close);
    const needle = text.slice(dollar, close + 1);
    changed = true;
    i = close + 1;
    if (body.startsWith('file:')) {
      const path = body.slice('file:'.length).trim();
      if (path === '') return { ok: false, message: '"${file:}" needs a path, as in ${file:/run/secrets/openai}', needle };
      const read = readSecretFile(path, ctx);
      if (!read.ok) return { ok: false, message: read.message, needle };
      out += read.value;
      continue;
    }
    const separator = body.indexOf(':-');
    const name = separator < 0 ? body : body.slice(0, separator);
    if (!variableName.test(name)) {
      return { ok: false, message: `"${needle}" is not a valid reference: use \${VAR}, \${VAR:-default} or \${file:PATH} (write "$\${" for a literal "\${")`, needle };
    }
    const value = ctx.env[name];
    // As in the shell's ${VAR:-default}, an empty variable counts as unset.
    if (value !== undefined && value !== '') out += value;
    else if (separator >= 0) out += body.slice(separator + 2);
    else return { ok: false, message: `environment variable ${name} is ${value === '' ? 'empty' : 'not set'}`, needle };
  }
  return { ok: true, value: out, changed };
}

/**
 * A string from the environment or an expanded `${…}` where the schema wants a number or a
 * boolean (`port: ${PORT:-8317}`, `AI_PROXY_PORT=9000`): convert it so the schema checks the
 * number. Strings the schema accepts as strings stay strings (keys may be all digits).
 */
export function coerceScalar(text: string, schema: Schema | undefined): unknown {
  if (schema === undefined) return text;
  const kinds = acceptedKinds(schema);
  if (kinds.has('string')) return text;
  const trimmed = text.trim();
  if (kinds.has('number') && /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(trimmed)) return Number(trimmed);
  if (kinds.has('boolean') && (trimmed === 'true' || trimmed === 'false')) return trimmed === 'true';
  return text;
}

export interface TreeProblem {
  path: PathSegment[];
  message: string;
  needle: string;
}

export interface PreparedTree {
  value: unknown;
  problems: TreeProblem[];
  /** Paths whose value could not be expanded: schema errors there would only repeat the problem. */
  unresolved: PathSegment[][];
}

/**
 * Walks the value YAML produced, alongside the schema: expands strings, converts expanded
 * numbers, and drops `key:` left empty in a settings map (an empty value means "the default",
 * which lets the example file list optional keys). Builds a new tree: YAML anchors share
 * objects, which must not be expanded twice.
 */
export function prepareTree(value: unknown, schema: Schema, ctx: InterpolationContext): PreparedTree {
  const problems: TreeProblem[] = [];
  const unresolved: PathSegment[][] = [];
  // A YAML alias inside its own anchor (`a: &x [*x]`) makes a cycle; only the ancestors can close it.
  const ancestors = new Set<object>();
  const walk = (node: unknown, nodeSchema: Schema | undefined, path: PathSegment[]): unknown => {
    if (node !== null && typeof node === 'object') {
      if (ancestors.has(node)) {
        problems.push({ path, message: 'refers to itself (a YAML alias inside its own anchor)', needle: '*' });
        unresolved.push(path);
        return null;
      }
      ancestors.add(node);
      try {
        return walkCollection(node, nodeSchema, path);
      } finally {
        ancestors.delete(node);
      }
    }
    if (typeof node === 'string') {
      const result = interpolate(node, ctx);
      if (!result.ok) {
        problems.push({ path, message: result.message, needle: result.needle });
        unresolved.push(path);
        return node;
      }
      return result.changed ? coerceScalar(result.value, nodeSchema) : result.value;
    }
    return node;
  };
  const walkCollection = (node: object, nodeSchema: Schema | undefined, path: PathSegment[]): unknown => {
    if (Array.isArray(node)) return node.map((item, index) => walk(item, nodeSchema === undefined ? undefined : childSchema(nodeSchema, index), [...path, index]));
    const settings = nodeSchema !== undefined && defOf(unwrap(nodeSchema)).type !== 'record';
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (child === null && settings) continue;
      out[key] = walk(child, nodeSchema === undefined ? undefined : childSchema(nodeSchema, key), [...path, key]);
    }
    return out;
  };
  return { value: walk(value, schema, []), problems, unresolved };
}
