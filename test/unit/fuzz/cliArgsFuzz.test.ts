/**
 * Fuzz: the CLI's argument parser (src/cli/args.ts). Properties: only UsageError comes out
 * and it names the argument at fault; a command line built from a model parses back to that
 * model (flags bundled or not, values attached or separate); destinations parse or fail
 * naming themselves; linear time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseArgs, parseDestination, UsageError } from '../../../src/cli/args';
import { assertLinear, fuzz, nastyText } from '../../harness/arbitraries';

const arg = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '-N',
      '-T',
      '-t',
      '-v',
      '-q',
      '-G',
      '-NTv',
      '-p',
      '-p22',
      '-l',
      '-i',
      '-L',
      '-R',
      '-D',
      '-W',
      '-o',
      '-F',
      '-x',
      '-',
      '--',
      '-Nx',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '--events',
      '--reattach',
      '--no-reattach',
      '--no-keeper',
      '--keeper',
      '--keep-listeners',
      '--reclaim-remote-forwards',
      '--max-attempts',
      '--max-attempts=3',
      '--max-attempts=0',
      '--help',
      '--version',
      '--bogus',
      '---',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom('host', 'u@h', '8080:localhost:80', 'ServerAliveInterval=5', 'BatchMode yes', '=x', 'Port=', '65536', '0', '22', 'ls', '-la'),
  },
  { weight: 2, arbitrary: nastyText },
);

function assertNamesArg(err: unknown, argv: string[]): void {
  if (!(err instanceof UsageError)) throw new Error(`not a UsageError: ${(err as Error)?.stack ?? String(err)}`);
  const m = err.message;
  const named =
    m === 'missing destination' ||
    argv.some((a) => a !== '' && m.includes(a)) ||
    /(^|\s)--?\S/.test(m) ||
    argv.some((a) => a.startsWith('-') && [...a.slice(1)].some((c) => m.includes(JSON.stringify(`-${c}`)))) ||
    m.includes("''") ||
    m.includes('""');
  assert.ok(named, `the message names no argument: ${m}`);
}

test('property: any argv parses or fails with a UsageError naming the argument', () => {
  fuzz(
    fc.property(fc.array(arg, { maxLength: 8 }), (argv) => {
      try {
        const a = parseArgs(argv);
        if (!a.help && !a.version) assert.ok(argv.includes(a.destination), `destination ${a.destination} not in argv`);
        if (a.port !== undefined) assert.ok(Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535);
      } catch (err) {
        assertNamesArg(err, argv);
      }
    }),
    1000,
  );
});

/** A model command line: options, then the destination and a command. */
const model = fc.record({
  port: fc.option(fc.integer({ min: 1, max: 65535 })),
  user: fc.option(fc.stringMatching(/^[a-z_][a-z0-9_-]{0,8}$/)),
  locals: fc.array(fc.stringMatching(/^[0-9]{1,5}:[a-z]{1,6}:[0-9]{1,5}$/), { maxLength: 3 }),
  options: fc.array(fc.tuple(fc.stringMatching(/^[A-Z][A-Za-z]{0,12}$/), fc.stringMatching(/^[a-z0-9]{1,6}$/)), { maxLength: 3 }),
  flags: fc.subarray(['N', 'T', 'q', 'G']),
  verbose: fc.integer({ min: 0, max: 3 }),
  attached: fc.boolean(),
  destination: fc.stringMatching(/^[a-z][a-z0-9.]{0,10}$/),
  command: fc.array(fc.constantFrom('ls', '-la', '--', 'x y', '-p'), { maxLength: 3 }),
});

test('property: a command line built from a model parses back to the model', () => {
  fuzz(
    fc.property(model, (m) => {
      const value = (flag: string, v: string): string[] => (m.attached ? [`-${flag}${v}`] : [`-${flag}`, v]);
      const argv = [
        ...(m.flags.length || m.verbose ? [`-${m.flags.join('')}${'v'.repeat(m.verbose)}`] : []),
        ...(m.port === null ? [] : value('p', String(m.port))),
        ...(m.user === null ? [] : value('l', m.user)),
        ...m.locals.flatMap((l) => value('L', l)),
        ...m.options.flatMap(([k, v]) => value('o', `${k}=${v}`)),
        m.destination,
        ...m.command,
      ];
      const a = parseArgs(argv);
      assert.equal(a.port, m.port ?? undefined);
      assert.equal(a.user, m.user ?? undefined);
      assert.deepEqual(a.localForwards, m.locals);
      assert.deepEqual(a.options, m.options);
      assert.equal(a.noCommand, m.flags.includes('N'));
      assert.equal(a.disableTty, m.flags.includes('T') || undefined);
      assert.equal(a.printConfig, m.flags.includes('G'));
      assert.equal(a.verbose, m.verbose);
      assert.equal(a.destination, m.destination);
      assert.deepEqual(a.command, m.command);
    }),
    1000,
  );
});

test('property: destinations parse or fail with a UsageError naming them', () => {
  const dest = fc.oneof(
    nastyText,
    fc
      .tuple(
        fc.constantFrom('', 'ssh://'),
        fc.option(fc.constantFrom('u', 'u@v', '')),
        fc.constantFrom('h', '[::1]', '::1', ''),
        fc.option(fc.constantFrom('22', '99999', 'x', '')),
      )
      .map(([scheme, user, host, port]) => `${scheme}${user === null ? '' : `${user}@`}${host}${port === null ? '' : `:${port}`}`),
  );
  fuzz(
    fc.property(dest, (d) => {
      try {
        const r = parseDestination(d);
        assert.notEqual(r.host, '');
        if (r.port !== undefined) assert.ok(Number.isInteger(r.port));
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        assert.ok(err.message.includes(d), err.message);
      }
    }),
    500,
  );
});

test('argument parsing time grows linearly with the length of an argument', () => {
  const cases: Array<[string, (n: number) => string[]]> = [
    ['-o with blanks and no value', (n) => ['-o', `Key${' '.repeat(n)}\n${' '.repeat(n)}x`, 'h']],
    ['-o with blanks around =', (n) => ['-o', `Key${' \t'.repeat(n)}=${' '.repeat(n)}v`, 'h']],
    ['bundled flags', (n) => [`-${'v'.repeat(n)}`, 'h']],
    ['many arguments', (n) => [...Array.from({ length: n }, (_, i) => `-L${i}:h:1`), 'h']],
  ];
  for (const [what, build] of cases) {
    assertLinear(
      what,
      build,
      (argv) => {
        try {
          parseArgs(argv);
        } catch (err) {
          if (!(err instanceof UsageError)) throw err;
        }
      },
      1000,
    );
  }
  assertLinear(
    'ssh:// destination',
    (n) => `ssh://u@${':1'.repeat(n)}x`,
    (d) => parseDestination(d),
    1000,
  );
});

test('regression: a second -W names both, not only "already specified"', () => {
  assert.throws(() => parseArgs(['-W', 'db:5432', '-W', 'web:80', 'h']), /-W "db:5432", then -W "web:80"/);
});

test('regression: an unknown option that is a blank or control character is shown quoted', () => {
  assert.throws(() => parseArgs(['-  ', 'h']), /unknown option "- "/);
  assert.throws(() => parseArgs(['-x', 'h']), /unknown option -x$/);
});
