import { toDisposable, type Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import type { DynamicForwardSpec, ForwardSpec } from '../config/types';
import type { Session } from '../session/session';
import { defaultDynamicForwardOptions, DynamicForward, type DynamicForwardOptions } from './dynamicForward';
import { defaultLocalForwardOptions, LocalForward, type LocalForwardOptions } from './localForward';
import { keeperToUse, type KeeperSource } from './keptConnections';
import { keeperBindFor, KeptRemoteForward } from './keptRemoteForward';
import { RemoteForward, type RemoteForwardOptions } from './remoteForward';
import { emptyCounters, type Forward, type ForwardCounters, type ForwardKind, type ForwardState } from './types';

export type ForwardRequest =
  { kind: 'local'; spec: ForwardSpec } | { kind: 'remote'; spec: ForwardSpec; reclaimStale?: boolean } | { kind: 'dynamic'; spec: DynamicForwardSpec };

export interface ForwardChange {
  type: 'added' | 'removed' | 'state';
  forward: Forward;
}

export interface ForwardRegistryOptions {
  local?: LocalForwardOptions;
  /** Defaults for remote forwards; a request's own `reclaimStale` wins. */
  remote?: Partial<RemoteForwardOptions>;
  dynamic?: DynamicForwardOptions;
  /**
   * The session keeper, made on first use: -L/-D connections and loopback -R ports ride it
   * and outlive outages. Undefined (or a host without python3): plain channels, as ssh.
   */
  keeper?: KeeperSource;
}

/**
 * The forwards of one Session. Each forward's trouble is its own: a local port in use or a
 * refused remote port shows on that forward's state, never on the session's.
 */
export class ForwardRegistry implements Disposable {
  private readonly forwards = new Map<string, { forward: Forward; sub: Disposable }>();
  private readonly emitter = new Emitter<ForwardChange>();
  readonly onDidChange: Event<ForwardChange> = this.emitter.event;
  private disposed = false;

  constructor(
    private readonly session: Session,
    private readonly logger: Logger,
    private readonly options: ForwardRegistryOptions = {},
  ) {}

  /**
   * Adds and starts a forward; resolves with it once it has started. Never rejects for the
   * forward's own trouble: one that cannot start (local port in use, no permission, a remote
   * port another forward of this session already asked for) stays listed in `failed` state
   * with its reason, and a remote forward whose port the server refuses is `waiting` while
   * it retries. Read `state` on the result. The same forward (same id) added twice returns
   * the one already there. Rejects only after dispose().
   */
  async add(request: ForwardRequest): Promise<Forward> {
    if (this.disposed) throw new Error('the forward registry is disposed');
    const forward = await this.create(request);
    if (this.disposed) {
      forward.dispose();
      throw new Error('the forward registry is disposed');
    }
    const existing = this.forwards.get(forward.id);
    if (existing) {
      forward.dispose();
      return existing.forward;
    }
    const conflict = request.kind === 'remote' ? this.remoteConflict(forward as RemoteForward | KeptRemoteForward) : undefined;
    const listed = conflict ? new FailedForward(forward, conflict) : forward;
    if (conflict) forward.dispose();
    const sub = listed.onDidChangeState(() => this.emitter.fire({ type: 'state', forward: listed }));
    this.forwards.set(listed.id, { forward: listed, sub });
    this.emitter.fire({ type: 'added', forward: listed });
    if (conflict) {
      this.logger.warn(`${listed.label}: ${conflict}`);
      return listed;
    }
    try {
      await listed.start();
    } catch (err) {
      // The forward already says `failed` with the reason; log it once for the record.
      this.logger.warn(`${listed.label}: ${(err as Error).message}`);
    }
    return listed;
  }

  /** Stops and forgets a forward (a remote one is cancelled on the server). False if unknown. */
  remove(id: string): boolean {
    const entry = this.forwards.get(id);
    if (!entry) return false;
    this.forwards.delete(id);
    entry.sub.dispose();
    entry.forward.dispose();
    this.emitter.fire({ type: 'removed', forward: entry.forward });
    return true;
  }

  list(): Forward[] {
    return [...this.forwards.values()].map((e) => e.forward);
  }

  get(id: string): Forward | undefined {
    return this.forwards.get(id)?.forward;
  }

  private async create(request: ForwardRequest): Promise<Forward> {
    switch (request.kind) {
      case 'local':
        return new LocalForward(request.spec, this.session, this.logger, this.options.local ?? defaultLocalForwardOptions, this.options.keeper);
      case 'remote': {
        const link = keeperBindFor(request.spec) !== undefined ? await keeperToUse(this.options.keeper) : undefined;
        if (link) return new KeptRemoteForward(request.spec, this.session, link, this.logger);
        if (this.options.keeper && keeperBindFor(request.spec) === undefined) {
          this.logger.info(
            `-R ${request.spec.bindAddress}:${request.spec.bindPort}: not kept; sshd listens on a non-loopback address (GatewayPorts decides who may reach it)`,
          );
        }
        return new RemoteForward(request.spec, this.session, this.logger, {
          ...this.options.remote,
          ...(request.reclaimStale !== undefined ? { reclaimStale: request.reclaimStale } : {}),
        });
      }
      case 'dynamic':
        return new DynamicForward(request.spec, this.session, this.logger, this.options.dynamic ?? defaultDynamicForwardOptions, this.options.keeper);
    }
  }

  /** Two remote forwards of one session on the same server port: the server would refuse the second forever. */
  private remoteConflict(forward: RemoteForward | KeptRemoteForward): string | undefined {
    if (forward.spec.bindPort === 0) return undefined;
    for (const { forward: other } of this.forwards.values()) {
      if (
        (other instanceof RemoteForward || other instanceof KeptRemoteForward) &&
        other.bindAddress === forward.bindAddress &&
        other.spec.bindPort === forward.spec.bindPort
      ) {
        return `server port ${forward.address} is already forwarded by ${other.label}; remove that one first`;
      }
    }
    return undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Last added first: the reverse of how they were built.
    for (const { forward, sub } of [...this.forwards.values()].reverse()) {
      sub.dispose();
      forward.dispose();
    }
    this.forwards.clear();
    this.emitter.dispose();
  }
}

/** A forward that could not even be tried; listed so the user sees why. */
class FailedForward implements Forward {
  readonly id: string;
  readonly kind: ForwardKind;
  readonly label: string;
  readonly address = undefined;
  readonly counters: ForwardCounters = emptyCounters();
  readonly kept = false;
  readonly onDidChangeCounters: Event<ForwardCounters> = () => toDisposable(() => undefined);
  private stateValue: ForwardState;
  private readonly emitter = new Emitter<ForwardState>();
  readonly onDidChangeState: Event<ForwardState> = this.emitter.event;

  constructor(like: Forward, reason: string) {
    this.id = like.id;
    this.kind = like.kind;
    this.label = like.label;
    this.stateValue = { kind: 'failed', reason };
  }

  get state(): ForwardState {
    return this.stateValue;
  }

  start(): Promise<void> {
    return Promise.reject(new Error(this.stateValue.kind === 'failed' ? this.stateValue.reason : 'stopped'));
  }

  dispose(): void {
    this.stateValue = { kind: 'stopped' };
    this.emitter.fire(this.stateValue);
    this.emitter.dispose();
  }
}
