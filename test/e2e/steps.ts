/**
 * A tiny runner for a story told in steps: each step is a test with a name and a screenshot
 * taken when it ends (NN-name.png); once one fails, the later ones are not run and count as
 * failed (they depend on it). One line per step with its time. A step that must catch a
 * passing moment (a state that lasts a second) takes its picture itself, into the file given.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

export interface Step {
  name: string;
  timeoutMs: number;
  /** Returns a short note for the log line. `shot`: the step's picture, if it takes it itself. */
  run(shot: string): Promise<string>;
}

export async function runSteps(steps: Step[], page: Page, outDir: string): Promise<{ passed: number; failed: number }> {
  let passed = 0;
  let failed = 0;
  let broken = '';
  for (const [i, step] of steps.entries()) {
    const n = String(i + 1).padStart(2, '0');
    if (broken) {
      failed++;
      console.log(`not ok ${n} ${step.name} - not run: step ${broken} failed`);
      continue;
    }
    const t0 = Date.now();
    const shot = path.join(outDir, `${n}-${step.name}.png`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const note = await Promise.race([
        step.run(shot),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${step.timeoutMs} ms`)), step.timeoutMs))),
      ]);
      if (!fs.existsSync(shot)) await page.screenshot({ path: shot });
      passed++;
      console.log(`ok ${n} ${step.name} (${Date.now() - t0} ms) ${note}`);
    } catch (err) {
      failed++;
      broken = `${n} ${step.name}`;
      await page.screenshot({ path: path.join(outDir, `${n}-${step.name}-FAILED.png`) }).catch(() => undefined);
      console.log(`not ok ${n} ${step.name} (${Date.now() - t0} ms) ${((err as Error).message ?? String(err)).split('\n').join('\n#   ')}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return { passed, failed };
}
