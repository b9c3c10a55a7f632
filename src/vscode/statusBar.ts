import * as vscode from 'vscode';
import { CommandId } from './commandIds';
import type { HostManager } from './hostManager';
import type { HostSession } from './hostSession';
import type { Settings } from './settings';
import { aggregateStatus, hostStatus, hostTooltip, type StatusSeverity } from './statusText';

const backgrounds: Record<StatusSeverity, vscode.ThemeColor | undefined> = {
  normal: undefined,
  warning: new vscode.ThemeColor('statusBarItem.warningBackground'),
  error: new vscode.ThemeColor('statusBarItem.errorBackground'),
};

/** What the tests read back from the real items (the API offers no way to list them). */
export interface StatusItemSnapshot {
  id: string;
  text: string;
  tooltip: string;
  background: string | undefined;
  accessibilityLabel: string | undefined;
  command: string | undefined;
}

/**
 * One status bar item per host with a session (or one aggregate item above
 * sshKeepalive.statusBar.maxItems). Text comes from statusText.ts only. A one-second timer
 * runs only while something shown counts on by itself (a countdown, "silent N s"): an idle,
 * alive host wakes nothing. The turn to unconfirmed comes from the liveness watcher's timer.
 */
export class StatusBar implements vscode.Disposable {
  private readonly items = new Map<string, vscode.StatusBarItem>();
  private aggregate: vscode.StatusBarItem | undefined;
  private readonly rendered = new WeakMap<
    vscode.StatusBarItem,
    { text: string; tooltip: string; severity: StatusSeverity; label: string; alias: string | undefined }
  >();
  private ticker: NodeJS.Timeout | undefined;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly hosts: HostManager,
    private readonly settings: Settings,
  ) {
    // A keepalive reply changes only that host's item; anything else may add or drop items.
    const sub = hosts.onDidChange((e) => (e.type === 'probe' ? this.update(e.host) : this.update()));
    this.subs.push({ dispose: () => sub.dispose() });
    this.subs.push(
      settings.onDidChange((changed) => {
        if (changed.has('slowRttMs') || changed.has('statusBarMaxItems')) this.update();
      }),
    );
    this.update();
  }

  update(only?: HostSession): void {
    const now = Date.now();
    const { slowRttMs, statusBarMaxItems } = this.settings.current;
    const live = this.hosts.list().filter((h) => !h.isClosed);
    if (only && live.length <= statusBarMaxItems && this.items.has(only.alias)) {
      const input = only.statusInput(now, slowRttMs);
      const status = hostStatus(input);
      this.render(this.itemFor(only), status.text, hostTooltip(input), status.severity, status.accessibilityLabel, only.alias);
      return;
    }
    let ticking = false;
    if (live.length > statusBarMaxItems) {
      this.clearItems(new Set());
      const inputs = live.map((h) => h.statusInput(now, slowRttMs));
      const status = aggregateStatus(inputs);
      ticking = status.ticking;
      const item = (this.aggregate ??= this.create('sshKeepalive.status.all', 'SSH Keepalive'));
      this.render(item, status.text, status.tooltip, status.severity, status.accessibilityLabel, undefined);
    } else {
      this.aggregate?.dispose();
      this.aggregate = undefined;
      this.clearItems(new Set(live.map((h) => h.alias)));
      for (const host of live) {
        const input = host.statusInput(now, slowRttMs);
        const status = hostStatus(input);
        ticking ||= status.ticking;
        const item = this.itemFor(host);
        this.render(item, status.text, hostTooltip(input), status.severity, status.accessibilityLabel, host.alias);
      }
    }
    this.setTicking(ticking);
  }

  private itemFor(host: HostSession): vscode.StatusBarItem {
    let item = this.items.get(host.alias);
    if (!item) {
      item = this.create(`sshKeepalive.status.${host.alias}`, `SSH Keepalive: ${host.alias}`);
      this.items.set(host.alias, item);
    }
    return item;
  }

  private create(id: string, name: string): vscode.StatusBarItem {
    // Left side, near the remote indicator: it is about the connection, not the file.
    const item = vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, 100);
    item.name = name;
    return item;
  }

  /**
   * Sets only what changed: a keepalive every second on one host must not re-render the
   * other items, nor reset a tooltip the user is reading.
   */
  private render(item: vscode.StatusBarItem, text: string, tooltip: string, severity: StatusSeverity, label: string, alias: string | undefined): void {
    const last = this.rendered.get(item);
    if (last?.text !== text) item.text = text;
    if (last?.tooltip !== tooltip) {
      const md = new vscode.MarkdownString(tooltip);
      md.supportThemeIcons = true;
      item.tooltip = md;
    }
    if (last?.severity !== severity) item.backgroundColor = backgrounds[severity];
    if (last?.label !== label) item.accessibilityInformation = { label, role: 'button' };
    if (!last || last.alias !== alias) {
      item.command = { command: CommandId.hostActions, title: 'Show Host Actions', arguments: alias === undefined ? [] : [alias] };
      item.show();
    }
    this.rendered.set(item, { text, tooltip, severity, label, alias });
  }

  private clearItems(keep: ReadonlySet<string>): void {
    for (const [alias, item] of this.items) {
      if (keep.has(alias)) continue;
      item.dispose();
      this.items.delete(alias);
    }
  }

  private setTicking(on: boolean): void {
    if (on && !this.ticker) {
      this.ticker = setInterval(() => this.update(), 1000);
    } else if (!on && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** True while the one-second timer runs (tests read it: an idle, alive host must not tick). */
  get ticking(): boolean {
    return this.ticker !== undefined;
  }

  snapshot(): StatusItemSnapshot[] {
    const all = [...this.items.values(), ...(this.aggregate ? [this.aggregate] : [])];
    return all.map((item) => ({
      id: item.id,
      text: item.text,
      tooltip: item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : String(item.tooltip ?? ''),
      background: (Object.keys(backgrounds) as StatusSeverity[]).find((k) => k !== 'normal' && backgrounds[k] === item.backgroundColor),
      accessibilityLabel: item.accessibilityInformation?.label,
      command: typeof item.command === 'object' ? item.command.command : item.command,
    }));
  }

  dispose(): void {
    this.setTicking(false);
    for (const s of this.subs.reverse()) s.dispose();
    for (const item of this.items.values()) item.dispose();
    this.items.clear();
    this.aggregate?.dispose();
  }
}
