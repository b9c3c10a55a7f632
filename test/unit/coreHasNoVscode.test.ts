import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { reachable, repoRoot } from '../harness/importGraph';

const src = join(repoRoot, 'src');
const vscodeImport = /(?:from|import)\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\)/;

/**
 * The import chains from `paths` that end in a file importing vscode: a file that imports a
 * src/vscode module, which imports vscode, counts as importing it.
 */
function vscodeChains(paths: string[]): { chains: string[]; count: number } {
  const files = reachable(paths);
  return { chains: files.filter((f) => vscodeImport.test(f.text)).map((f) => f.chain.join(' -> ')), count: files.length };
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
