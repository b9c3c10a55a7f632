import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { within } from '../harness/bounded';
import { FakeClock, until } from '../harness/fakeClock';
import { startMiniServer, type MiniServer } from '../harness/miniServer';

/**
 * The backoff grows while attempts reach a server that drops them, and starts small again
 * once a connection has lasted `stableAfterMs` (not before). With `random` fixed at 1 every
 * delay is its ceiling: 100, 400, 1600 ms for initialMs 100 and factor 4.
 */

type Waiting = Extract<SessionState, { kind: 'waiting' }>;

/** In front of the server: relays connections, or (rude) accepts and drops them at once. */
interface Switch {
  port: number;
  rude: boolean;
  /** Ends every relayed connection: the client sees the server close it. */
  dropAll(): void;
  close(): Promise<void>;
}

async function startSwitch(targetPort: number): Promise<Switch> {
  const live = new Set<Socket>();
  const sw = { rude: false } as Switch;
  const server: Server = createServer((client) => {
    if (sw.rude) return void client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      live.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        live.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  sw.port = (server.address() as AddressInfo).port;
  sw.dropAll = () => live.forEach((s) => s.destroy());
  sw.close = () => {
    sw.dropAll();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return sw;
}

let server: MiniServer;
before(async () => {
  server = await startMiniServer();
});
after(() => server.close());

async function connected(t: TestContext, stableAfterMs: number): Promise<{ session: Session; clock: FakeClock; sw: Switch; waits: Waiting[] }> {
  const clock = new FakeClock();
  const sw = await startSwitch(server.port);
  const host = server.resolvedHost(sw.port);
  const overrides: Partial<SessionOptions> = {
    backoff: { initialMs: 100, maxMs: 10_000, factor: 4, minMs: 10 },
    connectTimeoutMs: 3000,
    stableAfterMs,
  };
  const session = new Session(host, sessionOptionsFor(host, overrides), { prompter: noPrompter, logger: nullLogger, random: () => 1, clock });
  t.after(async () => {
    session.dispose();
    await sw.close();
  });
  const waits: Waiting[] = [];
  session.onDidChangeState((s) => {
    if (s.kind === 'waiting') waits.push(s);
  });
  await within(session.start(), 5000, 'the first connection');
  return { session, clock, sw, waits };
}

/**
 * Drops the connection while the server is rude; lets it back in after `failures` backoff
 * delays. Each attempt is real I/O; the session's time moves to its next timer only once it
 * waits again.
 */
async function outage(session: Session, clock: FakeClock, sw: Switch, waits: Waiting[], failures: number): Promise<number[]> {
  const from = waits.length;
  sw.rude = true;
  sw.dropAll();
  // Attempt 1 follows the short reconnect jitter; attempts from 2 on follow backoff delays.
  for (let attempt = 1; ; attempt++) {
    await until(`the wait before attempt ${attempt}`, () => {
      const s = session.state;
      return s.kind === 'waiting' && s.attempt === attempt;
    });
    if (attempt === failures + 1) break;
    await clock.advance(clock.nextIn!);
  }
  sw.rude = false;
  await clock.advance(clock.nextIn!);
  await until('the session to be restored', () => session.state.kind === 'connected');
  return waits
    .slice(from)
    .filter((w) => w.attempt >= 2)
    .map((w) => w.delayMs);
}

test('after a connection that lasted stableAfterMs, the backoff starts small again', async (t) => {
  const { session, clock, sw, waits } = await connected(t, 300);
  assert.deepEqual(await outage(session, clock, sw, waits, 2), [100, 400], 'the backoff grows while the server drops attempts');
  await clock.advance(300); // connected for stableAfterMs
  assert.deepEqual(await outage(session, clock, sw, waits, 1), [100], 'the backoff was reset by the stable connection');
});

test('a connection shorter than stableAfterMs does not reset the backoff', async (t) => {
  const { session, clock, sw, waits } = await connected(t, 300);
  assert.deepEqual(await outage(session, clock, sw, waits, 2), [100, 400]);
  await clock.advance(299); // connected for just under stableAfterMs
  assert.deepEqual(await outage(session, clock, sw, waits, 1), [1600], 'a flapping connection keeps backing off');
});
