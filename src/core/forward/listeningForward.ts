import { createServer, type Server, type Socket } from 'node:net';
import type { Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import type { Session } from '../session/session';
import { sessionEndedReason } from './sessionEnded';
import type { Forward, ForwardCounters, ForwardKind, ForwardState } from './types';
import { formatHostPort } from '../base/hostPort';

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
  readonly counters: ForwardCounters = { openConnections: 0, totalConnections: 0, bytesIn: 0, bytesOut: 0 };
  private boundPort: number | undefined;
  private readonly sessionSub: Disposable;
  private disposed = false;

  constructor(
    private readonly listenSpec: ListenSpec,
    protected readonly session: Session,
    protected readonly logger: Logger,
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
    const prev = this.stateValue;
    if (prev.kind === next.kind && (prev as { reason?: string }).reason === (next as { reason?: string }).reason) return;
    this.stateValue = next;
    this.stateEmitter.fire(next);
  }

  /** Counts bytes and notes user activity for a piped connection. */
  protected pipeCounters() {
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
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    this.counters.openConnections++;
    this.counters.totalConnections++;
    let closed = false;
    socket.on('error', () => undefined);
    socket.once('close', () => {
      closed = true;
      this.sockets.delete(socket);
      this.counters.openConnections--;
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
    for (const s of this.sockets) s.destroy();
    this.setState({ kind: 'stopped' });
    this.stateEmitter.dispose();
  }
}
