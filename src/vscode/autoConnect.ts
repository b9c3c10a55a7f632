import type * as vscode from 'vscode';
import { ConfigError } from '../core/config/types';
import type { ErrorReporter } from './errorReporter';
import type { HostManager } from './hostManager';
import type { Settings } from './settings';
import type { WorkspaceMemory } from './workspaceMemory';

/**
 * Connects the hosts of sshKeepalive.autoConnect at startup, and the hosts this workspace
 * had connected when it was last closed (so their forwards come back after a reload).
 * Aliases added to the setting later connect at once.
 */
export class AutoConnect implements vscode.Disposable {
  private readonly sub: vscode.Disposable;
  private known: Set<string>;

  constructor(
    private readonly hosts: HostManager,
    settings: Settings,
    memory: WorkspaceMemory,
    private readonly errors: ErrorReporter,
  ) {
    this.known = new Set(settings.current.autoConnect);
    const startup = [...new Set([...settings.current.autoConnect, ...memory.connectedHosts()])];
    for (const alias of startup) this.connect(alias);
    this.sub = settings.onDidChange((changed) => {
      if (!changed.has('autoConnect')) return;
      const now = settings.current.autoConnect;
      for (const alias of now) if (!this.known.has(alias)) this.connect(alias);
      this.known = new Set(now);
    });
  }

  private connect(alias: string): void {
    try {
      this.hosts.connect(alias);
    } catch (err) {
      if (err instanceof ConfigError) this.errors.configError(err, alias);
      else this.errors.unexpected(`connecting to ${alias}`, err);
    }
  }

  dispose(): void {
    this.sub.dispose();
  }
}
