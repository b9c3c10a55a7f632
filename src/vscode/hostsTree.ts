import * as vscode from 'vscode';
import { describeDestination } from '../core/base/hostPort';
import type { Logger } from '../core/base/logger';
import type { HostListEntry } from '../core/config/sshConfig';
import { ConfigError } from '../core/config/types';
import type { Forward } from '../core/forward/types';
import { describeShellState } from '../core/shell/shellState';
import { CommandId, ContextKey } from './commandIds';
import { forwardConnectionLines, forwardDescription } from './forwardText';
import type { HostManager } from './hostManager';
import type { HostSession } from './hostSession';
import type { RemotePty } from './remotePty';
import type { Settings } from './settings';
import { hostStatus, hostTooltip, stateSummary } from './statusText';
import type { Terminals } from './terminals';

export type HostsNode =
  | { kind: 'host'; alias: string; entry?: HostListEntry }
  | { kind: 'terminal'; alias: string; pty: RemotePty; index: number }
  | { kind: 'forward'; alias: string; forward: Forward };

const stateIcons: Record<string, vscode.ThemeIcon> = {
  connected: new vscode.ThemeIcon('pulse', new vscode.ThemeColor('testing.iconPassed')),
  slow: new vscode.ThemeIcon('pulse', new vscode.ThemeColor('list.warningForeground')),
  unconfirmed: new vscode.ThemeIcon('question', new vscode.ThemeColor('list.warningForeground')),
  reconnecting: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('list.warningForeground')),
  connecting: new vscode.ThemeIcon('sync~spin'),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground')),
  idle: new vscode.ThemeIcon('vm'),
};

/**
 * The Hosts view: every Host of ssh_config (and any other host with a session), with its
 * state and RTT; below a host, its terminals and forwards with their states and counters.
 * contextValue drives the inline and context-menu actions declared in package.json.
 */
export class HostsTree implements vscode.TreeDataProvider<HostsNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<HostsNode | undefined | void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subs: vscode.Disposable[] = [];
  private readonly view: vscode.TreeView<HostsNode>;
  private configured: HostListEntry[] = [];
  private configProblem: string | undefined;
  private counterTimer: NodeJS.Timeout | undefined;
  private refreshPending: NodeJS.Timeout | undefined;
  /** Per host: whether it showed children last time, and how often they appeared afresh. */
  private readonly expansions = new Map<string, { had: boolean; generation: number }>();

  constructor(
    viewId: string,
    private readonly hosts: HostManager,
    private readonly terminals: Terminals,
    private readonly settings: Settings,
    private readonly logger: Logger,
  ) {
    this.view = vscode.window.createTreeView(viewId, { treeDataProvider: this, showCollapseAll: true });
    this.subs.push(this.view, this.emitter);
    const sub = hosts.onDidChange((e) => {
      // RTT arrives with every keepalive; the tree only needs it now and then.
      if (e.type === 'probe') this.scheduleRefresh(1000);
      else this.scheduleRefresh(0);
    });
    this.subs.push({ dispose: () => sub.dispose() });
    this.subs.push(terminals.onDidChange(() => this.scheduleRefresh(0)));
    this.subs.push(
      settings.onDidChange((changed) => {
        if (changed.has('configFile')) this.reloadConfig();
        if (changed.has('slowRttMs')) this.scheduleRefresh(0);
      }),
    );
    this.subs.push(this.view.onDidChangeVisibility(() => this.updateCounterTimer()));
    this.reloadConfig();
  }

  /** Reads the host list again (the config file or its setting changed). */
  reloadConfig(): void {
    try {
      this.configured = this.hosts.configuredHosts();
      this.configProblem = undefined;
    } catch (err) {
      this.configured = [];
      this.configProblem = err instanceof Error ? err.message : String(err);
      this.logger.error(`cannot list the hosts of ssh_config: ${this.configProblem}`);
      if (!(err instanceof ConfigError)) this.logger.debug(String((err as Error).stack));
    }
    this.view.message = this.configProblem ? `ssh_config problem: ${this.configProblem}` : undefined;
    void vscode.commands.executeCommand('setContext', ContextKey.hasConfiguredHosts, this.configured.length > 0);
    void vscode.commands.executeCommand('setContext', ContextKey.configError, this.configProblem !== undefined);
    this.scheduleRefresh(0);
  }

  get visible(): boolean {
    return this.view.visible;
  }

  private scheduleRefresh(ms: number): void {
    if (this.refreshPending) {
      if (ms > 0) return;
      clearTimeout(this.refreshPending);
    }
    this.refreshPending = setTimeout(() => {
      this.refreshPending = undefined;
      this.emitter.fire();
      this.updateCounterTimer();
    }, ms);
  }

  /** Byte and connection counters have no events: poll them, but only while someone looks. */
  private updateCounterTimer(): void {
    const want = this.view.visible && this.hosts.list().some((h) => h.forwards.list().length > 0);
    if (want && !this.counterTimer) this.counterTimer = setInterval(() => this.emitter.fire(), 2000);
    else if (!want && this.counterTimer) {
      clearInterval(this.counterTimer);
      this.counterTimer = undefined;
    }
  }

  getChildren(node?: HostsNode): HostsNode[] {
    if (!node) {
      const seen = new Set(this.configured.map((e) => e.alias));
      const roots: HostsNode[] = this.configured.map((entry) => ({ kind: 'host', alias: entry.alias, entry }));
      for (const h of this.hosts.list()) if (!seen.has(h.alias)) roots.push({ kind: 'host', alias: h.alias });
      return roots;
    }
    if (node.kind !== 'host') return [];
    const host = this.hosts.get(node.alias);
    const terminals: HostsNode[] = this.terminals.forHost(node.alias).map(({ pty }, index) => ({ kind: 'terminal', alias: node.alias, pty, index }));
    const forwards: HostsNode[] = (host?.forwards.list() ?? []).map((forward) => ({ kind: 'forward', alias: node.alias, forward }));
    return [...terminals, ...forwards];
  }

  getTreeItem(node: HostsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'host':
        return this.hostItem(node.alias, node.entry);
      case 'terminal':
        return this.terminalItem(node.alias, node.pty, node.index);
      case 'forward':
        return this.forwardItem(node.alias, node.forward);
    }
  }

  private hostItem(alias: string, entry: HostListEntry | undefined): vscode.TreeItem {
    const host = this.hosts.get(alias);
    const hasChildren = !!host && (host.forwards.list().length > 0 || this.terminals.forHost(alias).length > 0);
    const item = new vscode.TreeItem(alias, hasChildren ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    // VS Code keeps an item's collapsed state by id: when children appear afresh (forwards
    // restored by Connect after a Disconnect) a new id makes the host open, so they show.
    const seen = this.expansions.get(alias) ?? { had: false, generation: 0 };
    if (hasChildren && !seen.had) seen.generation++;
    seen.had = hasChildren;
    this.expansions.set(alias, seen);
    item.id = seen.generation > 0 ? `host:${alias}:${seen.generation}` : `host:${alias}`;
    if (!host || host.isClosed) {
      const target = entry ? describeDestination(entry.hostName ?? alias, entry.port, entry.user) : '';
      // The target is in the tooltip: the description must fit the default sidebar width.
      item.description = 'not connected';
      item.iconPath = stateIcons.idle;
      item.contextValue = 'host.disconnected';
      item.tooltip = `${alias}${target ? ` (${target})` : ''}: not connected${entry ? `\nfrom ${entry.file}` : ''}`;
      item.accessibilityInformation = { label: `${alias}, not connected` };
      return item;
    }
    const input = host.statusInput(Date.now(), this.settings.current.slowRttMs);
    const status = hostStatus(input);
    item.description = stateSummary(input, true);
    item.iconPath = stateIcons[iconKey(status.stateLabel, host)] ?? stateIcons.idle;
    item.contextValue = `host.${contextState(host)}`;
    const md = new vscode.MarkdownString(hostTooltip(input));
    md.supportThemeIcons = true;
    item.tooltip = md;
    item.accessibilityInformation = { label: status.accessibilityLabel };
    return item;
  }

  private terminalItem(alias: string, pty: RemotePty, index: number): vscode.TreeItem {
    const item = new vscode.TreeItem(`Terminal ${index + 1}`, vscode.TreeItemCollapsibleState.None);
    item.id = `terminal:${alias}:${index}`;
    const state = pty.state;
    item.description = state ? describeShellState(state) : 'starting';
    item.iconPath = new vscode.ThemeIcon(state?.kind === 'open' ? 'terminal' : state?.kind === 'failed' ? 'error' : 'debug-pause');
    item.contextValue = 'terminal';
    item.command = { command: CommandId.focusTerminal, title: 'Show Terminal', arguments: [alias, index] };
    const keeping = pty.keeping;
    const kept =
      keeping === 'keeper'
        ? 'kept by the session keeper: survives any outage, keys included'
        : keeping === 'tmux'
          ? 'reattaching (tmux): the shell survives an outage, keys typed meanwhile do not'
          : keeping === 'none'
            ? 'not kept: a drop ends this shell'
            : undefined;
    item.tooltip = `Remote terminal on ${alias}: ${item.description}${kept ? `\n${kept}` : ''}`;
    return item;
  }

  private forwardItem(alias: string, forward: Forward): vscode.TreeItem {
    const item = new vscode.TreeItem(forward.label, vscode.TreeItemCollapsibleState.None);
    item.id = `forward:${alias}:${forward.id}`;
    const state = forwardDescription(forward.state, forward.counters, forward.kept);
    // With port 0 the label says "0": then the address is what the user needs; otherwise it is
    // in the tooltip, so that the description fits the default sidebar width.
    const portZero = /(^|[\s:])0(:|$)/.test(forward.label);
    item.description = portZero && forward.address && forward.state.kind !== 'failed' ? `${forward.address} · ${state}` : state;
    const icon = forward.kind === 'local' ? 'arrow-right' : forward.kind === 'remote' ? 'arrow-left' : 'globe';
    item.iconPath = new vscode.ThemeIcon(
      forward.state.kind === 'failed' ? 'warning' : icon,
      forward.state.kind === 'failed' ? new vscode.ThemeColor('list.errorForeground') : undefined,
    );
    item.contextValue = forward.address ? 'forward' : 'forward.noAddress';
    const origin = this.hosts.get(alias)?.originOf(forward.id);
    item.tooltip = [
      forward.label,
      forward.address ? `Address: ${forward.address}` : undefined,
      `State: ${state}`,
      ...forwardConnectionLines(forward.counters, forward.kept),
      origin === 'config' ? 'From ssh_config' : origin === 'user' ? 'Added in this workspace' : undefined,
    ]
      .filter((l) => l !== undefined)
      .join('\n');
    item.accessibilityInformation = { label: `${forward.label}, ${item.description}` };
    return item;
  }

  dispose(): void {
    clearTimeout(this.refreshPending);
    clearInterval(this.counterTimer);
    for (const s of this.subs.splice(0).reverse()) s.dispose();
  }
}

function contextState(host: HostSession): 'connected' | 'reconnecting' | 'failed' | 'connecting' {
  switch (host.session.state.kind) {
    case 'connected':
      return 'connected';
    case 'failed':
      return 'failed';
    case 'lost':
    case 'waiting':
      return 'reconnecting';
    default:
      return host.history.current ? 'reconnecting' : 'connecting';
  }
}

function iconKey(stateLabel: string, host: HostSession): string {
  if (stateLabel === 'not connected' || stateLabel === 'disconnected') return 'idle';
  if (stateLabel === 'connecting' && host.history.current) return 'reconnecting';
  return stateLabel;
}
