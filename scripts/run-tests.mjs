// Runs every compiled node test (unit, integration against a real sshd, natlab through a
// real NAT) in one `node --test` run so that one summary covers them all, then the VS Code
// extension-host suite when it exists. Stages can be picked: node scripts/run-tests.mjs unit natlab
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const stages = process.argv.slice(2);
const want = (s) => stages.length === 0 || stages.includes(s);
const nodeStages = ['unit', 'integration', 'natlab'].filter(want);

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let failed = false;
const files = nodeStages.flatMap((s) => testFiles(join('out', 'test', s)));
if (files.length) {
  // One file at a time: the natlab and sshd tests measure time, and 2 cores are shared.
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
  failed ||= r.status !== 0;
}
if (want('extension') && existsSync('scripts/test-extension.mjs') && existsSync('out/test/extension/suite/index.js')) {
  const r = spawnSync(process.execPath, ['scripts/test-extension.mjs'], { stdio: 'inherit' });
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
