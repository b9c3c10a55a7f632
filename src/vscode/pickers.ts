import * as vscode from 'vscode';
import { describeDestination } from '../core/base/hostPort';
import type { HostListEntry } from '../core/config/sshConfig';
import type { Forward } from '../core/forward/types';
import { forwardDescription } from './forwardText';
import type { HostManager } from './hostManager';
import type { HostSession } from './hostSession';
import { stateSummary } from './statusText';

interface HostPickItem extends vscode.QuickPickItem {
  alias: string;
}

function describeEntry(e: HostListEntry): string {
  return describeDestination(e.hostName ?? e.alias, e.port, e.user);
}

/**
 * Picks a host from ssh_config (HostName and User as description). An alias that is not
 * listed can be typed and taken as is, as `ssh alias` would.
 * `configured` is passed in: reading the config may throw, and the caller reports that.
 */
export async function pickConfiguredHost(hosts: HostManager, configured: HostListEntry[], placeHolder: string): Promise<string | undefined> {
  const items: HostPickItem[] = configured.map((e) => {
    const live = hosts.get(e.alias);
    return {
      alias: e.alias,
      label: e.alias,
      description: describeEntry(e),
      detail: live && !live.isClosed ? stateSummary(live.statusInput(Date.now(), Number.POSITIVE_INFINITY)) : undefined,
      iconPath: new vscode.ThemeIcon(live && !live.isClosed ? 'vm-active' : 'vm'),
    };
  });
  const qp = vscode.window.createQuickPick<HostPickItem>();
  qp.title = 'SSH Keepalive';
  qp.placeholder = placeHolder;
  qp.matchOnDescription = true;
  qp.items = items;
  qp.ignoreFocusOut = false;
  return new Promise<string | undefined>((resolve) => {
    let done = false;
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      resolve(v);
      qp.dispose();
    };
    let customShown: string | undefined;
    qp.onDidChangeValue((value) => {
      const typed = value.trim();
      const listed = items.some((i) => i.alias.toLowerCase() === typed.toLowerCase());
      // A typed alias not in the list becomes the first choice. Items are replaced only when
      // that extra item changes: replacing them on every key resets the active item, and a
      // fast Enter could then accept nothing.
      const custom = typed && !listed && !/\s/.test(typed) ? typed : undefined;
      if (custom === customShown) return;
      customShown = custom;
      qp.items = custom ? [{ alias: custom, label: custom, description: 'connect to this host' }, ...items] : items;
    });
    qp.onDidAccept(() => {
      const typed = qp.value.trim();
      const exact = items.find((i) => i.alias.toLowerCase() === typed.toLowerCase());
      finish(qp.selectedItems[0]?.alias ?? qp.activeItems[0]?.alias ?? exact?.alias ?? customShown);
    });
    qp.onDidHide(() => finish(undefined));
    qp.show();
  });
}

/** Picks one of the hosts with a session; `allLabel` adds a first item meaning "every host". */
export async function pickSession(sessions: HostSession[], placeHolder: string, allLabel?: string): Promise<string | undefined> {
  if (sessions.length === 0) {
    void vscode.window.showInformationMessage('SSH Keepalive: no host is connected.');
    return undefined;
  }
  // One host: acting on it is the only sensible answer, so nobody is asked.
  if (sessions.length === 1) return sessions[0].alias;
  type Item = vscode.QuickPickItem & { alias: string };
  const items: Item[] = sessions.map((h) => ({
    alias: h.alias,
    label: h.alias,
    description: h.target,
    detail: stateSummary(h.statusInput(Date.now(), Number.POSITIVE_INFINITY)),
  }));
  if (allLabel && sessions.length > 1) items.unshift({ alias: 'all', label: allLabel, description: `${sessions.length} hosts` });
  const pick = await vscode.window.showQuickPick(items, { title: 'SSH Keepalive', placeHolder, matchOnDescription: true });
  return pick?.alias;
}

/** Picks a forward across hosts. */
export async function pickForward(
  sessions: HostSession[],
  placeHolder: string,
  filter: (f: Forward) => boolean = () => true,
): Promise<{ alias: string; forward: Forward } | undefined> {
  type Item = vscode.QuickPickItem & { alias: string; forward: Forward };
  const items: Item[] = [];
  for (const h of sessions) {
    for (const forward of h.forwards.list().filter(filter)) {
      items.push({
        alias: h.alias,
        forward,
        label: forward.label,
        description: `${h.alias} · ${forwardDescription(forward.state, forward.counters)}`,
        detail: forward.address,
      });
    }
  }
  if (items.length === 0) {
    void vscode.window.showInformationMessage('SSH Keepalive: there is no forward.');
    return undefined;
  }
  if (items.length === 1) return items[0];
  const pick = await vscode.window.showQuickPick(items, { title: 'SSH Keepalive', placeHolder, matchOnDescription: true, matchOnDetail: true });
  return pick ? { alias: pick.alias, forward: pick.forward } : undefined;
}
