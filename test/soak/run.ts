/**
 * `npm run soak`: the long soak through the natlab (root). Prints a line per cycle, then the table.
 *
 *   npm run soak                                   # 200 cycles, outages 1-90 s, random seed (printed)
 *   npm run soak -- --cycles 20 --max-outage 10 --seed 42
 *   npm run soak -- --no-keeper                   # forwards on plain channels, shell on tmux/plain
 *   npm run soak -- --heap-snapshots DIR          # heap snapshots after cycle 2 and the last (what grew?)
 *
 * Exit status 0 when every cycle was restored and nothing the process holds grew.
 */
import { natlabAvailable } from '../../tools/peers/natlab';
import { judge } from './report';
import { runSoak, type SoakOptions } from './soak';

function parse(argv: string[]): SoakOptions {
  const o: SoakOptions = { cycles: 200, seed: Math.floor(Math.random() * 2 ** 31), minOutageSec: 1, maxOutageSec: 90, keeper: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--cycles') o.cycles = num();
    else if (a === '--seed') o.seed = num();
    else if (a === '--min-outage') o.minOutageSec = num();
    else if (a === '--max-outage') o.maxOutageSec = num();
    else if (a === '--no-keeper') o.keeper = false;
    else if (a === '--heap-snapshots') o.snapshotDir = argv[++i];
    else throw new Error(`unknown argument ${a} (see test/soak/run.ts)`);
  }
  if (o.minOutageSec > o.maxOutageSec) throw new Error('--min-outage is above --max-outage');
  return o;
}

async function main(): Promise<void> {
  const available = natlabAvailable();
  if (!available.ok) throw new Error(`the soak needs the natlab: ${available.reason}`);
  const options = parse(process.argv.slice(2));
  const started = Date.now();
  console.log(`soak: seed ${options.seed} (replay with --seed ${options.seed})`);
  const result = await runSoak({ ...options, log: (l) => console.log(l) });
  const verdict = judge(result);
  console.log(`\n${verdict.table}\n\nran ${((Date.now() - started) / 60000).toFixed(1)} min`);
  if (!verdict.ok) {
    console.log(`\nFAILED:\n${verdict.problems.map((p) => `- ${p}`).join('\n')}`);
    process.exitCode = 1;
  } else console.log('\npassed');
}

main().catch((err: Error) => {
  console.error(`soak: ${err.message}`);
  process.exitCode = 2;
});
