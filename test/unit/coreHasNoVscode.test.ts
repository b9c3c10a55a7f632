import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const src = join(__dirname, '..', '..', '..', 'src');
const vscodeImport = /from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\)/;
const relativeImport = /(?:from\s+|require\(\s*|import\(\s*)['"](\.{1,2}\/[^'"]*)['"]/g;

/** Every .ts file at or under `path` (a file or a folder). */
function* files(path: string): Generator<string> {
  if (!statSync(path).isDirectory()) {
    if (path.endsWith('.ts')) yield path;
    return;
  }
  for (const name of readdirSync(path)) yield* files(join(path, name));
}

function resolveTs(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  return [`${base}.ts`, join(base, 'index.ts'), base].find((p) => existsSync(p) && statSync(p).isFile());
}

/**
 * Every file under `paths` and every file they import (relative imports, followed to the end):
 * a file that imports a src/vscode module, which imports vscode, counts as importing vscode.
 * Returns the import chains that end in a vscode import, and how many files were read.
 */
function vscodeChains(paths: string[]): { chains: string[]; count: number } {
  const chains: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const here = [...chain, relative(src, file)];
    if (vscodeImport.test(text)) chains.push(here.join(' -> '));
    for (const m of text.matchAll(relativeImport)) {
      const next = resolveTs(file, m[1]);
      if (next) visit(next, here);
    }
  };
  for (const p of paths) {
    assert.ok(existsSync(p), `${p} is missing: the test would scan nothing there`);
    for (const f of files(p)) visit(f, []);
  }
  return { chains, count: seen.size };
}

test('nothing under src/core imports vscode', () => {
  const { chains, count } = vscodeChains([join(src, 'core')]);
  assert.ok(count > 10, `expected to scan the core sources, found ${count} files under ${src}/core`);
  assert.deepEqual(chains, []);
});

test('the CLI (src/cli.ts, src/cli/ and all they import) never imports vscode', () => {
  const { chains, count } = vscodeChains([join(src, 'cli.ts'), join(src, 'cli')]);
  assert.ok(count > 10, `expected to scan the CLI sources and the core they use, found ${count} files`);
  assert.deepEqual(chains, []);
});
