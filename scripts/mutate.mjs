// Mutation testing of src/core: StrykerJS puts small bugs (mutants) into the code one at a
// time and runs the tests that reach each; a mutant no test notices "survived". Prints the
// mutation score per folder. Slow (minutes per folder on 2 cores), hence not in CI.
//
//   npm run mutate                          session, liveness, config, forward; unit tests
//   npm run mutate -- liveness session      only these folders of src/core
//   npm run mutate -- session/session.ts    or these files
//   npm run mutate -- --integration session also the real-sshd integration tests (much slower)
//   npm run mutate -- --concurrency 2       mutants in parallel (default 1)
//   npm run mutate -- --report              only print the scores of the last run again
//   npm run mutate -- --name cfg config     report to reports/mutation/cfg.json, sandbox in
//                                           .stryker-tmp-cfg (runs side by side; --report too)
//   npm run mutate -- --tests sshConfig,knownHosts config
//                                           only these test files (by name): a lower bound
//                                           of the score, fast for a folder every test reaches
//   SKA_MUTATE_TIMEOUT_MS, SKA_MUTATE_TIMEOUT_FACTOR  Stryker's timeoutMS (10000), timeoutFactor (2)
//
// Reports: reports/mutation/mutation.html (every mutant, with the tests that ran) and .json.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  args.splice(i, 1);
  return true;
};
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  return value;
};
const reportOnly = flag('--report');
const integration = flag('--integration');
const concurrency = option('--concurrency') ?? '1';
const name = option('--name') ?? 'mutation';
const tests = option('--tests') ?? '';
const folders = args.length ? args : ['session', 'liveness', 'config', 'forward'];
for (const f of folders) {
  if (!existsSync(`src/core/${f}`)) {
    console.error(`mutate: no folder or file src/core/${f}`);
    process.exit(2);
  }
}
const reportPath = process.env.SKA_MUTATE_REPORT ?? `reports/mutation/${name}.json`;

if (!reportOnly) {
  const env = {
    ...process.env,
    SKA_MUTATE_FOLDERS: folders.join(','),
    SKA_MUTATE_STAGES: integration ? 'unit,integration' : 'unit',
    SKA_MUTATE_CONCURRENCY: concurrency,
    SKA_MUTATE_NAME: name,
    SKA_MUTATE_TESTS: tests,
  };
  // The sandbox is compiled by Stryker's buildCommand; dist/ is built for tests that run the CLI.
  for (const [cmd, cmdArgs] of [
    ['npm', ['run', '--silent', 'build']],
    ['npx', ['stryker', 'run', 'stryker.config.mjs']],
  ]) {
    const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`mutate: ${cmd} ${cmdArgs.join(' ')} failed (exit ${r.status ?? r.signal})`);
      process.exit(r.status ?? 1);
    }
  }
}

printScores(JSON.parse(readFileSync(reportPath, 'utf8')));

/** Score per folder of src/core: (killed + timeout) / (killed + timeout + survived + no coverage). */
function printScores(report) {
  const byFolder = new Map();
  const survivors = [];
  for (const [file, { mutants, source }] of Object.entries(report.files)) {
    const folder = file.replace(/^.*src\/core\//, '').split('/')[0];
    const c = byFolder.get(folder) ?? { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, other: 0 };
    const lines = source.split('\n');
    for (const m of mutants) {
      if (m.status in c) c[m.status]++;
      else c.other++;
      if (m.status === 'Survived' || m.status === 'NoCoverage') {
        const { start, end } = m.location;
        // The mutated text itself (columns are 1-based), shortened to one line.
        const original = (
          start.line === end.line ? lines[start.line - 1].slice(start.column - 1, end.column - 1) : lines[start.line - 1].slice(start.column - 1) + ' ...'
        )
          .replace(/\s+/g, ' ')
          .slice(0, 80);
        const replacement = (m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 60);
        survivors.push(
          `${file}:${start.line}:${start.column} ${m.mutatorName}${m.status === 'NoCoverage' ? ' (no test reaches it)' : ''}: ${original}  ->  ${replacement}`,
        );
      }
    }
    byFolder.set(folder, c);
  }
  console.log('\nsurvivors:');
  for (const s of survivors) console.log(`  ${s}`);
  console.log('\nmutation score per folder of src/core (killed + timeout) / (all but compile errors):');
  console.log('  folder      score  killed  timeout  survived  no-coverage  other');
  let all = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, other: 0 };
  for (const [folder, c] of [...byFolder].sort()) {
    console.log(row(folder, c));
    for (const k of Object.keys(all)) all[k] += c[k];
  }
  console.log(row('all', all));
}

function row(name, c) {
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage;
  const score = valid ? ((100 * detected) / valid).toFixed(1) : '-';
  return `  ${name.padEnd(10)} ${String(score).padStart(6)}% ${String(c.Killed).padStart(7)} ${String(c.Timeout).padStart(8)} ${String(c.Survived).padStart(9)} ${String(c.NoCoverage).padStart(12)} ${String(c.other).padStart(6)}`;
}
