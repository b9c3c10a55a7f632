import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { globPaths, matchGlobSegment } from '../../src/core/config/includeGlob';

/**
 * Include patterns follow glob(3). The segment matcher is compared with bash's own
 * pattern matching (`[[ name == pattern ]]`, the same fnmatch rules for `*`, `?`, `[...]`,
 * `[!...]`, `[^...]`, ranges and backslash escapes) on names without a leading dot; the
 * leading-dot rule of glob(3) is checked on its own.
 */
const cases: Array<[string, string]> = [
  ['a.conf', '*.conf'],
  ['a.conf', '*.cfg'],
  ['a.conf', 'a.conf'],
  ['a.conf', 'a.con'],
  ['a.con', 'a.conf'],
  ['ab', 'a?'],
  ['a', 'a?'],
  ['abc', 'a?'],
  ['abc', '**c'],
  ['abc', 'a*'],
  ['abc', '*'],
  ['', '*'],
  ['abc', 'a*b*c'],
  ['abc', 'a*d'],
  ['b1', '[abc]1'],
  ['d1', '[abc]1'],
  ['d1', '[!abc]1'],
  ['a1', '[!abc]1'],
  ['d1', '[^abc]1'],
  ['a1', '[^abc]1'],
  ['m', '[a-z]'],
  ['M', '[a-z]'],
  ['5', '[0-46-9]'],
  ['7', '[0-46-9]'],
  ['-', '[a-]'],
  ['b', '[a-]'],
  [']', '[]a]'],
  ['a', '[]a]'],
  ['b', '[]a]'],
  ['[a', '[a'],
  ['a', '[a'],
  ['*x', '\\*x'],
  ['ax', '\\*x'],
  ['x', 'x\\'],
  ['10-web.conf', '[0-9][0-9]-*.conf'],
  ['1-web.conf', '[0-9][0-9]-*.conf'],
];

test('a glob segment matches as bash matches it (*, ?, classes, negation, ranges, escapes)', () => {
  const script = cases.map(([, pattern], i) => `p=${JSON.stringify(pattern).replace(/\$/g, '\\$')}; [[ "\${n[${i}]}" == $p ]] && echo 1 || echo 0`);
  const assign = cases.map(([name], i) => `n[${i}]=${JSON.stringify(name).replace(/\$/g, '\\$')}`);
  const bash = execFileSync('bash', ['-c', [...assign, ...script].join('\n')], { encoding: 'utf8' })
    .trim()
    .split('\n');
  assert.equal(bash.length, cases.length, 'one answer from bash per case');
  cases.forEach(([name, pattern], i) => {
    assert.equal(
      matchGlobSegment(name, pattern),
      bash[i] === '1',
      `${JSON.stringify(name)} against ${JSON.stringify(pattern)}: bash says ${bash[i] === '1' ? 'match' : 'no match'}`,
    );
  });
});

test('wildcards do not match a leading dot; a pattern that starts with a dot does', () => {
  assert.equal(matchGlobSegment('.hidden.conf', '*.conf'), false);
  assert.equal(matchGlobSegment('.hidden.conf', '?hidden.conf'), false);
  assert.equal(matchGlobSegment('.hidden.conf', '[.]hidden.conf'), false);
  assert.equal(matchGlobSegment('.hidden.conf', '.*.conf'), true);
  assert.equal(matchGlobSegment('.hidden.conf', '.hidden.conf'), true);
});

test('globPaths: the matching files in sorted order, wildcards in any segment, a plain path only when it exists', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ska-glob-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['b.d', 'a.d', 'c.x']) mkdirSync(join(dir, sub));
  for (const f of ['b.d/2.conf', 'b.d/1.conf', 'a.d/z.conf', 'a.d/.dot.conf', 'a.d/notes.txt', 'c.x/1.conf']) writeFileSync(join(dir, f), '');
  writeFileSync(join(dir, 'plain'), '');
  assert.deepEqual(globPaths(join(dir, '*.d', '*.conf')), [join(dir, 'a.d/z.conf'), join(dir, 'b.d/1.conf'), join(dir, 'b.d/2.conf')]);
  assert.deepEqual(globPaths(join(dir, 'b.d', '?.conf')), [join(dir, 'b.d/1.conf'), join(dir, 'b.d/2.conf')]);
  assert.deepEqual(globPaths(join(dir, 'plain')), [join(dir, 'plain')]);
  assert.deepEqual(globPaths(join(dir, 'absent')), []);
  assert.deepEqual(globPaths(join(dir, 'plain', '*')), [], 'a file where a directory is needed: no match, no error');
  assert.deepEqual(globPaths(join(dir, 'absent.d', '*.conf')), []);
});

test('globPaths sorts the whole paths as glob(3) does in the C locale (ssh sets only LC_CTYPE), compared with bash', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ska-glob-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Directory by directory, `a` comes before `a.b`; as whole paths, `a.b/` sorts before `a/`.
  for (const sub of ['a', 'a.b', 'B']) mkdirSync(join(dir, sub));
  for (const f of ['a/1.conf', 'a.b/1.conf', 'B/1.conf', 'a/0.conf']) writeFileSync(join(dir, f), '');
  const pattern = join(dir, '*', '*.conf');
  const bash = execFileSync('bash', ['-c', 'printf "%s\\n" $0', pattern], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
    .trim()
    .split('\n');
  assert.deepEqual(globPaths(pattern), bash);
  assert.deepEqual(globPaths(pattern), [join(dir, 'B/1.conf'), join(dir, 'a.b/1.conf'), join(dir, 'a/0.conf'), join(dir, 'a/1.conf')]);
});
