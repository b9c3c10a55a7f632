import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { parseStdioForward } from '../../src/cli/stdioForward';
import { keeperBindFor } from '../../src/core/forward/keptRemoteForward';
import { socksReplyForKeeperReset } from '../../src/core/forward/dynamicForward';
import { SocksReply } from '../../src/core/forward/socksServer';

/** `-W` specs as ssh takes them; each is checked beside `ssh -G -W`. */
const specs = ['db:5432', '[::1]:22', 'db/5432', '10.0.0.1:22', 'db', 'db:0', 'db:99999', 'a:b:22', 'db:', ''];
/** ssh takes an empty host (and would then ask the server for ""); we refuse it with the same message. */
const deliberate = new Set([':22']);

test('-W host:port is accepted or refused as ssh -G -W does, with ssh’s message', () => {
  const differ: string[] = [];
  for (const spec of [...specs, ...deliberate]) {
    const r = spawnSync('ssh', ['-F', '/dev/null', '-G', '-W', spec, 'x'], { encoding: 'utf8' });
    assert.ok(r.status === 0 || r.status === 255, `ssh ran: ${r.error?.message ?? r.stderr}`);
    let ours = true;
    try {
      parseStdioForward(spec);
    } catch (err) {
      ours = false;
      assert.equal((err as Error).message, `Bad stdio forwarding specification '${spec}'`);
    }
    if ((r.status === 0) !== ours && !deliberate.has(spec)) differ.push(`${JSON.stringify(spec)}: ssh ${r.status === 0 ? 'accepts' : 'refuses'}`);
  }
  assert.deepEqual(differ, []);
  assert.deepEqual(parseStdioForward('[::1]:22'), { host: '::1', port: 22 });
  assert.deepEqual(parseStdioForward('db/5432'), { host: 'db', port: 5432 });
});

test('the keeper listens for -R only on loopback; other binds stay with sshd (GatewayPorts)', () => {
  assert.equal(keeperBindFor({ bindPort: 80, host: 'h', hostPort: 1 }), '127.0.0.1');
  assert.equal(keeperBindFor({ bindAddress: 'localhost', bindPort: 80, host: 'h', hostPort: 1 }), '127.0.0.1');
  assert.equal(keeperBindFor({ bindAddress: '127.0.0.1', bindPort: 80, host: 'h', hostPort: 1 }), '127.0.0.1');
  assert.equal(keeperBindFor({ bindAddress: '::1', bindPort: 80, host: 'h', hostPort: 1 }), '::1');
  for (const bind of ['*', '', '0.0.0.0', '192.168.1.5', 'example.com']) {
    assert.equal(keeperBindFor({ bindAddress: bind, bindPort: 80, host: 'h', hostPort: 1 }), undefined, bind);
  }
});

test('a keeper stream refused before it opened gets the SOCKS reply for its reason', () => {
  assert.equal(socksReplyForKeeperReset('refused'), SocksReply.connectionRefused);
  assert.equal(socksReplyForKeeperReset('resolve-failed'), SocksReply.hostUnreachable);
  assert.equal(socksReplyForKeeperReset('connect-failed'), SocksReply.hostUnreachable);
  assert.equal(socksReplyForKeeperReset('keeper-exit'), SocksReply.generalFailure);
});
