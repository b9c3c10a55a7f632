import type { SessionError } from './errors';

/**
 * idle -> connecting -> connected -> (lost -> waiting -> connecting)* -> closed.
 * A fatal error ends in `failed` (no background retries); only a user action leaves it.
 */
export type SessionState =
  | { readonly kind: 'idle' }
  /** `lastError`: why the previous attempt of this run failed (absent on the first). */
  | { readonly kind: 'connecting'; readonly attempt: number; readonly since: number; readonly lastError?: string }
  | {
      readonly kind: 'connected';
      readonly since: number;
      readonly rttMs: number | undefined;
      readonly restoredAfterMs?: number;
      /**
       * The path stopped answering (`reason`) at `since`; a second connection is being made
       * beside this one, and whichever answers first is kept (make-before-break).
       */
      readonly checking?: { readonly since: number; readonly reason: string };
    }
  | { readonly kind: 'lost'; readonly reason: string; readonly at: number }
  /**
   * `cycleMs`: from the start of the attempt that just failed to the start of the next one,
   * i.e. the real retry cadence (an attempt that takes 5 s then waits 0.3 s retries every 5.3 s).
   */
  | {
      readonly kind: 'waiting';
      readonly attempt: number;
      readonly delayMs: number;
      readonly until: number;
      readonly lastError: string;
      readonly cycleMs?: number;
    }
  | { readonly kind: 'failed'; readonly error: SessionError; readonly at: number }
  | { readonly kind: 'closed' };

export type SessionStateKind = SessionState['kind'];

/** One line for logs and the CLI. */
export function describeState(state: SessionState): string {
  switch (state.kind) {
    case 'idle':
      return 'idle';
    case 'connecting':
      return `connecting (attempt ${state.attempt})${state.lastError ? `: ${state.lastError}` : ''}`;
    case 'connected':
      if (state.checking) return `connected, checking: ${state.checking.reason}; a second connection is being made`;
      return state.rttMs === undefined ? 'connected' : `connected (${state.rttMs} ms)`;
    case 'lost':
      return `lost: ${state.reason}`;
    case 'waiting':
      return `waiting ${state.delayMs} ms before attempt ${state.attempt} (${state.lastError})`;
    case 'failed':
      return `failed: ${state.error.message}`;
    case 'closed':
      return 'closed';
  }
}
