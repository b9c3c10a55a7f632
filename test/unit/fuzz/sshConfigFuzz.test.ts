/**
 * Fuzz: the ssh_config resolver (configFile.ts parsing, configEval.ts Host/Match/Include,
 * sshConfig.ts resolveHost) on random files built from the keywords ssh knows, random
 * values (quotes, `=`, escapes, garbage), Include trees with globs and cycles, and Match
 * blocks. Properties: only ConfigError comes out, it names the file:line (or the
 * command-line option) at fault, nothing is ever spawned (`Match exec`, ProxyCommand), and
 * the time grows linearly with the file.
 */
import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { parseConfigText } from '../../../src/core/config/configFile';
import { matchGlobSegment } from '../../../src/core/config/includeGlob';
import { keywordSupport } from '../../../src/core/config/keywordSupport';
import { resolveHost } from '../../../src/core/config/sshConfig';
import { ConfigError } from '../../../src/core/config/types';
import { assertLinear, fuzz, hostText, nastyText, portText } from '../../harness/arbitraries';
import { home } from '../../harness/configHome';

// ---------------------------------------------------------------- nothing is spawned

const SPAWNERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
const spawned: string[] = [];
const originals = new Map<string, unknown>();
before(() => {
  const cp = childProcess as unknown as Record<string, unknown>;
  for (const name of SPAWNERS) {
    originals.set(name, cp[name]);
    cp[name] = (...args: unknown[]) => {
      spawned.push(`${name}(${JSON.stringify(args[0])})`);
      throw new Error(`the config resolver tried to run a process: ${name}`);
    };
  }
});
after(() => {
  const cp = childProcess as unknown as Record<string, unknown>;
  for (const [name, fn] of originals) cp[name] = fn;
});

// ---------------------------------------------------------------- arbitraries

const KEYWORDS = keywordSupport().map((r) => r.keyword);

/** A real keyword in random letter case, now and then one no ssh knows. */
const keyword = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(fc.constantFrom(...KEYWORDS), fc.array(fc.boolean(), { maxLength: 40 }))
      .map(([k, up]) => [...k].map((c, i) => (up[i] ? c.toUpperCase() : c)).join('')),
  },
  { weight: 1, arbitrary: fc.constantFrom('Frobnicate', 'Hostname2', 'X-Custom', 'Ciphers,', '"Port"', 'Port"', 'P\u00f6rt') },
);

const word = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('yes', 'no', 'ask', 'accept-new', 'none', 'auto', 'always', 'any', 'inet6', 'force', 'sha256') },
  { weight: 3, arbitrary: fc.constantFrom('%h', '%p:%r', '%%', '%C', '%z', 'x%', '${HOME}/k', '${NOPE}', '${', '~/id', '~root/id', '/tmp/k', '-') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '8080',
      '8080:localhost:80',
      'localhost:80',
      '[::1]:80',
      '1080',
      '0',
      '127.0.0.1:1080',
      '/run/x.sock',
      '5s',
      '1m',
      '1h30m',
      '-1',
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom('jump', 'u@jump:2222', 'a,b', 'u@[::1]:22', 'ssh://u@h:2', '@', 'h:99999') },
  { weight: 2, arbitrary: hostText },
  { weight: 2, arbitrary: portText },
  { weight: 3, arbitrary: nastyText },
);

/** A value: words, each maybe quoted, maybe a trailing comment. */
const value = fc
  .tuple(fc.array(fc.tuple(word, fc.constantFrom('', '', '"', "'")), { minLength: 0, maxLength: 3 }), fc.constantFrom('', '', ' # comment', '#x'))
  .map(([words, comment]) => words.map(([w, q]) => `${q}${w}${q}`).join(' ') + comment);

const separator = fc.constantFrom(' ', '\t', '=', ' = ', '  =', '= ', '=\t', '==');

const hostPattern = fc.constantFrom('target', 'tar*', '!target', 'other', '*', 'a,b', 'T?rget', '10.0.0.*', '!*', '"target"');

const matchCriterion = fc
  .tuple(
    fc.constantFrom('!', '', '', ''),
    fc.constantFrom(
      'all',
      'canonical',
      'final',
      'exec',
      'host',
      'originalhost',
      'user',
      'localuser',
      'tagged',
      'localnetwork',
      'version',
      'sessiontype',
      'command',
      'bogus',
      'HOST',
    ),
    fc.constantFrom('target', '*', 'me', 'other,!x', '"touch /tmp/ska-fuzz-pwned"', 'true', '', 'tag1'),
  )
  .map(([neg, name, arg]) => (['all', 'canonical', 'final'].includes(name) ? `${neg}${name}` : `${neg}${name} ${arg}`.trimEnd()));

/** Files the Include lines can reach, relative to ~/.ssh. */
const INCLUDED = ['inc/f0', 'inc/f1', 'inc/f2', 'inc/f3'];
const includeArg = fc.constantFrom(
  'inc/f0',
  'inc/f1',
  '~/.ssh/inc/f2',
  'inc/f3',
  'inc/f*',
  'inc/f[0-1]',
  'inc/f?',
  'inc/[!f]*',
  'inc/missing',
  'inc',
  'inc/dir',
  '/nonexistent/ska-fuzz/*',
  '"inc/f 9"',
  '~nobody/x',
  'config',
);

const line = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(fc.constantFrom('', '  ', '\t'), keyword, separator, value).map(([i, k, s, v]) => `${i}${k}${s}${v}`) },
  { weight: 3, arbitrary: fc.array(hostPattern, { minLength: 0, maxLength: 3 }).map((p) => `Host ${p.join(' ')}`.trimEnd()) },
  { weight: 3, arbitrary: fc.array(matchCriterion, { minLength: 0, maxLength: 3 }).map((c) => `Match ${c.join(' ')}`.trimEnd()) },
  { weight: 2, arbitrary: fc.array(includeArg, { minLength: 1, maxLength: 2 }).map((a) => `Include ${a.join(' ')}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '# comment', '   ', '\t# x', '\r', '=', '= yes') },
  { weight: 1, arbitrary: nastyText },
);

const file = fc.array(line, { maxLength: 12 }).map((lines) => lines.join('\n'));

interface Case {
  main: string;
  included: string[];
  alias: string;
  overrides: Array<[string, string]>;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  main: file,
  included: fc.array(file, { minLength: INCLUDED.length, maxLength: INCLUDED.length }),
  alias: fc.constantFrom('target', 'other', 'Target', '10.0.0.1', 'a,b'),
  overrides: fc.array(fc.tuple(keyword, fc.oneof(word, fc.constant(''))), { maxLength: 2 }),
});

// ---------------------------------------------------------------- properties

/** Every place a message may point at: file:line of a non-empty line, or a file itself. */
function places(dir: string, c: Case): string[] {
  const ssh = path.join(dir, '.ssh');
  const files: Array<[string, string]> = [[path.join(ssh, 'config'), c.main], ...INCLUDED.map((f, i): [string, string] => [path.join(ssh, f), c.included[i]])];
  const out: string[] = [];
  for (const [name, text] of files) text.split('\n').forEach((l, i) => l.trim() !== '' && out.push(`${name}:${i + 1}`));
  c.overrides.forEach((_, i) => out.push(`command line:${i + 1}`));
  return out;
}

test('property: any ssh_config (keywords, values, Host, Match, Include trees) resolves or fails with a ConfigError naming file:line; nothing is spawned', () => {
  const { dir, ssh, opts } = home('');
  fs.mkdirSync(path.join(ssh, 'inc', 'dir'), { recursive: true });
  const outcomes = { resolved: 0, refused: 0 };
  fuzz(
    fc.property(caseArb, (c) => {
      fs.writeFileSync(path.join(ssh, 'config'), c.main);
      INCLUDED.forEach((f, i) => fs.writeFileSync(path.join(ssh, f), c.included[i]));
      spawned.length = 0;
      try {
        const h = resolveHost(c.alias, { ...opts, overrides: c.overrides });
        assert.equal(typeof h.hostName, 'string');
        assert.ok(h.port >= 1 && h.port <= 65535, `port ${h.port}`);
        outcomes.resolved++;
      } catch (err) {
        outcomes.refused++;
        if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
        const at = places(dir, c);
        const named = at.some((p) => err.message.includes(p)) || c.overrides.some(([k]) => err.message.includes(k));
        assert.ok(named, `the message names no file:line: ${err.message}`);
      }
      assert.deepEqual(spawned, [], 'resolving a host ran a process');
    }),
    200,
  );
  // Both paths must be exercised, or the generator has drifted into one of them.
  assert.ok(outcomes.resolved >= 10 && outcomes.refused >= 10, JSON.stringify(outcomes));
});

test('a Match exec in a matching block is reported, never run', () => {
  const { opts } = home('Match exec "touch /tmp/ska-fuzz-pwned"\n  Port 2222\n');
  spawned.length = 0;
  const h = resolveHost('target', opts);
  assert.deepEqual(spawned, []);
  assert.equal(h.port, 22);
  assert.match(h.unsupported.map((u) => u.reason).join('\n'), /Match exec is never run/);
});

// ---------------------------------------------------------------- linear time

test('parsing time grows linearly with the lines, and with the length of one line', () => {
  const lines = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => `Host h${i} "q ${i}"\n  Port=${(i % 60000) + 1}\n  LocalForward 127.0.0.1:${i % 60000} db:5432 # c\n  Match host x${i} !user u`,
    ).join('\n');
  assertLinear('config lines', lines, (text) => parseConfigText(text, 'cfg'), 500);
  // One long line, the way a quadratic regex breaks: a run of blanks then a word, and
  // blanks then a quote.
  assertLinear(
    'a long run of blanks inside a line',
    (n) => `Port ${' '.repeat(n)}x`,
    (text) => parseConfigText(text, 'cfg'),
    2000,
  );
  assertLinear(
    'a long run of blanks before a quote',
    (n) => `User "${' \t'.repeat(n)}`,
    (text) => assert.throws(() => parseConfigText(text, 'cfg')),
    2000,
  );
});

test('regression: trailing-blank trimming is linear on a line of blanks followed by a word', () => {
  // The old /[ \t\r\n\f]+$/ tried every blank as a start: a 4 MiB line ran for hours.
  const started = performance.now();
  const nodes = parseConfigText(`Port 22${' '.repeat(200_000)}x  \t`, 'cfg');
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  assert.equal(nodes.length, 1);
  assert.deepEqual(nodes[0].kind === 'option' && nodes[0].args, ['22', 'x']);
});

test('resolving time grows linearly with the number of Host blocks and accumulated forwards', () => {
  const { ssh, opts } = home('');
  const cfg = path.join(ssh, 'config');
  const build = (n: number): string => {
    const text = Array.from(
      { length: n },
      (_, i) => `Host h${i} target\n  LocalForward ${(i % 60000) + 1} db:${(i % 60000) + 1}\n  IdentityFile ~/.ssh/k${i}\n  DynamicForward ${(i % 60000) + 1}`,
    ).join('\n');
    const name = path.join(ssh, `c${n}`);
    fs.writeFileSync(name, text);
    return name;
  };
  assertLinear('Host blocks', build, (name) => resolveHost('target', { ...opts, configFile: name }), 150);
  fs.rmSync(cfg, { force: true });
});

test('property: Include glob matching time is bounded whatever the pattern (no exponential backtracking)', () => {
  fuzz(
    fc.property(
      // Stars between letters the name is made of, ending in one it lacks: the worst case.
      fc
        .tuple(fc.array(fc.constantFrom('*', 'a', '*a', '?', '[a-b]', '\\a'), { minLength: 1, maxLength: 40 }), fc.constantFrom('', 'b', '*b', '[!a]'))
        .map(([p, end]) => p.join('') + end),
      fc.integer({ min: 0, max: 200 }),
      (pattern, n) => {
        const name = 'a'.repeat(n);
        const started = performance.now();
        matchGlobSegment(name, pattern);
        assert.ok(performance.now() - started < 200, `matching ${JSON.stringify(pattern)} against ${n} a's took ${performance.now() - started} ms`);
      },
    ),
    300,
  );
});

test('regression: an Include pattern with many stars against a long name does not backtrack exponentially', () => {
  const started = performance.now();
  assert.equal(matchGlobSegment('a'.repeat(60), '*a'.repeat(20) + '*b'), false);
  assert.equal(matchGlobSegment('a'.repeat(60) + 'b', '*a'.repeat(20) + '*b'), true);
  assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
});

test('regression: an invalid ProxyJump host names the ProxyJump line', () => {
  // Found by the resolver property: "ssh destination: invalid host "yes 1"" named no line.
  const { ssh, opts } = home('Host target\n  ProxyJump "yes 1"\n');
  assert.throws(
    () => resolveHost('target', opts),
    (err: unknown) => err instanceof ConfigError && err.message.includes(`${path.join(ssh, 'config')}:2`) && err.message.includes('"yes 1"'),
  );
});
