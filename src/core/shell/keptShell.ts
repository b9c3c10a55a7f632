import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Deferred } from '../base/deferred';
import { DisposableStore } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import { nullLogger, type Logger } from '../base/logger';
import type { KeeperLink } from '../keeper/keeperLink';
import type { KeeperStream } from '../keeper/stream';
import type { StreamResetInfo } from '../keeper/errors';
import type { Session } from '../session/session';
import { describeState } from '../session/state';
import { HeldKeys } from './heldKeys';
import { checkEnvName } from './multiplexer';
import { RemoteShell, type CloseOptions, type DroppedInput, type RemoteShellDeps, type RemoteShellOptions } from './remoteShell';
import type { ShellState } from './shellState';

/** Who keeps this terminal's shell through an outage. */
export type ShellKeeping = 'pending' | 'keeper' | 'tmux' | 'none';

export interface HeldInput {
  /** Bytes held now, in total, waiting for the connection. */
  readonly bytes: number;
}

export interface DiscardedInput {
  readonly bytes: number;
  /** interrupt: Ctrl-C during the outage; new-shell: the kept shell is gone; limit: too much typed blind. */
  readonly why: 'interrupt' | 'new-shell' | 'limit';
}

export interface KeptShellDeps extends RemoteShellDeps {
  /** Keys held during an outage, at most; default 64 KiB (a paste, not a file). */
  holdLimit?: number;
  /** The keeper stream of this terminal from before a window reload (see KeeperLinkOptions.adopt). */
  adoptStreamId?: number;
}

/**
 * A terminal's shell that survives outages: with the session keeper it runs on a pty the
 * keeper owns on the server, so the shell, its output and every key go on through any
 * outage. Keys written before the loss was noticed are replayed by the keeper stream (kept
 * until acknowledged); keys typed while the path is known down are held here and delivered
 * in order on re-attach (Ctrl-C drops them), never into a different shell.
 *
 * Without a keeper (turned off, no python3 on the server) it is a RemoteShell: tmux reattach,
 * else a new shell, and `fallbackReason` says why.
 */
export class KeptShell {
  readonly id: string;
  private stateValue: ShellState = { kind: 'opening' };
  private readonly stateEmitter = new Emitter<ShellState>();
  readonly onDidChangeState: Event<ShellState> = this.stateEmitter.event;
  private readonly dataEmitter = new Emitter<string>();
  readonly onDidData: Event<string> = this.dataEmitter.event;
  private readonly dropEmitter = new Emitter<DroppedInput>();
  /** Keys refused (only without a keeper, or after the shell ended). */
  readonly onDidDropInput: Event<DroppedInput> = this.dropEmitter.event;
  private readonly holdEmitter = new Emitter<HeldInput>();
  /** Keys typed while the connection is down are held for the same shell. */
  readonly onDidHoldInput: Event<HeldInput> = this.holdEmitter.event;
  private readonly discardEmitter = new Emitter<DiscardedInput>();
  /** Held keys that will never be sent, and why. */
  readonly onDidDiscardInput: Event<DiscardedInput> = this.discardEmitter.event;
  private readonly fallbackEmitter = new Emitter<string>();
  /** The keeper is not used for this shell; the reason, once. */
  readonly onDidFallBack: Event<string> = this.fallbackEmitter.event;

  private readonly disposables = new DisposableStore();
  private streamStore: DisposableStore | undefined;
  private stream: KeeperStream | undefined;
  private inner: RemoteShell | undefined;
  private fallbackWhy: string | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private readonly held: HeldKeys;
  private generation = 0;
  /** The first stream was taken back from before a window reload: the same shell. */
  private restoredAfterReload = false;
  private started = false;
  private closing: Promise<void> | undefined;
  private cols: number;
  private rows: number;
  private readonly firstOpen = new Deferred<void>();
  private readonly logger: Logger;

  private link: KeeperLink | undefined;

  /** `keeper` may still be coming (its secret is read asynchronously); undefined: no keeper. */
  constructor(
    private readonly session: Session,
    private readonly keeper: KeeperLink | Promise<KeeperLink | undefined> | undefined,
    private readonly options: RemoteShellOptions,
    private readonly deps: KeptShellDeps = {},
  ) {
    for (const name of Object.keys(options.env ?? {})) checkEnvName(name);
    this.cols = options.cols;
    this.rows = options.rows;
    this.id = options.id ?? randomBytes(6).toString('hex');
    this.logger = deps.logger ?? nullLogger;
    this.held = new HeldKeys(deps.holdLimit ?? 64 * 1024);
    this.firstOpen.promise.catch(() => undefined);
  }

  get state(): ShellState {
    return this.inner?.state ?? this.stateValue;
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.cols, rows: this.rows };
  }

  /** What keeps this shell through an outage (decided at the first connection). */
  get keeping(): ShellKeeping {
    if (this.inner) return this.inner.remoteSessionName ? 'tmux' : this.inner.state.kind === 'opening' ? 'pending' : 'none';
    return this.stream ? 'keeper' : 'pending';
  }

  /** Why the keeper is not used for this shell, if it is not. */
  get fallbackReason(): string | undefined {
    return this.fallbackWhy;
  }

  /** The tmux session of a fallback shell (tests, cleanup). */
  get remoteSessionName(): string | undefined {
    return this.inner?.remoteSessionName;
  }

  /** The keeper stream carrying this shell (kept across a window reload). */
  get keeperStreamId(): number | undefined {
    return this.stream?.id;
  }

  /** The keeper's pid for the shell's pty, once open through the keeper. */
  get keeperPid(): number | undefined {
    const pid = this.stream?.meta.pid;
    return typeof pid === 'number' ? pid : undefined;
  }

  start(): Promise<void> {
    if (this.started || this.closing) return this.firstOpen.promise;
    this.started = true;
    this.session.onDidChangeState(() => this.onSessionState(), this.disposables);
    if (!this.session.connection) void this.session.start().catch(() => undefined);
    void Promise.resolve(this.keeper)
      .catch(() => undefined)
      .then(async (link) => {
        if (this.closing) return;
        if (!link) return this.fallBack(undefined);
        this.link = link;
        link.onDidChangeState(() => this.onLinkState(), this.disposables);
        const attached = await link.whenDecided();
        if (this.closing) return;
        if (!attached) return this.fallBack(link.state.kind === 'unavailable' ? link.state.reason : 'the session keeper could not be reached');
        // The keeper's ptys are its own: a server that allows no terminal (PermitTTY no) must
        // not get one through it. The plain path then fails with the server's own refusal.
        const permitted = await this.serverAllowsPty();
        if (this.closing) return;
        if (permitted === false) return this.fallBack(undefined);
        this.openStream();
      });
    return this.firstOpen.promise;
  }

  /**
   * Sends keys to the shell. While the connection is down (or the shell is still opening) they
   * are held and delivered in order once it is back; a Ctrl-C then drops what is held.
   */
  write(data: string): boolean {
    if (this.inner) return this.inner.write(data);
    const bytes = Buffer.byteLength(data, 'utf8');
    const s = this.stateValue;
    if (this.closing || s.kind === 'exited' || s.kind === 'failed') {
      if (bytes > 0 && !this.closing) this.dropEmitter.fire({ bytes, state: s });
      return false;
    }
    const stream = this.stream;
    if (s.kind === 'open' && stream && this.link?.state.kind === 'attached') {
      stream.write(data);
      // A key on a quiet path: probe it, so a dead one is found in about a second.
      this.session.noteActivity();
      return true;
    }
    this.hold(data, bytes);
    return true;
  }

  resize(cols: number, rows: number): void {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) throw new Error(`invalid terminal size ${cols}x${rows}`);
    this.cols = cols;
    this.rows = rows;
    if (this.inner) this.inner.resize(cols, rows);
    // The stream keeps the latest size and sends it after every attach.
    else this.stream?.resize(cols, rows);
  }

  /**
   * Ends the shell (the user closed the terminal): the keeper hangs it up, now or on the next
   * attach. `keepRemote` leaves it running on the keeper (or in tmux) instead.
   */
  close(opts: CloseOptions = {}): Promise<void> {
    this.closing ??= this.doClose(opts);
    return this.closing;
  }

  dispose(opts: CloseOptions = {}): void {
    void this.close(opts).catch(() => undefined);
  }

  private async doClose(opts: CloseOptions): Promise<void> {
    this.firstOpen.reject(new Error('the shell was closed'));
    this.disposables.dispose();
    const stream = this.stream;
    this.stream = undefined;
    this.streamStore?.dispose();
    if (stream && !opts.keepRemote && stream.state !== 'closed' && stream.state !== 'reset') stream.end();
    try {
      if (this.inner) await this.inner.close(opts);
    } finally {
      for (const e of [this.stateEmitter, this.dataEmitter, this.dropEmitter, this.holdEmitter, this.discardEmitter, this.fallbackEmitter]) e.dispose();
    }
  }

  private setState(next: ShellState): void {
    if (JSON.stringify(next) === JSON.stringify(this.stateValue)) return;
    this.stateValue = next;
    this.logger.debug(`shell ${this.id}: ${next.kind}${'reason' in next ? `: ${next.reason}` : ''}`);
    if (next.kind === 'open') this.firstOpen.resolve();
    else if (next.kind === 'failed') this.firstOpen.reject(new Error(next.reason));
    else if (next.kind === 'exited') this.firstOpen.reject(new Error(`the shell exited (code ${next.code ?? next.signal ?? 'unknown'}) before it was ready`));
    this.stateEmitter.fire(next);
  }

  private hold(data: string, bytes: number): void {
    const outcome = this.held.offer(data);
    if (outcome.kind === 'dropped') {
      if (outcome.why === 'limit') this.dropEmitter.fire({ bytes, state: this.stateValue });
      this.discardEmitter.fire({ bytes: outcome.bytes, why: outcome.why });
      return;
    }
    this.holdEmitter.fire({ bytes: outcome.bytes });
    // A user is waiting: skip a pending backoff (the session rate-limits kicks itself).
    void this.session.whenUsable({ userAction: true, timeoutMs: 1 }).catch(() => undefined);
  }

  private discardHeld(why: DiscardedInput['why']): void {
    const { bytes } = this.held.take();
    if (bytes > 0) this.discardEmitter.fire({ bytes, why });
  }

  private flushHeld(): void {
    const stream = this.stream;
    if (!stream || this.held.bytes === 0) return;
    for (const chunk of this.held.take().chunks) stream.write(chunk);
    this.session.noteActivity();
  }

  /** Asks sshd for a pty on a throwaway exec: false when it refuses, undefined when it cannot tell. */
  private serverAllowsPty(): Promise<boolean | undefined> {
    const client = this.session.connection?.client;
    if (!client) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      try {
        client.exec('exit 0', { pty: { term: 'dumb', cols: 80, rows: 24 } }, (err, channel) => {
          if (err) return resolve(/pseudo-terminal|pty/i.test(err.message) ? false : undefined);
          channel.on('close', () => resolve(true));
          channel.on('data', () => undefined);
          channel.stderr.on('data', () => undefined);
        });
      } catch {
        resolve(undefined);
      }
    });
  }

  /** Opens the shell's pty on the keeper: the first one, or a new one when the kept one is gone. */
  private openStream(): void {
    const link = this.link!;
    this.streamStore?.dispose();
    const store = (this.streamStore = new DisposableStore());
    const command = this.options.command;
    const adopted = this.deps.adoptStreamId === undefined || this.generation > 0 ? undefined : link.claimAdopted(this.deps.adoptStreamId);
    this.restoredAfterReload = !!adopted;
    adopted?.resize(this.cols, this.rows);
    const stream =
      adopted ??
      link.mux.open({
        kind: 'pty',
        term: this.options.term,
        cols: this.cols,
        rows: this.rows,
        ...(this.options.env ? { env: this.options.env } : {}),
        ...(command ? { argv: ['/bin/sh', '-c', command] } : {}),
      });
    this.stream = stream;
    stream.onDidOpen(() => this.onStreamOpen(stream), store);
    stream.onDidData((d) => this.dataEmitter.fire(this.decoder.write(d)), store);
    stream.onDidEnd((info) => {
      const signal = typeof info.signal === 'number' ? `signal ${info.signal}` : undefined;
      this.setState({ kind: 'exited', code: typeof info.exit === 'number' ? info.exit : null, ...(signal ? { signal } : {}) });
    }, store);
    stream.onDidReset((info) => this.onStreamReset(stream, info), store);
    adopted?.claim();
    // Taken back after a reload: the keeper may have answered before this terminal asked.
    if (stream.state === 'open') this.onStreamOpen(stream);
  }

  private onStreamOpen(stream: KeeperStream): void {
    if (stream !== this.stream || this.closing) return;
    this.generation++;
    this.setState({ kind: 'open', generation: this.generation, reattached: this.restoredAfterReload, multiplexer: 'keeper' });
    this.flushHeld();
  }

  private onStreamReset(stream: KeeperStream, info: StreamResetInfo): void {
    if (stream !== this.stream || this.closing) return;
    this.stream = undefined;
    if (this.stateValue.kind === 'exited') return;
    this.logger.warn(`shell ${this.id}: the kept shell is gone (${info.reason}: ${info.message}); opening a new one`);
    // Held keys were meant for the shell that is gone: never into a new one.
    this.discardHeld('new-shell');
    this.setState({ kind: 'suspended', reason: `the kept shell is gone (${info.message || info.reason})` });
    if (this.link?.state.kind === 'unavailable') this.fallBack(this.link.state.reason);
    else this.openStream();
  }

  private onLinkState(): void {
    const link = this.link!;
    const s = this.stateValue;
    if (link.state.kind === 'detached' && s.kind === 'open') {
      this.setState({ kind: 'suspended', reason: this.lossReason() });
    } else if (link.state.kind === 'attached' && s.kind === 'suspended' && this.stream?.state === 'open') {
      this.generation++;
      this.setState({ kind: 'open', generation: this.generation, reattached: true, multiplexer: 'keeper' });
      this.flushHeld();
    }
  }

  private onSessionState(): void {
    const s = this.session.state;
    if (this.inner || this.closing) return;
    if (this.stateValue.kind === 'open' && (s.kind === 'lost' || s.kind === 'waiting')) {
      this.setState({ kind: 'suspended', reason: this.lossReason() });
    } else if (s.kind === 'failed' && this.stateValue.kind !== 'exited') {
      this.setState({ kind: 'suspended', reason: `the session failed: ${s.error.message}` });
    }
  }

  private lossReason(): string {
    const s = this.session.state;
    if (s.kind === 'lost') return s.reason;
    if (s.kind === 'waiting') return s.lastError || 'reconnecting';
    return describeState(s);
  }

  /** No keeper for this shell: today's behaviour (tmux reattach, else a new shell). */
  private fallBack(reason: string | undefined): void {
    const inner = new RemoteShell(this.session, this.options, this.deps);
    this.inner = inner;
    this.disposables.add(inner.onDidData((d) => this.dataEmitter.fire(d)));
    this.disposables.add(inner.onDidDropInput((d) => this.dropEmitter.fire(d)));
    // tmux keeps keys through an outage too (held, replayed on reattach): same notes.
    this.disposables.add(inner.onDidHoldInput((h) => this.holdEmitter.fire(h)));
    this.disposables.add(inner.onDidDiscardInput((d) => this.discardEmitter.fire(d)));
    this.disposables.add(
      inner.onDidChangeState((s) => {
        if (s.kind === 'open') this.firstOpen.resolve();
        this.stateEmitter.fire(s);
      }),
    );
    if (reason !== undefined) {
      this.fallbackWhy = reason;
      this.fallbackEmitter.fire(reason);
    }
    // Keys typed while the keeper was being tried were meant for a kept shell: not for this one.
    this.discardHeld('new-shell');
    inner.start().then(
      () => this.firstOpen.resolve(),
      (err: Error) => this.firstOpen.reject(err),
    );
  }
}
