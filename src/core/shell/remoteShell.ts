import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { Client, ClientChannel, PseudoTtyOptions } from 'ssh2';
import { withDeadline } from '../base/deadline';
import { Deferred } from '../base/deferred';
import { DisposableStore, toDisposable, type Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import { disposableTimeout } from '../base/timers';
import { nullLogger, type Logger } from '../base/logger';
import type { Connection } from '../session/connection';
import type { Session } from '../session/session';
import { describeState } from '../session/state';
import { HeldKeys } from './heldKeys';
import type { DiscardedInput, HeldInput } from './keptShell';
import { checkEnvName, type Multiplexer } from './multiplexer';
import { closeQuietly, execCapture } from './remoteExec';
import type { ShellState } from './shellState';
import { Tmux } from './tmux';
import { UnconfirmedInput } from './unconfirmedInput';

export type { ShellState } from './shellState';

export interface RemoteShellOptions {
  /** $TERM for the pty. */
  term: string;
  cols: number;
  rows: number;
  /**
   * For the shell. Plain shells get them as SSH env requests, which sshd drops unless its
   * AcceptEnv allows the name; inside tmux they are set by the launch command and always arrive.
   */
  env?: Record<string, string>;
  /** Run the shell in a multiplexer (tmux) when the remote host has one, and reattach to it. */
  reattach: boolean;
  /** Stable id: names the remote multiplexer session. Default: random (no reattach across restarts). */
  id?: string;
  /** Run this instead of the login shell. */
  command?: string;
}

export interface RemoteShellDeps {
  logger?: Logger;
  /** Default: tmux with status bar off. */
  multiplexer?: Multiplexer;
  /** Deadline for opening the pty channel. */
  channelOpenMs?: number;
  /** Deadline for the short helper commands (probe, has-session, kill). */
  execMs?: number;
  /** A multiplexer channel is `open` at its first screen, or after this long without one. */
  firstScreenMs?: number;
  /**
   * The first screen is drawn once output pauses this long (or twice the RTT, if longer; at
   * most redrawMaxMs after it began): `open` fires after it, so the terminal's "restored"
   * note is not painted over by the redraw. Default 50 ms.
   */
  redrawQuietMs?: number;
  /** Cap on the wait for the first screen to finish; default 500 ms. */
  redrawMaxMs?: number;
  /** Keys held for a tmux session during an outage, at most; default 64 KiB (a paste, not a file). */
  holdLimit?: number;
}

export interface DroppedInput {
  /** UTF-8 bytes refused. */
  bytes: number;
  /** The shell's state when they were refused (why). */
  state: ShellState;
}

export interface CloseOptions {
  /** Leave the multiplexer session running on the server, to be attached again (the CLI does on SIGHUP: its terminal went away). */
  keepRemote?: boolean;
}

interface OpenPlan {
  /** undefined: the login shell through `client.shell`. */
  command: string | undefined;
  multiplexer?: string;
  remoteSession?: string;
  /** The multiplexer session existed before this open: the old shell comes back. */
  existed: boolean;
}

/**
 * A remote shell on a pty that outlives its connections. When the session drops, the shell
 * is `suspended` (the object and its terminal stay); when the session reconnects, a new
 * channel is opened: reattached to the tmux session that kept the shell running, or a
 * fresh shell, and `open.reattached` says which.
 *
 * In tmux, no key is lost: keys written into the channel are kept until a keepalive reply
 * to a later probe proves the server received them, and keys typed while the shell is down
 * are held (`onDidHoldInput`; a Ctrl-C drops them: `onDidDiscardInput`). When the same tmux
 * session comes back, both are replayed into it, in order, once its screen is redrawn. When
 * a new shell comes instead, they are discarded and said so: keys meant for one shell never
 * go to another.
 *
 * A plain shell (no tmux, or reattach off) comes back as a new shell, so its input while not
 * open is refused: `write` returns false, `onDidDropInput` fires with the byte count, and the
 * session is asked to reconnect at once (a user is waiting). Keys written into a channel the
 * session still believes alive are sent (and may be lost with a path found dead a second later).
 */
export class RemoteShell implements Disposable {
  readonly id: string;
  private stateValue: ShellState = { kind: 'opening' };
  private readonly stateEmitter = new Emitter<ShellState>();
  readonly onDidChangeState: Event<ShellState> = this.stateEmitter.event;
  private readonly dataEmitter = new Emitter<string>();
  /** Terminal output (stdout and stderr), decoded as UTF-8 across packet boundaries. */
  readonly onDidData: Event<string> = this.dataEmitter.event;
  private readonly dropEmitter = new Emitter<DroppedInput>();
  readonly onDidDropInput: Event<DroppedInput> = this.dropEmitter.event;
  private readonly holdEmitter = new Emitter<HeldInput>();
  /** Keys typed while a tmux shell is down are held for it (total bytes waiting). */
  readonly onDidHoldInput: Event<HeldInput> = this.holdEmitter.event;
  private readonly discardEmitter = new Emitter<DiscardedInput>();
  /** Held or unconfirmed keys that will never be sent, and why. */
  readonly onDidDiscardInput: Event<DiscardedInput> = this.discardEmitter.event;

  /** Subscriptions to the session. */
  private readonly disposables = new DisposableStore();
  /**
   * Owns the current channel and its listeners. It lives inside the connection's scope, so
   * it ends with the connection; it ends earlier when the channel closes or is replaced.
   */
  private channelStore: DisposableStore | undefined;
  private channel: ClientChannel | undefined;
  /** The connection the shell is opening on, or open on; a result for any other is dropped. */
  private openConn: Connection | undefined;
  private channelSize = { cols: 0, rows: 0 };
  private generation = 0;
  private started = false;
  private closing: Promise<void> | undefined;
  /** Decided on the first open and kept: a shell does not switch between tmux and plain. */
  private multiplexerAvailable: boolean | undefined;
  private remoteSession: string | undefined;
  private cols: number;
  private rows: number;
  private readonly firstOpen = new Deferred<void>();
  /** A tmux session was open: from now on keys are kept for it, not refused. */
  private keptByMultiplexer = false;
  /** The current channel has drawn its first screen (a multiplexer redraw under way). */
  private screenShown = false;
  /** Keys written into the current tmux channel and not yet proven received. */
  private unconfirmed: UnconfirmedInput | undefined;
  /**
   * Keys for the tmux session that it may not have: unproven ones of a channel that is gone,
   * then keys typed since. Replayed in this order on reattach.
   */
  private readonly pending: HeldKeys;
  private readonly logger: Logger;
  private readonly multiplexer: Multiplexer;
  private readonly channelOpenMs: number;
  private readonly execMs: number;
  private readonly firstScreenMs: number;
  private readonly redrawQuietMs: number;
  private readonly redrawMaxMs: number;

  constructor(
    private readonly session: Session,
    private readonly options: RemoteShellOptions,
    deps: RemoteShellDeps = {},
  ) {
    for (const name of Object.keys(options.env ?? {})) checkEnvName(name);
    checkSize(options.cols, options.rows);
    this.cols = options.cols;
    this.rows = options.rows;
    this.id = options.id ?? randomBytes(6).toString('hex');
    this.logger = deps.logger ?? nullLogger;
    this.multiplexer = deps.multiplexer ?? new Tmux();
    this.channelOpenMs = deps.channelOpenMs ?? 15_000;
    this.execMs = deps.execMs ?? 10_000;
    this.firstScreenMs = deps.firstScreenMs ?? 5_000;
    this.redrawQuietMs = deps.redrawQuietMs ?? 50;
    this.redrawMaxMs = deps.redrawMaxMs ?? 500;
    this.pending = new HeldKeys(deps.holdLimit ?? 64 * 1024);
    session.onDidConnect((conn) => this.onConnect(conn), this.disposables);
    session.onDidChangeState(() => this.onSessionState(), this.disposables);
    this.disposables.add(toDisposable(() => this.dropChannel()));
  }

  get state(): ShellState {
    return this.stateValue;
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.cols, rows: this.rows };
  }

  /** The multiplexer session this shell runs in, once one was used (e.g. `ska-<id>` for tmux). */
  get remoteSessionName(): string | undefined {
    return this.remoteSession;
  }

  /**
   * Opens the shell (connecting the session if it is idle). Resolves once it is first open;
   * rejects if it fails or exits before that, or is closed. Later drops are states, not errors.
   */
  start(): Promise<void> {
    if (!this.started && !this.closing) {
      this.started = true;
      const conn = this.session.connection;
      if (conn) void this.openOn(conn);
      else if (!this.onSessionState()) void this.session.start().catch(() => undefined); // its onDidConnect opens us
    }
    return this.firstOpen.promise;
  }

  /**
   * Sends keys to the shell while `open`. Otherwise a tmux shell holds them (true) and a plain
   * one refuses them (false, `onDidDropInput`); either way the session is nudged to reconnect
   * now. See the class comment for why.
   */
  write(data: string): boolean {
    const channel = this.channel;
    const kind = this.stateValue.kind;
    if (kind === 'open' && channel && channel.writable) {
      channel.write(data);
      this.unconfirmed?.add(data);
      // A key on a quiet path: probe it, so a dead one is found in about a second.
      this.session.noteActivity();
      return true;
    }
    // While tmux redraws, the terminal answers the queries in that screen (device attributes):
    // they go to tmux at once, as do keys typed into it, unless held keys must go first.
    if (kind === 'opening' && channel && channel.writable && this.screenShown && this.pending.bytes === 0) {
      channel.write(data);
      this.unconfirmed?.add(data);
      return true;
    }
    if (this.keptByMultiplexer && !this.closing && (kind === 'suspended' || kind === 'opening' || kind === 'open')) {
      if (data) this.hold(data);
      return true;
    }
    const bytes = Buffer.byteLength(data, 'utf8');
    if (bytes > 0 && !this.closing) this.dropEmitter.fire({ bytes, state: this.stateValue });
    if (!this.closing && (kind === 'suspended' || kind === 'opening')) this.nudge();
    return false;
  }

  /**
   * A user action: skips a pending backoff (the session rate-limits kicks itself). The tiny
   * timeout makes this a nudge, not a wait; failures are reported by state.
   */
  private nudge(): void {
    void this.session.whenUsable({ userAction: true, timeoutMs: 1 }).catch(() => undefined);
  }

  /** Keeps keys for the tmux session while it is down; a Ctrl-C drops what is kept instead. */
  private hold(data: string): void {
    const outcome = this.pending.offer(data);
    if (outcome.kind === 'held') {
      this.holdEmitter.fire({ bytes: outcome.bytes });
      this.nudge();
      return;
    }
    if (outcome.why === 'limit') this.dropEmitter.fire({ bytes: outcome.bytes, state: this.stateValue });
    this.discardEmitter.fire({ bytes: outcome.bytes, why: outcome.why });
  }

  private discardPending(why: DiscardedInput['why']): void {
    const { bytes } = this.pending.take();
    if (bytes > 0) this.discardEmitter.fire({ bytes, why });
  }

  /** A tmux channel went away: what it never proved received goes before any key held since. */
  private keepUnconfirmed(unconfirmed: UnconfirmedInput): void {
    if (this.unconfirmed !== unconfirmed) return;
    this.unconfirmed = undefined;
    this.pending.prepend(unconfirmed.take());
  }

  /** Replays what the reattached tmux session may not have, in order; it is unconfirmed again. */
  private replayPending(channel: ClientChannel): void {
    const { chunks, bytes } = this.pending.take();
    if (chunks.length === 0) return;
    for (const chunk of chunks) {
      channel.write(chunk);
      this.unconfirmed?.add(chunk);
    }
    this.logger.info(`shell ${this.id}: replayed ${bytes} bytes of input into the reattached session`);
    this.session.noteActivity();
  }

  /** New terminal size: applied now if open, and remembered for the next channel. */
  resize(cols: number, rows: number): void {
    checkSize(cols, rows);
    this.cols = cols;
    this.rows = rows;
    // Also while a multiplexer's first screen is awaited: the channel is ours already.
    if (this.channel) this.applySize(this.channel);
  }

  private applySize(channel: ClientChannel): void {
    if (this.channelSize.cols === this.cols && this.channelSize.rows === this.rows) return;
    this.channelSize = { cols: this.cols, rows: this.rows };
    try {
      channel.setWindow(this.rows, this.cols, 0, 0);
    } catch {
      // The connection went away; the next channel is opened with this size.
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

  /** Whether this shell still wants a channel (started, not exited, not closed). */
  private get wanted(): boolean {
    return this.started && !this.closing && this.stateValue.kind !== 'exited';
  }

  private onConnect(conn: Connection): void {
    if (!this.wanted || this.openConn === conn) return;
    void this.openOn(conn);
  }

  /** Lets the current channel (and any open in flight) go. */
  private dropChannel(): void {
    this.openConn = undefined;
    this.channelStore?.dispose();
    this.channelStore = undefined;
  }

  /** Mirrors a session that gave up or closed; true when it did (nothing to wait for). */
  private onSessionState(): boolean {
    if (!this.wanted) return false;
    const s = this.session.state;
    if (s.kind === 'failed') {
      this.dropChannel();
      this.setState({ kind: 'failed', reason: s.error.message });
      return true;
    }
    if (s.kind === 'closed') {
      this.dropChannel();
      this.setState({ kind: 'failed', reason: 'the session was closed' });
      return true;
    }
    return false;
  }

  /** Why there is no connection right now, in the session's words. */
  private lossReason(): string {
    const s = this.session.state;
    if (s.kind === 'lost') return s.reason;
    if (s.kind === 'waiting') return s.lastError || 'reconnecting';
    return describeState(s);
  }

  private async openOn(conn: Connection): Promise<void> {
    this.dropChannel();
    this.openConn = conn;
    // A newer open (the next connection) or close() took over: this one's results are dropped.
    const superseded = () => this.openConn !== conn || !!this.closing;
    this.setState({ kind: 'opening' });
    let channel: ClientChannel | undefined;
    let plan: OpenPlan;
    try {
      plan = await this.plan(conn.client);
      if (!superseded() && !conn.isEnded) channel = await this.openChannel(conn, plan);
    } catch (err) {
      if (superseded()) return;
      if (!conn.isEnded) {
        // The connection is fine but the server will not give us a shell (MaxSessions, a
        // refused pty, a forced command that failed): retrying now would fail the same way.
        this.logger.info(`shell ${this.id}: ${(err as Error).message}`); // the failed state carries it to the user
        this.setState({ kind: 'failed', reason: `could not open a shell: ${(err as Error).message}` });
      } else {
        this.setState({ kind: 'suspended', reason: this.lossReason() }); // onDidConnect tries again
      }
      return;
    }
    if (superseded()) return closeQuietly(channel);
    if (!channel || conn.isEnded) {
      closeQuietly(channel);
      this.setState({ kind: 'suspended', reason: this.lossReason() }); // onDidConnect tries again
      return;
    }
    this.adopt(conn, channel, plan);
  }

  /** Plain shell or multiplexer, and whether its session already exists. */
  private async plan(client: Client): Promise<OpenPlan> {
    const plain: OpenPlan = { command: this.options.command, existed: false };
    if (!this.options.reattach) return plain;
    // A failed probe (connection lost) leaves it undecided for the next connection.
    this.multiplexerAvailable ??= await this.multiplexer.probe(client, this.execMs);
    if (!this.multiplexerAvailable) {
      if (this.generation === 0)
        this.logger.info(`shell ${this.id}: ${this.multiplexer.name} not found on the server; a plain shell will not survive a reconnect`);
      return plain;
    }
    const name = this.multiplexer.sessionName(this.id);
    const has = await execCapture(client, this.multiplexer.hasSessionCommand(name), this.execMs);
    // Checked just before attaching; the session could end in between (its last shell exits
    // that very moment), and then this open reports a reattach that starts fresh. Rare and harmless.
    return {
      command: this.multiplexer.launchCommand(name, { env: this.options.env, command: this.options.command }),
      multiplexer: this.multiplexer.name,
      remoteSession: name,
      existed: has.code === 0,
    };
  }

  private openChannel(conn: Connection, plan: OpenPlan): Promise<ClientChannel> {
    const command = plan.command;
    const pty: PseudoTtyOptions = { term: this.options.term, cols: this.cols, rows: this.rows };
    // Until the multiplexer's client puts this pty in raw mode (a few ms after the channel
    // opens), a Ctrl-C on it would be a SIGINT that kills the client instead of reaching the
    // shell inside. The multiplexer's own panes have their own ptys and keep their signals.
    if (plan.multiplexer) pty.modes = { ISIG: 0 };
    this.channelSize = { cols: this.cols, rows: this.rows };
    const env = this.options.env ? { ...this.options.env } : undefined;
    const client = conn.client;
    return withDeadline<ClientChannel>(
      (done) => {
        const onChannel = (err: Error | undefined, channel: ClientChannel) => done(err, channel);
        if (command === undefined) client.shell(pty, env ? { env } : {}, onChannel);
        else client.exec(command, env ? { pty, env } : { pty }, onChannel);
      },
      {
        timeoutMs: this.channelOpenMs,
        onTimeout: () => new Error(`opening the shell timed out after ${this.channelOpenMs} ms`),
        discardLate: (channel) => closeQuietly(channel), // too late: nobody owns it
        cancelOn: { event: conn.onDidEnd, error: () => new Error('the connection was lost while opening the shell') },
      },
    );
  }

  private adopt(conn: Connection, channel: ClientChannel, plan: OpenPlan): void {
    const store = (this.channelStore = conn.add(new DisposableStore()));
    this.channel = channel;
    this.generation++;
    if (plan.remoteSession) this.remoteSession = plan.remoteSession;
    // One decoder per stream: a character split across two packets is held until its rest comes.
    const out = new StringDecoder('utf8');
    const err = new StringDecoder('utf8');
    const emit = (text: string) => {
      if (text) this.dataEmitter.fire(text);
    };
    let exit: { code: number | null; signal?: string } | undefined;
    // A multiplexer is ready for keys once it drew its first screen (its client has put the
    // pty in raw mode by then): `open` waits for that, so keys are never typed at a launch
    // command. Plain shells read keys typed ahead, so they are open at once.
    let declared = false;
    let screenTimer: Disposable | undefined;
    // After the first screen: `open` (and the terminal's "restored" note) comes once the redraw
    // is over, or it would paint over the note.
    let redrawTimer: Disposable | undefined;
    let redrawStarted: number | undefined;
    this.screenShown = false;
    const onData = (d: Buffer) => {
      emit(out.write(d));
      if (this.channel === channel) this.screenShown = true;
      if (declared) return;
      const now = Date.now();
      redrawStarted ??= now;
      const quietMs = Math.max(this.redrawQuietMs, 2 * (this.session.rttMs ?? 0));
      const waitMs = Math.max(0, Math.min(quietMs, redrawStarted + this.redrawMaxMs - now));
      redrawTimer?.dispose();
      redrawTimer = disposableTimeout(declareOpen, waitMs);
    };
    const onErrData = (d: Buffer) => emit(err.write(d));
    const onExit = (code: number | null, signal?: string) => {
      exit = signal ? { code: null, signal } : { code };
    };
    const onError = (e: Error) => this.logger.debug(`shell ${this.id}: channel error: ${e.message}`);
    const onClose = () => {
      if (this.channel !== channel) return;
      emit(out.end());
      emit(err.end());
      store.dispose();
      if (exit) {
        this.setState({ kind: 'exited', ...exit });
      } else if (!conn.isEnded) {
        // The server closed it without an exit status while the connection lives on.
        this.setState({ kind: 'exited', code: null });
      } else {
        // ssh2 closes the channels after the client's own 'close', which the session has
        // already turned into `lost`; usually the connection's end got here first.
        this.setState({ kind: 'suspended', reason: this.lossReason() });
      }
    };
    channel.on('data', onData);
    channel.stderr.on('data', onErrData);
    channel.on('exit', onExit);
    channel.on('error', onError);
    channel.on('close', onClose);
    // Keys written into a tmux channel are kept until proven received (see UnconfirmedInput).
    const unconfirmed = plan.multiplexer
      ? new UnconfirmedInput(
          () => this.session.confirmDelivery(conn),
          () => channel.writableLength === 0,
        )
      : undefined;
    this.unconfirmed = unconfirmed;
    store.add(
      toDisposable(() => {
        redrawTimer?.dispose();
        if (unconfirmed) this.keepUnconfirmed(unconfirmed);
        channel.removeListener('data', onData);
        channel.stderr.removeListener('data', onErrData);
        channel.removeListener('exit', onExit);
        channel.removeListener('close', onClose);
        // 'error' stays: a late error on a channel we let go must not become an uncaught one.
        if (this.channel === channel) this.channel = undefined;
        closeQuietly(channel);
      }),
    );
    conn.onDidEnd(() => {
      if (this.channel !== channel) return;
      store.dispose();
      this.setState({ kind: 'suspended', reason: this.lossReason() });
    }, store);
    this.applySize(channel); // resized while the channel was opening
    const declareOpen = () => {
      if (declared) return;
      declared = true;
      screenTimer?.dispose();
      redrawTimer?.dispose();
      if (this.channel !== channel) return;
      const open: ShellState = plan.multiplexer
        ? { kind: 'open', generation: this.generation, reattached: plan.existed, multiplexer: plan.multiplexer }
        : { kind: 'open', generation: this.generation, reattached: false };
      this.logger.info(
        `shell ${this.id}: ${plan.existed ? 'reattached to' : 'opened'} ${plan.remoteSession ?? 'a plain shell'}${this.generation > 1 && !plan.existed ? ' (previous shell state lost)' : ''}`,
      );
      if (plan.multiplexer) {
        this.keptByMultiplexer = true;
        // Before `open` is announced, so a key typed in reaction to it comes after these.
        if (plan.existed) this.replayPending(channel);
        // Keys meant for the shell that is gone: never into this one.
        else this.discardPending('new-shell');
      }
      this.setState(open);
    };
    if (plan.multiplexer) screenTimer = store.add(disposableTimeout(declareOpen, this.firstScreenMs));
    else declareOpen();
  }

  /**
   * Closes the channel and, unless `keepRemote`, ends the multiplexer session this shell ran
   * in (the user closed the terminal: they are done with it). Not after a clean exit (code 0):
   * the session then ended by itself, or the user detached from it on purpose. Needs the session
   * connected to reach the server; otherwise the remote session is left and a warning logged.
   */
  close(opts: CloseOptions = {}): Promise<void> {
    this.closing ??= this.doClose(opts);
    return this.closing;
  }

  /** `close` without waiting for the remote kill. */
  dispose(opts: CloseOptions = {}): void {
    void this.close(opts).catch(() => undefined);
  }

  private async doClose(opts: CloseOptions): Promise<void> {
    // Exit code 0: the session ended by itself (its last shell exited) or the user detached
    // on purpose. Anything else (killed client, closed before the end) leaves it ours to end.
    const ended = this.stateValue.kind === 'exited' && this.stateValue.code === 0;
    this.disposables.dispose();
    this.firstOpen.reject(new Error('the shell was closed'));
    const name = this.remoteSession;
    try {
      if (name && !opts.keepRemote && !ended) {
        const client = this.session.client;
        if (!client) {
          this.logger.warn(`shell ${this.id}: not connected; ${this.multiplexer.name} session ${name} stays on the server`);
        } else {
          try {
            await execCapture(client, this.multiplexer.killCommand(name), this.execMs);
          } catch (err) {
            this.logger.warn(`shell ${this.id}: could not end ${this.multiplexer.name} session ${name}: ${(err as Error).message}`);
          }
        }
      }
    } finally {
      this.stateEmitter.dispose();
      this.dataEmitter.dispose();
      this.dropEmitter.dispose();
      this.holdEmitter.dispose();
      this.discardEmitter.dispose();
    }
  }
}

function checkSize(cols: number, rows: number): void {
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) {
    throw new Error(`invalid terminal size ${cols}x${rows}`);
  }
}
