import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { natlabAvailable } from '../../tools/peers/natlab';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { judge } from '../soak/report';
import { runSoak, type SoakOptions } from '../soak/soak';

/**
 * The CI variant of `npm run soak`: 20 router reboots after short outages (1-6 s), on the
 * session keeper and without it, in two labs at once. Every cycle restored, nothing the
 * engine's process holds grows (fds, handles, every timer, emitter listeners; heap within a
 * margin), and on the keeper no stream connection broke and no shell output was lost.
 * The seed is random each run and printed: SKA_SOAK_SEED replays one.
 */

const available = () => {
  const nat = natlabAvailable();
  return nat.ok ? sshdAvailability() : nat;
};

const seed = Number(process.env.SKA_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));

// The two labs are independent (namespaces of their own): run them side by side.
describe('soak (CI variant)', { concurrency: true }, () => {
  for (const keeper of [true, false]) {
    test(`soak, 20 cycles ${keeper ? 'on the session keeper' : 'without the keeper'}: every cycle restored, nothing held grows`, async (t) => {
      if (!requireOrSkip(t, available())) return;
      const options: SoakOptions = { cycles: 20, seed, minOutageSec: 1, maxOutageSec: 6, keeper };
      t.diagnostic(`seed ${seed} (replay: SKA_SOAK_SEED=${seed})`);
      const verdict = judge(await runSoak({ ...options, log: (l) => t.diagnostic(l) }));
      t.diagnostic(verdict.table);
      assert.ok(verdict.ok, `seed ${seed}:\n${verdict.problems.join('\n')}\n\n${verdict.table}`);
    });
  }
});
