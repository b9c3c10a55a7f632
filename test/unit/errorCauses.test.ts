import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyError } from '../../src/core/session/errors';

const errno = (code: string) => Object.assign(new Error(`getaddrinfo ${code} typo`), { code });

test('DNS unreachable (EAI_AGAIN) and no such host (ENOTFOUND) are told apart, by name', () => {
  const again = classifyError(errno('EAI_AGAIN'), 'typo:22');
  assert.equal(again.code, 'dns-temporary');
  assert.equal(again.fatal, false, 'retried: DNS may come back');
  assert.match(again.message, /DNS is unreachable or not answering \(EAI_AGAIN\)/);
  const missing = classifyError(errno('ENOTFOUND'), 'typo:22');
  assert.equal(missing.code, 'unknown-host');
  assert.match(missing.message, /no such host \(ENOTFOUND\)/);
  const missingNow = classifyError(errno('ENOTFOUND'), 'typo:22', true);
  assert.equal(missingNow.code, 'dns-temporary');
  assert.match(missingNow.message, /no such host typo:22 \(ENOTFOUND\), though it resolved before/);
});

test('refused, timed out and no route name their cause', () => {
  assert.match(classifyError(errno('ECONNREFUSED'), 'h:22').message, /refused the connection/);
  assert.match(classifyError(errno('ETIMEDOUT'), 'h:22').message, /timed out \(ETIMEDOUT\)/);
  assert.match(classifyError(errno('EHOSTUNREACH'), 'h:22').message, /^no route to h:22: it is unreachable \(EHOSTUNREACH\)/);
  assert.match(classifyError(errno('ENETUNREACH'), 'h:22').message, /^no route to h:22/);
});
