/**
 * npm run lossy [-- --minutes N] [--drops N] [--only loss|delay|bufferbloat]: lossy and slow
 * links, no false alarms (root, natlab). Each line condition (loss 5 %, loss 15 %, delay
 * 300 +- 100 ms, bufferbloat 1 mbit with a 2 s queue and a bulk upload) runs in its own natlab,
 * all at once, for N minutes (default 10): ssh-keepalive (with and without the keeper) and
 * `ssh -o ServerAliveInterval=15 -o ServerAliveCountMax=3` side by side, idle and active (a
 * page fetched through -L every 2 s); beside them, N real drops under 15 % loss. Prints a markdown
 * table (bench/README.md, "Lossy and slow links"). The CI variant is test/natlab/lossyLinks.test.ts.
 */
import { lineLabel } from '../tools/peers/lossyLine';
import { natlabAvailable } from '../tools/peers/natlab';
import { conditions, lossyTable, runCondition, runRealDrops } from '../test/natlab/lossyRun';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const availability = natlabAvailable();
  if (!availability.ok) throw new Error(availability.reason);
  const minutes = Number(arg('--minutes') ?? 10);
  const drops = Number(arg('--drops') ?? 5);
  const only = arg('--only');
  if (!(minutes > 0) || !(drops >= 0)) throw new Error('usage: npm run lossy -- [--minutes N] [--drops N] [--only loss|delay|bufferbloat]');
  const chosen = conditions.filter((c) => !only || c.kind === only);
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  log(`${chosen.map(lineLabel).join(', ')}: ${minutes} min each, at once; then ${drops} real drops under 15% loss`);
  const started = Date.now();
  // The drops run in a natlab of their own beside the conditions: they cannot disturb their counts.
  const [results, dropResults] = await Promise.all([Promise.all(chosen.map((c) => runCondition(c, minutes, log))), drops > 0 ? runRealDrops(drops, log) : []]);
  for (const r of results) for (const t of r.tallies) for (const reason of t.reasons) log(`${r.condition} ${t.client} (${t.mode}): ${reason}`);
  process.stdout.write(`\n${lossyTable(results, dropResults)}\n\n(${Math.round((Date.now() - started) / 1000)} s)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
