/**
 * From a key path back to a line and column in the YAML text, so that every error points at
 * the spot to edit. Values reached only through a merge key (`<<: *base`) or that do not exist
 * (a missing required key) are reported at the nearest enclosing node that does.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { PathSegment } from './introspect.ts';

export interface Position {
  line: number;
  col: number;
}

/** `providers[0].api-keys[1]`; user keys that are not plain words are quoted: `aliases["gpt 4"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

interface Found {
  /** The deepest node reached (the value at the full path when `complete`). */
  node: Node | null;
  /** The key node of the last map entry reached. */
  key: Node | null;
  complete: boolean;
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function find(doc: Document, path: readonly PathSegment[]): Found {
  let node = doc.contents as Node | null;
  let key: Node | null = null;
  for (const segment of path) {
    if (isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? node;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(segment));
      if (pair === undefined) return { node, key, complete: false };
      key = (pair.key as Node | null) ?? null;
      // `key:` with nothing after it has no value node: point at the key.
      node = (pair.value as Node | null) ?? null;
      if (node === null) return { node: key, key, complete: true };
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (item === undefined) return { node, key, complete: false };
      node = item;
      key = null;
    } else return { node, key, complete: false };
  }
  return { node, key, complete: true };
}

/**
 * The position of the value at `path` (or of its key, for unknown keys). With `needle`, the
 * position of that text inside a scalar's source, e.g. the `${VAR}` that failed.
 */
export function locate(doc: Document, lineCounter: LineCounter, path: readonly PathSegment[], options: { at?: 'value' | 'key'; needle?: string; source?: string } = {}): Position | null {
  const found = find(doc, path);
  let target = found.node;
  if (options.at === 'key' && found.complete && found.key !== null) target = found.key;
  const range = target?.range;
  if (range === undefined || range === null) {
    return doc.contents === null ? { line: 1, col: 1 } : null;
  }
  let offset = range[0];
  if (options.needle !== undefined && options.source !== undefined && found.complete && isScalar(target)) {
    const index = options.source.slice(range[0], range[1]).indexOf(options.needle);
    if (index >= 0) offset += index;
  }
  return lineCounter.linePos(offset);
}

/** Whether the value at `path` is written in the file (as opposed to inherited or defaulted). */
export function existsInFile(doc: Document, path: readonly PathSegment[]): boolean {
  return find(doc, path).complete;
}
