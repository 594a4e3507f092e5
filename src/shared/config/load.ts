/**
 * The config loader: find the file, parse the YAML, expand secrets, apply overrides, validate
 * against the schema, run the cross-field checks, and hand back a camelCase `Config`. Every
 * path that reads a config (`run`, `validate`, a reload, the file watcher) goes through
 * `loadConfig`, so they all reach the same verdict. It is synchronous: a config is small, and
 * a reload must validate before it swaps anything.
 *
 * Error reporting collects everything it can find before throwing, one line per problem, each
 * naming `file:line:col key.path` (or the flag or variable an override came from).
 */
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { LineCounter, isAlias, parseDocument, visit, type Document } from 'yaml';
import { AppError } from '../errors.ts';
import { errnoCode, FileProblem, osReason, readRegularFile } from '../files.ts';
import type { PidFileChoice } from '../paths.ts';
import { camelize } from './camelize.ts';
import { EMBEDDED_DEFAULT_LABEL, embeddedDefaultYaml } from './embedded-default.ts';
import { coerceScalar, prepareTree } from './interpolate.ts';
import { kindOf, schemaAt, type PathSegment } from './introspect.ts';
import { DEFAULT_MESSAGE, describeIssues } from './issues.ts';
import { formatPath, locate, type Position } from './locate.ts';
import { applyOverrides, collectOverrides, type AppliedOverride, type Overrides } from './overrides.ts';
import { choosePidFile, PID_FILE_KEY } from './pid-file-setting.ts';
import { configSchema, type Config } from './schema.ts';
import { semanticChecks, unsafeListenReason } from './semantic-checks.ts';

export type { Overrides } from './overrides.ts';
export { CONFIG_FILE_NAME, resolveConfigPath, type ConfigPathSource, type ResolvedConfigPath } from './path.ts';
import { resolveConfigPath, type ConfigPathSource } from './path.ts';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read; null when the embedded default is used. */
  path: string | null;
  /** 12 hex digits of the SHA-256 of the resolved config: changes when a `${file:}` secret does. */
  hash: string;
  /** SHA-256 (hex) of the file's bytes, for the watcher; null for the embedded default. */
  fileHash: string | null;
  /** The PID file this config gives the instance, and where that choice came from. */
  pidFile: PidFileChoice;
}

function readConfigFile(path: string, source: ConfigPathSource): Buffer {
  try {
    return readRegularFile(path, 'config file');
  } catch (error) {
    const from = source === '-c' ? '' : source === 'AI_PROXY_CONFIG' ? ' (from AI_PROXY_CONFIG)' : '';
    if (error instanceof FileProblem) throw new AppError('E_CONFIG_READ', `${error.message}${from}`, { cause: error });
    if (errnoCode(error) === 'ENOENT') {
      throw new AppError('E_CONFIG_NOT_FOUND', `config file ${path}${from} not found: create it, or omit -c/AI_PROXY_CONFIG to use the default location`, { cause: error });
    }
    throw new AppError('E_CONFIG_READ', `cannot read config file ${path}${from}: ${osReason(error)}`, { cause: error });
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Enough lines to fix a broken file; a thousand lines of fallout help nobody. */
const MAX_DETAILS = 50;

function capDetails(lines: string[]): string[] {
  if (lines.length <= MAX_DETAILS) return lines;
  return [...lines.slice(0, MAX_DETAILS), `… and ${lines.length - MAX_DETAILS} more`];
}

/** yaml echoes the offending token in some messages; a token can be part of a secret. */
function sanitizeYamlMessage(message: string): string {
  return message.replace(/:\s*"(?:[^"\\]|\\.)*"$/, (match) => (match.length <= 8 ? match : '')).replace(/\s+/g, ' ');
}

/** Aliases to anchors that do not exist only fail when converted; find them first, with positions. */
function unresolvedAliases(doc: Document): { offset: number; name: string }[] {
  const found: { offset: number; name: string }[] = [];
  visit(doc, {
    Alias(_key, node) {
      if (isAlias(node) && node.resolve(doc) === undefined) found.push({ offset: node.range?.[0] ?? 0, name: node.source });
    },
  });
  return found;
}

interface Problem {
  path: PathSegment[];
  message: string;
  at: 'key' | 'value';
  needle?: string;
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => segment === path[i]);
}

export interface ParseOptions {
  /** Shown in messages: the file path, or `<embedded default>`. */
  label: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Overrides;
  /** Relative `${file:}` paths resolve against this directory. */
  baseDir?: string;
}

/** Validates config text (no file access except `${file:}`): the core of loadConfig, for tests and tools. */
export function parseConfigText(text: string, options: ParseOptions): { config: Config; hash: string; pidFile: PidFileChoice } {
  const { label } = options;
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true, strict: true, keepSourceTokens: false });

  const at = (p: Position | null): string => (p === null ? label : `${label}:${p.line}:${p.col}`);
  const lines = text.split('\n');
  let hinted = false;
  const syntax = [...doc.errors, ...doc.warnings].map((e) => {
    const position = lineCounter.linePos(e.pos[0]);
    let message = `${at(position)}: ${sanitizeYamlMessage(e.message)}`;
    // `[${KEY}]` is the classic trap: in [ ] and { } a plain value cannot contain "{".
    if (!hinted && /[[{][^"'#]*\$\{/.test(lines[position.line - 1] ?? '')) {
      message += ' (inside [ ] or { }, quote values that use ${…}: ["${VAR}"])';
      hinted = true;
    }
    return message;
  });
  for (const alias of unresolvedAliases(doc)) syntax.push(`${at(lineCounter.linePos(alias.offset))}: alias *${alias.name} refers to an anchor that is not defined before it`);
  if (syntax.length > 0) throw new AppError('E_CONFIG_PARSE', `config ${label} is not valid YAML (${plural(syntax.length, 'error')})`, { details: capDetails(syntax) });

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw new AppError('E_CONFIG_PARSE', `config ${label} is not valid YAML: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  // An empty file (or one with only comments) means "all defaults", as an empty section does.
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    const where = at(doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 });
    throw new AppError('E_CONFIG_INVALID', `config ${label} is invalid (1 error)`, { details: [`${where}: expected a map of settings (key: value lines) at the top level, got ${kindOf(value)}`] });
  }

  const baseDir = options.baseDir ?? process.cwd();
  const prepared = prepareTree(value, configSchema, { env, baseDir });
  const tree = prepared.value as Record<string, unknown>;
  resolveFilePaths(tree, baseDir);
  const filePidFile = typeof tree[PID_FILE_KEY] === 'string' ? tree[PID_FILE_KEY] : undefined;
  const wanted = collectOverrides(options.overrides ?? {}, env).map((o): AppliedOverride => (typeof o.value === 'string' ? { ...o, value: coerceScalar(o.value, schemaAt(configSchema, o.path)) } : o));
  const placed = applyOverrides(tree, wanted);

  const problems: Problem[] = prepared.problems.map((p) => ({ path: p.path, message: p.message, at: 'value', needle: p.needle }));
  const parsed = configSchema.safeParse(tree, { error: () => DEFAULT_MESSAGE });
  let config: Config | undefined;
  if (parsed.success) {
    config = camelize(parsed.data, configSchema) as Config;
    problems.push(...semanticChecks(config, prepared.unresolved).map((p): Problem => ({ ...p, at: 'value' })));
  } else {
    for (const issue of describeIssues(parsed.error.issues, tree, configSchema)) {
      // The expansion error already explains this value.
      if (prepared.unresolved.some((u) => startsWith(issue.path, u))) continue;
      problems.push(issue);
    }
  }

  if (problems.length > 0) {
    const located = problems.map((problem) => {
      const override = placed.find((o) => startsWith(problem.path, o.path));
      if (override !== undefined) return { rank: -1, line: 0, col: 0, text: `${override.origin}: ${problem.message}` };
      const position = locate(doc, lineCounter, problem.path, { at: problem.at, ...(problem.needle === undefined ? {} : { needle: problem.needle, source: text }) });
      const where = at(position);
      const keyPath = formatPath(problem.path);
      return { rank: 0, line: position?.line ?? Infinity, col: position?.col ?? 0, text: keyPath === '' ? `${where}: ${problem.message}` : `${where} ${keyPath}: ${problem.message}` };
    });
    located.sort((a, b) => a.rank - b.rank || a.line - b.line || a.col - b.col);
    throw new AppError('E_CONFIG_INVALID', `config ${label} is invalid (${plural(located.length, 'error')})`, { details: capDetails(located.map((l) => l.text)) });
  }
  if (config === undefined) throw new Error('unreachable: a config without problems parses');

  const hostOverride = placed.find((o) => o.path.join('.') === 'listen.host');
  const hostOrigin = hostOverride?.origin ?? (doc.hasIn(['listen', 'host']) ? `listen.host at ${at(locate(doc, lineCounter, ['listen', 'host']))}` : 'listen.host');
  const unsafe = unsafeListenReason(config, hostOrigin);
  if (unsafe !== null) throw new AppError('E_CONFIG_UNSAFE', unsafe);

  const pidFile = choosePidFile(
    placed.find((o) => o.path.length === 1 && o.path[0] === PID_FILE_KEY),
    filePidFile,
    env,
  );
  return { config, hash: configHash(config), pidFile };
}

/** JSON with object keys sorted, so that equal configs hash equal whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function configHash(config: Config): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 12);
}

/**
 * Loads and validates the config. `path` is an explicit file (`-c`); without it the default
 * locations are searched, falling back to the embedded default. Throws AppError (E_CONFIG_*).
 */
export function loadConfig(options: { path?: string; env?: NodeJS.ProcessEnv; overrides?: Overrides } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const resolved = resolveConfigPath(options.path, env);
  const overrides = options.overrides ?? {};
  if (resolved.path === null) {
    const { config, hash, pidFile } = parseConfigText(embeddedDefaultYaml(env), { label: EMBEDDED_DEFAULT_LABEL, env, overrides, baseDir: process.cwd() });
    return { config, path: null, hash, fileHash: null, pidFile };
  }
  const bytes = readConfigFile(resolved.path, resolved.source);
  const fileHash = createHash('sha256').update(bytes).digest('hex');
  const { config, hash, pidFile } = parseConfigText(bytes.toString('utf8'), { label: resolved.path, env, overrides, baseDir: dirname(resolved.path) });
  return { config, path: resolved.path, hash, fileHash, pidFile };
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One line for `ai-proxy validate`: `OK: /etc/ai-proxy/ai-proxy.yaml (3 providers, 2 client keys, listen 127.0.0.1:8317)`. */
export function describeConfig(loaded: LoadedConfig): string {
  const { config } = loaded;
  const source = loaded.path ?? 'embedded default (no config file)';
  return `OK: ${source} (${plural(config.providers.length, 'provider')}, ${plural(config.clientKeys.length, 'client key')}, listen ${formatHostPort(config.listen.host, config.listen.port)})`;
}

/**
 * Relative file paths written in the config mean "beside the config file", as `${file:}` does, not
 * "wherever the command happens to run". Overrides are applied afterwards: theirs are the caller's.
 */
function resolveFilePaths(tree: Record<string, unknown>, baseDir: string): void {
  const pidFile = tree[PID_FILE_KEY];
  if (typeof pidFile === 'string' && pidFile !== '') tree[PID_FILE_KEY] = resolve(baseDir, pidFile);
  const log = tree.log;
  if (log !== null && typeof log === 'object' && !Array.isArray(log)) {
    const section = log as Record<string, unknown>;
    if (typeof section.file === 'string' && section.file !== '') section.file = resolve(baseDir, section.file);
  }
}
