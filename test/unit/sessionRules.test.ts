import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import type { ResolvedHost } from '../../src/core/config/types';
import { SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { within } from '../harness/bounded';
import { FakeClock, until } from '../harness/fakeClock';
import { startMiniServer, type MiniServer } from '../harness/miniServer';

/**
 * Rules that each had a single test: a host key marked `@revoked` is refused whatever else
 * known_hosts or StrictHostKeyChecking say, and attempts that never reach sshd are retried
 * at most about once per `pathDownMinCycleMs`, however fast they fail.
 */

let server: MiniServer;
before(async () => {
  server = await startMiniServer();
});
after(() => server.close());

const fast: Partial<SessionOptions> = {
  backoff: { initialMs: 100, maxMs: 400, factor: 2, minMs: 50 },
  pathDownRetryMs: { min: 20, max: 40 },
  reconnectTcpTimeoutMs: 500,
  connectTimeoutMs: 3000,
};

function session(t: TestContext, host: ResolvedHost, overrides: Partial<SessionOptions> = {}, clock?: FakeClock): { session: Session; states: SessionState[] } {
  const s = new Session(host, { ...sessionOptionsFor(host, fast), ...overrides }, { prompter: noPrompter, logger: nullLogger, clock });
  t.after(() => s.dispose());
  const states: SessionState[] = [];
  s.onDidChangeState((e) => states.push(e));
  return { session: s, states };
}

/** The server's own known_hosts line, e.g. "[127.0.0.1]:port ssh-ed25519 AAAA...". */
const serverLine = () => readFileSync(server.knownHostsPath, 'utf8').trim().split('\n')[0];

function knownHosts(name: string, lines: string[]): string {
  const file = `${server.dir}/${name}`;
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const revoked = (e: unknown) => e instanceof SessionError && e.code === 'host-key-revoked' && e.fatal;

test('@revoked wins over a matching line of the same file, and names where it is', async (t) => {
  const file = knownHosts('revoked_same_file', [serverLine(), `@revoked ${serverLine()}`]);
  const { session: s, states } = session(t, server.resolvedHost(undefined, { userKnownHostsFiles: [file] }));
  const err = await within(
    s.start().then(
      () => undefined,
      (e: unknown) => e,
    ),
    5000,
    'the revoked key to be refused',
  );
  assert.ok(revoked(err), `expected host-key-revoked, got ${String(err)}`);
  assert.match((err as Error).message, new RegExp(`@revoked in ${file}:2`));
  assert.deepEqual(
    states.map((x) => x.kind),
    ['connecting', 'failed'],
    'refused once, never retried',
  );
});

test('@revoked in a later known_hosts file wins over a match in an earlier one', async (t) => {
  const first = knownHosts('revoked_first', [serverLine()]);
  const second = knownHosts('revoked_second', [`@revoked * ${serverLine().split(' ').slice(1).join(' ')}`]);
  const { session: s } = session(t, server.resolvedHost(undefined, { userKnownHostsFiles: [first, second] }));
  await within(assert.rejects(s.start(), revoked), 5000, 'the key revoked in the second file to be refused');
});

test('@revoked is refused under StrictHostKeyChecking=no, and the key is not added', async (t) => {
  const file = knownHosts('revoked_only', [`@revoked ${serverLine()}`]);
  const { session: s } = session(t, server.resolvedHost(undefined, { userKnownHostsFiles: [file], strictHostKeyChecking: 'no' }));
  await within(assert.rejects(s.start(), revoked), 5000, 'the revoked key to be refused under StrictHostKeyChecking=no');
  assert.equal(readFileSync(file, 'utf8'), `@revoked ${serverLine()}\n`, 'known_hosts unchanged');
});

/** A port that refuses at once (nothing listens there any more). */
async function refusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/**
 * Counts connect attempts against a refused port during `ms` of the session's (fake) time.
 * Each refused connect is real I/O: time moves on to the next timer only once the attempt
 * has failed and the session waits, so only the session's own delays count.
 */
async function attemptsIn(t: TestContext, ms: number, overrides: Partial<SessionOptions>): Promise<number> {
  const clock = new FakeClock();
  const { session: s, states } = session(t, server.resolvedHost(await refusedPort()), overrides, clock);
  const attempts = () => states.filter((x) => x.kind === 'connecting').length;
  const end = clock.now() + ms;
  void s.start().catch(() => undefined);
  for (let n = 1; ; n++) {
    await until(`attempt ${n} to fail and wait`, () => attempts() === n && s.state.kind === 'waiting');
    const next = clock.nextIn;
    if (next === undefined || clock.now() + next > end) break;
    await clock.advance(next);
  }
  s.dispose();
  return attempts();
}

test('refused attempts come about once a second, never faster, even with a short retry delay', async (t) => {
  // 20-40 ms retry delays, but a 1 s floor: attempts at 0, 1 and 2 s in 2.5 s, not dozens.
  const n = await attemptsIn(t, 2500, { pathDownMinCycleMs: 1000 });
  assert.equal(n, 3, `${n} attempts in 2.5 s; expected one per second`);
});

test('the path-down floor follows pathDownMinCycleMs', async (t) => {
  const n = await attemptsIn(t, 1800, { pathDownMinCycleMs: 400 });
  assert.equal(n, 5, `${n} attempts in 1.8 s with a 400 ms floor; expected 5 (at 0, 0.4, 0.8, 1.2, 1.6 s)`);
});
