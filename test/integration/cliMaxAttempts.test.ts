import { freePort } from '../../tools/peers/sshd';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { cliPath } from '../../tools/peers/repo';

/**
 * The CLI with a one-off command while the server refuses: it keeps trying (it exited 0 in
 * silence during its first backoff before), and --max-attempts N makes it give up after N
 * attempts with ssh's exit status 255 and the reason.
 */

function cli(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, '-F', '/dev/null', ...args], { timeout: timeoutMs }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stderr, ms: Date.now() - t0 });
    });
  });
}

test('--max-attempts 2: gives up after two refused attempts, exit 255 with the reason', async () => {
  const port = await freePort();
  const r = await cli(['--max-attempts', '2', '-p', String(port), '127.0.0.1', 'true'], 15_000);
  assert.equal(r.code, 255, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /refused the connection .*\(gave up after 2 attempts in a row\)/);
});

test('without --max-attempts a one-off command keeps trying instead of exiting 0 during the first backoff', async () => {
  const port = await freePort();
  const r = await cli(['-p', String(port), '127.0.0.1', 'true'], 4000);
  assert.notEqual(r.code, 0, `it must not report success: ${r.stderr}`);
  assert.ok(r.ms >= 3500, `still trying after ${r.ms} ms (killed by the test's timeout)`);
});
