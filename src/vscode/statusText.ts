/**
 * Status bar text, severity and tooltip derived from a host's state, in ONE place (as
 * VS Code's git extension does). Pure: no 'vscode' import, unit-tested in plain node; the
 * status bar, the tree and the tests all read what these functions return.
 */
import type { SessionState } from '../core/session/state';
import { escapeMarkdown, formatClock, formatDuration, formatRtt, secondsLeft } from './format';
import type { Outage } from './outageHistory';

export interface HostStatusInput {
  alias: string;
  /** "user@hostname:port", shown in the tooltip. */
  target?: string;
  state: SessionState;
  /** Smoothed RTT of the live connection (every keepalive reply updates it). */
  rttMs?: number;
  /** Epoch ms of the last packet from the server. */
  lastContact?: number;
  keepalive: { intervalMs: number; countMax: number };
  /** Epoch ms when the session was started (for "session age"). */
  startedAt?: number;
  outages: readonly Outage[];
  now: number;
  /** Above this RTT the item gets the warning background. */
  slowRttMs: number;
  /** The host's terminals by what keeps them through an outage, and the keeper's own state. */
  terminals?: { kept: number; reattaching: number; notKept: number; keeper?: string };
}

/** "2 kept (session keeper), 1 reattaching (tmux)": what survives an outage. */
export function terminalsSummary(t: NonNullable<HostStatusInput['terminals']>): string {
  const parts: string[] = [];
  if (t.kept) parts.push(`${t.kept} kept (session keeper)`);
  if (t.reattaching) parts.push(`${t.reattaching} reattaching (tmux)`);
  if (t.notKept) parts.push(`${t.notKept} not kept (a new shell after a drop)`);
  return parts.join(', ') || 'none';
}

export type StatusSeverity = 'normal' | 'warning' | 'error';

export interface HostStatus {
  /** Status bar text with codicons, e.g. "$(pulse) web 12 ms". */
  text: string;
  severity: StatusSeverity;
  /** A short word for the state: connected, slow, reconnecting, failed... */
  stateLabel: string;
  /** Read by screen readers instead of the codicon text. */
  accessibilityLabel: string;
  /** True while a countdown is shown: the text changes every second. */
  ticking: boolean;
}

function rttOf(input: HostStatusInput): number | undefined {
  if (input.state.kind !== 'connected' || input.state.checking) return undefined;
  return input.rttMs ?? input.state.rttMs;
}

/** The one function that turns a host's state into what the status bar shows. */
export function hostStatus(input: HostStatusInput): HostStatus {
  const { alias, state } = input;
  switch (state.kind) {
    case 'connected': {
      if (state.checking) {
        // No RTT here: the last one measured is not true of a path that stopped answering.
        const silentS = Math.max(1, Math.round((input.now - state.checking.since) / 1000));
        return {
          text: `$(sync~spin) ${alias} checking`,
          severity: 'warning',
          stateLabel: 'checking',
          accessibilityLabel: `SSH host ${alias}: not answering for ${silentS} ${silentS === 1 ? 'second' : 'seconds'}, checking with a second connection`,
          ticking: true,
        };
      }
      const rtt = rttOf(input);
      const slow = rtt !== undefined && rtt > input.slowRttMs;
      return {
        text: rtt === undefined ? `$(pulse) ${alias}` : `$(pulse) ${alias} ${formatRtt(rtt)}`,
        severity: slow ? 'warning' : 'normal',
        stateLabel: slow ? 'slow' : 'connected',
        accessibilityLabel: `SSH host ${alias}: connected` + (rtt === undefined ? '' : `, round trip ${Math.round(rtt)} milliseconds`) + (slow ? ', slow' : ''),
        ticking: false,
      };
    }
    case 'waiting': {
      const left = secondsLeft(state.until, input.now);
      return {
        text: `$(sync~spin) ${alias} ${left} s`,
        severity: 'warning',
        stateLabel: 'reconnecting',
        accessibilityLabel: `SSH host ${alias}: connection lost, next attempt in ${left} seconds`,
        ticking: true,
      };
    }
    case 'lost':
      return {
        text: `$(sync~spin) ${alias}`,
        severity: 'warning',
        stateLabel: 'reconnecting',
        accessibilityLabel: `SSH host ${alias}: connection lost, reconnecting`,
        ticking: false,
      };
    case 'connecting': {
      // A first connect is not an outage; only a reconnect gets the warning colour.
      const outage = input.outages[0] !== undefined && input.outages[0].end === undefined;
      return {
        text: `$(sync~spin) ${alias}`,
        severity: outage ? 'warning' : 'normal',
        stateLabel: outage ? 'reconnecting' : 'connecting',
        accessibilityLabel: `SSH host ${alias}: ${outage ? 'reconnecting' : 'connecting'}, attempt ${state.attempt}`,
        ticking: false,
      };
    }
    case 'failed':
      return {
        text: `$(error) ${alias}`,
        severity: 'error',
        stateLabel: 'failed',
        accessibilityLabel: `SSH host ${alias}: failed: ${state.error.message}`,
        ticking: false,
      };
    case 'idle':
      return {
        text: `$(circle-outline) ${alias}`,
        severity: 'normal',
        stateLabel: 'not connected',
        accessibilityLabel: `SSH host ${alias}: not connected`,
        ticking: false,
      };
    case 'closed':
      return {
        text: `$(circle-slash) ${alias}`,
        severity: 'normal',
        stateLabel: 'disconnected',
        accessibilityLabel: `SSH host ${alias}: disconnected`,
        ticking: false,
      };
  }
}

/** One line about the state for the tooltip and the tree's description. */
export function stateSummary(input: HostStatusInput): string {
  const { state, now } = input;
  switch (state.kind) {
    case 'connected': {
      if (state.checking) return 'not answering; checking with a second connection (kept shells and streams wait, nothing is cut)';
      const rtt = rttOf(input);
      const slow = rtt !== undefined && rtt > input.slowRttMs;
      return rtt === undefined ? 'connected' : `connected, ${formatRtt(rtt)}${slow ? ' (slow)' : ''}`;
    }
    case 'waiting':
      return `reconnecting: attempt ${state.attempt} in ${secondsLeft(state.until, now)} s`;
    case 'lost':
      return 'connection lost, reconnecting';
    case 'connecting':
      return state.attempt > 1 ? `connecting (attempt ${state.attempt})` : 'connecting';
    case 'failed':
      return 'failed';
    case 'idle':
      return 'not connected';
    case 'closed':
      return 'disconnected';
  }
}

/** Markdown for the status bar item's and the tree item's tooltip. Outside text is escaped. */
export function hostTooltip(input: HostStatusInput): string {
  const { state, now } = input;
  const lines: string[] = [];
  lines.push(`**${escapeMarkdown(input.alias)}**` + (input.target ? ` — ${escapeMarkdown(input.target)}` : ''));
  lines.push('');
  const row = (name: string, value: string) => lines.push(`- ${name}: ${value}`);
  row('State', escapeMarkdown(stateSummary(input)));
  if (state.kind === 'failed') row('Reason', escapeMarkdown(state.error.message));
  if (state.kind === 'waiting') row('Last error', escapeMarkdown(state.lastError));
  if (state.kind === 'lost') row('Cause', escapeMarkdown(state.reason));
  if (state.kind === 'connected' && state.checking) row('Since', `${formatClock(state.checking.since)}: ${escapeMarkdown(state.checking.reason)}`);
  const rtt = rttOf(input);
  if (rtt !== undefined) row('Round trip', formatRtt(rtt));
  if (input.lastContact !== undefined && state.kind !== 'idle' && state.kind !== 'closed') {
    // The clock time stays true while a tooltip is on screen; "ago" is as of rendering.
    const ago = now - input.lastContact < 1000 ? 'just now' : `${formatDuration(now - input.lastContact)} ago`;
    row('Last contact', `${formatClock(input.lastContact)} (${ago})`);
  }
  const { intervalMs, countMax } = input.keepalive;
  row('Keepalive', intervalMs > 0 ? `every ${formatDuration(intervalMs)}, dead after ${countMax} missed` : 'off (demand probes only)');
  if (state.kind === 'connected') {
    row('Connected for', formatDuration(now - state.since));
    if (state.restoredAfterMs !== undefined) row('Last restore took', formatDuration(state.restoredAfterMs));
  }
  if (input.startedAt !== undefined && state.kind !== 'closed') row('Session age', formatDuration(now - input.startedAt));
  if (input.terminals) {
    row('Terminals', escapeMarkdown(terminalsSummary(input.terminals)));
    if (input.terminals.keeper) row('Session keeper', escapeMarkdown(input.terminals.keeper));
  }
  if (input.outages.length > 0) {
    lines.push('');
    lines.push('Recent outages:');
    lines.push('');
    for (const o of input.outages) {
      const length = o.end === undefined ? `ongoing for ${formatDuration(now - o.start)}` : formatDuration(o.end - o.start);
      lines.push(`- ${formatClock(o.start)}, ${length}: ${escapeMarkdown(o.cause)}`);
    }
  }
  return lines.join('\n');
}

const severityRank: Record<StatusSeverity, number> = { normal: 0, warning: 1, error: 2 };

/**
 * One item for many hosts (more than sshKeepalive.statusBar.maxItems): how many are up, and
 * the worst state's colour, so that a single failing host still shows.
 */
export function aggregateStatus(inputs: readonly HostStatusInput[]): HostStatus & { tooltip: string } {
  const each = inputs.map((i) => ({ input: i, status: hostStatus(i) }));
  const up = each.filter((e) => e.input.state.kind === 'connected').length;
  const failed = each.filter((e) => e.status.severity === 'error').length;
  const reconnecting = each.filter((e) => e.status.stateLabel === 'reconnecting').length;
  const severity = each.reduce<StatusSeverity>((w, e) => (severityRank[e.status.severity] > severityRank[w] ? e.status.severity : w), 'normal');
  const icon = failed > 0 ? '$(error)' : reconnecting > 0 ? '$(sync~spin)' : '$(pulse)';
  const parts = [`${up}/${inputs.length} hosts`];
  if (reconnecting) parts.push(`${reconnecting} reconnecting`);
  if (failed) parts.push(`${failed} failed`);
  const tooltip = ['**SSH Keepalive**', '', ...each.map((e) => `- ${escapeMarkdown(e.input.alias)}: ${escapeMarkdown(stateSummary(e.input))}`)].join('\n');
  return {
    text: `${icon} ${parts.join(', ')}`,
    severity,
    stateLabel: severity === 'error' ? 'failed' : severity === 'warning' ? 'degraded' : 'connected',
    accessibilityLabel:
      `SSH Keepalive: ${up} of ${inputs.length} hosts connected` +
      (reconnecting ? `, ${reconnecting} reconnecting` : '') +
      (failed ? `, ${failed} failed` : ''),
    ticking: false,
    tooltip,
  };
}
