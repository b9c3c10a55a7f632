import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LearnedPath, LearnedPathStore } from './intervalLearner';

/**
 * Where the IntervalLearner remembers what each network tolerates, across runs: a JSON
 * record (networks by key, each with when it was learned) kept by the CLI in a file under the
 * user's state directory and by VS Code in the extension's globalState. Both go through
 * recordStore, which validates what it reads and keeps only the most recent networks.
 */

/** A laptop meets a few networks; the oldest ones beyond this are forgotten. */
export const MAX_NETWORKS = 32;

interface SavedPath extends LearnedPath {
  /** Epoch ms when this was last learned or relaxed. */
  readonly at: number;
}

export interface SavedRecord {
  readonly version: 1;
  readonly networks: Readonly<Record<string, SavedPath>>;
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** What was read, cleaned: anything malformed (another version, a hand edit) is dropped, not trusted. */
export function parseRecord(raw: unknown): Record<string, SavedPath> {
  const out: Record<string, SavedPath> = {};
  if (typeof raw !== 'object' || raw === null || (raw as { version?: unknown }).version !== 1) return out;
  const networks = (raw as { networks?: unknown }).networks;
  if (typeof networks !== 'object' || networks === null) return out;
  for (const [key, v] of Object.entries(networks as Record<string, unknown>)) {
    const p = v as (Omit<Partial<SavedPath>, 'diesAfterMs'> & { diesAfterMs?: unknown }) | null;
    if (!p || !positive(p.intervalMs) || !positive(p.at)) continue;
    // A measured record (survivedMs) may know no silence that died: JSON writes Infinity as null.
    const measured = positive(p.survivedMs) ? { survivedMs: p.survivedMs } : undefined;
    const diesAfterMs = positive(p.diesAfterMs) ? p.diesAfterMs : measured && p.diesAfterMs === null ? Infinity : undefined;
    if (diesAfterMs !== undefined) out[key] = { diesAfterMs, intervalMs: p.intervalMs, at: p.at, ...measured };
  }
  return out;
}

/**
 * A store over any load/save pair. `set` loads again before it saves, so that two processes
 * (two CLI runs, two windows) add to each other's networks instead of overwriting them.
 */
export function recordStore(load: () => unknown, save: (record: SavedRecord) => void, now: () => number = Date.now): LearnedPathStore {
  let cache: Record<string, SavedPath> | undefined;
  const read = () => (cache = parseRecord(load()));
  return {
    get(network) {
      const p = (cache ?? read())[network];
      return p && { diesAfterMs: p.diesAfterMs, intervalMs: p.intervalMs, ...(p.survivedMs !== undefined ? { survivedMs: p.survivedMs } : {}) };
    },
    set(network, learned) {
      const all = read();
      all[network] = {
        diesAfterMs: learned.diesAfterMs,
        intervalMs: learned.intervalMs,
        at: now(),
        ...(learned.survivedMs !== undefined ? { survivedMs: learned.survivedMs } : {}),
      };
      const kept = Object.entries(all)
        .sort((a, b) => b[1].at - a[1].at)
        .slice(0, MAX_NETWORKS);
      cache = Object.fromEntries(kept);
      save({ version: 1, networks: cache });
    },
  };
}

/**
 * The CLI's store: a JSON file, written whole to a temporary file and renamed (a crash leaves
 * the old or the new record, never half of one). A file that cannot be read or written costs
 * only the memory: `onError` is told once, and learning goes on for this run.
 */
export function fileStore(file: string, onError: (message: string) => void = () => undefined): LearnedPathStore {
  let told = false;
  const tell = (what: string, err: unknown) => {
    if (told) return;
    told = true;
    onError(`learned keepalive intervals: cannot ${what} ${file}: ${(err as Error).message}; remembered for this run only`);
  };
  let memory: SavedRecord | undefined;
  return recordStore(
    () => {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') tell('read', err);
        return memory;
      }
    },
    (record) => {
      memory = record;
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
        fs.renameSync(tmp, file);
      } catch (err) {
        tell('write', err);
      }
    },
  );
}

/** $XDG_STATE_HOME/ssh-keepalive/keepalive-learned.json, else ~/.local/state/ssh-keepalive/... */
export function defaultLearnedFile(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const base = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(home, '.local', 'state');
  return path.join(base, 'ssh-keepalive', 'keepalive-learned.json');
}
