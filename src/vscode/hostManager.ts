/**
 * The hosts the user connected in this window, by alias: creates a HostSession from
 * ssh_config (plus our settings as defaults), puts ssh_config's and the workspace's
 * forwards on it, and tells the UI about every change. No 'vscode' import.
 */
import { DisposableStore, type Disposable } from '../core/base/disposable';
import { Emitter, type Event } from '../core/base/event';
import { prefixed, type Logger } from '../core/base/logger';
import { listHosts, resolveHost, type HostListEntry } from '../core/config/sshConfig';
import type { ResolvedHost } from '../core/config/types';
import type { Forward } from '../core/forward/types';
import { describeLearned, IntervalLearner, type LearnedPathStore } from '../core/liveness/intervalLearner';
import { KeepaliveTuner } from '../core/liveness/keepaliveTuner';
import type { Prompter } from '../core/session/prompter';
import { sessionOptionsFor } from '../core/session/session';
import type { ForwardRequest } from './forwardInput';
import { formatForwardRequest } from './forwardInput';
import { HostSession, type HostChange, type KeeperOptionsSource } from './hostSession';
import { sessionDefaults, type ExtensionSettings } from './settingsModel';
import type { WorkspaceMemory } from './workspaceMemory';

export type HostEvent = { type: 'added' | 'removed'; host: HostSession } | { type: HostChange; host: HostSession };

export interface HostManagerDeps {
  logger: Logger;
  prompter: Prompter;
  settings: () => ExtensionSettings;
  memory: WorkspaceMemory;
  onDidWake?: Event<unknown>;
  onDidChangeNetwork?: Event<unknown>;
  /** The session keeper's options for a host (undefined: turned off). */
  keeperOptions?: (alias: string) => KeeperOptionsSource;
  /** Where learned keepalive intervals are kept per network (globalState); in memory without it. */
  learnedPaths?: LearnedPathStore;
}

export class HostManager implements Disposable {
  private readonly hosts = new Map<string, { host: HostSession; subs: Disposable }>();
  private readonly emitter = new Emitter<HostEvent>();
  readonly onDidChange: Event<HostEvent> = this.emitter.event;

  /** One per window: what a network's NAT tolerates is the same for every host behind it. */
  private readonly intervalLearner: IntervalLearner;

  constructor(private readonly deps: HostManagerDeps) {
    this.intervalLearner = new IntervalLearner(deps.learnedPaths);
  }

  get(alias: string): HostSession | undefined {
    return this.hosts.get(alias)?.host;
  }

  list(): HostSession[] {
    return [...this.hosts.values()].map((h) => h.host);
  }

  /** Concrete Host aliases of the configured ssh_config (lenient: broken blocks still list). */
  configuredHosts(): HostListEntry[] {
    return listHosts({ configFile: this.deps.settings().configFile });
  }

  /** Throws ConfigError for a bad ssh_config: the caller shows it. */
  resolve(alias: string): ResolvedHost {
    return resolveHost(alias, { configFile: this.deps.settings().configFile });
  }

  /**
   * The host's session, started if needed. A failed one is retried (the user asked again,
   * perhaps after fixing the cause). Throws ConfigError when ssh_config is unusable.
   */
  connect(alias: string): HostSession {
    const existing = this.get(alias);
    if (existing && !existing.isClosed) {
      if (existing.session.state.kind === 'failed') void existing.session.reconnect('connect requested').catch(() => undefined);
      return existing;
    }
    const resolved = this.resolve(alias);
    const logger = prefixed(this.deps.logger, alias);
    for (const n of resolved.notes ?? []) logger[n.level](n.message);
    for (const u of resolved.unsupported) {
      logger.warn(`ignoring ${u.option} ${u.value}${u.source ? ` (${u.source})` : ''}: ${u.reason}`);
    }
    const options = sessionOptionsFor(resolved, sessionDefaults(this.deps.settings()));
    // Opt-in: measure this network's idle timeout on disposable flows and refresh the NAT under it.
    const keepaliveTuner = this.deps.settings().keepaliveLearn ? new KeepaliveTuner(this.intervalLearner, () => options.keepalive.intervalMs) : undefined;
    const host = new HostSession(
      resolved,
      options,
      {
        prompter: this.deps.prompter,
        logger,
        onDidWake: this.deps.onDidWake,
        onDidChangeNetwork: this.deps.onDidChangeNetwork,
        intervalLearner: this.intervalLearner,
        keepaliveTuner,
      },
      logger,
      this.deps.keeperOptions?.(alias),
      () => {
        const learned = this.intervalLearner.learned;
        return learned && describeLearned(learned);
      },
    );
    const subs = new DisposableStore();
    subs.add(host.onDidChange((type) => this.emitter.fire({ type, host })));
    this.hosts.set(alias, { host, subs });
    this.emitter.fire({ type: 'added', host });
    void this.deps.memory.setConnected(alias, true);

    // Forwards bind their local ports now, so they are ready when the session is.
    const requests: Array<{ request: ForwardRequest; origin: 'config' | 'user' }> = [
      ...resolved.localForwards.map((spec) => ({ request: { kind: 'local', spec } satisfies ForwardRequest, origin: 'config' as const })),
      ...resolved.remoteForwards.map((spec) => ({ request: { kind: 'remote', spec } satisfies ForwardRequest, origin: 'config' as const })),
      ...resolved.dynamicForwards.map((spec) => ({ request: { kind: 'dynamic', spec } satisfies ForwardRequest, origin: 'config' as const })),
      ...this.deps.memory.forwards(alias).map((request) => ({ request, origin: 'user' as const })),
    ];
    for (const { request, origin } of requests) {
      host.addForward(this.withReclaim(request), origin).catch((err: unknown) => {
        logger.warn(`${formatForwardRequest(request)}: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    // A fatal failure shows in the state (reported once by the error reporter).
    host.session.start().catch(() => undefined);
    return host;
  }

  /** Closes the host's session, its forwards and (through the UI's listeners) its terminals. */
  disconnect(alias: string): boolean {
    const entry = this.hosts.get(alias);
    if (!entry) return false;
    this.hosts.delete(alias);
    void this.deps.memory.setConnected(alias, false);
    entry.host.dispose();
    entry.subs.dispose();
    this.emitter.fire({ type: 'removed', host: entry.host });
    return true;
  }

  /** Reconnects one host, or every host; resolves when they are connected (or failed). */
  async reconnect(alias?: string): Promise<void> {
    const targets = alias === undefined ? this.list() : [this.get(alias) ?? this.connect(alias)];
    await Promise.all(targets.map((h) => h.session.reconnect('reconnect requested by the user')));
  }

  /** Remote forwards reclaim a stale server listener only when the user opted in (it ends an sshd process). */
  private withReclaim(request: ForwardRequest): ForwardRequest {
    return request.kind === 'remote' ? { ...request, reclaimStale: this.deps.settings().reclaimStaleRemoteForwards } : request;
  }

  async addUserForward(alias: string, request: ForwardRequest): Promise<Forward> {
    const host = this.connect(alias);
    await this.deps.memory.addForward(alias, request);
    return host.addForward(this.withReclaim(request), 'user');
  }

  async removeForward(alias: string, forwardId: string): Promise<boolean> {
    const host = this.get(alias);
    if (!host) return false;
    const existed = host.forwards.get(forwardId) !== undefined;
    const removed = host.removeForward(forwardId);
    // A user forward is forgotten too; one from ssh_config comes back on the next connect.
    if (removed?.origin === 'user') await this.deps.memory.removeForward(alias, removed.request);
    return existed;
  }

  dispose(): void {
    // Window closing: keep the workspace's memory of connected hosts (a reload restores them).
    for (const { host, subs } of [...this.hosts.values()].reverse()) {
      host.dispose();
      subs.dispose();
    }
    this.hosts.clear();
    this.emitter.dispose();
  }
}
