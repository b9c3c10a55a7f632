import assert from 'node:assert/strict';
import { test } from 'node:test';
import { optionValue, parseArgs, parseDestination, UsageError } from '../../src/cli/args';

test('parses ssh-style flags, bundled and attached values, and stops at the destination', () => {
  const a = parseArgs([
    '-NT',
    '-p2222',
    '-l',
    'bob',
    '-L',
    '8080:localhost:80',
    '-L9090:db:5432',
    '-o',
    'ServerAliveInterval=5',
    '-oBatchMode=yes',
    '--events',
    'lab',
    'ls',
    '-la',
  ]);
  assert.equal(a.noCommand, true);
  assert.equal(a.disableTty, true);
  assert.equal(a.port, 2222);
  assert.equal(a.user, 'bob');
  assert.deepEqual(a.localForwards, ['8080:localhost:80', '9090:db:5432']);
  assert.equal(optionValue(a, 'serveraliveinterval'), '5');
  assert.equal(optionValue(a, 'BatchMode'), 'yes');
  assert.equal(a.events, true);
  assert.equal(a.destination, 'lab');
  assert.deepEqual(a.command, ['ls', '-la']);
});

test('rejects bad input with a usage error naming the problem', () => {
  assert.throws(
    () => parseArgs(['-p', 'abc', 'h']),
    (e: Error) => e instanceof UsageError && /bad port 'abc'/.test(e.message),
  );
  assert.throws(() => parseArgs(['-x', 'h']), /unknown option -x/);
  assert.throws(() => parseArgs(['-o', 'Nope', 'h']), /expected Option=value/);
  assert.throws(() => parseArgs(['-N']), /missing destination/);
  assert.throws(() => parseArgs(['-L']), /needs a value/);
});

test('destinations: user@host, ssh:// URLs, IPv6', () => {
  assert.deepEqual(parseDestination('alice@example.com'), { user: 'alice', host: 'example.com', port: undefined });
  assert.deepEqual(parseDestination('ssh://bob@h:2200'), { user: 'bob', host: 'h', port: 2200 });
  assert.deepEqual(parseDestination('[::1]'), { user: undefined, host: '::1', port: undefined });
});

test('-G asks for the effective configuration, alone or bundled', () => {
  assert.equal(parseArgs(['-G', 'h']).printConfig, true);
  assert.equal(parseArgs(['-GF', 'cfg', 'h']).configFile, 'cfg');
  assert.equal(parseArgs(['-qG', 'h']).printConfig, true);
  assert.equal(parseArgs(['h']).printConfig, false);
});

test('--max-attempts N bounds unattended attempts; anything but a positive whole number is refused', () => {
  assert.equal(parseArgs(['--max-attempts', '3', 'host']).maxAttempts, 3);
  assert.equal(parseArgs(['--max-attempts=5', '-N', 'host']).maxAttempts, 5);
  assert.equal(parseArgs(['host']).maxAttempts, undefined);
  for (const bad of [['--max-attempts'], ['--max-attempts', '0', 'h'], ['--max-attempts', '-1', 'h'], ['--max-attempts=2.5', 'h'], ['--max-attempts=x', 'h']]) {
    assert.throws(() => parseArgs(bad), UsageError, bad.join(' '));
  }
});

test('--learn-keepalive turns on the learned keepalive; it is off without it', () => {
  assert.equal(parseArgs(['--learn-keepalive', '-N', 'host']).learnKeepalive, true);
  assert.equal(parseArgs(['-N', 'host']).learnKeepalive, false);
});

test('an unknown option outside the BMP is named whole, not as half a surrogate pair (found by the argv fuzz, seed 359044643)', () => {
  assert.throws(
    () => parseArgs(['-𐀀', 'h']),
    (err: unknown) => err instanceof UsageError && err.message.includes('-𐀀') && !/\\ud800/i.test(err.message),
  );
});
