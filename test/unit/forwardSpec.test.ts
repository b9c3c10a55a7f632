import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALL_INTERFACES,
  UnsupportedForwardError,
  formatDynamicSpec,
  formatForwardSpec,
  parseDynamicSpec,
  parseForwardDirective,
  parseForwardSpec,
} from '../../src/core/config/forwardSpec';
import { ConfigError } from '../../src/core/config/types';

test('port:host:hostport leaves the bind address to the default (loopback)', () => {
  assert.deepEqual(parseForwardSpec('8080:localhost:80'), { bindPort: 8080, host: 'localhost', hostPort: 80 });
});

test('bind:port:host:hostport keeps an explicit bind address', () => {
  assert.deepEqual(parseForwardSpec('127.0.0.2:8080:db.internal:5432'), {
    bindAddress: '127.0.0.2',
    bindPort: 8080,
    host: 'db.internal',
    hostPort: 5432,
  });
  assert.equal(parseForwardSpec('localhost:1:h:2').bindAddress, 'localhost');
});

test('empty or * bind address means all interfaces', () => {
  assert.equal(parseForwardSpec('*:8080:h:80').bindAddress, ALL_INTERFACES);
  assert.equal(parseForwardSpec(':8080:h:80').bindAddress, ALL_INTERFACES);
  assert.equal(ALL_INTERFACES, '*');
});

test('IPv6 addresses in brackets on both sides', () => {
  assert.deepEqual(parseForwardSpec('[::1]:8080:[::1]:80'), { bindAddress: '::1', bindPort: 8080, host: '::1', hostPort: 80 });
  assert.deepEqual(parseForwardSpec('8080:[fe80::1%eth0]:22'), { bindPort: 8080, host: 'fe80::1%eth0', hostPort: 22 });
});

test('the old slash syntax is accepted', () => {
  assert.deepEqual(parseForwardSpec('8080/::1/80'), { bindPort: 8080, host: '::1', hostPort: 80 });
  assert.deepEqual(parseForwardSpec('::1/8080/example.com/80'), { bindAddress: '::1', bindPort: 8080, host: 'example.com', hostPort: 80 });
});

test('ports: 0 only for the listen port, everything in 0..65535, numbers only', () => {
  assert.equal(parseForwardSpec('0:h:80').bindPort, 0);
  assert.equal(parseForwardSpec('65535:h:65535').hostPort, 65535);
  for (const bad of ['65536:h:80', '80:h:65536', '80:h:0', 'x:h:80', '80:h:http', '-1:h:80', '80:h:']) {
    assert.throws(
      () => parseForwardSpec(bad),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, `${bad} should throw ConfigError`);
        assert.match(err.message, new RegExp(`"${bad.replace(/[-*]/g, '\\$&')}"`));
        assert.match(err.message, /port/);
        return true;
      },
    );
  }
});

test('wrong shapes name the text and the expected syntax', () => {
  for (const bad of ['8080', '8080:80', '1:2:3:4:5', '[::1:8080:h:80', '8080::80', '']) {
    assert.throws(
      () => parseForwardSpec(bad),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.includes(`"${bad}"`), err.message);
        assert.match(err.message, /port|host/);
        return true;
      },
    );
  }
  assert.throws(() => parseForwardSpec('8080:h'), /\[bind_address:\]port:host:hostport/);
});

test('Unix-domain socket forwards are reported as unsupported, not as syntax errors', () => {
  assert.throws(() => parseForwardSpec('8080:/run/docker.sock'), UnsupportedForwardError);
  assert.throws(() => parseForwardSpec('/tmp/local.sock:host:80'), UnsupportedForwardError);
  assert.ok(new UnsupportedForwardError('x') instanceof ConfigError);
});

test('LocalForward directive: space form, colon form, IPv6', () => {
  assert.deepEqual(parseForwardDirective('8080 localhost:80'), { bindPort: 8080, host: 'localhost', hostPort: 80 });
  assert.deepEqual(parseForwardDirective('  127.0.0.1:8080   db:5432 '), {
    bindAddress: '127.0.0.1',
    bindPort: 8080,
    host: 'db',
    hostPort: 5432,
  });
  assert.deepEqual(parseForwardDirective('8080:localhost:80'), { bindPort: 8080, host: 'localhost', hostPort: 80 });
  assert.deepEqual(parseForwardDirective('[::1]:8080 [::1]:80'), { bindAddress: '::1', bindPort: 8080, host: '::1', hostPort: 80 });
  assert.deepEqual(parseForwardDirective('8080 ::1/80'), { bindPort: 8080, host: '::1', hostPort: 80 });
});

test('LocalForward directive errors', () => {
  assert.throws(() => parseForwardDirective('8080'), ConfigError);
  assert.throws(() => parseForwardDirective('8080 h:80 extra'), /Bad forward "8080 h:80 extra"/);
  assert.throws(() => parseForwardDirective('8080 h:99999'), /99999/);
});

test('a lone port in RemoteForward is reverse SOCKS: unsupported', () => {
  assert.throws(() => parseForwardDirective('1080', 'remote'), UnsupportedForwardError);
  assert.deepEqual(parseForwardDirective('9000 localhost:3000', 'remote'), { bindPort: 9000, host: 'localhost', hostPort: 3000 });
});

test('dynamic spec: [bind:]port', () => {
  assert.deepEqual(parseDynamicSpec('1080'), { bindPort: 1080 });
  assert.deepEqual(parseDynamicSpec('localhost:1080'), { bindAddress: 'localhost', bindPort: 1080 });
  assert.deepEqual(parseDynamicSpec('[::1]:1080'), { bindAddress: '::1', bindPort: 1080 });
  assert.deepEqual(parseDynamicSpec('*:1080'), { bindAddress: '*', bindPort: 1080 });
  assert.deepEqual(parseDynamicSpec(':1080'), { bindAddress: '*', bindPort: 1080 });
  assert.deepEqual(parseDynamicSpec('::1/1080'), { bindAddress: '::1', bindPort: 1080 });
  for (const bad of ['::1:1080', '70000', 'socks', 'a:b:c', '']) {
    assert.throws(
      () => parseDynamicSpec(bad),
      (err: unknown) => err instanceof ConfigError && err.message.includes(`"${bad}"`),
    );
  }
});

test('format gives ssh notation back and round-trips', () => {
  const specs = ['8080:localhost:80', '*:8080:h:80', '[::1]:8080:[::1]:80', '127.0.0.1:0:db:5432'];
  for (const s of specs) {
    assert.equal(formatForwardSpec(parseForwardSpec(s)), s);
    assert.deepEqual(parseForwardSpec(formatForwardSpec(parseForwardSpec(s))), parseForwardSpec(s));
  }
  assert.equal(formatForwardSpec(parseForwardSpec(':8080:h:80')), '*:8080:h:80');
  assert.equal(formatDynamicSpec(parseDynamicSpec('[::1]:1080')), '[::1]:1080');
  assert.equal(formatDynamicSpec({ bindPort: 1080 }), '1080');
});
