import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { reachable, repoRoot } from '../harness/importGraph';

test('tools/peers imports nothing from test/, demo/ or bench/ (tests, demo and bench import it)', () => {
  const files = reachable([join(repoRoot, 'tools', 'peers')]);
  assert.ok(files.length > 5, `expected to scan tools/peers, found ${files.length} files`);
  const outside = files.filter((f) => /^(test|demo|bench)\//.test(f.chain.at(-1)!)).map((f) => f.chain.join(' -> '));
  assert.deepEqual(outside, []);
});
