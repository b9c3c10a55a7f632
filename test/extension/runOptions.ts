/**
 * What the extension-test runner was asked for, read once from the environment:
 *   SSHKA_TEST_RUNNER          code-server | electron | auto (default auto)
 *   SSHKA_EXT_TEST_TIMEOUT_MS  overall timeout (default 600000 = 10 min)
 *   SSHKA_TEST_SETTINGS_JSON   JSON object merged into the test profile's user settings.json
 *   SSHKA_SCREENSHOT_NAME      base name of the final screenshot and logs (default workbench-final)
 *   SSHKA_USE_INSTALLED_VSIX   path of a .vsix: install it into the fresh extensions dir and test
 *                              the installed extension instead of the repo (no
 *                              extensionDevelopmentPath); the suite sees SSHKA_TEST_EXPECT_INSTALLED=1
 *   SSHKA_CHROMIUM             browser executable (default: Debian's chromium)
 *   SSHKA_KEEP_TMP=1           keep the temp user-data/extensions/workspace dirs
 *   SSHKA_TEST_VERBOSE=1       also echo code-server's own output to stderr
 *   SSHKA_*, anything else     inherited by the extension host (it inherits code-server's env)
 */
import * as path from 'node:path';
import { repoRoot } from '../../tools/peers/repo';

export interface RunOptions {
  readonly runner: 'code-server' | 'electron' | 'auto';
  /** out/test/extension/suite/index.js */
  readonly testsIndex: string;
  /** The .vsix to install and test instead of the repository, if any. */
  readonly vsix: string | undefined;
  readonly timeoutMs: number;
  /** Merged into the profile's user settings. */
  readonly settings: Record<string, unknown>;
  /** test-output/extension/ */
  readonly outputDir: string;
  readonly shotName: string;
  readonly keepTmp: boolean;
  readonly verbose: boolean;
}

export function readRunOptions(env: NodeJS.ProcessEnv = process.env): RunOptions {
  const runner = (env.SSHKA_TEST_RUNNER || 'auto').toLowerCase();
  if (runner !== 'code-server' && runner !== 'electron' && runner !== 'auto') {
    throw new Error(`SSHKA_TEST_RUNNER must be code-server, electron or auto (got ${runner})`);
  }
  return {
    runner,
    testsIndex: path.join(repoRoot, 'out', 'test', 'extension', 'suite', 'index.js'),
    vsix: env.SSHKA_USE_INSTALLED_VSIX ? path.resolve(env.SSHKA_USE_INSTALLED_VSIX) : undefined,
    timeoutMs: Number(env.SSHKA_EXT_TEST_TIMEOUT_MS) || 10 * 60_000,
    settings: settingsFrom(env.SSHKA_TEST_SETTINGS_JSON),
    outputDir: path.join(repoRoot, 'test-output', 'extension'),
    shotName: (env.SSHKA_SCREENSHOT_NAME || 'workbench-final').replace(/[^\w.-]/g, '_'),
    keepTmp: env.SSHKA_KEEP_TMP === '1',
    verbose: env.SSHKA_TEST_VERBOSE === '1',
  };
}

function settingsFrom(json: string | undefined): Record<string, unknown> {
  if (!json) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new Error(`SSHKA_TEST_SETTINGS_JSON is not valid JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('SSHKA_TEST_SETTINGS_JSON must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** The extension host's environment marks: which harness, and whether to expect the installed .vsix. */
export function harnessEnv(o: RunOptions, harness: 'code-server' | 'electron'): NodeJS.ProcessEnv {
  return { SSHKA_TEST_HARNESS: harness, ...(o.vsix ? { SSHKA_TEST_EXPECT_INSTALLED: '1' } : {}) };
}

export interface RunResult {
  exitCode: number;
  /** The suite's closing "N passed, N failed" line, when it printed one. */
  summary: string;
  /** The last line this run printed to stdout (the summary must end stdout). */
  lastLine: string;
}

export const info = (...parts: unknown[]): void => console.error('[test-extension]', ...parts);
