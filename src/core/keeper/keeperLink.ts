import { DisposableStore, toDisposable, type Disposable } from '../base/disposable';
import { Deferred } from '../base/deferred';
import { Emitter, type Event } from '../base/event';
import { nullLogger, type Logger } from '../base/logger';
import type { Connection } from '../session/connection';
import type { Session } from '../session/session';
import { KeeperError } from './errors';
import { newKeeperSecret, startKeeper, type KeeperLocation } from './installer';
import { KeeperMux } from './mux';
import type { KeeperStream } from './stream';
import { openKeeperTransport, type KeeperTransportMode } from './transport';

export interface KeeperLinkOptions {
  /** The text of keeper/keeper.py (the bundle embeds it; tests read the file). */
  program: string;
  /** Names the keeper on the server; the same name and secret find the same keeper again (after a reload). */
  name: string;
  /** Kept by the caller (SecretStorage in VS Code) to re-attach after a reload; default: a new one. */
  secret?: string;
  /** This client's session at the keeper; keep it to re-attach after a reload. Default: random. */
  sessionId?: string;
  /** Pty streams of this session from before a reload, to take back (with sessionId). */
  adopt?: readonly number[];
  /** The keeper exits after this long with no client attached; default a day. */
  idleSeconds?: number;
  /** Replay bound per stream and direction, both sides; default 8 MiB. */
  streamBound?: number;
  transport?: KeeperTransportMode;
  /** Directory for the keeper's files on the server (tests); default $XDG_RUNTIME_DIR or ~/.cache. */
  dir?: string;
  /** Interpreter on the server; default python3. */
  python?: string;
  /** Deadline for starting the keeper and for its handshake, per connection. */
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * What the link knows about the keeper:
 * - `pending`: not decided yet (no connection since the link was made);
 * - `attached`: streams flow;
 * - `detached`: the keeper runs (as far as we know) but the path is down; streams wait;
 * - `unavailable`: no keeper on this host (no python3, refused, turned off): shells fall back.
 */
export type KeeperLinkState =
  | { readonly kind: 'pending' }
  | { readonly kind: 'attached'; readonly via: 'streamlocal' | 'relay'; readonly python: string }
  | { readonly kind: 'detached'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** Failures that another connection would not fix: stop trying and fall back. */
const PERMANENT: ReadonlySet<string> = new Set(['no-python', 'start-failed', 'peer-uid', 'version']);

/**
 * The session's tie to its keeper: on every connection it finds the keeper (starting it when
 * it is not running) and attaches the mux, so every keeper stream resumes where it stopped.
 * The transport lives in the connection's scope: when the session declares the path lost,
 * the mux detaches at once and its streams hold their bytes for the next connection.
 */
export class KeeperLink implements Disposable {
  readonly mux: KeeperMux;
  readonly secret: string;
  private name: string;
  private location: KeeperLocation | undefined;
  private stateValue: KeeperLinkState = { kind: 'pending' };
  private readonly decided = new Deferred<boolean>();
  private readonly stateEmitter = new Emitter<KeeperLinkState>();
  readonly onDidChangeState: Event<KeeperLinkState> = this.stateEmitter.event;
  private readonly disposables = new DisposableStore();
  private readonly logger: Logger;
  private attaching: Connection | undefined;
  private disposed = false;
  private readonly adopted = new Map<number, KeeperStream>();

  constructor(
    private readonly session: Session,
    private readonly options: KeeperLinkOptions,
  ) {
    this.logger = options.logger ?? nullLogger;
    this.secret = options.secret ?? newKeeperSecret();
    this.name = options.name;
    this.mux = this.disposables.add(
      new KeeperMux({
        secret: this.secret,
        sessionId: options.sessionId,
        logger: this.logger,
        streamBound: options.streamBound,
        handshakeTimeoutMs: options.timeoutMs,
      }),
    );
    for (const id of options.adopt ?? []) this.adopted.set(id, this.mux.adopt(id, { kind: 'pty', cols: 80, rows: 24 }));
    this.mux.onDidDetach(({ error }) => {
      if (this.stateValue.kind === 'attached') this.setState({ kind: 'detached', reason: error.message });
    }, this.disposables);
    session.onDidConnect((conn) => void this.attachOn(conn), this.disposables);
    const current = session.connection;
    if (current) void this.attachOn(current);
  }

  get state(): KeeperLinkState {
    return this.stateValue;
  }

  get sessionId(): string {
    return this.mux.sessionId;
  }

  /** The keeper's socket on the server, once known: removing it ends the keeper (and its shells). */
  get socketPath(): string | undefined {
    return this.location?.socket;
  }

  /** Resolves once the first connection decided: true when the keeper is attached, false to fall back. */
  whenDecided(): Promise<boolean> {
    return this.decided.promise;
  }

  /** A stream from before a reload, handed to the terminal that shows it (once). */
  claimAdopted(id: number): KeeperStream | undefined {
    const s = this.adopted.get(id);
    this.adopted.delete(id);
    return s;
  }

  /** Ends the keeper and every shell it runs (an explicit Disconnect). Best effort: false when not attached. */
  async shutdown(timeoutMs = 5000): Promise<boolean> {
    if (this.stateValue.kind !== 'attached') return false;
    try {
      await this.mux.shutdown(timeoutMs);
      this.logger.info(`keeper ${this.name}: ended on request`);
      return true;
    } catch (err) {
      this.logger.warn(`keeper ${this.name}: could not end it: ${(err as Error).message}`);
      return false;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.decided.resolve(false);
    this.disposables.dispose();
    this.stateEmitter.dispose();
  }

  private setState(next: KeeperLinkState): void {
    this.stateValue = next;
    if (next.kind === 'attached') this.decided.resolve(true);
    if (next.kind === 'unavailable') this.decided.resolve(false);
    this.stateEmitter.fire(next);
  }

  private async attachOn(conn: Connection): Promise<void> {
    if (this.disposed || this.stateValue.kind === 'unavailable' || this.attaching === conn) return;
    this.attaching = conn;
    try {
      const via = await this.attachTo(conn);
      if (conn.isEnded || this.disposed) return;
      // The path ends: let go of the transport at once so the streams wait for the next one,
      // instead of writing into a channel of a connection already given up.
      conn.add(toDisposable(() => this.mux.detach(new KeeperError('transport-closed', 'the connection was lost'))));
      // The streams resume on any connection: a path in doubt is bridged, not torn down first.
      conn.preferMakeBeforeBreak();
      this.setState({ kind: 'attached', via, python: this.location?.python ?? '' });
    } catch (err) {
      if (this.disposed) return;
      const e = err instanceof KeeperError ? err : new KeeperError('transport-closed', (err as Error).message);
      if (conn.isEnded) {
        // The connection ended under the start or the attach (a drop, or a path given up in
        // doubt): whatever the exec said (an exit without status, no reply) is the path's
        // doing, not the keeper's. The next connection tries again.
        this.logger.info(`keeper on ${this.session.host.alias}: the connection ended while attaching (${e.message}); next connection tries again`);
      } else if (PERMANENT.has(e.reason)) {
        this.logger.warn(`keeper on ${this.session.host.alias}: not available: ${e.message}`);
        this.setState({ kind: 'unavailable', reason: e.message });
      } else if (!conn.isEnded && this.stateValue.kind === 'pending') {
        // The very first try failed for a reason that is not the path: do not leave shells waiting.
        this.logger.warn(`keeper on ${this.session.host.alias}: could not attach: ${e.message}`);
        this.setState({ kind: 'unavailable', reason: e.message });
      } else {
        this.logger.info(`keeper on ${this.session.host.alias}: attach failed (${e.reason}: ${e.message}); next connection tries again`);
      }
    } finally {
      if (this.attaching === conn) this.attaching = undefined;
    }
  }

  /** Attaches to the keeper we know, else starts (or finds) one and attaches to it. */
  private async attachTo(conn: Connection): Promise<'streamlocal' | 'relay'> {
    if (this.location) {
      try {
        return await this.attachAt(conn, this.location);
      } catch (err) {
        if (conn.isEnded) throw err;
        // Gone (idle exit, server reboot): start a new one below; its streams are new too.
        this.logger.info(`keeper on ${this.session.host.alias}: the known keeper did not answer (${(err as Error).message}); starting one`);
        this.location = undefined;
      }
    }
    for (let tries = 0; ; tries++) {
      const location = await startKeeper(conn.client, {
        program: this.options.program,
        name: this.name,
        secret: this.secret,
        idleSeconds: this.options.idleSeconds,
        streamBound: this.options.streamBound,
        dir: this.options.dir,
        python: this.options.python,
        timeoutMs: this.options.timeoutMs,
      });
      try {
        const via = await this.attachAt(conn, location);
        this.location = location;
        this.logger.info(
          `keeper on ${this.session.host.alias}: ${location.started ? 'started' : 'found running'} (pid ${location.pid}, python ${location.python}, via ${via})`,
        );
        return via;
      } catch (err) {
        // A keeper of this name runs with another secret (ours was forgotten): use a new name
        // rather than fight it; it exits by itself when idle.
        if (err instanceof KeeperError && err.reason === 'secret' && tries === 0) {
          this.name = `${this.options.name}-${newKeeperSecret().slice(0, 8)}`;
          continue;
        }
        throw err;
      }
    }
  }

  private async attachAt(conn: Connection, location: KeeperLocation): Promise<'streamlocal' | 'relay'> {
    const t = await openKeeperTransport(conn.client, location, this.options.transport ?? 'auto', this.options.timeoutMs ?? 10_000);
    if (conn.isEnded) {
      t.stream.destroy();
      throw new KeeperError('transport-closed', 'the connection ended while attaching');
    }
    await this.mux.attach(t.stream);
    return t.via;
  }
}
