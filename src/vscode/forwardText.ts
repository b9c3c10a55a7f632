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

/** "active · kept · 2 open · 1.2 KB in · 300 B out"; a failure says why instead of counters. */
export function forwardDescription(state: ForwardState, counters: ForwardCounters, kept = false): string {
  if (state.kind === 'failed') return `failed: ${state.reason}`;
  const parts = [forwardStateLabel(state)];
  if (kept) parts.push('kept');
  if (counters.openConnections > 0) parts.push(`${counters.openConnections} open`);
  if (counters.totalConnections > 0) parts.push(`${counters.totalConnections} total`);
  if (counters.bytesIn > 0 || counters.bytesOut > 0) parts.push(`${formatBytes(counters.bytesIn)} in · ${formatBytes(counters.bytesOut)} out`);
  return parts.join(' · ');
}

/** The tooltip's lines about connections: what is open, what outlived outages, and what "kept" means. */
export function forwardConnectionLines(counters: ForwardCounters, kept: boolean): string[] {
  const lines = [`Connections: ${counters.openConnections} open, ${counters.totalConnections} total`];
  if (counters.carriedConnections > 0) lines.push(`Carried through an outage: ${counters.carriedConnections}`);
  if (counters.bytesIn > 0 || counters.bytesOut > 0) lines.push(`Bytes: ${formatBytes(counters.bytesIn)} in, ${formatBytes(counters.bytesOut)} out`);
  lines.push(
    kept
      ? 'Kept: connections ride the session keeper on the server; they outlive drops and outages and resume where they stopped'
      : 'Not kept: a drop ends the open connections (new ones are held until the session is back)',
  );
  return lines;
}
