/**
 * What a workspace remembers between windows (workspaceState): the forwards the user added
 * per host, and which hosts were connected, so that a reload brings both back. Forwards
 * from ssh_config are not stored: they are read from the config on every connect.
 * No 'vscode' import: it takes anything Memento-shaped.
 */
import { formatForwardRequest, parseStoredForward, type ForwardRequest } from './forwardInput';

export interface MementoLike {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

interface StoredHost {
  forwards: string[];
  connected: boolean;
}

interface Stored {
  version: 1;
  hosts: Record<string, StoredHost>;
}

const key = 'sshKeepalive.workspace';

export class WorkspaceMemory {
  constructor(private readonly memento: MementoLike) {}

  private read(): Stored {
    const v = this.memento.get<Stored>(key);
    return v && v.version === 1 && typeof v.hosts === 'object' && v.hosts ? v : { version: 1, hosts: {} };
  }

  private async change(alias: string, fn: (h: StoredHost) => void): Promise<void> {
    const stored = this.read();
    const host = stored.hosts[alias] ?? { forwards: [], connected: false };
    fn(host);
    if (host.forwards.length === 0 && !host.connected) delete stored.hosts[alias];
    else stored.hosts[alias] = host;
    await this.memento.update(key, stored);
  }

  forwards(alias: string): ForwardRequest[] {
    const host = this.read().hosts[alias];
    return (host?.forwards ?? []).map(parseStoredForward).filter((r): r is ForwardRequest => r !== undefined);
  }

  addForward(alias: string, request: ForwardRequest): Promise<void> {
    const label = formatForwardRequest(request);
    return this.change(alias, (h) => {
      if (!h.forwards.includes(label)) h.forwards.push(label);
    });
  }

  removeForward(alias: string, request: ForwardRequest): Promise<void> {
    const label = formatForwardRequest(request);
    return this.change(alias, (h) => {
      h.forwards = h.forwards.filter((f) => f !== label);
    });
  }

  setConnected(alias: string, connected: boolean): Promise<void> {
    return this.change(alias, (h) => {
      h.connected = connected;
    });
  }

  connectedHosts(): string[] {
    return Object.entries(this.read().hosts)
      .filter(([, h]) => h.connected)
      .map(([alias]) => alias);
  }

  /** Terminals left to the session keeper when the window went away, per host: taken back on the next activation. */
  keptTerminals(): Record<string, KeptTerminals> {
    const v = this.memento.get<Record<string, KeptTerminals>>(keptKey);
    if (!v || typeof v !== 'object') return {};
    const out: Record<string, KeptTerminals> = {};
    for (const [alias, k] of Object.entries(v)) {
      const streams = Array.isArray(k?.streams) ? k.streams.filter((n) => Number.isSafeInteger(n) && n > 0) : [];
      if (typeof k?.session === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(k.session) && streams.length) out[alias] = { session: k.session, streams };
    }
    return out;
  }

  setKeptTerminals(value: Record<string, KeptTerminals>): Promise<void> {
    return Promise.resolve(this.memento.update(keptKey, value));
  }
}

/** A host's keeper session and the pty streams of its terminals. */
export interface KeptTerminals {
  session: string;
  streams: number[];
}

const keptKey = 'sshKeepalive.keptTerminals';
