import { connect as netConnect, type Socket } from 'node:net';
import type { AcceptConnection, ClientChannel, RejectConnection, TcpConnectionDetails } from 'ssh2';
import { Backoff, type BackoffOptions } from '../base/backoff';
import { Deferred } from '../base/deferred';
import { DisposableStore, toDisposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import { formatHostPort } from '../base/hostPort';
import { disposableTimeout } from '../base/timers';
import { ALL_INTERFACES, formatForwardSpec } from '../config/forwardSpec';
import { pipeChannel } from './channelPipe';
import type { ForwardSpec } from '../config/types';
import type { Connection } from '../session/connection';
import type { Session } from '../session/session';
import { describeRemoteBind } from './remoteBindText';
import { sessionEndedReason } from './sessionEnded';
import { describeReclaim, reclaimStaleListener, reclaimVerdict } from './staleListener';
import { emptyCounters, sameForwardState, type Forward, type ForwardCounters, type ForwardState } from './types';

export interface RemoteForwardOptions {
  /**
   * When the server refuses the port, find the sshd of an earlier (dead) connection of
   * the same user that still listens on it and end it (staleListener.ts). Off by default:
   * it kills a process on the server.
   */
  reclaimStale: boolean;
  /**
   * Delays between requests while the server refuses the port; keeps retrying at maxMs. A
   * request costs one round trip, so the default is a short fixed cadence: a port the server
   * frees by itself is taken again within about a second, not after a grown backoff.
   */
  retry: BackoffOptions;
  /** No reply to tcpip-forward for this long: probe the session (a dead path drops it). */
  replyProbeMs: number;
  /** Deadline for connecting to spec.host:spec.hostPort on this side for one incoming connection. */
  localConnectTimeoutMs: number;
  /** Deadline for the reclaim command. */
  reclaimTimeoutMs: number;
  /** How long a removed forward waits for the server to confirm cancel-tcpip-forward. */
  cancelTimeoutMs: number;
}

export const defaultRemoteForwardOptions: RemoteForwardOptions = {
  reclaimStale: false,
  retry: { initialMs: 1000, maxMs: 1000, factor: 1, minMs: 1000 },
  replyProbeMs: 5_000,
  localConnectTimeoutMs: 10_000,
  reclaimTimeoutMs: 15_000,
  cancelTimeoutMs: 10_000,
};

/**
 * The bind address as OpenSSH's ssh sends it (channel_rfwd_bind_host): none given means
 * "localhost" (loopback on the server), `*` means "" (every address family, RFC 4254).
 * sshd echoes this exact string back in each forwarded-tcpip open, and ssh2 matches on it.
 */
export function remoteBindAddress(spec: ForwardSpec): string {
  if (spec.bindAddress === undefined) return 'localhost';
  if (spec.bindAddress === ALL_INTERFACES || spec.bindAddress === '') return '';
  return spec.bindAddress;
}

/**
 * This forward on one connection. Its store lives inside the connection's scope, so it ends
 * with the connection; it may also end earlier, when the server confirms a cancel.
 */
interface Attachment {
  readonly conn: Connection;
  readonly store: DisposableStore;
  /** The port the server listens on for us on this client, once it said yes. */
  port: number | undefined;
  /** A tcpip-forward request is waiting for its reply. */
  requesting: boolean;
  /** Removed while attached: incoming connections are refused until the cancel is confirmed. */
  stopping: boolean;
  readonly sockets: Set<Socket>;
  /** Pending waits (a request's reply, a backoff sleep), ended with 'gone' when the client retires. */
  readonly waits: Set<() => void>;
}

/**
 * ssh -R. Requested again on every new connection of the session. After a silent drop the
 * server usually still holds the port for the dead connection and refuses the request:
 * the forward then says so (`waiting`) and retries with backoff for as long as the
 * session lives, or, with `reclaimStale`, ends that stale sshd and asks again at once.
 *
 * Incoming connections (forwarded-tcpip) are matched on the exact bind address string we
 * sent and the bound port, and each is connected to spec.host:spec.hostPort on this side;
 * a failed local connect rejects that channel only.
 *
 * With port 0 the server picks a port, reported in `address` and `onDidChangeAddress`.
 * After a reconnect the same port is asked for again so that remote users keep their
 * port; if the server refuses it, a fresh port is requested (the event fires again).
 */
export class RemoteForward implements Forward {
  readonly kind = 'remote' as const;
  private stateValue: ForwardState = { kind: 'starting' };
  private readonly stateEmitter = new Emitter<ForwardState>();
  readonly onDidChangeState: Event<ForwardState> = this.stateEmitter.event;
  private readonly addressEmitter = new Emitter<{ port: number; address: string }>();
  /** Fires when the server-side port becomes known or changes (port 0 specs). */
  readonly onDidChangeAddress: Event<{ port: number; address: string }> = this.addressEmitter.event;
  readonly counters: ForwardCounters = emptyCounters();
  private readonly countersEmitter = new Emitter<ForwardCounters>();
  readonly onDidChangeCounters: Event<ForwardCounters> = this.countersEmitter.event;
  /** sshd owns the port on the server: a drop cuts the open connections (see KeptRemoteForward). */
  readonly kept = false;
  readonly options: RemoteForwardOptions;
  /** The string sent in tcpip-forward and echoed back by the server. */
  readonly bindAddress: string;
  private readonly subscriptions = new DisposableStore();
  private attachment: Attachment | undefined;
  /** The last port the server gave us, kept across reconnects. */
  private lastPort: number | undefined;
  /** Ports we held on an earlier connection: a refusal of one of them means a stale listener. */
  private readonly heldBefore = new Set<number>();
  private started = false;
  private everAttached = false;
  private disposed = false;
  private firstResult: Deferred<void> | undefined;
  /** Ports whose reclaim cannot help on that connection, and why: it is not run again there. */
  private readonly reclaimUseless = new WeakMap<Connection, Map<number, string>>();

  constructor(
    readonly spec: ForwardSpec,
    private readonly session: Session,
    private readonly logger: Logger,
    options: Partial<RemoteForwardOptions> = {},
  ) {
    this.options = { ...defaultRemoteForwardOptions, ...options };
    this.bindAddress = remoteBindAddress(spec);
  }

  get state(): ForwardState {
    return this.stateValue;
  }

  get label(): string {
    return `-R ${formatForwardSpec(this.spec)}`;
  }

  get id(): string {
    return `R ${formatForwardSpec(this.spec)}`;
  }

  /** The port the server listens on (the spec's, or the one it chose for port 0). */
  get port(): number | undefined {
    return this.attachment?.port ?? this.lastPort ?? (this.spec.bindPort || undefined);
  }

  /** "localhost:PORT" (no bind address), "*:PORT" (all interfaces), else "ADDR:PORT" on the server. */
  get address(): string | undefined {
    const port = this.port;
    return port === undefined ? undefined : this.formatBind(port);
  }

  /**
   * Starts following the session. Resolves once the first request has an answer (bound,
   * or refused and now retrying: read `state`), or at once when the session is not
   * connected yet. Never rejects: a refused port is retried, not a dead end.
   */
  start(): Promise<void> {
    if (this.disposed) return Promise.reject(new Error(`${this.label} was removed`));
    if (!this.started) {
      this.started = true;
      this.session.onDidConnect((conn) => this.attach(conn), this.subscriptions);
      this.subscriptions.add(
        this.session.onDidChangeState((s) => {
          if (s.kind === 'lost' || s.kind === 'waiting' || s.kind === 'connecting') this.setState({ kind: 'waiting', reason: this.waitingForSession() });
          else if (s.kind === 'failed' || s.kind === 'closed') this.setState({ kind: 'waiting', reason: sessionEndedReason(s) });
        }),
      );
      const conn = this.session.connection;
      if (conn) {
        this.firstResult = new Deferred<void>();
        this.attach(conn);
      } else {
        this.setState({ kind: 'waiting', reason: this.waitingForSession() });
      }
    }
    return this.firstResult?.promise ?? Promise.resolve();
  }

  private waitingForSession(): string {
    return this.everAttached ? 'waiting for the session to reconnect' : 'waiting for the session';
  }

  private setState(next: ForwardState): void {
    if (this.stateValue.kind === 'stopped') return;
    if (sameForwardState(this.stateValue, next)) return;
    this.stateValue = next;
    this.stateEmitter.fire(next);
  }

  private attach(conn: Connection): void {
    if (this.disposed || this.attachment?.conn === conn || conn.isEnded) return;
    this.everAttached = true;
    this.attachment?.store.dispose();
    const a: Attachment = {
      conn,
      store: conn.add(new DisposableStore()),
      port: undefined,
      requesting: false,
      stopping: false,
      sockets: new Set(),
      waits: new Set(),
    };
    this.attachment = a;
    const client = conn.client;
    // Listening before the request goes out: sshd may open a channel right after its reply,
    // in the same read, before a promise continuation would run.
    const onTcp = (info: TcpConnectionDetails, accept: AcceptConnection<ClientChannel>, reject: RejectConnection) => this.onIncoming(a, info, accept, reject);
    client.on('tcp connection', onTcp);
    a.store.add(toDisposable(() => client.removeListener('tcp connection', onTcp)));
    // A connection that died cut its transfers: the local target gets a reset, as pipeChannel
    // gives it, not the FIN of a plain destroy(), which would look like a complete one (this
    // store is disposed with the connection, before ssh2 ends the channels).
    a.store.add(toDisposable(() => a.sockets.forEach((s) => (conn.isEnded && !s.destroyed ? s.resetAndDestroy() : s.destroy()))));
    a.store.add(toDisposable(() => [...a.waits].forEach((end) => end())));
    // Runs before the store is disposed with the connection (which ends the waits and sockets).
    conn.onDidEnd(() => {
      if (this.attachment === a) this.attachment = undefined;
      if (a.port !== undefined) this.heldBefore.add(a.port);
      this.setState({ kind: 'waiting', reason: this.waitingForSession() });
    }, a.store);
    this.setState({ kind: 'waiting', reason: 'asking the server to listen' });
    void this.requestLoop(a).finally(() => this.firstResult?.resolve());
  }

  private isLive(a: Attachment): boolean {
    return this.attachment === a && !a.store.isDisposed && !this.disposed;
  }

  /** Requests the port until the server says yes, for as long as this client is the session's. */
  private async requestLoop(a: Attachment): Promise<void> {
    const backoff = new Backoff(this.options.retry);
    // After a reclaim that freed the port, the next refusal waits: something else may keep taking it.
    let justReclaimed = false;
    for (;;) {
      if (!this.isLive(a)) return;
      // Port 0: ask for the port we had, so remote users keep theirs across reconnects.
      const port = this.spec.bindPort !== 0 ? this.spec.bindPort : (this.lastPort ?? 0);
      const result = await this.request(a, port);
      if (result === 'bound' || result === 'gone') return;
      // Refused.
      const useless = this.reclaimUseless.get(a.conn)?.get(port);
      let reclaimNote = useless ? `; ${useless}` : '';
      if (this.options.reclaimStale && port !== 0 && !justReclaimed && useless === undefined) {
        const freed = await this.reclaim(a, port);
        if (!this.isLive(a)) return;
        if (freed === true) {
          justReclaimed = true;
          continue;
        }
        if (typeof freed === 'string') reclaimNote = `; ${freed}`;
      }
      justReclaimed = false;
      if (this.spec.bindPort === 0 && port !== 0) {
        this.logger.info(`${this.label}: the server still holds port ${port}; asking for a new port instead`);
        this.lastPort = undefined;
        continue;
      }
      const delayMs = backoff.next();
      const stale = this.heldBefore.has(port);
      const reason = stale
        ? `the server still holds port ${port} from the previous connection; retrying${reclaimNote}`
        : `the server refused to listen on ${this.formatBind(port)} (in use there, or remote forwarding not allowed); retrying${reclaimNote}`;
      // Retries come every second or so: the log says it when the reason changes.
      const sameReason = this.stateValue.kind === 'waiting' && this.stateValue.reason === reason;
      this.setState({ kind: 'waiting', reason });
      const retryLine = `${this.label}: ${reason} in ${(delayMs / 1000).toFixed(1)} s`;
      if (sameReason) this.logger.debug(retryLine);
      else this.logger.info(retryLine);
      // start() answers with this first verdict; the retries go on behind it.
      this.firstResult?.resolve();
      if (!(await this.sleep(a, delayMs))) return;
    }
  }

  private formatBind(port: number): string {
    return formatHostPort(this.bindAddress === '' ? '*' : this.bindAddress, port);
  }

  /** One tcpip-forward request. 'gone' when the client retired (the next one asks again). */
  private request(a: Attachment, port: number): Promise<'bound' | 'refused' | 'gone'> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: 'bound' | 'refused' | 'gone') => {
        if (settled) return;
        settled = true;
        clearTimeout(probe);
        a.waits.delete(gone);
        resolve(r);
      };
      const gone = () => settle('gone');
      if (a.store.isDisposed) return settle('gone');
      a.waits.add(gone);
      // Replies come in order with keepalive replies (one FIFO in ssh2): no answer means a
      // quiet or dead path, which the session's probe finds; a dead client retires (gone).
      const probe = setTimeout(() => this.session.noteActivity(), this.options.replyProbeMs);
      a.requesting = true;
      try {
        a.conn.client.forwardIn(this.bindAddress, port, (err, boundPort) => {
          a.requesting = false;
          // Bookkeeping here, synchronously: a forwarded-tcpip open may follow in the same read.
          if (!err && (a.stopping || !this.isLive(a))) {
            this.cancel(a, boundPort);
            settle('gone');
            return;
          }
          if (err) {
            if (a.stopping) a.store.dispose();
            settle(this.isLive(a) ? 'refused' : 'gone');
            return;
          }
          this.bound(a, boundPort);
          settle('bound');
        });
      } catch (err) {
        // ssh2 throws when its socket is already closed; the session is about to notice.
        a.requesting = false;
        this.logger.debug(`${this.label}: ${(err as Error).message}`);
        settle('gone');
      }
    });
  }

  private bound(a: Attachment, port: number): void {
    a.port = port;
    const changed = this.lastPort !== port;
    this.lastPort = port;
    this.heldBefore.delete(port);
    this.logger.info(`${this.label}: ${describeRemoteBind(this.bindAddress, port)}`);
    this.setState({ kind: 'active' });
    if (changed) this.addressEmitter.fire({ port, address: this.address! });
  }

  /** true: the port is free now; a string: why not (for the state's reason). */
  private async reclaim(a: Attachment, port: number): Promise<true | string | undefined> {
    const held = this.heldBefore.has(port) ? `the server still holds port ${port} from the previous connection` : `the server refused port ${port}`;
    this.setState({ kind: 'waiting', reason: `${held}; looking for a stale connection process of ours that holds it (reclaimStale)` });
    try {
      const outcome = await reclaimStaleListener(a.conn.client, port, this.options.reclaimTimeoutMs);
      const line = describeReclaim(port, outcome);
      if (outcome.killed.length) this.logger.warn(`${this.label}: ${line}`);
      else this.logger.info(`${this.label}: ${line}`);
      const verdict = reclaimVerdict(outcome);
      if (verdict.kind === 'free') return true;
      if (verdict.kind === 'cannot-help') this.markReclaimUseless(a, port, verdict.why);
      return verdict.why;
    } catch (err) {
      if (!this.isLive(a)) return undefined;
      this.logger.warn(`${this.label}: reclaim of server port ${port} failed: ${(err as Error).message}`);
      const why = `reclaim failed (not tried again on this connection): ${(err as Error).message}`;
      this.markReclaimUseless(a, port, why);
      return why;
    }
  }

  private markReclaimUseless(a: Attachment, port: number, why: string): void {
    const ports = this.reclaimUseless.get(a.conn) ?? new Map<number, string>();
    ports.set(port, why);
    this.reclaimUseless.set(a.conn, ports);
  }

  /** Waits, owned by the attachment: false when it retired meanwhile. */
  private sleep(a: Attachment, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (a.store.isDisposed) return resolve(false);
      const gone = () => {
        clearTimeout(timer);
        a.waits.delete(gone);
        resolve(false);
      };
      const timer = setTimeout(() => {
        a.waits.delete(gone);
        resolve(this.isLive(a));
      }, ms);
      a.waits.add(gone);
    });
  }

  private onIncoming(a: Attachment, info: TcpConnectionDetails, accept: AcceptConnection<ClientChannel>, reject: RejectConnection): void {
    // Another forward's connection on the same client (ssh2 emits them all on the Client).
    if (a.port === undefined || info.destIP !== this.bindAddress || info.destPort !== a.port) return;
    const from = `${info.srcIP}:${info.srcPort}`;
    if (a.stopping || !this.isLive(a)) {
      safely(reject);
      return;
    }
    this.counters.openConnections++;
    this.counters.totalConnections++;
    this.countersEmitter.fire(this.counters);
    const local = netConnect({ host: this.spec.host, port: this.spec.hostPort, allowHalfOpen: true });
    a.sockets.add(local);
    let connected = false;
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      this.counters.openConnections--;
      this.countersEmitter.fire(this.counters);
    };
    const timer = setTimeout(() => local.destroy(new Error(`no answer within ${this.options.localConnectTimeoutMs} ms`)), this.options.localConnectTimeoutMs);
    local.once('error', (err) => {
      if (connected) return;
      clearTimeout(timer);
      this.logger.warn(`${this.label}: refusing a connection from ${from}: cannot connect to ${this.spec.host}:${this.spec.hostPort}: ${err.message}`);
      safely(reject);
    });
    local.once('close', () => {
      clearTimeout(timer);
      a.sockets.delete(local);
      uncount();
    });
    local.once('connect', () => {
      clearTimeout(timer);
      connected = true;
      if (a.stopping || !this.isLive(a)) {
        safely(reject);
        local.destroy();
        return;
      }
      let channel: ClientChannel;
      try {
        channel = accept();
      } catch (err) {
        this.logger.debug(`${this.label}: accepting a channel failed: ${(err as Error).message}`);
        local.destroy();
        return;
      }
      this.pipe(local, channel, a.conn);
    });
  }

  private pipe(local: Socket, channel: ClientChannel, conn: Connection): void {
    // The far side of an -R connection is the local target; the opener is on the server.
    pipeChannel(
      local,
      channel,
      {
        fromSocket: (n) => {
          this.counters.bytesIn += n;
          this.session.noteActivity();
        },
        fromChannel: (n) => {
          this.counters.bytesOut += n;
        },
      },
      conn,
    );
  }

  /** Tells the server to stop listening; the attachment's listener stays until it confirms. */
  private cancel(a: Attachment, port: number): void {
    a.stopping = true;
    a.sockets.forEach((s) => s.destroy());
    const finish = () => a.store.dispose();
    a.store.add(disposableTimeout(finish, this.options.cancelTimeoutMs));
    try {
      a.conn.client.unforwardIn(this.bindAddress, port, (err) => {
        if (err) this.logger.warn(`${this.label}: the server did not cancel port ${port}: ${err.message}`);
        else this.logger.info(`${this.label}: the server stopped listening on ${this.formatBind(port)}`);
        finish();
      });
    } catch {
      finish();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.subscriptions.dispose();
    const a = this.attachment;
    this.attachment = undefined;
    if (a) {
      if (a.port !== undefined && !a.conn.isEnded) this.cancel(a, a.port);
      // A pending request is cancelled when its reply comes (see request()).
      else if (a.requesting && !a.conn.isEnded) a.stopping = true;
      else a.store.dispose();
    }
    this.firstResult?.resolve();
    this.setState({ kind: 'stopped' });
    this.stateEmitter.dispose();
    this.addressEmitter.dispose();
    this.countersEmitter.dispose();
  }
}

/** ssh2's reject writes to the transport, which may be gone already. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // the connection is closing; the server drops the channel with it
  }
}
