import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listHosts, parseJumpSpec, resolveHost } from '../../src/core/config/sshConfig';
import { ConfigError } from '../../src/core/config/types';
import { configError, home } from '../harness/configHome';

test('defaults when nothing is configured', () => {
  const { dir, opts } = home('');
  const h = resolveHost('example.com', { ...opts, env: { SSH_AUTH_SOCK: '/tmp/agent.sock' } });
  assert.deepEqual(h, {
    alias: 'example.com',
    hostName: 'example.com',
    port: 22,
    user: 'me',
    identityFiles: [],
    identitiesOnly: false,
    identityAgent: '/tmp/agent.sock',
    proxyJump: [],
    connectTimeout: undefined,
    serverAliveInterval: undefined,
    serverAliveCountMax: undefined,
    strictHostKeyChecking: 'ask',
    userKnownHostsFiles: [path.join(dir, '.ssh/known_hosts'), path.join(dir, '.ssh/known_hosts2')],
    globalKnownHostsFiles: [path.join(dir, 'etc/ssh/ssh_known_hosts'), path.join(dir, 'etc/ssh/ssh_known_hosts2')],
    hashKnownHosts: false,
    hostKeyAlias: undefined,
    localForwards: [],
    remoteForwards: [],
    dynamicForwards: [],
    unsupported: [],
    notes: [],
  });
});

test('a missing config file is an empty config; no agent without SSH_AUTH_SOCK', () => {
  const { dir, opts } = home('');
  const h = resolveHost('h', { ...opts, configFile: path.join(dir, 'nope', 'config') });
  assert.equal(h.hostName, 'h');
  assert.equal(h.identityAgent, undefined);
  assert.equal(resolveHost('h', { ...opts, env: { SSH_AUTH_SOCK: '' } }).identityAgent, undefined);
});

test("default identity files: only existing ones, in ssh's order; types ssh2 cannot use skipped with a debug line", () => {
  const { ssh, opts } = home('');
  for (const name of ['id_dsa', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_ecdsa_sk', 'id_rsa']) fs.writeFileSync(path.join(ssh, name), 'x');
  const h = resolveHost('h', opts);
  // ssh: id_rsa, id_ecdsa, id_ecdsa_sk, id_ed25519, id_ed25519_sk, id_xmss, id_dsa.
  assert.deepEqual(h.identityFiles, [path.join(ssh, 'id_rsa'), path.join(ssh, 'id_ed25519')]);
  assert.deepEqual(
    h.notes?.map((n) => [n.level, n.message]),
    ['id_ecdsa_sk', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((name) => [
      'debug',
      `default identity ${path.join(ssh, name)} skipped: its key type cannot be used here`,
    ]),
  );
  const { opts: o2 } = home('IdentityFile ~/.ssh/special\n');
  fs.writeFileSync(path.join(o2.homeDir!, '.ssh', 'id_rsa'), 'x');
  assert.deepEqual(resolveHost('h', o2).identityFiles, [path.join(o2.homeDir!, '.ssh/special')]);
});

test('first obtained value wins; later blocks fill in the rest; keywords are case-insensitive', () => {
  const { opts } = home(`
Host web
  HOSTNAME web.example.com
  user deploy

Host *
  HostName ignored.example.com
  Port 2222
  User nobody
`);
  const h = resolveHost('web', opts);
  assert.equal(h.hostName, 'web.example.com');
  assert.equal(h.user, 'deploy');
  assert.equal(h.port, 2222);
  assert.equal(resolveHost('other', opts).hostName, 'ignored.example.com');
});

test('Host patterns: *, ? (exactly one), space-separated lists; commas are literal and case matters, as in ssh', () => {
  const { ssh, opts } = home(`
Host *.example.com
  Port 1001
Host db?
  Port 1002
Host alpha beta,gamma
  Port 1003
Host MixedCase
  Port 1004
`);
  assert.equal(resolveHost('a.example.com', opts).port, 1001);
  assert.equal(resolveHost('example.com', opts).port, 22);
  assert.equal(resolveHost('db1', opts).port, 1002);
  assert.equal(resolveHost('db', opts).port, 22);
  assert.equal(resolveHost('db12', opts).port, 22);
  assert.equal(resolveHost('alpha', opts).port, 1003);
  // ssh's Host matching (match_pattern) splits on whitespace only and keeps case.
  for (const a of ['beta', 'gamma']) assert.equal(resolveHost(a, opts).port, 22);
  assert.equal(resolveHost('MixedCase', opts).port, 1004);
  assert.equal(resolveHost('mixedcase', opts).port, 22);
  assert.deepEqual(
    resolveHost('alpha', opts).notes?.map((n) => [n.level, n.source]),
    [['warn', `${path.join(ssh, 'config')}:6`]],
  );
  assert.match(resolveHost('alpha', opts).notes![0].message, /"beta,gamma" contains a comma.*Host beta gamma/);
});

test('negated patterns veto the Host line wherever they appear', () => {
  const { opts } = home(`
Host *.corp !bastion.corp
  ProxyJump bastion.corp
Host !legacy *
  User modern
Host *
  User fallback
`);
  assert.equal(resolveHost('bastion.corp', opts).proxyJump.length, 0);
  assert.equal(resolveHost('app.corp', opts).proxyJump[0].alias, 'bastion.corp');
  assert.equal(resolveHost('x', opts).user, 'modern');
  assert.equal(resolveHost('legacy', opts).user, 'fallback');
  // A Host line with only negations matches nothing.
  const { opts: o2 } = home('Host !foo\n  Port 99\n');
  assert.equal(resolveHost('bar', o2).port, 22);
});

test('HostName with %h and %%', () => {
  const { opts } = home('Host *.lan\n  HostName %h.example.com\nHost pct\n  HostName a%%b\nHost bad\n  HostName %p\n');
  assert.equal(resolveHost('nas.lan', opts).hostName, 'nas.lan.example.com');
  assert.equal(resolveHost('pct', opts).hostName, 'a%b');
  // HostName only knows %h: ssh expands nothing else there.
  assert.throws(() => resolveHost('bad', opts), configError(/config:6: unknown token %p/));
});

test('overrides come before the file: -p, -l, -i, -o win', () => {
  const { dir, opts } = home('Host h\n  Port 2222\n  User filed\n  IdentityFile ~/.ssh/from_file\n  StrictHostKeyChecking yes\n');
  const h = resolveHost('h', {
    ...opts,
    overrides: [
      ['Port', '3333'],
      ['User', 'cli'],
      ['IdentityFile', '/keys/cli'],
      ['StrictHostKeyChecking', 'accept-new'],
    ],
  });
  assert.equal(h.port, 3333);
  assert.equal(h.user, 'cli');
  assert.deepEqual(h.identityFiles, ['/keys/cli', path.join(dir, '.ssh/from_file')]);
  assert.equal(h.strictHostKeyChecking, 'accept-new');
  assert.throws(() => resolveHost('h', { ...opts, overrides: [['Port', 'x']] }), configError(/command line.*Port.*"x"/));
});

test('bad Port values name the file and line', () => {
  const { ssh, opts } = home('Host h\n  Port 22x\n');
  assert.throws(
    () => resolveHost('h', opts),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.file, path.join(ssh, 'config'));
      assert.equal(err.line, 2);
      assert.match(err.message, /config:2: bad Port value "22x": expected a port number from 1 to 65535/);
      return true;
    },
  );
  const { opts: o2 } = home('Port 0\n');
  assert.throws(() => resolveHost('h', o2), configError(/Port value "0"/));
  const { opts: o3 } = home('Port 65536\n');
  assert.throws(() => resolveHost('h', o3), configError(/Port value "65536"/));
});

test('IdentityFile: ~, %-tokens, ${ENV}, accumulation in order, duplicates dropped', () => {
  const { dir, opts } = home(`
Host target
  HostName target.example.com
  User alice
  Port 2200
  IdentityFile ~/.ssh/%r@%h:%p
  IdentityFile %d/keys/%u-%n
  IdentityFile \${KEYDIR}/k_%l_%L
  IdentityFile /abs/100%%
  IdentityFile ~/.ssh/%r@%h:%p
Host *
  IdentityFile ~/.ssh/hash-%C
`);
  const h = resolveHost('target', { ...opts, env: { KEYDIR: '/env/keys' } });
  const local = os.hostname();
  const C = createHash('sha1').update(`${local}target.example.com2200alice`).digest('hex');
  assert.deepEqual(h.identityFiles, [
    path.join(dir, '.ssh/alice@target.example.com:2200'),
    path.join(dir, 'keys/me-target'),
    `/env/keys/k_${local}_${local.split('.')[0]}`,
    '/abs/100%',
    path.join(dir, `.ssh/hash-${C}`),
  ]);
});

test('IdentityFile errors: unknown token, unset variable', () => {
  const { opts } = home('IdentityFile ~/.ssh/%Z\n');
  assert.throws(() => resolveHost('h', opts), configError(/config:1.*unknown token %Z/));
  const { opts: o2 } = home('\n\nIdentityFile ${NOPE}/k\n');
  assert.throws(() => resolveHost('h', o2), configError(/config:3.*"NOPE".*not set/));
});

test('IdentitiesOnly and IdentityAgent', () => {
  const { dir, opts } = home(`
Host none
  IdentityAgent none
Host envname
  IdentityAgent SSH_AUTH_SOCK
Host dollar
  IdentityAgent $OTHER_SOCK
Host path
  IdentityAgent ~/.ssh/agent-%r.sock
  IdentitiesOnly yes
`);
  const env = { SSH_AUTH_SOCK: '/run/agent', OTHER_SOCK: '/run/other' };
  const o = { ...opts, env };
  assert.equal(resolveHost('none', o).identityAgent, undefined);
  assert.equal(resolveHost('envname', o).identityAgent, '/run/agent');
  assert.equal(resolveHost('dollar', o).identityAgent, '/run/other');
  assert.equal(resolveHost('default', o).identityAgent, '/run/agent');
  const p = resolveHost('path', o);
  assert.equal(p.identityAgent, path.join(dir, '.ssh/agent-me.sock'));
  assert.equal(p.identitiesOnly, true);
  // As ssh: a bad value stops every host, not only the one whose block holds it.
  const bad = home(`Host bad\n  IdentitiesOnly maybe\n`);
  assert.throws(() => resolveHost('bad', bad.opts), configError(/config:2: bad IdentitiesOnly value "maybe"/));
  assert.throws(() => resolveHost('good', bad.opts), configError(/config:2: bad IdentitiesOnly value "maybe"/));
});

test('timeouts and keepalive settings, with time units', () => {
  const { opts } = home(`
Host a
  ConnectTimeout 10
  ServerAliveInterval 15
  ServerAliveCountMax 3
Host b
  ConnectTimeout 1m30s
  ServerAliveInterval 0
Host c
  ConnectTimeout none
Host bad
  ServerAliveInterval soon
Host bad2
  ServerAliveCountMax -1
`);
  const a = resolveHost('a', opts);
  assert.deepEqual([a.connectTimeout, a.serverAliveInterval, a.serverAliveCountMax], [10, 15, 3]);
  const b = resolveHost('b', opts);
  assert.deepEqual([b.connectTimeout, b.serverAliveInterval, b.serverAliveCountMax], [90, 0, undefined]);
  assert.equal(resolveHost('c', opts).connectTimeout, undefined);
  assert.throws(() => resolveHost('bad', opts), configError(/ServerAliveInterval value "soon"/));
  assert.throws(() => resolveHost('bad2', opts), configError(/ServerAliveCountMax value "-1"/));
});

test('StrictHostKeyChecking values', () => {
  const { opts } = home(
    'Host y\n StrictHostKeyChecking yes\nHost n\n StrictHostKeyChecking no\nHost an\n StrictHostKeyChecking accept-new\nHost o\n StrictHostKeyChecking off\n',
  );
  assert.equal(resolveHost('y', opts).strictHostKeyChecking, 'yes');
  assert.equal(resolveHost('n', opts).strictHostKeyChecking, 'no');
  assert.equal(resolveHost('an', opts).strictHostKeyChecking, 'accept-new');
  assert.equal(resolveHost('o', opts).strictHostKeyChecking, 'off');
  assert.equal(resolveHost('other', opts).strictHostKeyChecking, 'ask');
  const bad = home('Host bad\n StrictHostKeyChecking sometimes\n');
  assert.throws(() => resolveHost('bad', bad.opts), configError(/StrictHostKeyChecking value "sometimes"/));
});

test('UserKnownHostsFile: several files, tokens, none; HostKeyAlias', () => {
  const { dir, opts } = home(`
Host multi
  HostName m.example.com
  UserKnownHostsFile ~/.ssh/kh_%h /etc/kh2
  HostKeyAlias MyAlias
Host off
  UserKnownHostsFile none
`);
  const m = resolveHost('multi', opts);
  assert.deepEqual(m.userKnownHostsFiles, [path.join(dir, '.ssh/kh_m.example.com'), '/etc/kh2']);
  assert.equal(m.hostKeyAlias, 'myalias');
  assert.deepEqual(resolveHost('off', opts).userKnownHostsFiles, []);
});

test('LocalForward, RemoteForward, DynamicForward accumulate across blocks', () => {
  const { opts } = home(`
Host dev
  LocalForward 8080 localhost:80
  LocalForward [::1]:9090 [::1]:90
  RemoteForward 9000 localhost:3000
  DynamicForward 1080
Host *
  LocalForward 127.0.0.1:5432 db:5432
  LocalForward 8080 localhost:80
  DynamicForward *:1081
`);
  const h = resolveHost('dev', opts);
  assert.deepEqual(h.localForwards, [
    { bindPort: 8080, host: 'localhost', hostPort: 80 },
    { bindAddress: '::1', bindPort: 9090, host: '::1', hostPort: 90 },
    { bindAddress: '127.0.0.1', bindPort: 5432, host: 'db', hostPort: 5432 },
  ]);
  assert.deepEqual(h.remoteForwards, [{ bindPort: 9000, host: 'localhost', hostPort: 3000 }]);
  assert.deepEqual(h.dynamicForwards, [{ bindPort: 1080 }, { bindAddress: '*', bindPort: 1081 }]);
});

test('forwards: GatewayPorts, ClearAllForwardings, unsupported kinds, malformed lines', () => {
  const { ssh, opts } = home(`
Host gw
  GatewayPorts yes
  LocalForward 8080 h:80
  LocalForward localhost:8081 h:81
  DynamicForward 1080
Host clear
  ClearAllForwardings yes
  LocalForward 8080 h:80
Host odd
  LocalForward 8080 /run/app.sock
  RemoteForward 1080
Host broken
  LocalForward 8080 h:http
`);
  const gw = resolveHost('gw', opts);
  assert.equal(gw.localForwards[0].bindAddress, '*');
  assert.equal(gw.localForwards[1].bindAddress, 'localhost');
  assert.equal(gw.dynamicForwards[0].bindAddress, '*');
  assert.deepEqual(resolveHost('clear', opts).localForwards, []);
  const odd = resolveHost('odd', opts);
  assert.deepEqual(odd.localForwards, []);
  assert.deepEqual(
    odd.unsupported.map((u) => [u.option, u.source]),
    [
      ['LocalForward', `${path.join(ssh, 'config')}:11`],
      ['RemoteForward', `${path.join(ssh, 'config')}:12`],
    ],
  );
  assert.match(odd.unsupported[0].reason, /Unix-domain socket/);
  assert.match(odd.unsupported[1].reason, /SOCKS/);
  assert.throws(
    () => resolveHost('broken', opts),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.line, 14);
      assert.match(err.message, /config:14: LocalForward: .*"8080:h:http".*port "http"/);
      return true;
    },
  );
});

test('Include: relative to ~/.ssh, absolute, globs in sorted order, nested', () => {
  const { dir, opts } = home(
    `Include conf.d/*.conf
Include ${'~'}/other/abs.conf
Host *
  User last
`,
    {
      '.ssh/conf.d/20-b.conf': 'Host b\n  Port 2002\nHost ab\n  Port 2020\n',
      // The Include comes before any Host line here, so it is unconditional.
      '.ssh/conf.d/10-a.conf': 'Include nested/deeper\nHost ab\n  Port 1010\n',
      '.ssh/conf.d/.hidden.conf': 'Host hidden\n  Port 9999\n',
      '.ssh/conf.d/notes.txt': 'Host b\n  Port 1\n',
      '.ssh/nested/deeper': 'Host deep\n  Port 3003\n',
      'other/abs.conf': 'Host abs\n  Port 4004\n',
    },
  );
  assert.equal(resolveHost('ab', opts).port, 1010);
  assert.equal(resolveHost('b', opts).port, 2002);
  assert.equal(resolveHost('deep', opts).port, 3003);
  assert.equal(resolveHost('abs', opts).port, 4004);
  assert.equal(resolveHost('hidden', opts).port, 22);
  // Host lines inside an included file do not leak out: "Host *" after the Include applies.
  assert.equal(resolveHost('deep', opts).user, 'last');
  void dir;
});

test('Include inside a Host block applies only to that host; missing targets are ignored', () => {
  const { opts } = home(
    `Host work-*
  Include work.conf
  Include does-not-exist.conf
Host *
  Port 2222
`,
    { '.ssh/work.conf': 'User worker\nHost work-db\n  Port 5000\n' },
  );
  const w = resolveHost('work-web', opts);
  assert.equal(w.user, 'worker');
  assert.equal(w.port, 2222);
  assert.equal(resolveHost('work-db', opts).port, 5000);
  const other = resolveHost('home', opts);
  assert.equal(other.user, 'me');
  assert.equal(other.port, 2222);
});

test('Include cycles are detected, not followed forever', () => {
  const { opts } = home('Include a.conf\n', { '.ssh/a.conf': 'Include b.conf\n', '.ssh/b.conf': 'Host x\n  Include a.conf\n' });
  assert.throws(() => resolveHost('x', opts), configError(/Include cycle: .*config -> .*a\.conf -> .*b\.conf -> .*a\.conf/));
  // Even from a block that does not match (ssh reads includes regardless).
  assert.throws(() => resolveHost('y', opts), configError(/Include cycle/));
  const { opts: self } = home('Include config\n');
  assert.throws(() => resolveHost('x', self), configError(/Include cycle/));
});

test('an Include of a directory is read as empty, with a warning (as ssh); an unreadable target is an error naming the file', () => {
  const { ssh, opts } = home('Host *\n  Include dir.conf\n  Port 2022\n', { '.ssh/dir.conf/placeholder': 'Port 1\n' });
  const h = resolveHost('x', opts);
  assert.equal(h.port, 2022);
  assert.deepEqual(h.notes, [
    {
      level: 'warn',
      message: `${path.join(ssh, 'dir.conf')} is a directory; ssh reads it as an empty file (to include the files in it, write ${path.join(ssh, 'dir.conf', '*')})`,
    },
  ]);
  if (process.getuid?.() !== 0) {
    const { ssh: s2, opts: o2 } = home('Include locked.conf\n', { '.ssh/locked.conf': 'Port 1\n' });
    fs.chmodSync(path.join(s2, 'locked.conf'), 0);
    assert.throws(() => resolveHost('x', o2), configError(/locked\.conf: permission denied/));
  }
});

test('Match host / originalhost / user / localuser / all / negation', () => {
  const { opts } = home(`
Host short
  HostName real.example.com
Match host real.example.com
  Port 1001
Match originalhost short user bob
  Compression yes
Match originalhost short,other !user bob
  IdentityFile ~/.ssh/not_bob
Match localuser me
  ServerAliveInterval 30
Match localuser someone-else
  ServerAliveCountMax 9
Match all
  ConnectTimeout 7
`);
  const h = resolveHost('short', opts);
  assert.equal(h.port, 1001);
  assert.deepEqual(h.identityFiles, [path.join(opts.homeDir!, '.ssh/not_bob')]);
  assert.equal(h.serverAliveInterval, 30);
  assert.equal(h.serverAliveCountMax, undefined);
  assert.equal(h.connectTimeout, 7);
  const bob = resolveHost('short', { ...opts, overrides: [['User', 'bob']] });
  assert.deepEqual(bob.identityFiles, []);
  assert.equal(resolveHost('other', opts).port, 22);
});

test('Match exec is never run: the block is skipped and reported with its source', () => {
  const marker = path.join(os.tmpdir(), `match-exec-${process.pid}-${Date.now()}`);
  const { ssh, opts } = home(`
Match host target exec "touch ${marker}"
  Port 2222
Match host nomatch exec "touch ${marker}"
  Port 3333
`);
  const h = resolveHost('target', opts);
  assert.equal(h.port, 22);
  assert.equal(fs.existsSync(marker), false, 'Match exec must not run');
  assert.deepEqual(h.unsupported, [
    {
      option: 'Match exec',
      value: `touch ${marker}`,
      source: `${path.join(ssh, 'config')}:2`,
      reason: 'Match exec is never run (it would execute a command); this Match block is ignored',
    },
  ]);
});

test('Match final triggers a second pass in which final blocks apply', () => {
  const { opts } = home('Match final\n  Port 4444\nHost *\n  User u\n  LocalForward 1 h:2\n');
  const h = resolveHost('x', opts);
  assert.equal(h.port, 4444);
  assert.equal(h.localForwards.length, 1, 'the second pass must not duplicate forwards');
});

test('Match errors: unknown criterion, missing argument', () => {
  const { opts } = home('Match colour blue\n  Port 1\n');
  assert.throws(() => resolveHost('x', opts), configError(/config:1: Match: unknown criterion "colour"/));
  const { opts: o2 } = home('Match host\n  Port 1\n');
  assert.throws(() => resolveHost('x', o2), configError(/config:1/));
});

test('options that would run commands or change behaviour are reported, not honoured', () => {
  const { ssh, opts } = home(`
Host proxied
  ProxyCommand ssh -W %h:%p gateway
  LocalCommand echo hi
  PermitLocalCommand yes
  RemoteCommand tmux attach
  ForwardAgent yes
Host plain
  ProxyCommand none
  ForwardAgent no
Host jumpfirst
  ProxyJump gw
  ProxyCommand nc %h %p
Host gw
  ProxyJump none
`);
  const p = resolveHost('proxied', opts);
  const file = path.join(ssh, 'config');
  assert.deepEqual(
    p.unsupported.map((u) => [u.option, u.source]),
    [
      ['ProxyCommand', `${file}:3`],
      ['LocalCommand', `${file}:4`],
      ['PermitLocalCommand', `${file}:5`],
      ['RemoteCommand', `${file}:6`],
      ['ForwardAgent', `${file}:7`],
    ],
  );
  assert.equal(p.unsupported[0].reason, 'ProxyCommand is not supported (it would run a command); use ProxyJump');
  assert.equal(p.unsupported[0].value, 'ssh -W %h:%p gateway');
  assert.deepEqual(p.proxyJump, []);
  assert.deepEqual(resolveHost('plain', opts).unsupported, []);
  const j = resolveHost('jumpfirst', opts);
  assert.deepEqual(j.unsupported, [], 'ProxyCommand after ProxyJump is ignored, as in ssh');
  assert.equal(j.proxyJump[0].alias, 'gw');
});

test('ProxyJump: hops resolved through the config, user@host:port overrides, chains', () => {
  const { dir, opts } = home(`
Host target
  HostName 10.0.0.5
  ProxyJump bastion,inner
Host bastion
  HostName bastion.example.com
  User jump
  Port 2200
  IdentityFile ~/.ssh/bastion_key
  IdentitiesOnly yes
  ProxyJump none
Host inner
  HostName inner.internal
  ProxyJump ignored-because-not-first
Host direct
  ProxyJump alice@bastion:2201
Host via-cmd-last
  ProxyJump bastion,cmdhop
Host via-cmd-first
  ProxyJump cmdhop
Host cmdhop
  ProxyCommand nc %h %p
Host v6
  ProxyJump [2001:db8::1]:2222,ssh://bob@plain.example.com
Host edge
  ProxyJump none
  HostName edge.example.com
Host *
  ProxyJump edge
`);
  const t = resolveHost('target', opts);
  assert.equal(t.hostName, '10.0.0.5');
  assert.deepEqual(
    t.proxyJump.map((j) => [j.alias, j.hostName, j.port, j.user]),
    [
      ['bastion', 'bastion.example.com', 2200, 'jump'],
      ['inner', 'inner.internal', 22, 'me'],
    ],
  );
  assert.deepEqual(t.proxyJump[0].identityFiles, [path.join(dir, '.ssh/bastion_key')]);
  assert.equal(t.proxyJump[0].identitiesOnly, true);
  assert.equal(t.proxyJump[0].strictHostKeyChecking, 'ask');
  const d = resolveHost('direct', opts).proxyJump;
  assert.deepEqual(
    d.map((j) => [j.hostName, j.port, j.user]),
    [['bastion.example.com', 2201, 'alice']],
  );
  const v6 = resolveHost('v6', opts).proxyJump;
  assert.deepEqual(
    v6.map((j) => [j.alias, j.hostName, j.port, j.user]),
    [
      ['edge', 'edge.example.com', 22, 'me'],
      ['2001:db8::1', '2001:db8::1', 2222, 'me'],
      ['plain.example.com', 'plain.example.com', 22, 'bob'],
    ],
    'the first hop brings its own chain (Host * → edge); later hops do not',
  );
  assert.deepEqual(resolveHost('edge', opts).proxyJump, []);
  // A later hop is reached with -J by ssh, so its ProxyCommand never applies...
  assert.deepEqual(resolveHost('via-cmd-last', opts).unsupported, []);
  // ...but the first hop's does, and is reported against the jump host.
  const first = resolveHost('via-cmd-first', opts).unsupported;
  assert.equal(first.length, 1);
  assert.equal(first[0].option, 'ProxyCommand');
  assert.match(first[0].reason, /^jump host "cmdhop": ProxyCommand is not supported/);
});

test('ProxyJump: the first hop brings its own chain, recursively', () => {
  const { opts } = home(`
Host a
  ProxyJump b
Host b
  ProxyJump c
Host c
  HostName c.example.com
`);
  assert.deepEqual(
    resolveHost('a', opts).proxyJump.map((j) => j.alias),
    ['c', 'b'],
  );
});

test('ProxyJump loops and bad entries are errors', () => {
  const { opts } = home(`
Host a
  ProxyJump b
Host b
  ProxyJump a
Host self
  ProxyJump self
Host badport
  ProxyJump gw:99999
Host v6
  ProxyJump 2001:db8::1
`);
  assert.throws(() => resolveHost('a', opts), configError(/ProxyJump loop: a -> b -> a/));
  assert.throws(() => resolveHost('self', opts), configError(/ProxyJump loop: self -> self/));
  assert.throws(() => resolveHost('badport', opts), configError(/config:9:.*"gw:99999".*99999/));
  assert.throws(() => resolveHost('v6', opts), configError(/brackets/));
  // The classic "Host * ProxyJump bastion" without "ProxyJump none" for the bastion.
  const { opts: o2 } = home('Host *\n  ProxyJump bastion\n');
  assert.throws(() => resolveHost('app', o2), configError(/ProxyJump loop: app -> bastion -> bastion/));
});

test('parseJumpSpec forms', () => {
  assert.deepEqual(parseJumpSpec('h'), { user: undefined, host: 'h', port: undefined });
  assert.deepEqual(parseJumpSpec('u@h:2'), { user: 'u', host: 'h', port: 2 });
  assert.deepEqual(parseJumpSpec('a@b@h'), { user: 'a@b', host: 'h', port: undefined });
  assert.deepEqual(parseJumpSpec('ssh://u@[::1]:22'), { user: 'u', host: '::1', port: 22 });
  for (const bad of ['', '@h', 'h:', 'h:0', '[::1', '[::1]x']) assert.throws(() => parseJumpSpec(bad), ConfigError);
});

test('malformed files: the library error is located to file:line', () => {
  const { ssh, opts } = home('Host ok\n  Port 22\n  IdentityFile "~/.ssh/unclosed\n');
  assert.throws(
    () => resolveHost('ok', opts),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.file, path.join(ssh, 'config'));
      assert.equal(err.line, 3);
      assert.match(err.message, /config:3: cannot parse "IdentityFile "~\/.ssh\/unclosed"/);
      return true;
    },
  );
  const { opts: o2 } = home('Host a\n  Port 1\nHost\n  Port 2\n');
  assert.throws(() => resolveHost('a', o2), configError(/config:3/));
  const { opts: o3 } = home('Host a\n  Port\n  User x\n');
  assert.throws(() => resolveHost('a', o3), configError(/config:2: "Port" has no value/));
  const { opts: o4 } = home('Host a\n', { '.ssh/inc': 'User "x\n' });
  fs.appendFileSync(path.join(o4.homeDir!, '.ssh/config'), 'Include inc\n');
  assert.throws(() => resolveHost('a', o4), configError(/inc:1: cannot parse/));
});

test('host names are never passed on when they could be mistaken for options or commands', () => {
  const { opts } = home('Host evil\n  HostName -oProxyCommand=x\n');
  for (const alias of ['', '-oProxyCommand=touch', 'a b', 'a\nb']) assert.throws(() => resolveHost(alias, opts), ConfigError);
  assert.throws(() => resolveHost('evil', opts), configError(/invalid HostName/));
});

test('listHosts: concrete aliases across Includes with HostName/User/Port', () => {
  const { ssh, opts } = home(
    `Host web web-alias
  HostName web.example.com
  User www
Host *.wild !neg db?
  Port 1
# Without this the Include would sit inside the Host block above.
Match all
Include hosts.d/*
Host *
  Port 2222
`,
    {
      '.ssh/hosts.d/a': 'Host db\n  HostName %h.internal\n  Port 5432\n',
      '.ssh/hosts.d/b': 'Host cache web\n  Compression yes\n',
    },
  );
  const list = listHosts(opts);
  assert.deepEqual(list, [
    { alias: 'web', hostName: 'web.example.com', user: 'www', port: 2222, file: path.join(ssh, 'config') },
    { alias: 'web-alias', hostName: 'web.example.com', user: 'www', port: 2222, file: path.join(ssh, 'config') },
    { alias: 'db', hostName: 'db.internal', port: 5432, file: path.join(ssh, 'hosts.d/a') },
    { alias: 'cache', port: 2222, file: path.join(ssh, 'hosts.d/b') },
  ]);
});

test('listHosts terminates on Include cycles and still lists the aliases', () => {
  const { opts } = home('Include a\n', { '.ssh/a': 'Host one\nInclude b\n', '.ssh/b': 'Host two\nInclude a\n' });
  assert.deepEqual(
    listHosts(opts).map((h) => [h.alias, h.port]),
    [
      ['one', undefined],
      ['two', undefined],
    ],
  );
  assert.throws(() => resolveHost('one', opts), configError(/Include cycle/));
});

test('listHosts still lists an alias whose own settings are broken', () => {
  const { opts } = home('Host good\n  Port 2\nHost bad\n  Port nope\n');
  assert.deepEqual(
    listHosts(opts).map((h) => [h.alias, h.port]),
    [
      ['good', 2],
      ['bad', undefined],
    ],
  );
});

/** Cross-check the evaluation against OpenSSH itself (`ssh -G` prints the resolved config). */
test('agrees with ssh -G on patterns, negation, Match and first-value-wins', (t) => {
  try {
    execFileSync('ssh', ['-V'], { stdio: 'ignore' });
  } catch {
    t.skip('ssh not installed');
    return;
  }
  const incDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sshcfg-inc-')));
  after(() => fs.rmSync(incDir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(incDir, 'inc.conf'), 'User incuser\nHost other\n  Port 7\n');
  const config = `
Host work-*
  Include ${incDir}/inc.conf
  Port 2203
Host *.corp !bastion.corp
  User corpuser
  Port 2201
Host db?
  HostName %h.db.example.com
Match host *.db.example.com
  Port 5400
  LocalForward 8080 localhost:80
Host bastion.corp
  Port 2202
Host *
  User everyone
  Port 2299
  LocalForward 9090 localhost:90
`;
  const { ssh, opts } = home(config);
  const file = path.join(ssh, 'config');
  for (const alias of ['app.corp', 'bastion.corp', 'db1', 'db12', 'plain', 'work-a', 'other']) {
    const out = execFileSync('ssh', ['-G', '-F', file, alias], { encoding: 'utf8' });
    const get = (k: string): string[] =>
      out
        .split('\n')
        .filter((l) => l.startsWith(`${k} `))
        .map((l) => l.slice(k.length + 1));
    const ours = resolveHost(alias, { ...opts, localUser: os.userInfo().username });
    assert.equal(ours.hostName, get('hostname')[0], `${alias} hostname`);
    assert.equal(String(ours.port), get('port')[0], `${alias} port`);
    assert.equal(ours.user, get('user')[0], `${alias} user`);
    assert.deepEqual(
      ours.localForwards.map((f) => `${f.bindAddress ? `[${f.bindAddress}]:` : ''}${f.bindPort} [${f.host}]:${f.hostPort}`),
      get('localforward'),
      `${alias} forwards`,
    );
  }
});
