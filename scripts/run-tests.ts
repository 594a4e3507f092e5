/**
 * Runs every test file under test/ with Node's built-in runner. The file list is built here, not
 * by a shell glob (an unquoted glob under sh silently runs one file of many), and the run fails
 * if any file found produced no test at all.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const root = new URL('..', import.meta.url).pathname;

function find(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : find(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const filter = process.argv.slice(2);
const files = find(join(root, 'test'))
  .filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const seen = new Set<string>();
let failed = false;
const stream = run({ files, concurrency: Number(process.env.TEST_CONCURRENCY ?? 2), timeout: 10 * 60_000 });
stream.on('test:pass', (event: { file?: string }) => {
  if (event.file !== undefined) seen.add(event.file);
});
stream.on('test:fail', (event: { file?: string }) => {
  failed = true;
  if (event.file !== undefined) seen.add(event.file);
});
stream.compose(new spec()).pipe(process.stdout);
stream.on('end', () => {
  const silent = files.filter((file) => !seen.has(file));
  if (silent.length > 0) {
    console.error(`run-tests: ${silent.length} of ${files.length} test files ran no test:\n${silent.map((f) => `  ${relative(root, f)}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log(`run-tests: ${files.length} test files, every one ran`);
  }
  if (failed) process.exitCode = 1;
});
