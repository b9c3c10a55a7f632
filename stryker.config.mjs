// StrykerJS over the compiled node tests. Run through `npm run mutate` (scripts/mutate.mjs),
// which picks the folders of src/core to mutate and prints the score per folder.
//
// Why the tap runner: the tests are node:test files, which print TAP when their output is
// not a terminal, and the tap runner runs each test file in a process of its own and records
// which source each file covers. A mutant then runs only the files that reach it, instead of
// the whole stage (the command runner would run everything for every mutant).
// Stryker mutates the TypeScript in a sandbox copy (all mutants at once, switched by an
// environment variable); `buildCommand` compiles that copy once to out/, where the tests are.
const folders = (process.env.SKA_MUTATE_FOLDERS ?? 'session,liveness,config,forward').split(',').filter(Boolean);
const stages = (process.env.SKA_MUTATE_STAGES ?? 'unit').split(',').filter(Boolean);
// Only these test files (names without .test.ts) when set: a folder that every test reaches
// (config) measured by its own tests, in minutes instead of hours.
const tests = (process.env.SKA_MUTATE_TESTS ?? '').split(',').filter(Boolean);
// A name per run, so that runs of different folders can go side by side without sharing a
// sandbox or overwriting each other's report.
const name = process.env.SKA_MUTATE_NAME ?? 'mutation';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: folders.map((f) => (f.endsWith('.ts') ? `src/core/${f}` : `src/core/${f}/**/*.ts`)),
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    testFiles: stages.flatMap((s) => (tests.length ? tests.map((t) => `out/test/${s}/${t}.test.js`) : [`out/test/${s}/**/*.test.js`])),
    nodeArgs: ['--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  buildCommand: 'npx tsc -p .',
  coverageAnalysis: 'perTest',
  // 2 cores shared with other work: one mutant at a time, and the timing tests get slack.
  concurrency: Number(process.env.SKA_MUTATE_CONCURRENCY ?? 1),
  // A mutant times out after (its tests' time without mutants) x factor + timeoutMS. On a
  // loaded machine the tests slow down; raise these (rather than take the test lock) when
  // mutants time out that should have been killed or survived.
  timeoutMS: Number(process.env.SKA_MUTATE_TIMEOUT_MS ?? 10_000),
  timeoutFactor: Number(process.env.SKA_MUTATE_TIMEOUT_FACTOR ?? 2),
  ignorePatterns: ['/dist', '/out', '/.vscode-test', '/test-output', '/reports', '/media', '/*.vsix', '/.stryker-tmp*'],
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: name === 'mutation' ? '.stryker-tmp' : `.stryker-tmp-${name}`,
  cleanTempDir: true,
};
