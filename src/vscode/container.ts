import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { heldDisposableCount } from '../core/base/disposable';
import { liveListenerCount } from '../core/base/event';
import { NetworkChangeDetector, WakeDetector } from '../core/base/environment';
import type { Logger } from '../core/base/logger';
import { newKeeperSecret } from '../core/keeper/installer';
import type { KeeperLinkOptions } from '../core/keeper/keeperLink';
import { keeperProgram } from '../core/keeper/program';
import { recordStore } from '../core/liveness/learnedPathStore';
import { AutoConnect } from './autoConnect';
import { HostsViewId } from './commandIds';
import type { CommandContext } from './commandContext';
import { ContextKeys } from './contextKeys';
import { registerDemoCommands } from './demoCommands';
import { ErrorReporter, type ReportedError } from './errorReporter';
import { forwardInfo, registerForwardCommands } from './forwardCommands';
import { HostManager } from './hostManager';
import { HostsTree, type HostsNode } from './hostsTree';
import { channelLogger } from './logChannel';
import { VsCodePrompter } from './prompter';
import { registerSessionCommands } from './sessionCommands';
import { Settings } from './settings';
import { StatusBar } from './statusBar';
import { registerTerminalProfile } from './terminalProfile';
import { Terminals } from './terminals';
import type { SshKeepaliveTestApi, TreeSnapshot } from './testApi';
import { WorkspaceMemory, type KeptTerminals } from './workspaceMemory';

/** globalState key of the keepalive intervals learned per network (learnedPathStore.ts). */
const LEARNED_PATHS_KEY = 'sshKeepalive.learnedKeepalive';

/** `~` in the configFile setting means the home directory, as in ssh. */
function expandHome(file: string): string {
  return file === '~' ? os.homedir() : file.startsWith('~/') ? path.join(os.homedir(), file.slice(2)) : file;
}

/**
 * Builds every part of the extension in dependency order and disposes them in reverse
 * (GitLens' container): what was built last, and may use earlier parts, goes first.
 */
export class Container implements vscode.Disposable {
  private readonly owned: vscode.Disposable[] = [];
  readonly log: vscode.LogOutputChannel;
  readonly logger: Logger;
  readonly settings: Settings;
  readonly prompter: VsCodePrompter;
  readonly hosts: HostManager;
  readonly errors: ErrorReporter;
  readonly statusBar: StatusBar;
  readonly terminals: Terminals;
  readonly tree: HostsTree;
  private readonly reported: ReportedError[] = [];
  private disposed = false;

  constructor(context: vscode.ExtensionContext) {
    this.log = this.own(vscode.window.createOutputChannel('SSH Keepalive', { log: true }));
    this.logger = channelLogger(this.log);
    this.settings = this.own(new Settings());
    const memory = new WorkspaceMemory(context.workspaceState);
    // Terminals the keeper kept when the last window went away: taken back below.
    const kept = memory.keptTerminals();
    this.prompter = new VsCodePrompter(context.secrets, this.logger);
    const wake = this.own(new WakeDetector());
    const network = this.own(new NetworkChangeDetector());
    this.errors = this.own(new ErrorReporter(this.logger, () => this.settings.current.configFile && expandHome(this.settings.current.configFile)));
    this.own(this.errors.onDidReport((r) => this.reported.push(r)));
    this.hosts = this.own(
      new HostManager({
        logger: this.logger,
        prompter: this.prompter,
        settings: () => this.settings.current,
        memory,
        onDidWake: wake.onDidWake,
        onDidChangeNetwork: network.onDidChange,
        // Shared by every window and kept across restarts, like the CLI's file.
        learnedPaths: recordStore(
          () => context.globalState.get(LEARNED_PATHS_KEY),
          (record) => void context.globalState.update(LEARNED_PATHS_KEY, record),
        ),
        keeperOptions: (alias) => () => {
          // Taken back once: a later connect of the same host in this window starts afresh.
          const k = kept[alias];
          delete kept[alias];
          return this.keeperOptions(context.secrets, alias, k);
        },
      }),
    );
    // A fatal failure is told once; the session never retries it in the background.
    this.ownCore(
      this.hosts.onDidChange((e) => {
        const s = e.host.session.state;
        if (e.type === 'state' && s.kind === 'failed') this.errors.sessionFailed(e.host.alias, s.error);
        // A host that never connected: the first failure of each kind is told, not only logged.
        if (e.type === 'added') {
          const host = e.host;
          host.session.onDidFailAttempt((f) => {
            if (f.firstOfKind && !f.everConnected) this.errors.attemptFailed(host.alias, f.error, f.attempt);
          });
        }
      }),
    );
    this.own(new ContextKeys(this.hosts));
    this.statusBar = this.own(new StatusBar(this.hosts, this.settings));
    this.terminals = this.own(new Terminals(this.settings, this.logger, memory));
    this.tree = this.own(new HostsTree(HostsViewId, this.hosts, this.terminals, this.settings, this.logger));

    const ctx: CommandContext = {
      hosts: this.hosts,
      terminals: this.terminals,
      tree: this.tree,
      settings: this.settings,
      errors: this.errors,
      logger: this.logger,
      log: this.log,
      promptUi: () => this.prompter.ui,
      configFilePath: () => expandHome(this.settings.current.configFile ?? path.join(os.homedir(), '.ssh', 'config')),
    };
    for (const d of registerSessionCommands(ctx)) this.own(d);
    for (const d of registerForwardCommands(ctx)) this.own(d);
    // Inert and hidden unless `npm run demo` started this window (SSHKA_DEMO_CONTROL).
    for (const d of registerDemoCommands(ctx)) this.own(d);
    this.own(registerTerminalProfile(ctx));
    // Last: it may connect hosts at once, and everything above must be listening.
    this.own(new AutoConnect(this.hosts, this.settings, memory, this.errors));
    this.restoreKeptTerminals(kept);
    this.logger.info(`SSH Keepalive ${String((context.extension.packageJSON as { version?: string }).version ?? '')} activated`);
  }

  /**
   * The session keeper for a host: one per machine and server account (the name), reached
   * with a secret that only this machine's secret storage holds, so another window or a
   * reload finds the same keeper.
   */
  /** After a reload: the terminals the keeper kept come back, with their shells. */
  private restoreKeptTerminals(kept: Record<string, KeptTerminals>): void {
    if (!this.settings.current.keeperEnabled) return;
    for (const [alias, k] of Object.entries(kept)) {
      try {
        const host = this.hosts.connect(alias);
        for (const id of k.streams) this.terminals.open(host, false, id);
        this.logger.info(`[${alias}] taking back ${k.streams.length} terminal(s) from the session keeper`);
      } catch (err) {
        this.logger.warn(`[${alias}] could not take back its terminals: ${(err as Error).message}`);
      }
    }
  }

  private async keeperOptions(secrets: vscode.SecretStorage, alias: string, kept: KeptTerminals | undefined): Promise<KeeperLinkOptions | undefined> {
    const s = this.settings.current;
    if (!s.keeperEnabled) return undefined;
    const key = `sshKeepalive.keeper.secret.${alias}`;
    let secret = await secrets.get(key);
    if (!secret) {
      secret = newKeeperSecret();
      await secrets.store(key, secret);
    }
    const machine = createHash('sha256').update(vscode.env.machineId).digest('hex').slice(0, 12);
    return {
      program: keeperProgram,
      name: `vscode-${machine}-${createHash('sha256').update(alias).digest('hex').slice(0, 8)}`,
      secret,
      idleSeconds: Math.round(s.keeperIdleHours * 3600),
      ...(kept ? { sessionId: kept.session, adopt: kept.streams } : {}),
      streamBound: s.keeperBufferMiB * 1024 * 1024,
    };
  }

  private own<T extends vscode.Disposable>(d: T): T {
    this.owned.push(d);
    return d;
  }

  private ownCore(d: { dispose(): void }): void {
    this.owned.push(d);
  }

  /** Window closing: let terminals end their tmux sessions before connections close. */
  async shutdown(): Promise<void> {
    if (this.disposed) return;
    await this.terminals.shutdown();
    this.dispose();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.owned.splice(0).reverse()) {
      try {
        d.dispose();
      } catch (err) {
        // One failing part must not keep the rest (sockets, timers) alive.
        console.error('SSH Keepalive: dispose failed', err);
      }
    }
  }

  testApi(simulateReload: () => Promise<void>): Omit<SshKeepaliveTestApi, 'storedOutsideSecrets'> {
    const tree = this.tree;
    const snapshot = (node?: HostsNode): TreeSnapshot[] =>
      tree.getChildren(node).map((child) => {
        const item = tree.getTreeItem(child);
        const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
        return {
          label,
          description: typeof item.description === 'string' ? item.description : undefined,
          contextValue: item.contextValue,
          id: item.id,
          collapsible:
            item.collapsibleState === vscode.TreeItemCollapsibleState.Expanded
              ? 'expanded'
              : item.collapsibleState === vscode.TreeItemCollapsibleState.Collapsed
                ? 'collapsed'
                : 'none',
          tooltip: item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : item.tooltip,
          children: snapshot(child),
        };
      });
    return {
      statusBarItems: () => this.statusBar.snapshot(),
      statusBarTicking: () => this.statusBar.ticking,
      hostState: (alias) => this.hosts.get(alias)?.session.state,
      keepalive: (alias) => {
        const k = this.hosts.get(alias)?.session.options.keepalive;
        return k && { intervalMs: k.intervalMs, countMax: k.countMax };
      },
      forwards: (alias) =>
        this.hosts
          .get(alias)
          ?.forwards.list()
          .map((f) => forwardInfo(alias, f)) ?? [],
      terminalOutput: (t) => this.terminals.ptyOf(t)?.recentOutput,
      terminalState: (t) => this.terminals.ptyOf(t)?.state,
      tree: () => snapshot(),
      setPromptUi: (ui) => this.prompter.setUi(ui),
      onDidReportError: this.errors.onDidReport,
      reportedErrors: this.reported,
      simulateReload,
      heldCounts: () => ({ disposables: heldDisposableCount(), listeners: liveListenerCount() }),
    };
  }
}
