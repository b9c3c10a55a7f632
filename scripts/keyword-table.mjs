#!/usr/bin/env node
// Prints the ssh_config keyword table from the code (src/core/config/keywordSupport.ts), or
// with --write puts it into README.md between its markers. Needs `npm run compile-tests`.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { keywordTable } = require(join(root, 'out', 'src', 'core', 'config', 'keywordSupport.js'));
const table = keywordTable();
if (process.argv.includes('--write')) {
  const readme = join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- keywords:start -->';
  const end = '<!-- keywords:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${start} ... ${end} section`);
  writeFileSync(readme, `${text.slice(0, i + start.length)}\n${table}\n${text.slice(j)}`);
} else {
  console.log(table);
}
