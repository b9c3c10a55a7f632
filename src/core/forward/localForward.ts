import { createServer, type Server, type Socket } from 'node:net';
import type { Client, ClientChannel } from 'ssh2';
import type { Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import { formatForwardSpec } from '../config/forwardSpec';
import type { ForwardSpec } from '../config/types';
import type { Session } from '../session/session';
import type { Forward, ForwardCounters, ForwardState } from './types';

export interface LocalForwardOptions {
  /** How long a client that connects during an outage is held before it is closed. */
  holdMs: number;
  /** Deadline for the direct-tcpip channel open once the session is up. */
  channelOpenMs: number;
}

export const defaultLocalForwardOptions: LocalForwardOptions = { holdMs: 60_000, channelOpenMs: 10_000 };

/**
 * ssh -L. The listening socket is bound once and stays bound across reconnects: a client
 * that connects during an outage is held (paused, up to holdMs) and served when the
 * session is back. Each connection is a user action, so a quiet session is probed first
 * and a dead one is found in about a second instead of interval x count.
 */
export class LocalForward implements Forward {
  readonly kind = 'local' as const;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stateValue: ForwardState = { kind: 'starting' };
  private readonly stateEmitter = new Emitter<ForwardState>();
  readonly onDidChangeState: Event<ForwardState> = this.stateEmitter.event;
  readonly counters: ForwardCounters = { openConnections: 0, totalConnections: 0, bytesIn: 0, bytesOut: 0 };
  private boundPort: number | undefined;
  private readonly sessionSub: Disposable;

  constructor(
    readonly spec: ForwardSpec,
    private readonly session: Session,
    private readonly logger: Logger,
    private readonly options: LocalForwardOptions = defaultLocalForwardOptions,
  ) {
    this.sessionSub = session.onDidChangeState((s) => {
      if (this.stateValue.kind === 'failed' || this.stateValue.kind === 'stopped' || !this.server) return;
      if (s.kind === 'connected') this.setState({ kind: 'active' });
      else if (s.kind === 'lost' || s.kind === 'waiting') this.setState({ kind: 'waiting', reason: 'waiting for the session to reconnect' });
    });
  }

  get state(): ForwardState {
    return this.stateValue;
  }

  /** The local port actually bound (differs from spec.bindPort when that was 0). */
  get port(): number | undefined {
    return this.boundPort;
  }

  get label(): string {
    return `-L ${formatForwardSpec(this.spec)}`;
  }

  get id(): string {
    return `L ${formatForwardSpec(this.spec)}`;
  }

  get address(): string | undefined {
    if (this.boundPort === undefined) return undefined;
    const host = this.spec.bindAddress && this.spec.bindAddress !== '*' ? this.spec.bindAddress : '127.0.0.1';
    return host.includes(':') ? `[${host}]:${this.boundPort}` : `${host}:${this.boundPort}`;
  }

  start(): Promise<void> {
    return this.listen();
  }

  private setState(next: ForwardState): void {
    const prev = this.stateValue;
    if (prev.kind === next.kind && (prev as { reason?: string }).reason === (next as { reason?: string }).reason) return;
    this.stateValue = next;
    this.stateEmitter.fire(next);
  }

  /** Binds the listening socket. A port in use fails this forward only, with a clear reason. */
  listen(): Promise<void> {
    // Loopback unless asked otherwise, as ssh without GatewayPorts; '*' means every interface.
    const host = this.spec.bindAddress === '*' ? undefined : this.spec.bindAddress ?? '127.0.0.1';
    const shown = host ?? '*';
    return new Promise<void>((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
      server.once('error', (err: NodeJS.ErrnoException) => {
        const reason =
          err.code === 'EADDRINUSE'
            ? `local port ${shown}:${this.spec.bindPort} is already in use; pick another port or stop the program using it`
            : err.code === 'EACCES'
              ? `no permission to listen on ${shown}:${this.spec.bindPort} (ports below 1024 need privileges)`
              : `cannot listen on ${shown}:${this.spec.bindPort}: ${err.message}`;
        this.setState({ kind: 'failed', reason });
        reject(new Error(reason));
      });
      server.listen(this.spec.bindPort, host, () => {
        this.server = server;
        const addr = server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.spec.bindPort;
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
    void this.bridge(socket, () => closed);
  }

  private async bridge(socket: Socket, isClosed: () => boolean): Promise<void> {
    const deadline = Date.now() + this.options.holdMs;
    let lastError = '';
    while (!isClosed() && Date.now() < deadline) {
      let channel: ClientChannel;
      let client: Client;
      try {
        client = await this.session.whenUsable({ userAction: true, timeoutMs: deadline - Date.now() });
      } catch (err) {
        lastError = (err as Error).message;
        if ((err as { fatal?: boolean }).fatal) break;
        continue;
      }
      try {
        channel = await this.openChannel(client, socket);
      } catch (err) {
        lastError = (err as Error).message;
        // Refused by a live server (nothing listens there): retrying will not help. If the
        // session dropped meanwhile, try again on the next connection while time is left.
        if (this.session.client === client) break;
        continue;
      }
      if (isClosed()) {
        channel.close();
        return;
      }
      this.pipe(socket, channel);
      return;
    }
    if (!isClosed()) {
      this.logger.warn(`${this.label}: closing a client: ${lastError || 'the session did not come back in time'}`);
      socket.destroy();
    }
  }

  private openChannel(client: Client, socket: Socket): Promise<ClientChannel> {
    return new Promise<ClientChannel>((resolve, reject) => {
      let gaveUp = false;
      const giveUp = (why: string) => {
        if (gaveUp) return;
        gaveUp = true;
        clearTimeout(timer);
        retired.dispose();
        reject(new Error(why));
      };
      const timer = setTimeout(() => giveUp(`opening a channel to ${this.spec.host}:${this.spec.hostPort} timed out`), this.options.channelOpenMs);
      // A demand probe may find the path dead while the open is pending: stop waiting for it.
      const retired = this.session.onDidRetire(client, () => giveUp('the session was lost while opening the channel'));
      client.forwardOut(socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, this.spec.host, this.spec.hostPort, (err, channel) => {
        clearTimeout(timer);
        retired.dispose();
        if (gaveUp) {
          channel?.close();
          return;
        }
        gaveUp = true;
        if (err) reject(new Error(`the server could not connect to ${this.spec.host}:${this.spec.hostPort}: ${err.message}`));
        else resolve(channel);
      });
    });
  }

  private pipe(socket: Socket, channel: ClientChannel): void {
    socket.on('data', (d: Buffer) => {
      this.counters.bytesOut += d.length;
      // A request on a kept-alive connection is a user action too.
      this.session.noteActivity();
    });
    channel.on('data', (d: Buffer) => {
      this.counters.bytesIn += d.length;
    });
    socket.pipe(channel).pipe(socket);
    const end = () => {
      socket.destroy();
      channel.close();
    };
    channel.once('close', end);
    socket.once('close', end);
    channel.on('error', end);
    socket.resume();
  }

  dispose(): void {
    this.sessionSub.dispose();
    this.server?.close();
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.setState({ kind: 'stopped' });
    this.stateEmitter.dispose();
  }
}
