/**
 * zod issues → one sentence each, in the config's words: what was expected, what kind of value
 * was found (never the value: it may be a key), and "did you mean" for typos. Messages the
 * schema wrote itself (`expected an http:// or https:// URL`) are kept as they are.
 */
import type { z } from 'zod';
import { allowedKeys, describeExpected, enumValues, keyPaths, kindOf, schemaAt, type PathSegment, type Schema } from './introspect.ts';
import { closest } from './suggest.ts';

/** Returned by the per-parse error map, so that a message still equal to it is known to be zod's default. */
export const DEFAULT_MESSAGE = '\u0000default';

export interface IssueProblem {
  path: PathSegment[];
  message: string;
  /** Unknown keys are reported at the key, everything else at the value. */
  at: 'key' | 'value';
}

type Issue = z.core.$ZodIssue;

function valueAt(tree: unknown, path: readonly PathSegment[]): unknown {
  let node = tree;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[String(segment)];
  }
  return node;
}

/** A key name is echoed only when it looks like a key someone meant to type, not a pasted secret. */
function showKey(key: string): string {
  return /^[A-Za-z][A-Za-z0-9_.-]{0,39}$/.test(key) ? `"${key}"` : '(name not shown)';
}

const yaml11Booleans = new Set(['yes', 'no', 'on', 'off', 'y', 'n', 'True', 'False', 'TRUE', 'FALSE', 'Yes', 'No']);

function unknownKey(key: string, path: readonly PathSegment[], root: Schema): string {
  const here = schemaAt(root, path);
  const allowed = here === undefined ? [] : allowedKeys(here);
  const shown = showKey(key);
  const guess = shown.startsWith('"') ? closest(key, allowed) : undefined;
  if (guess !== undefined) return `unknown key ${shown}; did you mean "${guess}"?`;
  // A key written at the wrong level: `port:` at the top instead of under `listen:`.
  const elsewhere = shown.startsWith('"') ? keyPaths(root).find((entry) => entry.path === key || entry.path.endsWith(`.${key}`)) : undefined;
  if (elsewhere !== undefined) return `unknown key ${shown} here; did you mean ${elsewhere.path}?`;
  return allowed.length > 0 ? `unknown key ${shown}; allowed here: ${allowed.join(', ')}` : `unknown key ${shown}`;
}

function sizeMessage(issue: Issue & { code: 'too_small' | 'too_big' }, schema: Schema | undefined): string {
  const origin = (issue as { origin?: string }).origin;
  const small = issue.code === 'too_small';
  const limit = Number(small ? (issue as { minimum?: unknown }).minimum : (issue as { maximum?: unknown }).maximum);
  if (origin === 'string') {
    if (small && limit === 1) return 'must not be empty';
    return `must be ${small ? 'at least' : 'at most'} ${limit} characters long`;
  }
  if (origin === 'array') {
    return `must have ${small ? 'at least' : 'at most'} ${limit} ${limit === 1 ? 'entry' : 'entries'}`;
  }
  return `expected ${schema === undefined ? 'a number in range' : describeExpected(schema)}`;
}

/** The branch of a failed union the user most likely meant: the one whose type matched. */
function bestBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const matching = branches.filter((issues) => !issues.some((i) => i.code === 'invalid_type' && i.path.length === 0));
  return matching.length === 1 ? matching[0] : undefined;
}

export function describeIssues(issues: readonly Issue[], tree: unknown, root: Schema): IssueProblem[] {
  const out: IssueProblem[] = [];
  const visit = (issue: Issue, prefix: readonly PathSegment[]): void => {
    const path = [...prefix, ...(issue.path as PathSegment[])];
    const schema = schemaAt(root, path);
    const value = valueAt(tree, path);
    const custom = issue.message !== DEFAULT_MESSAGE;
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push({ path: [...path, key], message: unknownKey(key, path, root), at: 'key' });
        return;
      case 'invalid_union': {
        const branch = bestBranch(issue.errors);
        if (branch !== undefined) {
          for (const sub of branch) visit(sub, path);
          return;
        }
        if (value === undefined) out.push({ path, message: `missing required key "${String(path[path.length - 1])}"`, at: 'value' });
        else out.push({ path, message: `expected ${schema === undefined ? 'a valid value' : describeExpected(schema)}, got ${kindOf(value)}`, at: 'value' });
        return;
      }
      case 'invalid_type': {
        if (custom) break;
        if (value === undefined) {
          out.push({ path, message: `missing required key "${String(path[path.length - 1])}"`, at: 'value' });
          return;
        }
        let message = `expected ${schema === undefined ? issue.expected : describeExpected(schema)}, got ${kindOf(value)}`;
        if (typeof value === 'string' && yaml11Booleans.has(value) && issue.expected === 'boolean') message += ' (YAML 1.2 reads yes/no/on/off as text: write true or false)';
        out.push({ path, message, at: 'value' });
        return;
      }
      case 'too_small':
      case 'too_big':
        if (custom) break;
        out.push({ path, message: sizeMessage(issue, schema), at: 'value' });
        return;
      case 'invalid_value': {
        if (custom) break;
        const allowed = (schema === undefined ? undefined : enumValues(schema)) ?? issue.values.map(String);
        if (value === undefined) {
          out.push({ path, message: `missing required key "${String(path[path.length - 1])}" (one of ${allowed.join(', ')})`, at: 'value' });
          return;
        }
        const guess = typeof value === 'string' ? closest(value, allowed) : undefined;
        out.push({ path, message: `expected one of ${allowed.join(', ')}${guess === undefined ? '' : `; did you mean "${guess}"?`}`, at: 'value' });
        return;
      }
      case 'invalid_format':
        if (custom) break;
        out.push({ path, message: `expected ${schema === undefined ? `a valid ${issue.format}` : describeExpected(schema)}`, at: 'value' });
        return;
      default:
        break;
    }
    out.push({ path, message: custom ? issue.message : 'is not valid here', at: 'value' });
  };
  for (const issue of issues) visit(issue, []);
  return out;
}
