/**
 * Status bar text, severity and tooltip derived from a host's state, in ONE place (as
 * VS Code's git extension does). Pure: no 'vscode' import, unit-tested in plain node; the
 * status bar, the tree and the tests all read what these functions return.
 */
import { aliveWindowMs, type Liveness, livenessOf } from '../core/liveness/liveness';
import type { SessionState } from '../core/session/state';
import { escapeMarkdown, formatClock, formatDuration, formatRtt, formatSince, secondsLeft } from './format';
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
  /**
   * `learned`: why the interval differs from the configured one (this network's idle timeout);
   * `refreshMs`: the TCP keepalive interval of the learned keepalive, when it refreshes the NAT.
   */
  keepalive: { intervalMs: number; countMax: number; learned?: string; refreshMs?: number };
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
  /** A short word for the state: connected, slow, unconfirmed, connecting, reconnecting, failed... */
  stateLabel: string;
  /** Read by screen readers instead of the codicon text. */
  accessibilityLabel: string;
  /**
   * True while what is shown counts on by itself (a countdown, "silent N s", "not answering
   * for N seconds"): the status bar then renders it again every second, and only then.
   */
  ticking: boolean;
}

function rttOf(input: HostStatusInput): number | undefined {
  if (input.state.kind !== 'connected' || input.state.checking) return undefined;
  return input.rttMs ?? input.state.rttMs;
}

/** Alive or unconfirmed, by the one rule in core (liveness.ts). */
export function livenessOfInput(input: HostStatusInput): Liveness {
  if (input.state.kind !== 'connected') return { kind: 'alive' };
  return livenessOf(input.lastContact, input.now, input.keepalive.intervalMs, rttOf(input));
}

/** "1 second", "5 seconds". */
export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Below this a countdown would only flicker: the cadence is shown instead. */
const COUNTDOWN_MIN_MS = 2000;

type Retrying = Extract<SessionState, { kind: 'waiting' } | { kind: 'connecting' }>;

/** True while a connection that was up is being restored; false for a host that never connected. */
function isOutage(input: HostStatusInput): boolean {
  return input.outages[0] !== undefined && input.outages[0].end === undefined;
}

/** How attempts are going: the cause of the last failure and the real cadence, or a countdown. */
function retryFacts(input: HostStatusInput, state: Retrying): { cause?: string; countdownS?: number; everyS?: number } {
  if (state.kind === 'connecting') return { cause: state.lastError };
  if (state.delayMs >= COUNTDOWN_MIN_MS) return { cause: state.lastError, countdownS: secondsLeft(state.until, input.now) };
  return { cause: state.lastError, everyS: Math.max(1, Math.round((state.cycleMs ?? state.delayMs) / 1000)) };
}

function retryStatus(input: HostStatusInput, state: Retrying): HostStatus {
  const { alias } = input;
  const outage = isOutage(input);
  const { cause, countdownS, everyS } = retryFacts(input, state);
  const what = outage ? `connection lost, reconnecting (attempt ${state.attempt})` : `connecting (attempt ${state.attempt})`;
  const when =
    countdownS !== undefined ? `, next attempt in ${plural(countdownS, 'second')}` : everyS !== undefined ? `, retrying every ${plural(everyS, 'second')}` : '';
  return {
    text: countdownS !== undefined ? `$(sync~spin) ${alias} ${countdownS} s` : `$(sync~spin) ${alias}`,
    // A first connect is not an outage; it gets the warning colour once an attempt failed.
    severity: outage || cause !== undefined ? 'warning' : 'normal',
    stateLabel: outage ? 'reconnecting' : 'connecting',
    accessibilityLabel: `SSH host ${alias}: ${what}${cause ? `: ${cause}` : ''}${when}`,
    ticking: countdownS !== undefined,
  };
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
      const live = livenessOfInput(input);
      if (live.kind === 'unconfirmed') {
        const agoS = Math.floor(live.silentMs / 1000);
        // The last RTT is not shown: it describes a path that may no longer exist.
        return {
          text: `$(question) ${alias} silent ${agoS} s`,
          severity: 'warning',
          stateLabel: 'unconfirmed',
          accessibilityLabel: `SSH host ${alias}: unconfirmed, last heard ${plural(agoS, 'second')} ago`,
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
        // Nothing here counts on: the tooltip says only what stays true while alive.
        ticking: false,
      };
    }
    case 'waiting':
    case 'connecting':
      return retryStatus(input, state);
    case 'lost':
      return {
        text: `$(sync~spin) ${alias}`,
        severity: 'warning',
        stateLabel: 'reconnecting',
        accessibilityLabel: `SSH host ${alias}: connection lost, reconnecting`,
        ticking: false,
      };
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

/**
 * One line about the state for the tooltip (full) and the tree's description (`short`: the
 * cause of a failing attempt is left to the tooltip, so the description fits the sidebar).
 */
export function stateSummary(input: HostStatusInput, short = false): string {
  const { state } = input;
  switch (state.kind) {
    case 'connected': {
      if (state.checking) return 'not answering; checking with a second connection (kept shells and streams wait, nothing is cut)';
      const live = livenessOfInput(input);
      if (live.kind === 'unconfirmed') return `unconfirmed, last heard ${formatDuration(Math.floor(live.silentMs / 1000) * 1000)} ago`;
      const rtt = rttOf(input);
      const slow = rtt !== undefined && rtt > input.slowRttMs;
      return rtt === undefined ? 'connected' : `connected, ${formatRtt(rtt)}${slow ? ' (slow)' : ''}`;
    }
    case 'waiting':
    case 'connecting': {
      const outage = isOutage(input);
      const { cause, countdownS, everyS } = retryFacts(input, state);
      const head = outage ? `reconnecting (attempt ${state.attempt})` : `connecting (attempt ${state.attempt})`;
      if (short) return countdownS !== undefined ? `${head}, next in ${countdownS} s` : head;
      const when =
        countdownS !== undefined
          ? `; next attempt in ${plural(countdownS, 'second')}`
          : everyS !== undefined
            ? `; retrying every ${plural(everyS, 'second')}`
            : '';
      return `${head}${cause ? `: ${cause}` : ''}${when}`;
    }
    case 'lost':
      return 'connection lost, reconnecting';
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
  if (state.kind === 'lost') row('Cause', escapeMarkdown(state.reason));
  if (state.kind === 'connected' && state.checking) row('Since', `${formatClock(state.checking.since)}: ${escapeMarkdown(state.checking.reason)}`);
  const rtt = rttOf(input);
  const live = livenessOfInput(input);
  if (rtt !== undefined) {
    if (live.kind === 'alive') row('Round trip', formatRtt(rtt));
    else row('Last round trip', `${formatRtt(rtt)} (measured before the silence; not current)`);
  }
  if (input.lastContact !== undefined && state.kind !== 'idle' && state.kind !== 'closed') {
    // Alive means heard within the alive window: a bound that stays true until the item turns
    // unconfirmed, so the tooltip needs no tick while alive. Unconfirmed (and any state that
    // is not a live connection) ticks, so the count there is live.
    if (state.kind === 'connected' && !state.checking && live.kind === 'alive')
      row('Last heard', `less than ${formatDuration(Math.ceil(aliveWindowMs(input.keepalive.intervalMs, rtt) / 1000) * 1000)} ago (alive)`);
    else row('Last heard', `${formatClock(input.lastContact)} (${formatDuration(Math.floor((now - input.lastContact) / 1000) * 1000)} ago)`);
  }
  const { intervalMs, countMax, refreshMs } = input.keepalive;
  const ssh = intervalMs > 0 ? `every ${formatDuration(intervalMs)}, dead after ${countMax} missed` : 'off (demand probes only)';
  // The learned keepalive: the kernel's TCP keepalive keeps the NAT's entry, ssh probes are rare.
  row('Keepalive', refreshMs !== undefined ? `TCP every ${formatDuration(refreshMs)} (keeps the NAT's entry); ssh ${ssh}` : ssh);
  if (input.keepalive.learned) row('Learned', escapeMarkdown(input.keepalive.learned));
  // Points in time, not running durations: true on every hover without a tick.
  if (state.kind === 'connected') {
    row('Connected since', formatSince(state.since, now));
    if (state.restoredAfterMs !== undefined) row('Last restore took', formatDuration(state.restoredAfterMs));
  }
  if (input.startedAt !== undefined && state.kind !== 'closed') row('Session started', formatSince(input.startedAt, now));
  if (input.terminals) {
    row('Terminals', escapeMarkdown(terminalsSummary(input.terminals)));
    if (input.terminals.keeper) row('Session keeper', escapeMarkdown(input.terminals.keeper));
  }
  if (input.outages.length > 0) {
    lines.push('');
    lines.push('Recent outages:');
    lines.push('');
    for (const o of input.outages) {
      const length = o.end === undefined ? 'ongoing' : formatDuration(o.end - o.start);
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
  const up = each.filter((e) => e.input.state.kind === 'connected' && e.status.stateLabel !== 'unconfirmed').length;
  const unconfirmed = each.filter((e) => e.status.stateLabel === 'unconfirmed').length;
  const failed = each.filter((e) => e.status.severity === 'error').length;
  const reconnecting = each.filter((e) => e.status.stateLabel === 'reconnecting').length;
  const connecting = each.filter((e) => e.status.stateLabel === 'connecting').length;
  const severity = each.reduce<StatusSeverity>((w, e) => (severityRank[e.status.severity] > severityRank[w] ? e.status.severity : w), 'normal');
  const icon = failed > 0 ? '$(error)' : reconnecting + connecting > 0 ? '$(sync~spin)' : unconfirmed > 0 ? '$(question)' : '$(pulse)';
  const parts = [`${up}/${inputs.length} hosts`];
  if (unconfirmed) parts.push(`${unconfirmed} unconfirmed`);
  if (connecting) parts.push(`${connecting} connecting`);
  if (reconnecting) parts.push(`${reconnecting} reconnecting`);
  if (failed) parts.push(`${failed} failed`);
  const tooltip = ['**SSH Keepalive**', '', ...each.map((e) => `- ${escapeMarkdown(e.input.alias)}: ${escapeMarkdown(stateSummary(e.input))}`)].join('\n');
  return {
    text: `${icon} ${parts.join(', ')}`,
    severity,
    stateLabel: severity === 'error' ? 'failed' : severity === 'warning' ? 'degraded' : 'connected',
    accessibilityLabel:
      `SSH Keepalive: ${up} of ${inputs.length} hosts connected` +
      (unconfirmed ? `, ${unconfirmed} unconfirmed` : '') +
      (connecting ? `, ${connecting} connecting` : '') +
      (reconnecting ? `, ${reconnecting} reconnecting` : '') +
      (failed ? `, ${failed} failed` : ''),
    ticking: each.some((e) => e.status.ticking),
    tooltip,
  };
}
