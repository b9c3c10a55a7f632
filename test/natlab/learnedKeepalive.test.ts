import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { natlabAvailable } from '../../tools/peers/natlab';
import { type Lab, setupLab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { FlowBytes, flowTimer, sshFlowPort } from './flowBytes';
import { type CliEventRecord, fetchThrough, KeepaliveCli, sleep } from './lab';

/**
 * The learned keepalive (--learn-keepalive) behind NATs that forget idle flows after 20 s and
 * 60 s, both labs at once: the idle timeout is measured on disposable flows, the main
 * connection is never dropped (no lost, checking or reconnect) while it learns and then while
 * it idles for SKA_LEARN_MINUTES minutes (default 2; the long variant: SKA_LEARN_MINUTES=10),
 * and at the 60 s NAT its flow costs at most a third of the bytes of fixed 30 s keepalives
 * (a second CLI with -o ServerAliveInterval=30 in the same lab, counted over the same window).
 */
const idleMinutes = Number(process.env.SKA_LEARN_MINUTES ?? 2);
const learnLimitMs = 4 * 60_000;

const drops = (cli: KeepaliveCli, since: number) => cli.kinds(since).filter((k) => k === 'lost' || k === 'checking' || k === 'connecting' || k === 'restored');

/** One idleFlowProbe from the client namespace to the lab's sshd; its outcome. */
async function probeFromClient(lab: Lab, silenceMs: number): Promise<string> {
  const mod = path.join(__dirname, '../../src/core/liveness/idleFlowProbe.js');
  const script = `require(${JSON.stringify(mod)}).probeIdleFlow({ connect: () => require('net').connect(22, ${JSON.stringify(lab.natlab.serverAddr)}), silenceMs: ${silenceMs}, replyWaitMs: 5000 }).then((o) => console.log(o))`;
  const r = await lab.natlab.exec(lab.natlab.clientNs, process.execPath, ['-e', script], { timeoutMs: silenceMs + 20_000 });
  return r.stdout.trim() || r.stderr.trim();
}

async function flowOf(lab: Lab, cli: KeepaliveCli): Promise<number> {
  const port = await sshFlowPort(lab.natlab, cli.child.pid!);
  assert.ok(port, `the ssh flow of pid ${cli.child.pid} in the client namespace`);
  return port;
}

describe('learned keepalive interval (natlab, NAT idle timeouts 20 s and 60 s)', { concurrency: 2 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  const ready = (t: import('node:test').TestContext) => requireOrSkip(t, natlabAvailable) && requireOrSkip(t, sshdAvailability);

  for (const natTimeoutSec of [20, 60]) {
    const compare = natTimeoutSec === 60;
    test(`NAT ${natTimeoutSec} s: learns the idle timeout without a drop, idles ${idleMinutes} min without a drop${compare ? ', at most 1/3 of the bytes of fixed 30 s keepalives' : ''}`, async (t) => {
      if (!ready(t)) return;
      const lab = await setupLab(natTimeoutSec);
      cleanups.push(() => lab.dispose());
      // Every flow the client opens to sshd: the main connection and the disposable ones.
      const syns = await FlowBytes.countRule(lab.natlab, ['-p', 'tcp', '--syn', '-s', lab.natlab.clientAddr, '--dport', '22'], `syn${natTimeoutSec}`);
      cleanups.push(() => syns.dispose());
      const learned = new KeepaliveCli(lab, 18091, ['--learn-keepalive']);
      cleanups.push(() => learned.stop());
      const fixed = compare ? new KeepaliveCli(lab, 18092, ['-o', 'ServerAliveInterval=30']) : undefined;
      if (fixed) cleanups.push(() => fixed.stop());
      const connected = await learned.waitFor((e) => e.event === 'connected', 15_000);
      if (fixed) await fixed.waitFor((e) => e.event === 'connected', 15_000);

      const done: CliEventRecord = await learned.waitFor((e) => e.event === 'keepalive-learned' || e.event === 'keepalive-unavailable', learnLimitMs);
      t.diagnostic(`learned after ${Math.round((done.at - connected.at) / 1000)} s: ${String(done.message)}`);
      assert.equal(done.event, 'keepalive-learned', String(done.message));
      assert.match(String(done.message), /this network drops idle flows after about \d+(\.\d)? s/);
      const diesAfterS = Number(done.diesAfterS);
      const intervalS = Number(done.intervalS);
      assert.ok(diesAfterS >= natTimeoutSec * 0.9 && diesAfterS <= natTimeoutSec * 1.5, `measured ${diesAfterS} s for a ${natTimeoutSec} s NAT`);
      assert.ok(intervalS < natTimeoutSec && intervalS >= natTimeoutSec * 0.6, `refresh every ${intervalS} s under the NAT's ${natTimeoutSec} s`);
      assert.deepEqual(drops(learned, connected.at + 1), [], 'no drop of the main connection while learning');
      const flows = (await syns.read()).packets;
      t.diagnostic(`flows opened to sshd while learning: ${flows} (1 main, ${flows - 1} disposable)`);
      assert.ok(flows - 1 <= 15, `a handful of disposable flows, not ${flows - 1}`);

      const learnedPort = await flowOf(lab, learned);
      t.diagnostic(`learned flow: ${await flowTimer(lab.natlab, learnedPort)}`);
      const learnedBytes = await FlowBytes.count(lab.natlab, learnedPort, `lrn${natTimeoutSec}`);
      cleanups.push(() => learnedBytes.dispose());
      const fixedBytes = fixed ? await FlowBytes.count(lab.natlab, await flowOf(lab, fixed), 'fix30') : undefined;
      if (fixedBytes) cleanups.push(() => fixedBytes.dispose());

      const idleFrom = Date.now();
      await sleep(idleMinutes * 60_000);
      const l = await learnedBytes.read();
      const f = await fixedBytes?.read();
      const minutes = (Date.now() - idleFrom) / 60_000;
      t.diagnostic(
        `over ${minutes.toFixed(2)} min idle: learned ${l.bytes} B in ${l.packets} packets${f ? `; fixed 30 s ${f.bytes} B in ${f.packets} packets; ratio ${(l.bytes / f.bytes).toFixed(3)}` : ''}`,
      );
      t.diagnostic(`per hour: learned ${Math.round((l.bytes / minutes) * 60)} B${f ? `, fixed 30 s ${Math.round((f.bytes / minutes) * 60)} B` : ''}`);

      assert.deepEqual(drops(learned, connected.at + 1), [], `no drop while idle; stderr: ${learned.stderr.join(' | ')}`);
      assert.equal(await sshFlowPort(lab.natlab, learned.child.pid!), learnedPort, 'still the same TCP flow');
      // The NAT still knows the flow: had its entry expired once, the router (which drops
      // mid-stream packets of unknown flows) could never have made it again. A flow the NAT
      // forgot while nothing was sent is a drop nobody has noticed yet.
      const table = await lab.natlab.conntrack();
      assert.match(table, new RegExp(`ESTABLISHED .*sport=${learnedPort} `), `the router's conntrack entry of the flow: ${table}`);
      assert.ok(l.packets > 0, 'the NAT was refreshed (packets counted on the learned flow)');
      if (f) assert.ok(l.bytes * 3 <= f.bytes, `learned ${l.bytes} B <= 1/3 of fixed 30 s ${f.bytes} B`);
      const r = await fetchThrough(lab.natlab, 18091, 5);
      assert.ok(r.ok, `the forward works after the idle: ${r.out}`);

      if (!compare) {
        // The cost of the measurement: one disposable flow that survives, one that is dropped,
        // with nothing else talking to sshd.
        await learned.stop();
        for (const silenceMs of [5000, (natTimeoutSec + 5) * 1000]) {
          const all = await FlowBytes.countRule(lab.natlab, ['-p', 'tcp', '-s', lab.natlab.clientAddr, '--dport', '22'], 'probe-up');
          const back = await FlowBytes.countRule(lab.natlab, ['-p', 'tcp', '-d', lab.natlab.clientAddr, '--sport', '22'], 'probe-down');
          const outcome = await probeFromClient(lab, silenceMs);
          const up = await all.read();
          const down = await back.read();
          await all.dispose();
          await back.dispose();
          t.diagnostic(`one disposable flow, ${silenceMs / 1000} s silent: ${outcome}, ${up.bytes + down.bytes} B in ${up.packets + down.packets} packets`);
          assert.equal(outcome, silenceMs < natTimeoutSec * 1000 ? 'survived' : 'dropped');
        }
      }
    });
  }
});
