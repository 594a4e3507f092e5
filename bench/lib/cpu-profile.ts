/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function, and by where
 * the code comes from (a file in src/, an npm package, Node's internals, GC). The server is an
 * esbuild bundle, so bundle positions are mapped back through its source map to the original
 * file; function names survive bundling.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  where: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers, ms. */
  totalMs: number;
  /** Time not idle, ms. */
  busyMs: number;
  functions: ProfileEntry[];
  /** Self time grouped by origin (src file, npm package, node internals, gc). */
  origins: ProfileEntry[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** line → sorted segments [generatedColumn, sourceIndex, sourceLine] */
type Mappings = Array<Array<[number, number, number]>>;

function decodeMappings(mappings: string): Mappings {
  const lines: Mappings = [];
  let source = 0;
  let sourceLine = 0;
  let sourceColumn = 0;
  let name = 0;
  for (const line of mappings.split(';')) {
    const segments: Array<[number, number, number]> = [];
    let column = 0;
    for (const segment of line.split(',')) {
      if (segment === '') continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const char of segment) {
        const digit = B64_INDEX.get(char) ?? 0;
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += values[0] ?? 0;
      if (values.length >= 4) {
        source += values[1] as number;
        sourceLine += values[2] as number;
        sourceColumn += values[3] as number;
        if (values.length >= 5) name += values[4] as number;
        segments.push([column, source, sourceLine]);
      }
    }
    lines.push(segments);
  }
  void sourceColumn;
  void name;
  return lines;
}

class SourceMaps {
  private readonly cache = new Map<string, { sources: string[]; lines: Mappings } | null>();

  /** The original file (and line) of a bundle position, or null. */
  lookup(url: string, line: number, column: number): { file: string; line: number } | null {
    if (!url.startsWith('file://')) return null;
    let map = this.cache.get(url);
    if (map === undefined) {
      const path = `${fileURLToPath(url)}.map`;
      map = null;
      if (existsSync(path)) {
        const raw = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[]; mappings: string };
        map = { sources: raw.sources, lines: decodeMappings(raw.mappings) };
      }
      this.cache.set(url, map);
    }
    const segments = map?.lines[line];
    if (map === null || segments === undefined || segments.length === 0) return null;
    let found: [number, number, number] | undefined;
    for (const segment of segments) {
      if (segment[0] > column) break;
      found = segment;
    }
    found ??= segments[0];
    if (found === undefined) return null;
    return { file: map.sources[found[1]] ?? '?', line: found[2] + 1 };
  }
}

/** "node_modules/undici/lib/x.js" → "undici"; "src/server/http/handler.ts" → that path. */
function originOf(file: string): string {
  const nm = file.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = file.indexOf('src/');
  return src !== -1 ? file.slice(src) : file;
}

export function summariseProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const maps = new SourceMaps();
  const byNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map<string, ProfileEntry>();
  const origins = new Map<string, ProfileEntry>();
  let totalUs = 0;
  let idleUs = 0;
  const add = (into: Map<string, ProfileEntry>, key: string, name: string, where: string, us: number): void => {
    const entry = into.get(key) ?? { name, where, ms: 0, percent: 0 };
    entry.ms += us / 1000;
    into.set(key, entry);
  };
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const frame = node.callFrame;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    let where: string;
    let origin: string;
    if (frame.url === '') {
      where = '';
      origin = name.startsWith('(') ? name : '(native)';
    } else if (frame.url.startsWith('node:')) {
      where = `${frame.url}:${frame.lineNumber + 1}`;
      origin = 'node internals';
    } else {
      const mapped = maps.lookup(frame.url, frame.lineNumber, frame.columnNumber);
      where = mapped === null ? `${frame.url.replace(/^.*\//, '')}:${frame.lineNumber + 1}` : `${originOf(mapped.file).replace(/^npm:/, '')}:${mapped.line}`;
      origin = mapped === null ? frame.url.replace(/^.*\//, '') : originOf(mapped.file);
    }
    add(functions, `${name} ${where}`, name, where, us);
    add(origins, origin, origin, '', us);
  }
  const busyUs = totalUs - idleUs;
  const finish = (map: Map<string, ProfileEntry>, limit: number): ProfileEntry[] =>
    [...map.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, limit)
      .map((e) => ({ ...e, ms: Math.round(e.ms * 10) / 10, percent: busyUs === 0 ? 0 : Math.round((e.ms * 1000 * 1000) / busyUs) / 10 }));
  return { totalMs: Math.round(totalUs / 1000), busyMs: Math.round(busyUs / 1000), functions: finish(functions, top), origins: finish(origins, 20) };
}
