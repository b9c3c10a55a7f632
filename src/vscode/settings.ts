import * as vscode from 'vscode';
import { normalizeSettings, type ExtensionSettings } from './settingsModel';

const section = 'sshKeepalive';

/** Keys as package.json spells them (below the "sshKeepalive." section). */
const keys: Record<keyof ExtensionSettings, string> = {
  autoConnect: 'autoConnect',
  configFile: 'configFile',
  keepaliveInterval: 'keepaliveInterval',
  keepaliveCountMax: 'keepaliveCountMax',
  keepaliveLearn: 'keepaliveLearn',
  reconnectMaxDelay: 'reconnect.maxDelay',
  reattach: 'reattach',
  slowRttMs: 'slowRttMs',
  statusBarMaxItems: 'statusBar.maxItems',
  reclaimStaleRemoteForwards: 'remoteForwards.reclaimStale',
  keeperEnabled: 'keeper.enabled',
  keeperIdleHours: 'keeper.idleTimeoutHours',
  keeperBufferMiB: 'keeper.bufferSizeMiB',
};

/**
 * Reads the settings and tells which ones changed. configFile is machine-scoped in
 * package.json, so VS Code itself ignores a value from workspace settings; autoConnect and
 * keepaliveLearn (which opens extra connections to the user's servers) are restricted
 * configurations, ignored from an untrusted workspace.
 */
export class Settings implements vscode.Disposable {
  private value: ExtensionSettings = Settings.read();
  private readonly emitter = new vscode.EventEmitter<ReadonlySet<keyof ExtensionSettings>>();
  readonly onDidChange = this.emitter.event;
  private readonly sub: vscode.Disposable;

  constructor() {
    this.sub = vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(section)) return;
      const changed = new Set<keyof ExtensionSettings>();
      for (const [name, key] of Object.entries(keys) as Array<[keyof ExtensionSettings, string]>) {
        if (e.affectsConfiguration(`${section}.${key}`)) changed.add(name);
      }
      this.value = Settings.read();
      if (changed.size) this.emitter.fire(changed);
    });
  }

  get current(): ExtensionSettings {
    return this.value;
  }

  private static read(): ExtensionSettings {
    const config = vscode.workspace.getConfiguration(section);
    const raw: Partial<Record<keyof ExtensionSettings, unknown>> = {};
    for (const [name, key] of Object.entries(keys) as Array<[keyof ExtensionSettings, string]>) raw[name] = config.get(key);
    return normalizeSettings(raw);
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}
