import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionError } from '../../src/core/session/errors';
import type { SessionState } from '../../src/core/session/state';
import { OutageHistory } from '../../src/vscode/outageHistory';
import { aggregateStatus, hostStatus, hostTooltip, stateSummary, type HostStatusInput } from '../../src/vscode/statusText';

const now = 1_700_000_000_000;

function input(state: SessionState, extra: Partial<HostStatusInput> = {}): HostStatusInput {
  return {
    alias: 'web',
    target: 'me@web.example.com',
    state,
    keepalive: { intervalMs: 15_000, countMax: 3 },
    outages: [],
    now,
    slowRttMs: 300,
    ...extra,
  };
}

test('connected: pulse, alias and RTT; normal background', () => {
  const s = hostStatus(input({ kind: 'connected', since: now - 5000, rttMs: 12.4 }));
  assert.equal(s.text, '$(pulse) web 12 ms');
  assert.equal(s.severity, 'normal');
  assert.equal(s.ticking, false);
  assert.match(s.accessibilityLabel, /web: connected, round trip 12 milliseconds/);
});

test('the live RTT from keepalives wins over the one measured at connect', () => {
  const s = hostStatus(input({ kind: 'connected', since: now, rttMs: 12 }, { rttMs: 3.26 }));
  assert.equal(s.text, '$(pulse) web 3.3 ms');
});

test('connected without an RTT yet shows no number', () => {
  assert.equal(hostStatus(input({ kind: 'connected', since: now, rttMs: undefined })).text, '$(pulse) web');
});

test('slow RTT (above slowRttMs) gets the warning background', () => {
  const s = hostStatus(input({ kind: 'connected', since: now, rttMs: 450 }));
  assert.equal(s.text, '$(pulse) web 450 ms');
  assert.equal(s.severity, 'warning');
  assert.equal(s.stateLabel, 'slow');
  assert.equal(hostStatus(input({ kind: 'connected', since: now, rttMs: 300 })).severity, 'normal');
});

test('checking (make-before-break): no stale RTT, warning colour, a live count of the silence, the reason in the tooltip', () => {
  const state: SessionState = {
    kind: 'connected',
    since: now - 60_000,
    rttMs: 2.4,
    checking: { since: now - 2400, reason: 'no reply to a demand probe within 1000 ms' },
  };
  const s = hostStatus(input(state, { rttMs: 2.4 }));
  assert.equal(s.text, '$(sync~spin) web checking');
  assert.equal(s.severity, 'warning');
  assert.equal(s.stateLabel, 'checking');
  assert.equal(s.ticking, true);
  assert.equal(s.accessibilityLabel, 'SSH host web: not answering for 2 seconds, checking with a second connection');
  const tip = hostTooltip(input(state, { rttMs: 2.4 }));
  assert.doesNotMatch(tip, /Round trip/, 'the RTT of a path in doubt is not shown as current');
  assert.match(tip, /not answering; checking with a second connection/);
  assert.match(tip, /no reply to a demand probe within 1000 ms/);
});

test('waiting: spinning sync icon and a countdown that ticks', () => {
  const s = hostStatus(input({ kind: 'waiting', attempt: 3, delayMs: 4000, until: now + 3200, lastError: 'timed out' }));
  assert.equal(s.text, '$(sync~spin) web 4 s');
  assert.equal(s.ticking, true);
  assert.equal(s.severity, 'warning');
  const later = hostStatus(input({ kind: 'waiting', attempt: 3, delayMs: 4000, until: now + 3200, lastError: 'x' }, { now: now + 2500 }));
  assert.equal(later.text, '$(sync~spin) web 1 s');
});

test('lost: spinning sync icon, no countdown, not ticking', () => {
  const s = hostStatus(input({ kind: 'lost', reason: 'no reply to 3 keepalives', at: now }));
  assert.equal(s.text, '$(sync~spin) web');
  assert.equal(s.ticking, false);
  assert.equal(s.stateLabel, 'reconnecting');
});

test('failed: error icon, error background, reason in tooltip and accessibility label', () => {
  const error = new SessionError('auth-failed', 'authentication to web failed');
  const i = input({ kind: 'failed', error, at: now });
  const s = hostStatus(i);
  assert.equal(s.text, '$(error) web');
  assert.equal(s.severity, 'error');
  assert.match(s.accessibilityLabel, /authentication to web failed/);
  assert.match(hostTooltip(i), /Reason: authentication to web failed/);
});

test('a first connect is not shown as an outage; a reconnect is', () => {
  assert.equal(hostStatus(input({ kind: 'connecting', attempt: 1, since: now })).severity, 'normal');
  const s = hostStatus(input({ kind: 'connecting', attempt: 2, since: now }, { outages: [{ start: now - 1000, cause: 'reset' }] }));
  assert.equal(s.severity, 'warning');
  assert.equal(s.stateLabel, 'reconnecting');
});

test('tooltip: host, state, RTT, last contact, keepalive, uptime and outages', () => {
  const history = new OutageHistory();
  history.observe({ kind: 'lost', reason: 'no reply to 3 keepalives (silent for 45 s)', at: now - 120_000 });
  history.observe({ kind: 'connected', since: now - 117_000, rttMs: 20 }, now - 117_000);
  const md = hostTooltip(
    input(
      { kind: 'connected', since: now - 117_000, rttMs: 20, restoredAfterMs: 3000 },
      {
        rttMs: 21,
        lastContact: now - 4000,
        startedAt: now - 3_600_000,
        outages: history.outages,
      },
    ),
  );
  assert.match(md, /\*\*web\*\* — me@web\\\.example\\\.com/);
  assert.match(md, /State: connected, 21 ms/);
  assert.match(md, /Round trip: 21 ms/);
  assert.match(md, /Last heard: less than 16 s ago \(alive\)/);
  assert.match(md, /Keepalive: every 15 s, dead after 3 missed/);
  assert.match(md, /Connected since: \d\d:\d\d:\d\d/);
  assert.match(md, /Session started: (\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d)/);
  assert.match(md, /Recent outages/);
  assert.match(md, /3 s: no reply to 3 keepalives \\\(silent for 45 s\\\)/);
});

test('alive: nothing counts on, so the tooltip is the same on every hover until the item turns unconfirmed', () => {
  const state: SessionState = { kind: 'connected', since: now - 117_000, rttMs: 20 };
  const at = (t: number) => input(state, { rttMs: 20, lastContact: now - 1000, startedAt: now - 3_600_000, now: t });
  // Alive window: 15 s + max(1 s, 4 x 20 ms) = 16 s after the last packet.
  for (const t of [now, now + 7000, now + 14_999]) {
    assert.equal(hostStatus(at(t)).ticking, false);
    assert.equal(hostTooltip(at(t)), hostTooltip(at(now)), `tooltip at +${t - now} ms`);
  }
  // Past the window: unconfirmed, and now the count is live (the status bar ticks).
  const late = at(now + 15_001);
  assert.equal(hostStatus(late).ticking, true);
  assert.match(hostTooltip(late), /Last heard: \d\d:\d\d:\d\d \(16 s ago\)/);
  assert.match(hostTooltip(at(now + 19_001)), /Last heard: \d\d:\d\d:\d\d \(20 s ago\)/);
});

test('an ongoing outage is listed by its start, without a running length', () => {
  const history = new OutageHistory();
  history.observe({ kind: 'lost', reason: 'reset', at: now - 30_000 });
  const md = hostTooltip(
    input({ kind: 'waiting', attempt: 2, delayMs: 1000, until: now + 500, lastError: 'refused', cycleMs: 1000 }, { outages: history.outages }),
  );
  assert.match(md, /- \d\d:\d\d:\d\d, ongoing: reset/);
});

test('tooltip escapes markdown from server-supplied text', () => {
  const error = new SessionError('protocol', 'bad [link](http://evil) *x*');
  const md = hostTooltip(input({ kind: 'failed', error, at: now }));
  assert.ok(!md.includes('[link](http://evil)'));
  assert.match(md, /\\\[link\\\]\\\(http:\/\/evil\\\)/);
});

test('stateSummary for the tree', () => {
  assert.equal(stateSummary(input({ kind: 'idle' })), 'not connected');
  assert.equal(stateSummary(input({ kind: 'connected', since: now, rttMs: 500 })), 'connected, 500 ms (slow)');
  // A host that never connected is connecting, with the cause and the real cadence (not a 1 s countdown).
  assert.equal(
    stateSummary(input({ kind: 'waiting', attempt: 2, delayMs: 1000, until: now + 1000, lastError: 'x' })),
    'connecting (attempt 2): x; retrying every 1 second',
  );
  assert.equal(stateSummary(input({ kind: 'waiting', attempt: 2, delayMs: 1000, until: now + 1000, lastError: 'x' }), true), 'connecting (attempt 2)');
});

test('aggregate: counts, worst severity, per-host tooltip lines', () => {
  const a = aggregateStatus([
    input({ kind: 'connected', since: now, rttMs: 5 }, { alias: 'a' }),
    input({ kind: 'waiting', attempt: 1, delayMs: 1000, until: now + 1000, lastError: 'x' }, { alias: 'b' }),
    input({ kind: 'failed', error: new SessionError('auth-failed', 'no'), at: now }, { alias: 'c' }),
    input({ kind: 'connected', since: now, rttMs: 5 }, { alias: 'd' }),
  ]);
  assert.equal(a.text, '$(error) 2/4 hosts, 1 connecting, 1 failed');
  assert.equal(a.severity, 'error');
  assert.match(a.tooltip, /- c: failed/);
  const ok = aggregateStatus([
    input({ kind: 'connected', since: now, rttMs: 5 }, { alias: 'a' }),
    input({ kind: 'connected', since: now, rttMs: 5 }, { alias: 'b' }),
  ]);
  assert.equal(ok.text, '$(pulse) 2/2 hosts');
  assert.equal(ok.severity, 'normal');
});

test('a host that never connected: "connecting (attempt N): <cause>", never "connection lost"', () => {
  const cause = 'cannot resolve typo: DNS is unreachable or not answering (EAI_AGAIN)';
  // Each attempt took 5 s (DNS timeout), then 300 ms of delay: the cadence is 5 s, not a 1 s countdown.
  const i = input({ kind: 'waiting', attempt: 27, delayMs: 300, until: now + 300, lastError: cause, cycleMs: 5300 });
  const s = hostStatus(i);
  assert.equal(s.text, '$(sync~spin) web');
  assert.equal(s.ticking, false);
  assert.equal(s.stateLabel, 'connecting');
  assert.equal(s.severity, 'warning');
  assert.equal(s.accessibilityLabel, `SSH host web: connecting (attempt 27): ${cause}, retrying every 5 seconds`);
  assert.doesNotMatch(s.accessibilityLabel, /connection lost|1 seconds/);
  assert.match(hostTooltip(i), /State: connecting \\\(attempt 27\\\): cannot resolve typo: DNS is unreachable .*; retrying every 5 seconds/);
  const during = hostStatus(input({ kind: 'connecting', attempt: 28, since: now, lastError: cause }));
  assert.equal(during.accessibilityLabel, `SSH host web: connecting (attempt 28): ${cause}`);
  assert.equal(during.severity, 'warning');
});

test('a long backoff counts down, in good grammar', () => {
  const one = hostStatus(
    input({ kind: 'waiting', attempt: 3, delayMs: 4000, until: now + 900, lastError: 'refused' }, { outages: [{ start: now - 9000, cause: 'reset' }] }),
  );
  assert.equal(one.text, '$(sync~spin) web 1 s');
  assert.match(one.accessibilityLabel, /connection lost, reconnecting \(attempt 3\): refused, next attempt in 1 second$/);
});

test('alive only while heard within interval + a few RTTs; then unconfirmed, without the stale RTT', () => {
  const state: SessionState = { kind: 'connected', since: now - 60_000, rttMs: 2.4 };
  const alive = hostStatus(input(state, { lastContact: now - 15_900 }));
  assert.equal(alive.text, '$(pulse) web 2.4 ms');
  assert.equal(alive.stateLabel, 'connected');
  const i = input(state, { lastContact: now - 23_400 });
  const s = hostStatus(i);
  assert.equal(s.text, '$(question) web silent 23 s');
  assert.equal(s.stateLabel, 'unconfirmed');
  assert.equal(s.severity, 'warning');
  assert.equal(s.ticking, true);
  assert.equal(s.accessibilityLabel, 'SSH host web: unconfirmed, last heard 23 seconds ago');
  assert.doesNotMatch(s.text + s.accessibilityLabel, /2\.4/);
  const md = hostTooltip(i);
  assert.match(md, /State: unconfirmed, last heard 23 s ago/);
  assert.doesNotMatch(md, /- Round trip:/);
  assert.match(md, /Last round trip: 2\.4 ms \(measured before the silence; not current\)/);
  assert.equal(stateSummary(i), 'unconfirmed, last heard 23 s ago');
  // Counts on live: one second later the tooltip says so.
  assert.match(hostTooltip({ ...i, now: now + 1000 }), /last heard 24 s ago/);
});

test('a keepalive interval learned from this network is shown with why', () => {
  const md = hostTooltip(
    input(
      { kind: 'connected', since: now, rttMs: 2 },
      { keepalive: { intervalMs: 3750, countMax: 3, learned: 'this network drops idle connections after at most 15 s; keepalive every 3.8 s' } },
    ),
  );
  assert.match(md, /Keepalive: every 3 s, dead after 3 missed/);
  assert.match(md, /Learned: this network drops idle connections after at most 15 s; keepalive every 3\\.8 s/);
});

test('the learned keepalive (TCP refresh under the measured NAT timeout) is shown with what was measured', () => {
  const md = hostTooltip(
    input(
      { kind: 'connected', since: now, rttMs: 2 },
      {
        keepalive: {
          intervalMs: 600_000,
          countMax: 3,
          refreshMs: 53_000,
          learned: 'this network drops idle flows after about 64.5 s (survived 59.9 s); keepalive every 53 s',
        },
      },
    ),
  );
  assert.match(md, /Keepalive: TCP every 53 s \(keeps the NAT's entry\); ssh every 10 min, dead after 3 missed/);
  assert.match(md, /Learned: this network drops idle flows after about 64\\.5 s \\\(survived 59\\.9 s\\\); keepalive every 53 s/);
});
