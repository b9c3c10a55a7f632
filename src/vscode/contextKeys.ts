import * as vscode from 'vscode';
import { ContextKey } from './commandIds';
import type { HostManager } from './hostManager';

/**
 * Keeps the `when`/`enablement` context keys in step with the sessions, setting a key
 * only when its value changes (setContext is a round trip to the renderer).
 */
export class ContextKeys implements vscode.Disposable {
  private readonly values = new Map<ContextKey, boolean>();
  private readonly sub: { dispose(): void };

  constructor(private readonly hosts: HostManager) {
    this.sub = hosts.onDidChange((e) => {
      if (e.type !== 'probe') this.update();
    });
    this.update();
  }

  private update(): void {
    const live = this.hosts.list().filter((h) => !h.isClosed);
    this.set(ContextKey.hasSessions, live.length > 0);
    this.set(
      ContextKey.hasForwards,
      live.some((h) => h.forwards.list().length > 0),
    );
  }

  private set(key: ContextKey, value: boolean): void {
    if (this.values.get(key) === value) return;
    this.values.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }

  dispose(): void {
    this.sub.dispose();
  }
}
