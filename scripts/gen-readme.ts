/**
 * Regenerates the README's signal and exit-code tables from the code.
 *   node --import tsx scripts/gen-readme.ts          rewrite README.md
 *   node --import tsx scripts/gen-readme.ts --check  exit 1 when it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderReadme } from '../src/shared/readme-tables.ts';

const file = fileURLToPath(new URL('../README.md', import.meta.url));
const current = readFileSync(file, 'utf8');
const fresh = renderReadme(current);
if (process.argv.includes('--check')) {
  if (fresh !== current) {
    console.error('README.md tables are out of date: run node --import tsx scripts/gen-readme.ts');
    process.exit(1);
  }
} else if (fresh !== current) {
  writeFileSync(file, fresh);
}
