/**
 * The schema is the single source of truth for the config docs: the generated reference must be
 * current, every key must be described, and the example config must be valid and show (and
 * comment) every key the schema knows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { descriptionOf, keyPaths } from '../../src/shared/config/introspect.ts';
import { describeConfig, loadConfig } from '../../src/shared/config/load.ts';
import { overrideTable } from '../../src/shared/config/overrides.ts';
import { updateGeneratedSections } from '../../src/shared/config/reference.ts';
import { configSchema } from '../../src/shared/config/schema.ts';

const docPath = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
const examplePath = fileURLToPath(new URL('../../etc/ai-proxy.example.yaml', import.meta.url));

/** The variables the example's header says to set. */
const exampleEnv = {
  OPENAI_API_KEY: 'sk-example-1',
  OPENAI_API_KEY_2: 'sk-example-2',
  ANTHROPIC_API_KEY: 'sk-ant-example',
  GEMINI_API_KEY: 'gemini-example',
  AI_PROXY_KEY_ALICE: 'alice-example-key',
};

/** Key paths written in a YAML file, in the schema's notation (`providers[].api-keys[].key`), with the line of their first use. */
function writtenKeyPaths(text: string): Map<string, number> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true });
  const found = new Map<string, number>();
  const walk = (node: unknown, prefix: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const path = prefix === '' ? key : `${prefix}.${key}`;
        const offset = (pair.key as Node | null)?.range?.[0] ?? 0;
        if (!found.has(path)) found.set(path, lineCounter.linePos(offset).line);
        walk(pair.value, path);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item, `${prefix}[]`);
    }
  };
  walk(doc.contents, '');
  return found;
}

describe('docs/configuration.md', () => {
  test('the generated reference is up to date (run: node --import tsx scripts/gen-config-docs.ts)', () => {
    const current = readFileSync(docPath, 'utf8');
    assert.equal(updateGeneratedSections(current), current);
  });

  test('every key has a description', () => {
    const missing = keyPaths(configSchema)
      .filter((entry) => (descriptionOf(entry.schema) ?? '').trim() === '')
      .map((entry) => entry.path);
    assert.deepEqual(missing, []);
  });

  test('every override is documented', () => {
    const doc = readFileSync(docPath, 'utf8');
    for (const spec of overrideTable) assert.ok(doc.includes(`\`${spec.env}\``), spec.env);
  });
});

describe('etc/ai-proxy.example.yaml', () => {
  const text = readFileSync(examplePath, 'utf8');

  test('is a valid config once the key variables it names are set', () => {
    for (const name of Object.keys(exampleEnv)) assert.ok(text.includes(name), `the example no longer uses ${name}`);
    const loaded = loadConfig({ path: examplePath, env: exampleEnv });
    assert.equal(loaded.config.listen.host, '127.0.0.1');
    assert.equal(loaded.config.providers[0]?.apiKeys.length, 2);
    assert.match(describeConfig(loaded), /^OK: .*ai-proxy\.example\.yaml \(5 providers, 2 client keys, listen 127\.0\.0\.1:8317\)$/);
  });

  test('shows every key the schema knows', () => {
    const written = writtenKeyPaths(text);
    // Opt-in top-level keys (user, group: they need a root launcher) are shown commented out, as `# key: value`.
    for (const match of text.matchAll(/^# ([a-z][a-z-]*): \S/gm)) if (!written.has(match[1] as string)) written.set(match[1] as string, 0);
    const missing = keyPaths(configSchema)
      .map((entry) => entry.path)
      .filter((path) => !written.has(path));
    assert.deepEqual(missing, []);
  });

  test('comments every key where it first appears', () => {
    const lines = text.split('\n');
    const written = writtenKeyPaths(text);
    const uncommented = keyPaths(configSchema)
      .map((entry) => entry.path)
      .filter((path) => {
        const line = written.get(path);
        if (line === undefined) return false;
        const here = lines[line - 1] ?? '';
        const above = (lines[line - 2] ?? '').trim();
        return !here.includes(' #') && !above.startsWith('#');
      });
    assert.deepEqual(uncommented, []);
  });
});
