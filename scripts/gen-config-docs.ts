/**
 * Regenerates the schema-derived sections of docs/configuration.md.
 *   node --import tsx scripts/gen-config-docs.ts          rewrite the file
 *   node --import tsx scripts/gen-config-docs.ts --check  exit 1 when it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { updateGeneratedSections } from '../src/shared/config/reference.ts';

const file = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
const current = readFileSync(file, 'utf8');
const fresh = updateGeneratedSections(current);

if (process.argv.includes('--check')) {
  if (fresh !== current) {
    console.error('docs/configuration.md is out of date: run node --import tsx scripts/gen-config-docs.ts');
    process.exit(1);
  }
  console.log('docs/configuration.md is up to date');
} else if (fresh !== current) {
  writeFileSync(file, fresh);
  console.log('docs/configuration.md updated');
} else {
  console.log('docs/configuration.md already up to date');
}
