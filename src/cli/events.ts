import type { SessionState } from '../core/session/state';

export type CliEvent = Record<string, unknown> & { event: string };

/**
 * Maps session states to the `--events` stream: one JSON object per line on stderr,
 * `connecting`, `connected` (rttMs), `lost` (reason), `waiting` (attempt, delayMs),
 * `restored` (after a loss, with downtimeMs), `failed` (fatal, reason), `closed`, and
 * `checking` (reason: the path stopped answering and a second connection is being made
 * beside it; `connected` follows, with `restored` when the new one took over).
 */
export function eventsForState(host: string, state: SessionState): CliEvent[] {
  const base = { host, time: new Date().toISOString() };
  switch (state.kind) {
    case 'idle':
      return [];
    case 'connecting':
      return [{ event: 'connecting', ...base, attempt: state.attempt }];
    case 'connected': {
      if (state.checking) return [{ event: 'checking', ...base, reason: state.checking.reason }];
      const connected: CliEvent = { event: 'connected', ...base, rttMs: state.rttMs ?? null };
      if (state.restoredAfterMs === undefined) return [connected];
      return [connected, { event: 'restored', ...base, downtimeMs: state.restoredAfterMs, rttMs: state.rttMs ?? null }];
    }
    case 'lost':
      return [{ event: 'lost', ...base, reason: state.reason }];
    case 'waiting':
      return [{ event: 'waiting', ...base, attempt: state.attempt, delayMs: state.delayMs, lastError: state.lastError }];
    case 'failed':
      return [{ event: 'failed', ...base, reason: state.error.message, code: state.error.code }];
    case 'closed':
      return [{ event: 'closed', ...base }];
  }
}

export function writeEvent(e: CliEvent): void {
  process.stderr.write(`${JSON.stringify(e)}\n`);
}
