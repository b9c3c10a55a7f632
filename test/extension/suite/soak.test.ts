import * as assert from 'assert';
import * as fs from 'fs';
import * as v8 from 'v8';
import * as vm from 'vm';
import * as vscode from 'vscode';
import type { ForwardInfo } from '../../../src/vscode/forwardCommands';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import { seededRandom } from '../../harness/seededRandom';
import type { Peers } from '../startPeers';
import { answerModal, fetchText, sleep, usePeers, waitFor, waitForState } from './helpers';

/**
 * The soak in the extension host: 20 router reboots after short outages (seeded, 1-4 s) with
 * a kept terminal printing a counter and a -L forward in use. Each cycle: the counter moves
 * on and one request through the forward answers (once, no retry). After each cycle the
 * extension host is counted: the disposables the extension's stores hold, its event
 * listeners, the process's handles and fds, the heap after a forced GC. The first cycle is
 * the baseline; at the end (least of the last 3 cycles) nothing may have grown.
 * SSHKA_SOAK_SEED replays a seed.
 */

interface Counts {
  disposables: number;
  listeners: number;
  fds: number;
  handles: number;
  heapUsed: number;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** The extension host's counts, less the fault proxy's own sockets (it runs in this process too). */
function counts(api: SshKeepaliveTestApi, peers: Peers): Counts {
  gc();
  const held = api.heldCounts();
  const proxySockets = peers.proxy.openSockets();
  const handles = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').length - proxySockets;
  return { ...held, fds: fs.readdirSync('/proc/self/fd').length - proxySockets, handles, heapUsed: process.memoryUsage().heapUsed };
}

suite('soak in the extension host', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'flaky'), true);
  });

  test('20 router reboots: the kept terminal and the forward come back every time; nothing the extension holds grows', async function () {
    this.timeout(240_000);
    const seed = Number(process.env.SSHKA_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`      soak seed ${seed} (replay: SSHKA_SOAK_SEED=${seed})`);
    const rand = seededRandom(seed);
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>('sshKeepalive.openTerminal', 'flaky');
    await waitFor('the shell on flaky to open', () => api.terminalState(terminal)?.kind === 'open', 20_000);
    const forward = await vscode.commands.executeCommand<ForwardInfo>('sshKeepalive.addForward', {
      alias: 'flaky',
      kind: 'local',
      spec: `0:127.0.0.1:${peers.httpPort}`,
    });
    assert.strictEqual(forward?.state, 'active', JSON.stringify(forward));
    terminal.sendText('i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.5; done');
    const lastTick = () => {
      const all = [...(api.terminalOutput(terminal) ?? '').matchAll(/tick (\d+)\r?\n/g)];
      return all.length ? Number(all[all.length - 1][1]) : 0;
    };
    await waitFor('the counter to start', () => lastTick() >= 2);

    const seen: Counts[] = [];
    const restoreMs: number[] = [];
    try {
      for (let cycle = 1; cycle <= 20; cycle++) {
        const outageMs = Math.round(1000 * Math.exp(Math.log(4) * rand()));
        peers.proxy.blackhole();
        await sleep(outageMs);
        peers.proxy.forgetAll();
        peers.proxy.resume();
        const healed = Date.now();
        const before = lastTick();
        await waitFor(`cycle ${cycle} (outage ${outageMs} ms): the counter to move on after the restore`, () => lastTick() >= before + 2, 30_000);
        await waitForState(api, 'flaky', 'connected', 30_000);
        restoreMs.push(Date.now() - healed);
        assert.strictEqual(await fetchText(forward.address!), peers.httpBody, `cycle ${cycle}: one request through the forward`);
        await sleep(300);
        seen.push(counts(api, peers));
      }
    } finally {
      const modal = answerModal(api, 'Disconnect');
      try {
        await vscode.commands.executeCommand('sshKeepalive.stopForward', { alias: 'flaky', id: forward.id });
        await vscode.commands.executeCommand('sshKeepalive.disconnect', 'flaky');
      } finally {
        modal.restore();
      }
      terminal.dispose();
    }
    const first = seen[0];
    const tail = seen.slice(-3);
    const least = (k: keyof Counts) => Math.min(...tail.map((c) => c[k]));
    const sorted = [...restoreMs].sort((a, b) => a - b);
    console.log(`      restore ms median ${sorted[10]} max ${sorted[19]}; first ${JSON.stringify(first)}; end ${JSON.stringify(tail.at(-1))}`);
    for (const k of ['disposables', 'listeners', 'fds', 'handles'] as const) {
      assert.ok(
        least(k) <= first[k],
        `${k} grew: ${first[k]} after cycle 1, ${least(k)} at the end (least of the last 3): ${JSON.stringify(seen.map((c) => c[k]))}`,
      );
    }
    const margin = Math.max(4 * 2 ** 20, first.heapUsed * 0.1);
    assert.ok(least('heapUsed') - first.heapUsed <= margin, `heap grew: ${first.heapUsed} -> ${least('heapUsed')} bytes`);
  });
});
