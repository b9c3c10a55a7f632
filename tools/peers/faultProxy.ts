import * as net from 'node:net';

/**
 * A userland TCP relay on loopback that can break the path the ways networks do, for unit tests
 * without root. Each accepted connection is relayed to target; bytes are moved by hand so they
 * can be held back or dropped.
 */
export interface FaultProxy {
  /** The loopback port to connect to (instead of the target's). */
  readonly port: number;
  /**
   * Stop moving bytes both ways; sockets stay open and nothing is signalled, as on a
   * blackholed path. Bytes wait (in socket buffers) and flow again on resume(), as TCP would
   * retransmit them. New connections still reach the target.
   */
  pause(): void;
  /** Undo pause() or blackhole(). Flows already forgotten (setIdleTimeout) stay dead. */
  resume(): void;
  /**
   * pause(), and new connections are accepted but never answered (not relayed) until resume().
   */
  blackhole(): void;
  /** Destroy every current connection, both sides, with a TCP RST. New ones work as before. */
  reset(): void;
  /**
   * Forget a flow after `ms` without traffic (0 = never), as a NAT does: from then on its bytes
   * are read and silently dropped both ways forever, and its FIN/RST are not passed on. Time
   * spent paused counts as silence.
   */
  setIdleTimeout(ms: number): void;
  /**
   * A router reboot: every current flow is forgotten at once (its bytes dropped both ways,
   * nothing signalled, as setIdleTimeout does after silence); new connections work at once.
   */
  forgetAll(): void;
  /** Connections accepted whose client side is still open. */
  connections(): number;
  /**
   * Sockets the proxy itself holds open (both sides of every relay). A forgotten flow keeps its
   * upstream open, as a NAT's far side never hears of it: a soak in the same process subtracts
   * these from its own fd count.
   */
  openSockets(): number;
  close(): Promise<void>;
}

interface Relay {
  client: net.Socket;
  upstream?: net.Socket;
  upstreamConnected: boolean;
  /** Client bytes received before the upstream connected. */
  queued: Buffer[];
  lastActivity: number;
  forgotten: boolean;
  clientBlocked: boolean; // client.write() asked us to wait for 'drain'
  upstreamBlocked: boolean;
  clientEnded: boolean;
  clientClosed: boolean;
  upstreamClosed: boolean;
}

export async function startFaultProxy(targetHost: string, targetPort: number): Promise<FaultProxy> {
  const relays = new Set<Relay>();
  let paused = false;
  let blackholed = false;
  let idleTimeoutMs = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const stopped = () => paused || blackholed;

  const updateFlow = (r: Relay) => {
    // A forgotten flow is drained and discarded, so its senders never block.
    const clientReads = r.forgotten || (!stopped() && !r.upstreamBlocked && (r.upstreamConnected || r.queued.length === 0));
    const upstreamReads = r.forgotten || (!stopped() && !r.clientBlocked);
    if (!r.clientClosed) {
      if (clientReads) r.client.resume();
      else r.client.pause();
    }
    if (r.upstream && !r.upstreamClosed) {
      if (upstreamReads) r.upstream.resume();
      else r.upstream.pause();
    }
  };

  const drop = (r: Relay) => {
    if (r.clientClosed && (r.upstreamClosed || !r.upstream)) relays.delete(r);
  };

  const rst = (s: net.Socket | undefined) => {
    if (!s || s.destroyed) return;
    try {
      s.resetAndDestroy();
    } catch {
      s.destroy();
    }
  };

  const connectUpstream = (r: Relay) => {
    const up = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true });
    r.upstream = up;
    up.setNoDelay(true);
    up.pause();
    up.on('connect', () => {
      r.upstreamConnected = true;
      if (!r.forgotten) {
        for (const b of r.queued) up.write(b);
        if (r.clientEnded) up.end();
      }
      r.queued = [];
      updateFlow(r);
    });
    up.on('data', (d: Buffer) => {
      if (r.forgotten || r.clientClosed) return;
      r.lastActivity = Date.now();
      if (!r.client.write(d)) {
        r.clientBlocked = true;
        updateFlow(r);
      }
    });
    up.on('drain', () => {
      r.upstreamBlocked = false;
      updateFlow(r);
    });
    up.on('end', () => {
      // A forgotten flow's FIN goes nowhere; just finish our own half so the socket is freed.
      if (r.forgotten) up.end();
      else if (!r.clientClosed) r.client.end();
    });
    up.on('error', () => undefined); // 'close' follows with hadError
    up.on('close', (hadError) => {
      r.upstreamClosed = true;
      if (!r.forgotten) {
        if (hadError) rst(r.client);
        else if (!r.clientClosed) r.client.end();
      }
      drop(r);
    });
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    if (closed) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const r: Relay = {
      client,
      upstreamConnected: false,
      queued: [],
      lastActivity: Date.now(),
      forgotten: false,
      clientBlocked: false,
      upstreamBlocked: false,
      clientEnded: false,
      clientClosed: false,
      upstreamClosed: false,
    };
    relays.add(r);
    client.on('data', (d: Buffer) => {
      if (r.forgotten) return;
      r.lastActivity = Date.now();
      if (!r.upstreamConnected) {
        r.queued.push(d);
        updateFlow(r);
        return;
      }
      if (!r.upstream!.write(d)) {
        r.upstreamBlocked = true;
        updateFlow(r);
      }
    });
    client.on('drain', () => {
      r.clientBlocked = false;
      updateFlow(r);
    });
    client.on('end', () => {
      r.clientEnded = true;
      if (r.forgotten) {
        client.end();
        return;
      }
      // Not yet connected: the connect handler passes the FIN on after the queued bytes.
      if (!r.forgotten && r.upstreamConnected && !r.upstreamClosed) r.upstream!.end();
    });
    client.on('error', () => undefined);
    client.on('close', (hadError) => {
      r.clientClosed = true;
      if (!r.forgotten && r.upstream) {
        if (hadError) rst(r.upstream);
        else if (r.upstreamConnected && !r.upstreamClosed) r.upstream.end();
      }
      drop(r);
    });
    // A blackholed path: the connection is accepted here but the target never hears of it.
    if (!blackholed) connectUpstream(r);
    updateFlow(r);
  });

  const forget = (r: Relay) => {
    r.forgotten = true;
    r.queued = [];
    updateFlow(r);
  };
  const checkIdle = () => {
    const now = Date.now();
    for (const r of relays) if (!r.forgotten && now - r.lastActivity >= idleTimeoutMs) forget(r);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('fault proxy has no address');

  return {
    port: addr.port,
    pause() {
      paused = true;
      for (const r of relays) updateFlow(r);
    },
    resume() {
      paused = false;
      blackholed = false;
      for (const r of relays) {
        if (!r.upstream && !r.clientClosed && !r.forgotten) connectUpstream(r);
        updateFlow(r);
      }
    },
    blackhole() {
      blackholed = true;
      for (const r of relays) updateFlow(r);
    },
    reset() {
      for (const r of [...relays]) {
        rst(r.client);
        rst(r.upstream);
        relays.delete(r);
      }
    },
    setIdleTimeout(ms: number) {
      idleTimeoutMs = Math.max(0, ms);
      if (idleTimer) clearInterval(idleTimer);
      idleTimer = undefined;
      if (idleTimeoutMs > 0) {
        // Silence is measured from now for flows that were already idle.
        const now = Date.now();
        for (const r of relays) r.lastActivity = now;
        idleTimer = setInterval(checkIdle, Math.max(5, Math.min(100, Math.floor(idleTimeoutMs / 5))));
        idleTimer.unref();
      }
    },
    forgetAll() {
      for (const r of relays) if (!r.forgotten) forget(r);
    },
    connections() {
      let n = 0;
      for (const r of relays) if (!r.clientClosed) n++;
      return n;
    },
    openSockets() {
      let n = 0;
      for (const r of relays) for (const s of [r.client, r.upstream]) if (s && !s.destroyed) n++;
      return n;
    },
    close() {
      closed = true;
      if (idleTimer) clearInterval(idleTimer);
      idleTimer = undefined;
      for (const r of relays) {
        r.client.destroy();
        r.upstream?.destroy();
      }
      relays.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
