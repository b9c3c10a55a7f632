import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeRemoteBind } from '../../src/core/forward/remoteBindText';
import { parseReclaimOutput, reclaimVerdict } from '../../src/core/forward/staleListener';
import { IdleCloseDetector } from '../../src/core/session/idleCloseDetector';
import { AuthReport } from '../../src/core/session/authReport';

test('idle closes: three clean closes after the same connected time are explained once, then quiet', () => {
  const d = new IdleCloseDetector();
  assert.deepEqual(d.onLoss(true, 6_000), { kind: 'normal' });
  assert.deepEqual(d.onLoss(true, 6_200), { kind: 'normal' });
  const third = d.onLoss(true, 5_900);
  assert.equal(third.kind, 'explain');
  assert.match((third as { message: string }).message, /about 6 s/);
  assert.equal(d.quiet, true);
  assert.deepEqual(d.onLoss(true, 6_100), { kind: 'quiet' });
  // A dead path (not a clean close) ends the pattern: the next losses are news again.
  assert.deepEqual(d.onLoss(false, 6_000), { kind: 'normal' });
  assert.equal(d.quiet, false);
});

test('idle closes: clean closes after different times are not a policy', () => {
  const d = new IdleCloseDetector();
  for (const ms of [6_000, 30_000, 2_000, 120_000, 9_000]) assert.deepEqual(d.onLoss(true, ms), { kind: 'normal' });
  assert.equal(d.quiet, false);
});

test('reclaim verdict: free whoever freed it; nothing of ours holding it cannot help; a Dropbear connection is ended', () => {
  assert.deepEqual(reclaimVerdict(parseReclaimOutput('how ss\nfree yes\n')), { kind: 'free' });
  const other = reclaimVerdict(parseReclaimOutput('how ss\nskip 42 not-sshd python3 -m http.server\nfree no\n'));
  assert.equal(other.kind, 'cannot-help');
  assert.match((other as { why: string }).why, /pid 42 \(python3 -m http\.server\) is not an OpenSSH or Dropbear connection/);
  const invisible = reclaimVerdict(parseReclaimOutput('how ss\nfree no\n'));
  assert.equal(invisible.kind, 'cannot-help');
  assert.equal(reclaimVerdict(parseReclaimOutput('how ss\nkilled 7 1.2.3.4:5 dropbear -F\nfree no\n')).kind, 'still-held');
});

test('-R bind text: loopback is stated, "*" and other addresses are left to the server', () => {
  assert.equal(describeRemoteBind('localhost', 8080), 'the server listens on localhost:8080');
  assert.equal(describeRemoteBind('::1', 8080), 'the server listens on [::1]:8080');
  assert.doesNotMatch(describeRemoteBind('', 18094), /listens on \*/);
  assert.match(describeRemoteBind('', 18094), /port 18094 on all interfaces \(\*\).*the server decides/);
  assert.match(describeRemoteBind('0.0.0.0', 18094), /the server decides/);
});

test('auth report: names what was refused, what was not tried and what the server accepts', () => {
  const r = new AuthReport();
  r.offered.push('identity file /k/id (ssh-ed25519 SHA256:abc)');
  r.skipped.push('password (no password given)');
  r.serverMethods = ['publickey', 'password'];
  assert.equal(
    r.describeFailure('box', 'me'),
    'authentication to box as me failed; refused by the server: identity file /k/id (ssh-ed25519 SHA256:abc); not tried: password (no password given); the server accepts: publickey, password. Check User, IdentityFile and your agent.',
  );
});
