/** How a forward's state and counters read in the tree and pickers. Pure (no 'vscode'). */
import type { ForwardCounters, ForwardState } from '../core/forward/types';
import { formatBytes } from './format';

export function forwardStateLabel(state: ForwardState): string {
  switch (state.kind) {
    case 'starting':
      return 'starting';
    case 'active':
      return 'active';
    case 'waiting':
      return 'waiting';
    case 'failed':
      return 'failed';
    case 'stopped':
      return 'stopped';
  }
}

/** "active · 2 open · 1.2 KB in · 300 B out"; a failure says why instead of counters. */
export function forwardDescription(state: ForwardState, counters: ForwardCounters): string {
  if (state.kind === 'failed') return `failed: ${state.reason}`;
  const parts = [forwardStateLabel(state)];
  if (counters.openConnections > 0) parts.push(`${counters.openConnections} open`);
  if (counters.totalConnections > 0) parts.push(`${counters.totalConnections} total`);
  if (counters.bytesIn > 0 || counters.bytesOut > 0) parts.push(`${formatBytes(counters.bytesIn)} in · ${formatBytes(counters.bytesOut)} out`);
  return parts.join(' · ');
}
