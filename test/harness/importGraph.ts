/**
 * The relative-import graph of TypeScript sources, for tests that keep layers apart (src/core and
 * the CLI never reach `vscode`; tools/peers never reaches tests, demo or bench).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The repository root (this file runs from out/test/harness). */
export const repoRoot = join(__dirname, '..', '..', '..');

const relativeImport = /(?:from\s+|import\s+|require\(\s*|import\(\s*)['"](\.{1,2}\/[^'"]*)['"]/g;

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

export interface Reached {
  /** Absolute path of a source file. */
  file: string;
  /** Its text. */
  text: string;
  /** How it was reached: the files from a starting point to it, relative to the repository. */
  chain: string[];
}

/**
 * Every file under `paths` and every file they import through relative imports, followed to
 * the end, each once (by the first chain that reaches it).
 */
export function reachable(paths: string[]): Reached[] {
  const out: Reached[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const here = [...chain, file.slice(repoRoot.length + 1)];
    out.push({ file, text, chain: here });
    for (const m of text.matchAll(relativeImport)) {
      const next = resolveTs(file, m[1]);
      if (next) visit(next, here);
    }
  };
  for (const p of paths) {
    assert.ok(existsSync(p), `${p} is missing: the test would scan nothing there`);
    for (const f of files(p)) visit(f, []);
  }
  return out;
}
