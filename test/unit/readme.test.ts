import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderReadme } from '../../src/shared/readme-tables.ts';
import { ExitCode } from '../../src/shared/exit-codes.ts';
import { handledSignals } from '../../src/shared/signals.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README opens with the two commands a newcomer needs', () => {
  const top = readme.split('\n').slice(0, 10).join('\n');
  assert.match(top, /npm ci && npm start/);
  assert.match(top, /npm test/);
});

test('the README signal and exit-code tables are rendered from the code', () => {
  assert.equal(renderReadme(readme), readme, 'run: node --import tsx scripts/gen-readme.ts');
  for (const code of Object.values(ExitCode)) assert.match(readme, new RegExp(`\\| ${code} \\|`));
  for (const signal of handledSignals) assert.match(readme, new RegExp(signal));
});
