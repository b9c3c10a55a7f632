import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { keeperProgramText } from '../harness/keeperPeer';
import { requireOrSkip } from '../harness/skip';

const bundled = path.join(__dirname, '..', '..', '..', 'dist', 'keeper-program.js');

test('the bundle carries keeper/keeper.py verbatim (esbuild text loader), as the server will receive it', (t) => {
  if (!requireOrSkip(t, () => (existsSync(bundled) ? { ok: true } : { ok: false, reason: `${bundled} missing: run npm run build` }))) return;

  const mod = require(bundled) as { keeperProgram: string };
  assert.equal(mod.keeperProgram, keeperProgramText());
  assert.match(mod.keeperProgram, /^#!\/usr\/bin\/env python3\n/);
});
