import type { SessionState } from '../session/state';

/**
 * What every forward says while its session has `failed` or is `closed`. The decision, made
 * once for all riders: a failed session is paused until a person acts (Reconnect), not over.
 * A forward keeps what needs no server (its local listener), shows `waiting` with the
 * session's own reason, refuses new clients at once with that reason instead of holding
 * them, and resumes by itself when the session connects again. (Shells say the same with
 * their `failed` state, which also means "nothing comes back by itself".)
 */
export function sessionEndedReason(state: Extract<SessionState, { kind: 'failed' | 'closed' }>): string {
  return state.kind === 'failed' ? `the session failed: ${state.error.message}` : 'the session is closed';
}
