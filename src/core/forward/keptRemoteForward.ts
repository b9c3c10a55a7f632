import { connect as netConnect } from 'node:net';
import { DisposableStore } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import { formatHostPort } from '../base/hostPort';
import type { Logger } from '../base/logger';
import { disposableTimeout } from '../base/timers';
import { formatForwardSpec } from '../config/forwardSpec';
import type { ForwardSpec } from '../config/types';
import type { KeeperLink } from '../keeper/keeperLink';
import type { KeeperStream } from '../keeper/stream';
import type { Session } from '../session/session';
import { KeptConnections } from './keptConnections';
import { sessionEndedReason } from './sessionEnded';
import { emptyCounters, sameForwardState, type Forward, type ForwardCounters, type ForwardState } from './types';

export interface KeptRemoteForwardOptions {
  /** Deadline for connecting to spec.host:spec.hostPort on this side for one incoming connection. */
  localConnectTimeoutMs: number;
  /** Wait before listening again after the keeper lost the listener (a new keeper instance). */
  relistenMs: number;
}

export const defaultKeptRemoteForwardOptions: KeptRemoteForwardOptions = { localConnectTimeoutMs: 10_000, relistenMs: 1000 };

/** Bind addresses the keeper listens on for -R: loopback only (see `keeperBindFor`). */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * The address the keeper listens on for this -R spec, or undefined when sshd must decide.
 * The keeper runs as the user and can listen anywhere the user can, but sshd applies
 * GatewayPorts (default: loopback only, whatever the client asks) and the administrator's
 * forwarding rules: a non-loopback bind stays with sshd so that the keeper never listens
 * more widely than sshd would have.
 */
export function keeperBindFor(spec: ForwardSpec): string | undefined {
  const bind = spec.bindAddress;
  if (bind === undefined || bind === 'localhost') return '127.0.0.1';
  return LOOPBACK.has(bind) ? bind : undefined;
}

/**
 * ssh -R with the session keeper owning the port on the server. The listener never goes
 * stale: after a reconnect it is simply there. A connection that arrives on the server while
 * the path is down is accepted and held by the keeper (up to its bound), then carried to the
 * local target when the path is back; an open connection resumes byte-exact after an outage.
 * Port 0: the keeper picks the port once and keeps it for the life of the forward.
 */
export class KeptRemoteForward implements Forward {
  readonly kind = 'remote' as const;
  readonly kept = true;
  readonly counters: ForwardCounters = emptyCounters();
  private stateValue: ForwardState = { kind: 'starting' };
  private readonly stateEmitter = new Emitter<ForwardState>();
  readonly onDidChangeState: Event<ForwardState> = this.stateEmitter.event;
  private readonly countersEmitter = new Emitter<ForwardCounters>();
  readonly onDidChangeCounters: Event<ForwardCounters> = this.countersEmitter.event;
  private readonly addressEmitter = new Emitter<{ port: number; address: string }>();
  readonly onDidChangeAddress: Event<{ port: number; address: string }> = this.addressEmitter.event;
  /** The bind address as sent to the keeper (always loopback, see keeperBindFor). */
  readonly bindAddress: string;
  private listener: KeeperStream | undefined;
  private boundPort: number | undefined;
  private readonly store = new DisposableStore();
  private readonly connections = new KeptConnections(() => {
    this.counters.carriedConnections = this.connections.carried;
    this.countersEmitter.fire(this.counters);
  });
  private disposed = false;

  constructor(
    readonly spec: ForwardSpec,
    private readonly session: Session,
    private readonly link: KeeperLink,
    private readonly logger: Logger,
    private readonly options: KeptRemoteForwardOptions = defaultKeptRemoteForwardOptions,
  ) {
    this.bindAddress = keeperBindFor(spec) ?? '127.0.0.1';
  }

  get label(): string {
    return `-R ${formatForwardSpec(this.spec)}`;
  }

  get id(): string {
    return `R ${formatForwardSpec(this.spec)}`;
  }

  get state(): ForwardState {
    return this.stateValue;
  }

  get port(): number | undefined {
    return this.boundPort ?? (this.spec.bindPort || undefined);
  }

  get address(): string | undefined {
    const port = this.port;
    return port === undefined ? undefined : formatHostPort(this.spec.bindAddress ?? 'localhost', port);
  }

  /** Resolves once the keeper listens (or said why it cannot: read `state`), or at once while the keeper is not attached. */
  async start(): Promise<void> {
    if (this.disposed) throw new Error(`${this.label} was removed`);
    this.link.mux.onDidAccept(({ listener, stream }) => {
      if (listener && listener === this.listener) this.carry(stream);
    }, this.store);
    this.session.onDidChangeState(() => this.followSession(), this.store);
    const listening = this.listen();
    // As a plain -R: with the session down the forward is `waiting` and listens once it is back.
    if (this.link.mux.state === 'attached') await listening;
  }

  private followSession(): void {
    if (!this.listener || this.listener.state !== 'open') return;
    const s = this.session.state;
    if (s.kind === 'connected') this.setState({ kind: 'active' });
    else if (s.kind === 'failed' || s.kind === 'closed') this.setState({ kind: 'waiting', reason: sessionEndedReason(s) });
    else this.setState({ kind: 'waiting', reason: `the path is down; the keeper holds connections to ${this.address} until it is back` });
  }

  /** Asks the keeper to listen; resolves when it answered (listening, or refused with the reason in `state`). */
  private listen(): Promise<void> {
    this.setState({ kind: 'waiting', reason: 'asking the session keeper to listen' });
    const port = this.boundPort ?? this.spec.bindPort;
    const listener = this.link.mux.open({ kind: 'tcp-listen', bind: this.bindAddress, port });
    this.listener = listener;
    return new Promise<void>((resolve) => {
      listener.onDidOpen((meta) => {
        const bound = typeof meta.port === 'number' ? meta.port : port;
        const changed = bound !== this.boundPort;
        this.boundPort = bound;
        this.logger.info(`${this.label}: the session keeper listens on ${this.address} on the server`);
        if (changed) this.addressEmitter.fire({ port: bound, address: this.address ?? '' });
        this.followSession();
        resolve();
      }, this.store);
      listener.onDidReset((info) => {
        if (this.disposed) return resolve();
        if (listener.state === 'reset' && this.boundPort === undefined && info.reason === 'open-failed') {
          // Could not listen at all (port in use, no permission): the user must change something.
          this.setState({ kind: 'failed', reason: `the server cannot listen on ${this.bindAddress}:${port}: ${info.message}` });
          return resolve();
        }
        // The keeper lost the listener (a new keeper after a server reboot): listen again.
        this.logger.info(`${this.label}: the keeper's listener ended (${info.reason}: ${info.message}); listening again`);
        this.setState({ kind: 'waiting', reason: 'the session keeper lost the listener; listening again' });
        this.store.add(disposableTimeout(() => void this.listen(), this.options.relistenMs));
        resolve();
      }, this.store);
    });
  }

  /** A connection the keeper accepted on our port: connect it to the local target. */
  private carry(stream: KeeperStream): void {
    this.counters.openConnections++;
    this.counters.totalConnections++;
    this.countersEmitter.fire(this.counters);
    const peer = stream.params.kind === 'tcp-accepted' ? `${stream.params.peer[0]}:${stream.params.peer[1]}` : 'the server';
    const local = netConnect({ host: this.spec.host, port: this.spec.hostPort, allowHalfOpen: true });
    local.on('error', () => undefined);
    local.pause();
    const timer = setTimeout(() => local.destroy(new Error(`no answer within ${this.options.localConnectTimeoutMs} ms`)), this.options.localConnectTimeoutMs);
    let connected = false;
    local.once('close', () => {
      clearTimeout(timer);
      this.counters.openConnections--;
      this.countersEmitter.fire(this.counters);
      if (!connected) {
        this.logger.warn(`${this.label}: refusing a connection from ${peer}: cannot connect to ${formatHostPort(this.spec.host, this.spec.hostPort)}`);
        stream.reset('refused', `the local target ${formatHostPort(this.spec.host, this.spec.hostPort)} refused`);
      }
    });
    local.once('connect', () => {
      clearTimeout(timer);
      connected = true;
      local.setNoDelay(true);
      // The opener is on the server: bytes from the local target go to it (bytesOut).
      this.connections.add(this.link, local, stream, {
        fromSocket: (n) => {
          this.counters.bytesOut += n;
          this.session.noteActivity();
        },
        fromChannel: (n) => {
          this.counters.bytesIn += n;
        },
      });
    });
  }

  private setState(next: ForwardState): void {
    if (this.stateValue.kind === 'stopped') return;
    if (sameForwardState(this.stateValue, next)) return;
    this.stateValue = next;
    this.stateEmitter.fire(next);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.store.dispose();
    // The keeper closes the port; connections still open through it end with it.
    this.listener?.reset('removed', 'the forward was removed');
    this.connections.dispose();
    this.setState({ kind: 'stopped' });
    this.stateEmitter.dispose();
    this.countersEmitter.dispose();
    this.addressEmitter.dispose();
  }
}
