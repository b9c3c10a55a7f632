import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(__dirname, '..', '..', '..', 'src', 'core');

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

test('nothing under src/core imports vscode', () => {
  const offenders: string[] = [];
  let count = 0;
  for (const f of files(root)) {
    count++;
    const text = readFileSync(f, 'utf8');
    if (/from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\)/.test(text)) offenders.push(f);
  }
  assert.ok(count > 10, `expected to scan the core sources, found ${count} files under ${root}`);
  assert.deepEqual(offenders, []);
});
