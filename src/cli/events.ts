import type { TunerEvent } from '../core/liveness/keepaliveTuner';
import type { Liveness } from '../core/liveness/liveness';
import type { AttemptFailure } from '../core/session/session';
import type { SessionState } from '../core/session/state';

export type CliEvent = Record<string, unknown> & { event: string };

/**
 * Maps session states to the `--events` stream: one JSON object per line on stderr,
 * `connecting`, `connected` (rttMs), `lost` (reason), `waiting` (attempt, delayMs),
 * `restored` (after a loss, with downtimeMs), `failed` (fatal, reason), `closed`, and
 * `checking` (reason: the path missed a demand probe; with the keeper a second connection
 * is made beside it, without it the path gets a longer wait; `connected` follows when it
 * answers, with `restored` when a new connection took over, or `lost`). A
 * `connecting` after a failed attempt carries that attempt's `lastError`.
 */
export function eventsForState(host: string, state: SessionState): CliEvent[] {
  const base = { host, time: new Date().toISOString() };
  switch (state.kind) {
    case 'idle':
      return [];
    case 'connecting':
      return [{ event: 'connecting', ...base, attempt: state.attempt, ...(state.lastError ? { lastError: state.lastError } : {}) }];
    case 'connected': {
      if (state.checking) return [{ event: 'checking', ...base, reason: state.checking.reason }];
      const connected: CliEvent = { event: 'connected', ...base, rttMs: state.rttMs ?? null };
      if (state.restoredAfterMs === undefined) return [connected];
      return [connected, { event: 'restored', ...base, downtimeMs: state.restoredAfterMs, rttMs: state.rttMs ?? null }];
    }
    case 'lost':
      return [{ event: 'lost', ...base, reason: state.reason }];
    case 'waiting':
      return [
        {
          event: 'waiting',
          ...base,
          attempt: state.attempt,
          delayMs: state.delayMs,
          lastError: state.lastError,
          ...(state.cycleMs !== undefined ? { cycleMs: state.cycleMs } : {}),
        },
      ];
    case 'failed':
      return [{ event: 'failed', ...base, reason: state.error.message, code: state.error.code }];
    case 'closed':
      return [{ event: 'closed', ...base }];
  }
}

/** `unconfirmed` (nothing heard within the alive window, with lastHeardMsAgo) and `alive` again. */
export function eventForLiveness(host: string, liveness: Liveness): CliEvent {
  const base = { host, time: new Date().toISOString() };
  return liveness.kind === 'alive' ? { event: 'alive', ...base } : { event: 'unconfirmed', ...base, lastHeardMsAgo: liveness.silentMs };
}

/** `attempt-failed`: a failed attempt that will be retried, with its cause. */
export function eventForAttemptFailure(host: string, f: AttemptFailure): CliEvent {
  return { event: 'attempt-failed', host, time: new Date().toISOString(), attempt: f.attempt, code: f.error.code, reason: f.error.message };
}

/**
 * `keepalive-learning` (a measurement of the idle timeout started), `keepalive-learned`
 * ("this network drops idle flows after about N s", with survivedS, diesAfterS when one died,
 * and intervalS: the TCP keepalive now used), `keepalive-progress` (a longer silence survived,
 * the interval grew), `keepalive-dropped` (a refreshed connection was dropped: backed off) and
 * `keepalive-unavailable` (cannot learn here: the configured interval is used).
 */
export function eventForTuner(host: string, e: TunerEvent): CliEvent {
  const s = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 100) / 10);
  const base: CliEvent = { event: `keepalive-${e.kind}`, host, time: new Date().toISOString(), message: e.message };
  if (e.kind === 'learned' || e.kind === 'progress')
    return { ...base, survivedS: s(e.survivedMs), diesAfterS: s(e.diesAfterMs) ?? null, intervalS: s(e.intervalMs) };
  if (e.kind === 'dropped') return { ...base, intervalS: s(e.intervalMs) };
  return base;
}

export function writeEvent(e: CliEvent): void {
  process.stderr.write(`${JSON.stringify(e)}\n`);
}
