import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { IntervalLearner } from '../../src/core/liveness/intervalLearner';
import { defaultLearnedFile, fileStore, MAX_NETWORKS, parseRecord, recordStore, type SavedRecord } from '../../src/core/liveness/learnedPathStore';
import { addressSet, defaultGateway, networkKey } from '../../src/core/liveness/networkKey';

function tempFile(): { file: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-learned-'));
  return { file: path.join(dir, 'state', 'ssh-keepalive', 'keepalive-learned.json'), done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

test('a file store: what one run learned about a network holds in the next run, on that network only', (t) => {
  const { file, done } = tempFile();
  t.after(done);
  let network = 'home';
  const first = new IntervalLearner(fileStore(file), {}, () => network);
  first.onIdleDeath(15_000, 15_000);
  assert.equal(first.intervalFor(15_000), 3750);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);

  // A new process (a new learner over the same file) starts from the lesson.
  const next = new IntervalLearner(fileStore(file), {}, () => network);
  assert.equal(next.intervalFor(15_000), 3750);
  network = 'office';
  assert.equal(next.intervalFor(15_000), 15_000, 'another network starts from the configured interval');
  // Relaxing is remembered too.
  network = 'home';
  next.onSurvived(600_000);
  assert.equal(new IntervalLearner(fileStore(file), {}, () => 'home').intervalFor(15_000), 4688);
});

test("two processes add to each other's networks instead of overwriting them", (t) => {
  const { file, done } = tempFile();
  t.after(done);
  const a = new IntervalLearner(fileStore(file), {}, () => 'a');
  const b = new IntervalLearner(fileStore(file), {}, () => 'b');
  assert.equal(a.intervalFor(15_000), 15_000); // a has read the (missing) file before b writes
  b.onIdleDeath(8000, 15_000);
  a.onIdleDeath(12_000, 15_000);
  const fresh = fileStore(file);
  assert.deepEqual(fresh.get('a'), { diesAfterMs: 12_000, intervalMs: 3000 });
  assert.deepEqual(fresh.get('b'), { diesAfterMs: 8000, intervalMs: 2000 });
});

test('an unreadable or unwritable file costs only the memory, told once', (t) => {
  const { file, done } = tempFile();
  t.after(done);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '{ not json');
  const told: string[] = [];
  const learner = new IntervalLearner(
    fileStore(file, (m) => told.push(m)),
    {},
    () => 'n',
  );
  assert.equal(learner.intervalFor(15_000), 15_000, 'a broken file is not trusted');
  learner.onIdleDeath(10_000, 15_000);
  assert.equal(learner.intervalFor(15_000), 2500);
  assert.equal(told.length, 1);
  assert.match(told[0], /cannot read .*keepalive-learned\.json.*remembered for this run only/);

  // A directory where the file should be: nothing can be written, learning goes on in memory.
  const blocked = path.join(path.dirname(file), 'blocked.json');
  fs.mkdirSync(blocked);
  const told2: string[] = [];
  const l2 = new IntervalLearner(
    fileStore(blocked, (m) => told2.push(m)),
    {},
    () => 'n',
  );
  l2.onIdleDeath(10_000, 15_000);
  l2.onIdleDeath(9000, 15_000);
  assert.equal(l2.intervalFor(15_000), 2250);
  assert.equal(told2.length, 1, `told once: ${JSON.stringify(told2)}`);
});

test('what is read is checked: malformed entries and other versions are dropped', () => {
  assert.deepEqual(parseRecord(undefined), {});
  assert.deepEqual(parseRecord({ version: 2, networks: { n: { diesAfterMs: 1, intervalMs: 1, at: 1 } } }), {});
  assert.deepEqual(
    parseRecord({
      version: 1,
      networks: {
        ok: { diesAfterMs: 9000, intervalMs: 2250, at: 5 },
        neg: { diesAfterMs: -1, intervalMs: 2000, at: 5 },
        str: { diesAfterMs: '9000', intervalMs: 2000, at: 5 },
        nul: null,
      },
    }),
    { ok: { diesAfterMs: 9000, intervalMs: 2250, at: 5 } },
  );
});

test('a record store (VS Code globalState) keeps the most recent networks only', () => {
  let saved: SavedRecord | undefined;
  let clock = 1000;
  const store = recordStore(
    () => saved,
    (r) => (saved = r),
    () => clock++,
  );
  for (let i = 0; i < MAX_NETWORKS + 3; i++) store.set(`n${i}`, { diesAfterMs: 8000, intervalMs: 2000 });
  assert.equal(Object.keys(saved!.networks).length, MAX_NETWORKS);
  assert.equal(store.get('n0'), undefined, 'the oldest are forgotten');
  assert.deepEqual(store.get(`n${MAX_NETWORKS + 2}`), { diesAfterMs: 8000, intervalMs: 2000 });
});

test('the state file lives under XDG_STATE_HOME, else ~/.local/state', () => {
  assert.equal(defaultLearnedFile({ XDG_STATE_HOME: '/x/state' }, '/home/u'), '/x/state/ssh-keepalive/keepalive-learned.json');
  assert.equal(defaultLearnedFile({}, '/home/u'), '/home/u/.local/state/ssh-keepalive/keepalive-learned.json');
  assert.equal(defaultLearnedFile({ XDG_STATE_HOME: 'relative' }, '/home/u'), '/home/u/.local/state/ssh-keepalive/keepalive-learned.json');
});

const routes = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

test('the network key: the default gateway (lowest metric) and the address set', () => {
  assert.equal(defaultGateway(routes), 'eth0 192.0.2.1');
  assert.equal(defaultGateway(undefined), undefined);
  assert.equal(defaultGateway(routes.split('\n').slice(0, 1).join('\n')), undefined, 'no default route');
  assert.equal(
    networkKey(
      () => routes,
      () => 'eth0/192.0.2.10',
    ),
    'gw eth0 192.0.2.1 | eth0/192.0.2.10',
  );
  // Two routers handing out the same addresses are two networks.
  const other = routes.replace('010200C0', '0102A8C0');
  assert.notEqual(
    networkKey(
      () => other,
      () => 'eth0/192.0.2.10',
    ),
    networkKey(
      () => routes,
      () => 'eth0/192.0.2.10',
    ),
  );
  assert.equal(
    networkKey(
      () => undefined,
      () => 'en0/10.0.0.5',
    ),
    'gw ? | en0/10.0.0.5',
  );
});

test('the address set: IPv4 whole, IPv6 by /64 (temporary addresses rotate), no link-local, no loopback', () => {
  const v4 = { address: '192.0.2.10', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:01', internal: false, cidr: null } as const;
  const v6 = (address: string) =>
    ({ address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:01', internal: false, cidr: null, scopeid: 0 }) as const;
  const lo = { ...v4, address: '127.0.0.1', internal: true };
  const today = addressSet({ lo: [lo], eth0: [v4, v6('2001:db8:0:1:a1b2:c3d4:e5f6:1'), v6('fe80::60da:f9ff:feb8:99d8')] });
  const tomorrow = addressSet({ lo: [lo], eth0: [v4, v6('2001:db8::1:9999:8888:7777:6666'), v6('fe80::1')] });
  assert.equal(today, 'eth0/192.0.2.10,eth0/2001:db8:0:1::/64');
  assert.equal(tomorrow, today, 'a new temporary address or link-local address is the same network');
  assert.notEqual(addressSet({ eth0: [v4, v6('2001:db8:0:2::1')] }), today, 'another /64 is another network');
});
