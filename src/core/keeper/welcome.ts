import { KeeperError, textField } from './errors';
import type { JsonObject } from './frames';

/** The keeper's answer to HELLO: who it is, the session's streams and the ones it reset. */
export interface Welcome {
  readonly keeper: string;
  readonly pid: number;
  readonly streams: ReadonlyArray<{ id: number; kind: string; recv: number; base: number; win: number; meta: JsonObject }>;
  readonly resets: ReadonlyArray<{ id: number; reason: string; message: string }>;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Validates a WELCOME body; anything off is a protocol error, not a crash later on. */
export function parseWelcome(json: JsonObject): Welcome {
  const bad = (what: string) => new KeeperError('protocol', `WELCOME: ${what}`);
  if (json.v !== 1) throw bad(`version ${String(json.v)}`);
  if (typeof json.keeper !== 'string') throw bad('no keeper instance');
  if (!Array.isArray(json.streams) || !Array.isArray(json.resets)) throw bad('streams/resets missing');
  const streams = json.streams.map((e: unknown) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== 'object' || !o || !isCount(o.id) || !isCount(o.recv) || !isCount(o.base) || !isCount(o.win)) throw bad('bad stream entry');
    return { id: o.id, kind: String(o.kind), recv: o.recv, base: o.base, win: o.win, meta: (typeof o.meta === 'object' && o.meta ? o.meta : {}) as JsonObject };
  });
  const resets = json.resets.map((e: unknown) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== 'object' || !o || !isCount(o.id)) throw bad('bad reset entry');
    return { id: o.id, reason: String(o.reason), message: textField(o.message, '') };
  });
  return { keeper: json.keeper, pid: isCount(json.pid) ? json.pid : 0, streams, resets };
}
