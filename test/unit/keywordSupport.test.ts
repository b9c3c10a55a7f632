import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HONOURED, keywordSupport, keywordTable } from '../../src/core/config/keywordSupport';
import { KNOWN_KEYWORDS } from '../../src/core/config/keywords';

const root = join(__dirname, '..', '..', '..');

function sources(dir: string): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) =>
      e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && e.name !== 'keywordSupport.ts' ? readFileSync(join(dir, e.name), 'utf8') : '',
    )
    .join('\n');
}

test('every keyword called honoured is read by the config code or the CLI (not only listed)', () => {
  const code = sources(join(root, 'src'));
  for (const keyword of Object.keys(HONOURED)) {
    // As a quoted string: config.get('port'), optionValue(args, 'BatchMode'), ...
    assert.ok(new RegExp(`'${keyword}'`, 'i').test(code), `${keyword} is called honoured but no source file names it`);
  }
});

test('every keyword OpenSSH knows has a row; none is both honoured and reported', () => {
  const rows = keywordSupport();
  const names = new Set(rows.map((r) => r.keyword));
  for (const k of KNOWN_KEYWORDS) assert.ok(names.has(k), `${k} has no row`);
  assert.equal(names.size, rows.length, 'one row per keyword');
  assert.ok(rows.some((r) => r.support === 'reported' && r.keyword === 'forwardagent'));
  assert.ok(rows.some((r) => r.support === 'honoured' && r.keyword === 'proxycommand'));
});

test("the README's keyword table is the generated one (node scripts/keyword-table.mjs --write)", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = /<!-- keywords:start -->\n([\s\S]*?)\n<!-- keywords:end -->/.exec(readme);
  assert.ok(section, 'README.md has the keywords section');
  assert.equal(section[1], keywordTable(), 'README.md is out of date: run node scripts/keyword-table.mjs --write');
});
