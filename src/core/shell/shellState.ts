/**
 * The life of one remote shell, as its terminal shows it:
 *
 *   opening -> open -> (suspended -> opening -> open)* -> exited
 *
 * `suspended` keeps the terminal while the session is down; the next connection opens a
 * new channel, and `open.reattached` says whether the old shell came back (a multiplexer
 * session survived) or a fresh one started (state was lost: tell the user).
 * `failed` means no shell and none coming by itself; a later reconnect of the session
 * still tries again.
 */
export type ShellState =
  | { readonly kind: 'opening' }
  | { readonly kind: 'open'; readonly generation: number; readonly reattached: boolean; readonly multiplexer?: string }
  | { readonly kind: 'suspended'; readonly reason: string }
  | { readonly kind: 'exited'; readonly code: number | null; readonly signal?: string }
  | { readonly kind: 'failed'; readonly reason: string };

export type ShellStateKind = ShellState['kind'];

/** One line for logs and the CLI. */
export function describeShellState(state: ShellState): string {
  switch (state.kind) {
    case 'opening':
      return 'opening';
    case 'open': {
      const how = state.generation === 1 && !state.reattached ? 'opened' : state.reattached ? 'reattached' : 'reopened as a new shell (previous state lost)';
      return state.multiplexer ? `${how} (${state.multiplexer})` : how;
    }
    case 'suspended':
      return `suspended: ${state.reason}`;
    case 'exited':
      return state.signal ? `exited on ${state.signal}` : `exited with code ${state.code ?? 'unknown'}`;
    case 'failed':
      return `failed: ${state.reason}`;
  }
}
