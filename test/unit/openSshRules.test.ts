/**
 * OpenSSH's rules for config input, below the command line: the system-wide config in a
 * fake root, keywords, durations, sizes, host names. (Issue 9; the side-by-side runs with
 * `ssh` are in test/integration/openSshCli.test.ts and openSshHostKeys.test.ts.)
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { MAX_CONFIG_BYTES } from '../../src/core/config/configFile';
import { knownHostKeyAlgorithms } from '../../src/core/config/knownHosts';
import { resolveHost } from '../../src/core/config/sshConfig';
import { malformedHostName } from '../../src/core/session/errors';
import { configError, home } from '../harness/configHome';

test('the system ssh_config is read after the user config (first value wins), with Includes relative to its directory', () => {
  const { dir, opts } = home('Host h\n  Port 2222\n', {
    'etc/ssh/ssh_config': 'Include ssh_config.d/*.conf\nHost *\n  Port 22\n  User admin-default\n',
    'etc/ssh/ssh_config.d/10-hash.conf': 'HashKnownHosts yes\n',
  });
  const h = resolveHost('h', opts);
  assert.equal(h.port, 2222, 'the user config comes first');
  assert.equal(h.user, 'admin-default', 'the system config fills what the user left unset');
  assert.equal(h.hashKnownHosts, true, 'an Include relative to the system directory');
  assert.deepEqual(h.globalKnownHostsFiles, [path.join(dir, 'etc/ssh/ssh_known_hosts'), path.join(dir, 'etc/ssh/ssh_known_hosts2')]);
});

test('with an explicit config file (ssh -F) the system config is not read; "none" reads no file', () => {
  const { ssh, opts } = home('Host h\n  Port 2222\n', { 'etc/ssh/ssh_config': 'Host *\n  User admin-default\n' });
  assert.equal(resolveHost('h', { ...opts, configFile: path.join(ssh, 'config') }).user, 'me');
  const none = resolveHost('h', { ...opts, configFile: 'none' });
  assert.equal(none.port, 22);
  assert.equal(none.user, 'me');
});

test('a missing -F file is an error when asked for (the CLI), an empty config otherwise', () => {
  const { dir, opts } = home('');
  const missing = path.join(dir, 'nope');
  assert.throws(
    () => resolveHost('h', { ...opts, configFile: missing, configFileMustExist: true }),
    configError(/Can't open user config file .*nope: No such file or directory/),
  );
  assert.equal(resolveHost('h', { ...opts, configFile: missing }).hostName, 'h');
});

test('GlobalKnownHostsFile: paths, none; HashKnownHosts: yes/no, bad value', () => {
  const { opts } = home('Host g\n  GlobalKnownHostsFile /srv/kh1 ~/kh2\nHost n\n  GlobalKnownHostsFile none\n  HashKnownHosts no\n');
  assert.deepEqual(resolveHost('g', opts).globalKnownHostsFiles, ['/srv/kh1', path.join(opts.homeDir!, 'kh2')]);
  assert.deepEqual(resolveHost('n', opts).globalKnownHostsFiles, []);
  assert.equal(resolveHost('n', opts).hashKnownHosts, false);
  const bad = home('HashKnownHosts often\n');
  assert.throws(() => resolveHost('x', bad.opts), configError(/config:1: bad HashKnownHosts value "often"/));
});

test('unknown keywords stop with file:line in any block and in the system config, unless IgnoreUnknown lists them', () => {
  assert.throws(() => resolveHost('h', home('Host other\n  Frobnicate yes\n').opts), configError(/config:2: Bad configuration option: Frobnicate/));
  const sys = home('', { 'etc/ssh/ssh_config': 'Host *\n  Frobnicate yes\n' });
  assert.throws(() => resolveHost('h', sys.opts), configError(/ssh_config:2: Bad configuration option: Frobnicate/));
  // IgnoreUnknown must come first, as in ssh: it applies to the lines after it.
  assert.equal(resolveHost('h', home('IgnoreUnknown frob*,Other\nFrobnicate yes\nOther 1\n').opts).hostName, 'h');
  assert.throws(() => resolveHost('h', home('Frobnicate yes\nIgnoreUnknown frob*\n').opts), configError(/config:1: Bad configuration option/));
  assert.throws(
    () => resolveHost('h', { ...home('').opts, overrides: [['Frobnicate', 'yes']] }),
    configError(/command line:1: Bad configuration option: Frobnicate/),
  );
});

test('keywords of newer OpenSSH, Debian and Apple builds are accepted; AddKeysToAgent and UseKeychain are reported', () => {
  const h = resolveHost('h', home('Host *\n  UseKeychain yes\n  AddKeysToAgent yes\n  ObscureKeystrokeTiming no\n  Tag work\n  GSSAPIKeyExchange no\n').opts);
  assert.deepEqual(
    h.unsupported.map((u) => u.option),
    ['AddKeysToAgent', 'UseKeychain'],
  );
});

test('keywords OpenSSH knows that would make ssh behave differently are reported; the defaults Debian ships are not', () => {
  const { opts } = home(
    [
      'Host *',
      '  SetEnv A=1',
      '  RequestTTY force',
      '  SessionType none',
      '  StdinNull yes',
      '  ForkAfterAuthentication yes',
      '  NoHostAuthenticationForLocalhost yes',
      '  PubkeyAuthentication no',
      '  HostbasedAuthentication yes',
      '  VerifyHostKeyDNS ask',
      '  UpdateHostKeys yes',
      '  RefuseConnection yes',
      '',
    ].join('\n'),
    { 'etc/ssh/ssh_config': 'Host *\n  SendEnv LANG LC_*\n  HashKnownHosts yes\n  GSSAPIAuthentication yes\n' },
  );
  const h = resolveHost('h', opts);
  assert.deepEqual(
    h.unsupported.map((u) => u.option),
    [
      'PubkeyAuthentication',
      'HostbasedAuthentication',
      'NoHostAuthenticationForLocalhost',
      'VerifyHostKeyDNS',
      'UpdateHostKeys',
      'SetEnv',
      'RequestTTY',
      'SessionType',
      'StdinNull',
      'ForkAfterAuthentication',
      'RefuseConnection',
    ],
  );
  // Values that leave ssh as ssh-keepalive is: nothing to report.
  const quiet = home('Host *\n  RequestTTY auto\n  SessionType default\n  PubkeyAuthentication yes\n  UpdateHostKeys no\n  VerifyHostKeyDNS no\n');
  assert.deepEqual(resolveHost('h', quiet.opts).unsupported, []);
});

test('durations longer than a timer can wait are clamped with a warning; beyond an int they are an error, as ssh', () => {
  const h = resolveHost('h', home('ServerAliveInterval 2147484\nConnectTimeout 30d\n').opts);
  assert.equal(h.serverAliveInterval, 2147483);
  assert.equal(h.connectTimeout, 2147483);
  assert.equal(h.notes?.filter((n) => n.level === 'warn' && /longer than the longest timer/.test(n.message)).length, 2);
  assert.equal(resolveHost('h', home('ServerAliveInterval 2147483\n').opts).notes?.length, 0, 'the largest exact value passes quietly');
  assert.throws(() => resolveHost('h', home('ServerAliveInterval 2147483648\n').opts), configError(/at most 2147483647 seconds/));
});

test('a config file over 4 MiB, or an Include of one, is refused before it is parsed', () => {
  const big = `# ${'x'.repeat(1000)}\n`.repeat(Math.ceil(MAX_CONFIG_BYTES / 1000) + 10);
  assert.throws(() => resolveHost('h', home(big).opts), configError(/config files over 4194304 bytes \(4 MiB\) are refused/));
  const inc = home('Include big.conf\n', { '.ssh/big.conf': big });
  assert.throws(() => resolveHost('h', inc.opts), configError(/big\.conf: it is \d+ bytes/));
  const dev = home('Include /dev/zero\n');
  assert.throws(() => resolveHost('h', dev.opts), configError(/\/dev\/zero: not a regular file/));
});

test('host names that can never resolve', () => {
  assert.match(malformedHostName('a'.repeat(254)) ?? '', /254 characters long/);
  assert.match(malformedHostName(`${'a'.repeat(64)}.example`) ?? '', /label .* 64 characters/);
  assert.match(malformedHostName('a..b') ?? '', /empty label/);
  for (const ok of ['example.com', 'example.com.', '127.0.0.1', '::1', 'my_host', 'a'.repeat(63)]) assert.equal(malformedHostName(ok), undefined, ok);
});

test('host key algorithms of the known keys, in file order, RSA as its SHA-2 signatures first', () => {
  const { dir } = home('');
  const file = path.join(dir, 'kh');
  // Blobs need only a valid type field here: build them from the type names.
  const blob = (type: string) => {
    const b = Buffer.alloc(4 + type.length + 8);
    b.writeUInt32BE(type.length, 0);
    b.write(type, 4, 'latin1');
    return b.toString('base64');
  };
  fs.writeFileSync(file, `[h]:2222 ssh-rsa ${blob('ssh-rsa')}\nother ssh-ed25519 ${blob('ssh-ed25519')}\n[h]:2222 ssh-ed25519 ${blob('ssh-ed25519')}\n`);
  assert.deepEqual(knownHostKeyAlgorithms([file], 'h', 2222), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
  assert.deepEqual(knownHostKeyAlgorithms([file], 'nobody', 22), []);
});
