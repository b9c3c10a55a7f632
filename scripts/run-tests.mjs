// Runs every test stage and ends with one line that adds them all up:
//   node tests (unit, integration against a real sshd, natlab through a real NAT) in one
//   `node --test` run; the packaged .vsix installed into code-server and activated; the
//   end-to-end story in a browser (when present); the VS Code extension-host suite.
// Stages can be picked: node scripts/run-tests.mjs unit natlab extension
//
// Backstop against a test that hangs instead of failing: each test file runs in a
// `node --test` of its own with --test-timeout, which node applies to the file as a whole
// (and so to every test in it): past it the file's process is ended and its unfinished
// tests fail as cancelled. Should that runner itself hang, its process group is killed a
// little later and the file counted as failed. Tests still bound their own waits, with
// messages that say what they waited for; this only stops a run from hanging for hours.
//   SKA_FILE_TIMEOUT_MS  per file (default 600000)
// Each file also gets a fresh XDG_STATE_HOME: what a CLI run learns about a network's idle
// timeout (kept there) must not change another test, nor the user's ~/.local/state.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

const fileTimeoutMs = Number(process.env.SKA_FILE_TIMEOUT_MS ?? 600_000);

/**
 * Runs a command, echoing its output, and reads the pass/fail counts it printed. With
 * `timeoutMs` the command (its whole process group) is killed when it runs longer, and
 * that counts as a failure.
 */
function run(cmd, args, env = {}, timeoutMs = 0, buffered = false) {
  return new Promise((resolve) => {
    // Buffered: the output is printed in one piece at the end (files running side by side).
    const held = [];
    const write = (stream, d) => (buffered ? held.push([stream, d]) : stream.write(d));
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: timeoutMs > 0 });
    let timedOut = false;
    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            console.error(`\nrun-tests: ${args.at(-1)} still running after ${timeoutMs} ms: killed (a test waits without a deadline?)`);
            killGroup('SIGTERM');
            setTimeout(() => killGroup('SIGKILL'), 5000).unref();
          }, timeoutMs)
        : undefined;
    let tail = '';
    const counts = { passed: 0, failed: 0, skipped: 0, cancelled: 0, seen: false };
    const scan = (chunk) => {
      tail += chunk;
      const lines = tail.split('\n');
      tail = lines.pop();
      for (const line of lines) read(line);
    };
    const read = (line) => {
      // node --test (spec reporter): "ℹ pass 12" / "ℹ fail 0" / "ℹ cancelled 0" / "ℹ skipped 1".
      // A cancelled test (its file ran out of time) is a failed one.
      let m = /^ℹ (pass|fail|cancelled|skipped) (\d+)$/.exec(line.trim());
      if (m) {
        counts.seen = true;
        if (m[1] === 'cancelled') counts.cancelled = Number(m[2]);
        else counts[{ pass: 'passed', fail: 'failed', skipped: 'skipped' }[m[1]]] = Number(m[2]);
        return;
      }
      // the extension-host and e2e suites: "N passed, N failed[, N skipped]" (last one wins)
      m = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/.exec(line.trim());
      if (m) {
        counts.seen = true;
        counts.passed = Number(m[1]);
        counts.failed = Number(m[2]);
        counts.skipped = Number(m[3] ?? 0);
      }
    };
    child.stdout.on('data', (d) => {
      write(process.stdout, d);
      scan(d.toString());
    });
    child.stderr.on('data', (d) => write(process.stderr, d));
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const [stream, d] of held) stream.write(d);
      if (tail) read(tail);
      counts.failed += counts.cancelled;
      if (timedOut) counts.failed++;
      // A stage that failed without printing counts still counts as one failure.
      if (code !== 0 && counts.failed === 0) counts.failed = 1;
      resolve({ code, ...counts });
    });
  });
}

const results = [];
/**
 * The natlab files run a few at a time, and beside the unit and sshd files: each has
 * namespaces of its own, and they spend most of their time waiting out outages and NAT
 * timeouts, not on the CPU. The unit and sshd files run one at a time among themselves (they
 * measure time on 2 shared cores).
 *   SKA_NATLAB_PARALLEL  natlab files at once (default 3)
 *   SKA_NATLAB_ALONE=1   natlab files only after the others (a slower, quieter run)
 */
const natlabParallel = Math.max(1, Number(process.env.SKA_NATLAB_PARALLEL ?? 3));
/**
 * The natlab files that take longest (minutes of NAT timeouts, soak cycles, lossy lines) go
 * first, so that the short ones fill the gaps beside them instead of one long file running
 * alone at the end (longest-first is what keeps a few workers evenly loaded).
 */
const longestFirst = ['learnedKeepalive', 'shell', 'soak', 'lossyLinks', 'keptForwards', 'adaptiveKeepalive'];
const rank = (file) => {
  const i = longestFirst.findIndex((name) => file.endsWith(`${name}.test.js`));
  return i < 0 ? longestFirst.length : i;
};
const sequential = nodeStages.filter((s) => s !== 'natlab').flatMap((s) => testFiles(join('out', 'test', s)));
const sideBySide = nodeStages.includes('natlab') ? testFiles(join('out', 'test', 'natlab')).sort((a, b) => rank(a) - rank(b)) : [];
if (sequential.length || sideBySide.length) {
  // Each in a runner of its own, so that a file that hangs can be ended on its own.
  const total = { code: 0, passed: 0, failed: 0, skipped: 0, seen: false };
  const runFile = async (file, buffered) => {
    const state = mkdtempSync(join(tmpdir(), 'ska-test-state-'));
    const r = await run(
      process.execPath,
      ['--test', '--test-reporter=spec', `--test-timeout=${fileTimeoutMs}`, file],
      { XDG_STATE_HOME: state },
      fileTimeoutMs + 30_000,
      buffered,
    );
    rmSync(state, { recursive: true, force: true });
    for (const k of ['passed', 'failed', 'skipped']) total[k] += r[k];
    if (r.code !== 0) total.code = r.code ?? 1;
  };
  const runSequential = async () => {
    for (const file of sequential) await runFile(file, false);
  };
  const queue = [...sideBySide];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const started = Date.now();
      // Buffered: printed in one piece when done, so that files running at once do not interleave.
      await runFile(file, true);
      console.log(`run-tests: ${file} took ${Math.round((Date.now() - started) / 1000)} s`);
    }
  };
  const runNatlab = () => Promise.all(Array.from({ length: Math.min(natlabParallel, queue.length) }, worker));
  if (process.env.SKA_NATLAB_ALONE === '1') {
    await runSequential();
    await runNatlab();
  } else {
    await Promise.all([runSequential(), runNatlab()]);
  }
  results.push(['node', total]);
}
if (want('package') && existsSync('scripts/package-smoke.sh')) {
  const pkg = await run('npm', ['run', '--silent', 'package']);
  results.push(['package', pkg.code === 0 ? await run('bash', ['scripts/package-smoke.sh', 'dist/ssh-keepalive.vsix', '--activate']) : pkg]);
}
if (want('e2e') && existsSync('out/test/e2e/story.js')) {
  results.push(['e2e', await run(process.execPath, ['out/test/e2e/story.js'])]);
}
if (want('extension') && existsSync('out/test/extension/run.js') && existsSync('out/test/extension/suite/index.js')) {
  results.push(['extension', await run(process.execPath, ['out/test/extension/run.js'])]);
}

let passed = 0;
let failed = 0;
let skipped = 0;
console.log('\ntest stages:');
for (const [name, r] of results) {
  console.log(`  ${name.padEnd(10)} ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''} (exit ${r.code})`);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
}
console.log(`all: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || results.some(([, r]) => r.code !== 0) ? 1 : 0);
