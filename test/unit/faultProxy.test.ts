import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { within } from '../harness/bounded';

/** An echo server that counts the connections it saw. */
interface Echo {
  port: number;
  accepted: number;
  open: Set<net.Socket>;
  close(): Promise<void>;
}

function startEcho(): Promise<Echo> {
  const open = new Set<net.Socket>();
  const echo: Echo = { port: 0, accepted: 0, open, close: () => Promise.resolve() };
  const server = net.createServer((s) => {
    echo.accepted++;
    open.add(s);
    s.on('error', () => undefined);
    s.on('close', () => open.delete(s));
    s.pipe(s);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      echo.port = (server.address() as net.AddressInfo).port;
      echo.close = () => {
        for (const s of open) s.destroy();
        return new Promise((r) => server.close(() => r()));
      };
      resolve(echo);
    });
  });
}

/** A client that collects what it receives. */
class Client {
  readonly socket: net.Socket;
  received = '';
  error: NodeJS.ErrnoException | undefined;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => (this.received += d.toString()));
    socket.on('error', (e) => (this.error = e));
    socket.on('close', () => (this.closed = true));
  }

  static connect(port: number): Promise<Client> {
    const connected = new Promise<Client>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', reject);
    });
    return within(connected, 5000, `a TCP connection to 127.0.0.1:${port}`);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Resolves true when `text` has been received, false after `ms` without it. */
  waitFor(text: string, ms: number): Promise<boolean> {
    return waitUntil(() => this.received.includes(text), ms);
  }
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('faultProxy', () => {
  let echo: Echo;
  let proxy: FaultProxy;
  const clients: Client[] = [];
  const connect = async () => {
    const c = await Client.connect(proxy.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    echo = await startEcho();
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    await proxy?.close();
    await echo?.close();
  });

  // A fresh proxy per case, so one mode never leaks into the next.
  const fresh = async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await proxy?.close();
    proxy = await startFaultProxy('127.0.0.1', echo.port);
  };

  it('relays both ways and counts connections', async () => {
    await fresh();
    const c = await connect();
    c.send('hello');
    assert.ok(await c.waitFor('hello', 2000), 'echo through the proxy');
    assert.equal(proxy.connections(), 1);
    c.socket.end();
    assert.ok(await waitUntil(() => proxy.connections() === 0, 2000), 'closed connection no longer counted');
  });

  it('relays bulk data with backpressure intact', async () => {
    await fresh();
    const c = await connect();
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 64; i++) c.send(chunk); // 4 MiB
    assert.ok(await waitUntil(() => c.received.length === 64 * chunk.length, 10_000), `got ${c.received.length}`);
  });

  it('pause() holds bytes without closing anything; resume() delivers them', async () => {
    await fresh();
    const c = await connect();
    c.send('a');
    assert.ok(await c.waitFor('a', 2000));
    proxy.pause();
    c.send('b');
    assert.equal(await c.waitFor('b', 400), false, 'nothing passes while paused');
    assert.equal(c.closed, false);
    assert.equal(c.error, undefined);
    // A new connection during a pause reaches the target, but carries no bytes.
    const d = await connect();
    d.send('n');
    assert.equal(await d.waitFor('n', 300), false);
    proxy.resume();
    assert.ok(await c.waitFor('ab', 2000), 'held bytes arrive after resume');
    assert.ok(await d.waitFor('n', 2000));
  });

  it('blackhole() accepts new connections but never relays them until resume()', async () => {
    await fresh();
    const c = await connect();
    c.send('1');
    assert.ok(await c.waitFor('1', 2000));
    const before = echo.accepted;
    proxy.blackhole();
    const d = await connect(); // TCP-level accept still happens
    d.send('2');
    c.send('3');
    await sleep(400);
    assert.equal(echo.accepted, before, 'target never heard of the new connection');
    assert.equal(d.received, '');
    assert.equal(c.received, '1');
    assert.equal(proxy.connections(), 2);
    proxy.resume();
    assert.ok(await d.waitFor('2', 2000), 'blackholed connection served after resume');
    assert.ok(await c.waitFor('13', 2000));
    assert.equal(echo.accepted, before + 1);
  });

  it('reset() kills current connections with RST; new ones work', async () => {
    await fresh();
    const c = await connect();
    c.send('x');
    assert.ok(await c.waitFor('x', 2000));
    const serverSide = echo.open.size;
    proxy.reset();
    assert.ok(await waitUntil(() => c.closed, 2000), 'client socket closed');
    assert.equal(c.error?.code, 'ECONNRESET');
    assert.ok(await waitUntil(() => echo.open.size === serverSide - 1, 2000), 'target side closed too');
    assert.equal(proxy.connections(), 0);
    const d = await connect();
    d.send('y');
    assert.ok(await d.waitFor('y', 2000));
  });

  it('setIdleTimeout() forgets an idle flow forever, silently; busy flows and new ones live', async () => {
    await fresh();
    proxy.setIdleTimeout(300);
    const idle = await connect();
    const busy = await connect();
    idle.send('i');
    busy.send('b');
    assert.ok(await idle.waitFor('i', 2000));
    assert.ok(await busy.waitFor('b', 2000));
    // Keep one flow busy across the timeout.
    const ticker = setInterval(() => busy.send('.'), 50);
    try {
      await sleep(700);
      idle.send('lost');
      assert.equal(await idle.waitFor('lost', 600), false, 'bytes of a forgotten flow vanish');
      assert.equal(idle.closed, false, 'no FIN/RST either');
      assert.equal(idle.error, undefined);
      proxy.setIdleTimeout(0);
    } finally {
      clearInterval(ticker);
    }
    proxy.resume(); // does not revive a forgotten flow
    idle.send('still');
    assert.equal(await idle.waitFor('still', 300), false);
    busy.send('alive');
    assert.ok(await busy.waitFor('alive', 2000), 'busy flow survived');
    const fresh2 = await connect();
    fresh2.send('new');
    assert.ok(await fresh2.waitFor('new', 2000), 'new flows work');
    // The client hanging up is not passed on either: the target keeps its side.
    const openBefore = echo.open.size;
    assert.equal(proxy.connections(), 3);
    idle.socket.destroy();
    assert.ok(await waitUntil(() => proxy.connections() === 2, 2000), 'the proxy lets go of the closed client side');
    await sleep(200);
    assert.equal(echo.open.size, openBefore);
  });

  it('close() ends everything and frees the port', async () => {
    await fresh();
    const c = await connect();
    c.send('z');
    assert.ok(await c.waitFor('z', 2000));
    const port = proxy.port;
    await proxy.close();
    assert.ok(await waitUntil(() => c.closed, 2000));
    await assert.rejects(Client.connect(port), /ECONNREFUSED/);
    proxy = await startFaultProxy('127.0.0.1', echo.port); // for after()
  });
});
