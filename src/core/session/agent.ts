import type { BaseAgent, ParsedKey } from 'ssh2';
import { ssh2 } from './ssh2Lazy';

/**
 * An agent that offers only the keys whose public blobs are listed: what OpenSSH does
 * for IdentitiesOnly=yes (agent keys are used only when they match an IdentityFile).
 */
export function createFilteredAgent(socketPath: string, allowed: Buffer[]): BaseAgent {
  filteredAgent ??= defineFilteredAgent(ssh2());
  return new filteredAgent(socketPath, allowed);
}

let filteredAgent: ReturnType<typeof defineFilteredAgent> | undefined;

/** The class is made on first use: it extends ssh2's BaseAgent, and ssh2 is loaded lazily (ssh2Lazy.ts). */
function defineFilteredAgent({ BaseAgent, createAgent }: ReturnType<typeof ssh2>) {
  return class FilteredAgent extends BaseAgent {
    private readonly inner: BaseAgent;

    constructor(
      socketPath: string,
      private readonly allowed: Buffer[],
    ) {
      super();
      // createAgent: Pageant and Windows named pipes too, as ssh2 picks for a plain agent path.
      this.inner = createAgent(socketPath);
    }

    override getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
      this.inner.getIdentities((err, keys) => {
        if (err) return cb(err);
        const parsed = (keys ?? []) as ParsedKey[];
        cb(
          undefined,
          parsed.filter((k) => this.allowed.some((b) => b.equals(k.getPublicSSH()))),
        );
      });
    }

    override sign(pubKey: ParsedKey, data: Buffer, options: unknown, cb?: (err: Error | undefined, signature?: Buffer) => void): void {
      (this.inner.sign as (...args: unknown[]) => void)(pubKey, data, options, cb);
    }
  };
}
