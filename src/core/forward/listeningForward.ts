import { createServer, type Server, type Socket } from 'node:net';
import type { Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import type { KeeperLink } from '../keeper/keeperLink';
import type { KeeperStream } from '../keeper/stream';
import type { Session } from '../session/session';
import type { ChannelCarrier } from './channelPipe';
import { pipeChannel } from './channelPipe';
import { keeperToUse, KeptConnections, type KeeperSource } from './keptConnections';
import { sessionEndedReason } from './sessionEnded';
import { emptyCounters, sameForwardState, type Forward, type ForwardCounters, type ForwardKind, type ForwardState } from './types';
import { formatHostPort } from '../base/hostPort';
import type { ClientChannel } from 'ssh2';

export interface ListenSpec {
  bindAddress?: string;
  bindPort: number;
}

/**
 * What -L and -D share: a local listening socket that is bound once and stays bound
 * across reconnects, a state that follows the session, per-forward counters, and a
 * clear error of its own when the port is taken. Subclasses decide what to do with each
 * accepted socket (`serve`), which arrives paused.
 */
export abstract class ListeningForward implements Forward {
  abstract readonly kind: ForwardKind;
  abstract readonly label: string;
  abstract readonly id: string;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stateValue: ForwardState = { kind: 'starting' };
  private readonly stateEmitter = new Emitter<ForwardState>();
  readonly onDidChangeState: Event<ForwardState> = this.stateEmitter.event;
  readonly counters: ForwardCounters = emptyCounters();
  private readonly countersEmitter = new Emitter<ForwardCounters>();
  readonly onDidChangeCounters: Event<ForwardCounters> = this.countersEmitter.event;
  private boundPort: number | undefined;
  private readonly sessionSub: Disposable;
  private disposed = false;
  /** The keeper that carried the last connection, if any: the forward is "kept" while it is usable. */
  private keeperInUse: KeeperLink | undefined;
  private readonly keptConnections = new KeptConnections(() => {
    this.counters.carriedConnections = this.keptConnections.carried;
    this.countersEmitter.fire(this.counters);
  });

  constructor(
    private readonly listenSpec: ListenSpec,
    protected readonly session: Session,
    protected readonly logger: Logger,
    private readonly keeper?: KeeperSource,
  ) {
    this.sessionSub = session.onDidChangeState((s) => {
      if (this.stateValue.kind === 'failed' || this.stateValue.kind === 'stopped' || !this.server) return;
      if (s.kind === 'connected') this.setState({ kind: 'active' });
      else if (s.kind === 'lost' || s.kind === 'waiting') this.setState({ kind: 'waiting', reason: 'waiting for the session to reconnect' });
      else if (s.kind === 'failed' || s.kind === 'closed') this.setState({ kind: 'waiting', reason: sessionEndedReason(s) });
    });
  }

  /** Handles one accepted (paused) client; `isClosed` turns true when it goes away. */
  protected abstract serve(socket: Socket, isClosed: () => boolean): Promise<void>;

  get state(): ForwardState {
    return this.stateValue;
  }

  /** The local port actually bound (differs from the spec when that was 0). */
  get port(): number | undefined {
    return this.boundPort;
  }

  get address(): string | undefined {
    if (this.boundPort === undefined) return undefined;
    const b = this.listenSpec.bindAddress;
    const host = b && b !== '*' ? b : '127.0.0.1';
    return formatHostPort(host, this.boundPort);
  }

  start(): Promise<void> {
    return this.listen();
  }

  protected setState(next: ForwardState): void {
    if (sameForwardState(this.stateValue, next)) return;
    this.stateValue = next;
    this.stateEmitter.fire(next);
  }

  get kept(): boolean {
    const k = this.keeperInUse?.state.kind;
    return k === 'attached' || k === 'detached';
  }

  /**
   * The session keeper to carry a new client's connection, or undefined for a plain channel
   * (no keeper configured, not available on this host, no answer yet in time).
   */
  protected async keeperForClient(): Promise<KeeperLink | undefined> {
    // A session that failed or closed does not come back by itself: the plain path refuses the
    // client at once with the reason, where a keeper stream would wait for a connection.
    const ended = () => this.session.state.kind === 'failed' || this.session.state.kind === 'closed';
    if (ended()) return undefined;
    // A new client is a user action now (a quiet path is probed, a pending backoff skipped),
    // once, whichever carrier it gets: the keeper may still be starting (over a path that just
    // died), and the person must not wait out its start before the path is probed (`checking`
    // about a second after the connection, not 14 s). The plain path's openHeldChannel waits
    // for a usable connection itself.
    if (this.keeper) void this.session.whenUsable({ userAction: true, probeAlongside: true, timeoutMs: 1 }).catch(() => undefined);
    const link = await keeperToUse(this.keeper);
    if (ended()) return undefined;
    if (link && link !== this.keeperInUse) {
      this.keeperInUse = link;
      this.logger.info(`${this.label}: connections ride the session keeper (kept through outages)`);
    }
    return link;
  }

  /**
   * Says why a client was refused. While the session has failed (or is closed) the reason is
   * the session's own, already said once when it failed and shown in this forward's state:
   * repeating it per client would flood the log (a browser opens many), so only at debug.
   */
  protected logRefusal(message: string): void {
    const kind = this.session.state.kind;
    if (kind === 'failed' || kind === 'closed') this.logger.debug(message);
    else this.logger.warn(message);
  }

  /**
   * Carries `socket` on a keeper stream: bytes flow as soon as the keeper has the stream (the
   * client was a user action already, in keeperForClient).
   */
  protected pipeKept(link: KeeperLink, socket: Socket, stream: KeeperStream, what: string): void {
    this.keptConnections.add(link, socket, stream, this.pipeCounters(), (end) => {
      if (end.kind === 'reset' && end.reason !== 'client-closed') this.logger.warn(`${this.label}: ${what}: ${end.message || end.reason}`);
    });
  }

  /** Carries `socket` on a plain SSH channel: cut (RST) if the connection dies. */
  protected pipePlain(socket: Socket, channel: ClientChannel, carrier: ChannelCarrier): void {
    pipeChannel(socket, channel, this.pipeCounters(), carrier);
  }

  /** Counts bytes and notes user activity for a piped connection. */
  private pipeCounters() {
    return {
      fromSocket: (n: number) => {
        this.counters.bytesOut += n;
        this.session.noteActivity();
      },
      fromChannel: (n: number) => {
        this.counters.bytesIn += n;
      },
    };
  }

  /** Binds the listening socket. A port in use fails this forward only, with a clear reason. */
  listen(): Promise<void> {
    const { bindAddress, bindPort } = this.listenSpec;
    // Loopback unless asked otherwise, as ssh without GatewayPorts; '*' means every interface.
    const host = bindAddress === '*' ? undefined : (bindAddress ?? '127.0.0.1');
    const shown = host ?? '*';
    return new Promise<void>((resolve, reject) => {
      // allowHalfOpen: a client's EOF goes on as the channel's EOF while the answer still comes back.
      const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.accept(socket));
      const onListenError = (err: NodeJS.ErrnoException) => {
        const reason =
          err.code === 'EADDRINUSE'
            ? `local port ${shown}:${bindPort} is already in use; pick another port or stop the program using it`
            : err.code === 'EACCES'
              ? `no permission to listen on ${shown}:${bindPort} (ports below 1024 need privileges)`
              : `cannot listen on ${shown}:${bindPort}: ${err.message}`;
        this.setState({ kind: 'failed', reason });
        reject(new Error(reason));
      };
      server.once('error', onListenError);
      server.listen(bindPort, host, () => {
        // Only binding can fail the forward; a later server error is logged (below).
        server.removeListener('error', onListenError);
        if (this.disposed) {
          server.close();
          reject(new Error(`${this.label} was stopped while starting`));
          return;
        }
        this.server = server;
        const addr = server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : bindPort;
        server.on('error', (err) => this.logger.warn(`${this.label}: ${err.message}`));
        this.logger.info(`${this.label}: listening on ${shown}:${this.boundPort}`);
        this.setState(this.session.state.kind === 'connected' ? { kind: 'active' } : { kind: 'waiting', reason: 'waiting for the session' });
        // Start the keeper now rather than on the first client, which would wait for it.
        if (this.keeper) void keeperToUse(this.keeper).then((link) => (this.keeperInUse ??= link));
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    this.counters.openConnections++;
    this.counters.totalConnections++;
    this.countersEmitter.fire(this.counters);
    let closed = false;
    socket.on('error', () => undefined);
    socket.once('close', () => {
      closed = true;
      this.sockets.delete(socket);
      this.counters.openConnections--;
      this.countersEmitter.fire(this.counters);
    });
    this.serve(socket, () => closed).catch((err) => {
      this.logger.warn(`${this.label}: ${(err as Error).message}`);
      socket.destroy();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.sessionSub.dispose();
    this.server?.close();
    this.server = undefined;
    this.keptConnections.dispose();
    for (const s of this.sockets) s.destroy();
    this.setState({ kind: 'stopped' });
    this.stateEmitter.dispose();
    this.countersEmitter.dispose();
  }
}
