import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatForwardRequest, parseForwardInput, parseStoredForward, validateForwardInput } from '../../src/vscode/forwardInput';

test('valid local, remote and dynamic specs pass', () => {
  assert.equal(validateForwardInput('local', '8080:localhost:80'), undefined);
  assert.equal(validateForwardInput('local', '127.0.0.1:8080:db:5432'), undefined);
  assert.equal(validateForwardInput('remote', '9000:localhost:3000'), undefined);
  assert.equal(validateForwardInput('dynamic', '1080'), undefined);
  assert.equal(validateForwardInput('local', '0:localhost:80'), undefined);
});

test('a lone port means port:localhost:port', () => {
  assert.deepEqual(parseForwardInput('local', '3000'), { kind: 'local', spec: { bindPort: 3000, host: 'localhost', hostPort: 3000 } });
  assert.deepEqual(parseForwardInput('remote', ' 3000 ').spec, { bindPort: 3000, host: 'localhost', hostPort: 3000 });
});

test("ssh_config's space form is accepted", () => {
  assert.deepEqual(parseForwardInput('local', '8080 db:5432').spec, { bindPort: 8080, host: 'db', hostPort: 5432 });
});

test('empty input asks for a forward with an example', () => {
  const p = validateForwardInput('local', '  ');
  assert.equal(p?.severity, 'error');
  assert.match(p.message, /e\.g\. 8080:localhost:80/);
});

test('a bad port says which field and the range', () => {
  const p = validateForwardInput('local', '8080:localhost:http');
  assert.equal(p?.severity, 'error');
  assert.match(p.message, /port "http" is not a number from 1 to 65535/);
  assert.doesNotMatch(p.message, /^Bad forward/);
  assert.match(validateForwardInput('local', '70000:h:1')!.message, /port "70000"/);
});

test('a malformed spec shows the expected syntax', () => {
  const p = validateForwardInput('local', '8080:localhost');
  assert.equal(p?.severity, 'error');
  assert.match(p.message, /\[bind_address:\]port:host:hostport/);
  assert.match(validateForwardInput('dynamic', 'a:b:c')!.message, /\[bind_address:\]port/);
});

test('unsupported forms (Unix sockets, reverse SOCKS) are explained', () => {
  assert.match(validateForwardInput('local', '8080:/run/x.sock')!.message, /Unix-domain socket/);
  assert.match(validateForwardInput('remote', '127.0.0.1:8080')!.message, /reverse SOCKS/);
});

test('privileged and non-loopback listeners are warnings, not errors', () => {
  assert.deepEqual(validateForwardInput('local', '80:localhost:8080')?.severity, 'warning');
  assert.equal(validateForwardInput('remote', '80:localhost:8080'), undefined);
  const wide = validateForwardInput('local', '*:8080:localhost:80');
  assert.equal(wide?.severity, 'warning');
  assert.match(wide.message, /other machines/);
  assert.equal(validateForwardInput('local', '127.0.0.2:8080:localhost:80'), undefined);
});

test('requests round-trip through their stored form', () => {
  for (const [kind, text] of [
    ['local', '127.0.0.1:8080:db:5432'],
    ['remote', '9000:localhost:3000'],
    ['dynamic', '[::1]:1080'],
  ] as const) {
    const req = parseForwardInput(kind, text);
    const stored = formatForwardRequest(req);
    assert.deepEqual(parseStoredForward(stored), req, stored);
  }
  assert.equal(formatForwardRequest(parseForwardInput('local', '8080:localhost:80')), '-L 8080:localhost:80');
  assert.equal(parseStoredForward('garbage'), undefined);
  assert.equal(parseStoredForward('-L nonsense'), undefined);
});
