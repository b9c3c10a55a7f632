/**
 * Where ssh-keepalive read ssh_config differently from OpenSSH 9.2 (issue 15), one test
 * per difference. test/integration/sshG.test.ts checks the same against `ssh -G` itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { splitArgs } from '../../src/core/config/configFile';
import { canonicalHostName } from '../../src/core/config/hostName';
import { parseServices } from '../../src/core/config/servicePort';
import { resolveHost } from '../../src/core/config/sshConfig';
import { configError, home } from '../harness/configHome';

test('1. Match accepts ! on every criterion: !canonical and !final hold in the first pass, !all negates', () => {
  const { opts } = home('Match !canonical\n  User first\nMatch !final\n  Port 3000\nMatch final\n  ConnectTimeout 5\nMatch !all\n  ServerAliveInterval 9\n');
  const h = resolveHost('x', opts);
  assert.equal(h.user, 'first');
  assert.equal(h.port, 3000);
  assert.equal(h.connectTimeout, 5, '!final must still request the final pass');
  assert.equal(h.serverAliveInterval, undefined);
  // As readconf.c: "all" may follow one criterion, but nothing may follow it.
  assert.equal(resolveHost('x', home('Match host x all\n  Port 7\n').opts).port, 7);
  assert.throws(() => resolveHost('x', home('Match all host x\n  Port 7\n').opts), configError(/cannot be combined/));
});

test('2. quoted arguments are unquoted for every keyword, as argv_split() does', () => {
  const { dir, opts } = home(`Host q
  LocalForward "8080" "db:80"
  IdentityFile "~/my keys/id 1"
  IdentityFile '~/single'
  IdentityFile ~/esc\\ aped
  HostName="quoted.example.com" # trailing comment
  User = "u"
`);
  const h = resolveHost('q', opts);
  assert.deepEqual(h.localForwards, [{ bindPort: 8080, host: 'db', hostPort: 80 }]);
  assert.deepEqual(h.identityFiles, [path.join(dir, 'my keys/id 1'), path.join(dir, 'single'), path.join(dir, 'esc aped')]);
  assert.equal(h.hostName, 'quoted.example.com');
  assert.equal(h.user, 'u');
  assert.deepEqual(splitArgs(`a "b c" d\\"e 'f"g' h#i #j`), ['a', 'b c', 'd"e', 'f"g', 'h#i']);
  assert.equal(splitArgs('"open'), undefined);
});

test('3. Include "conf d/q.conf" is one path with a space in it', () => {
  const { opts } = home('Include "conf d/q.conf"\n', { '.ssh/conf d/q.conf': 'Host q\n  Port 4242\n' });
  assert.equal(resolveHost('q', opts).port, 4242);
});

test("4. ProxyJump expands %%, %h, %n, %p and %r with the target's values", () => {
  const { opts } = home(`Host t1
  User alice
  ProxyJump %r@bastion
Host t2
  HostName t2.example.com
  ProxyJump jump@gw.%h:2200
Host t3
  Port 2022
  ProxyJump bastion-%n:%p
Host bad
  ProxyJump %x
`);
  const j1 = resolveHost('t1', opts).proxyJump[0];
  assert.deepEqual([j1.alias, j1.user], ['bastion', 'alice']);
  const j2 = resolveHost('t2', opts).proxyJump[0];
  assert.deepEqual([j2.alias, j2.user, j2.port], ['gw.t2.example.com', 'jump', 2200]);
  const j3 = resolveHost('t3', opts).proxyJump[0];
  assert.deepEqual([j3.alias, j3.port], ['bastion-t3', 2022]);
  assert.throws(() => resolveHost('bad', opts), configError(/config:11: ProxyJump: unknown token %x/));
});

test('5. the final host name is lowercased (and so is %h); Match host and originalhost ignore case', () => {
  const { dir, opts } = home(`Host Upper
  HostName Some.Example.COM
  IdentityFile ~/.ssh/id_%h
Match host some.example.com
  Port 1005
Match originalhost UPPER
  User matched
`);
  const h = resolveHost('Upper', opts);
  assert.equal(h.hostName, 'some.example.com');
  assert.deepEqual(h.identityFiles, [path.join(dir, '.ssh/id_some.example.com')]);
  assert.equal(h.port, 1005);
  assert.equal(h.user, 'matched');
});

test('6. in the final pass the host name is fixed: HostName no longer applies, Host lines match the host name', () => {
  const { opts } = home(`Host short
  HostName Real.Example.COM
Host real.example.com
  User by-hostname
Match final
  HostName other.example.com
`);
  const h = resolveHost('short', opts);
  assert.equal(h.hostName, 'real.example.com');
  assert.equal(h.user, 'by-hostname');
  // Without Match final there is no second pass, so the Host line never sees the host name.
  assert.equal(resolveHost('short', home('Host short\n  HostName real.example.com\nHost real.example.com\n  User x\n').opts).user, 'me');
});

test("7. %C is OpenSSH 9.2's SHA-1 of %l%h%p%r, with or without ProxyJump", () => {
  const { dir, opts } = home('Host t\n  HostName t.example.com\n  User u\n  ProxyJump j\n  UserKnownHostsFile ~/kh-%C\n');
  const want = createHash('sha1').update(`${os.hostname()}t.example.com22u`).digest('hex');
  assert.deepEqual(resolveHost('t', opts).userKnownHostsFiles, [path.join(dir, `kh-${want}`)]);
});

test('8. numeric addresses are written as getnameinfo() writes them', () => {
  assert.equal(canonicalHostName('2001:DB8:0:0::10'), '2001:db8::10');
  // Differs only in case: ssh keeps it as written, not even lowercased.
  assert.equal(canonicalHostName('2001:DB8::10'), '2001:DB8::10');
  assert.equal(canonicalHostName('2001:db8::0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(canonicalHostName('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalHostName('::FFFF:1.2.3.4'), '::FFFF:1.2.3.4');
  assert.equal(canonicalHostName('0:0:0:0:0:FFFF:1.2.3.4'), '::ffff:1.2.3.4');
  assert.equal(canonicalHostName('2001:db8:1:2:3:4:5:0'), '2001:db8:1:2:3:4:5:0');
  assert.equal(canonicalHostName('127.1'), '127.0.0.1');
  assert.equal(canonicalHostName('010.0.0.1'), '8.0.0.1');
  assert.equal(canonicalHostName('0x7f.0.0.1'), '127.0.0.1');
  assert.equal(canonicalHostName('256.1.1.1'), '256.1.1.1');
  assert.equal(canonicalHostName('Host.Example'), 'host.example');
  const { opts } = home('Host v6\n  HostName 2001:DB8:0:0::10\n');
  assert.equal(resolveHost('v6', opts).hostName, '2001:db8::10');
});

test('10. LocalForward needs two arguments and a listen port other than 0, as in ssh', () => {
  const { opts } = home(
    'Host one\n  LocalForward 8086:db:86\nHost zero\n  LocalForward 0 web:87\nHost dyn\n  DynamicForward 0\nHost extra\n  LocalForward 1 h:2 h:3\nHost remote0\n  RemoteForward 0 web:88\n',
  );
  assert.throws(() => resolveHost('one', opts), configError(/config:2: LocalForward: Missing target argument/));
  assert.throws(() => resolveHost('zero', opts), configError(/config:4: LocalForward: Bad forwarding specification "0 web:87"/));
  assert.throws(() => resolveHost('dyn', opts), configError(/config:6: DynamicForward: Bad forwarding specification/));
  assert.throws(() => resolveHost('extra', opts), configError(/config:8: LocalForward: .*extra arguments/));
  assert.deepEqual(resolveHost('remote0', opts).remoteForwards, [{ bindPort: 0, host: 'web', hostPort: 88 }]);
});

test('11. Port takes a service name, as a2port() does', () => {
  const { opts } = home('Host s\n  Port ssh\nHost n\n  Port no-such-service\n');
  if (fs.existsSync('/etc/services') && /^ssh\s+22\/tcp/m.test(fs.readFileSync('/etc/services', 'utf8'))) {
    assert.equal(resolveHost('s', opts).port, 22);
  }
  assert.throws(() => resolveHost('n', opts), configError(/bad Port value "no-such-service"/));
  const table = parseServices('# c\nssh\t\t22/tcp\t\t\t\t# SSH\nfoo 7/udp\nhttp 80/tcp www # WWW\nhttp 8080/tcp\n');
  assert.deepEqual(
    [...table],
    [
      ['ssh', 22],
      ['http', 80],
      ['www', 80],
    ],
  );
});
