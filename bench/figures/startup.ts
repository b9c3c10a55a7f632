import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../tools/peers/repo';
import { startClient, tools, type Tool } from '../../test/harness/forwardClient';
import type { Rig } from '../lib/rig';
import { alternated, median } from '../lib/stats';
import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

/** From spawn to the first byte echoed through a -L forward (loopback), the extension bundle's load time, and bundle sizes. */
export async function startup(rig: Rig, mode: Mode): Promise<Row[]> {
  const p = await rig.path('loopback');
  const results = await alternated(tools, mode.runs, async (tool: Tool) => {
    const f = await rig.forwards();
    const client = await startClient(tool, p, [f.echo]);
    await client.stop();
    return client.readyMs;
  });
  const loads = Array.from({ length: mode.runs }, () => extensionLoadMs());
  const size = (f: string) => statSync(path.join(repoRoot, 'dist', f)).size / 1024;
  const info = (figure: string, cli: string): Row => ({ figure, cli, ssh: '', ratio: undefined, better: 'lower' });
  return [
    row('start-up: spawn to first byte through -L, loopback', median(results.get('ssh-keepalive')!), median(results.get('ssh')!), fixed(0, ' ms'), 'lower'),
    info('dist/extension.js load (require in plain node, vscode stubbed)', `${median(loads).toFixed(1)} ms`),
    info('bundle sizes: dist/extension.js, dist/cli.js', `${size('extension.js').toFixed(0)} KiB, ${size('cli.js').toFixed(0)} KiB`),
  ];
}

/** ms to require dist/extension.js in a fresh node with a stub `vscode` module (what activation costs before activate() runs). */
function extensionLoadMs(): number {
  const bundle = path.join(repoRoot, 'dist', 'extension.js');
  const script = `
    const Module = require('node:module');
    // Any property, call or construction gives the stub back; esbuild's __toESM copies a module
    // through its prototype, so that answers with the stub too.
    const stub = new Proxy(function () {}, {
      get: (t, k) => (k === '__esModule' ? false : k === Symbol.toPrimitive ? () => 0 : stub),
      apply: () => stub,
      construct: () => stub,
      getPrototypeOf: () => stub,
    });
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (r, ...a) { return r === 'vscode' ? 'vscode' : resolve.call(this, r, ...a); };
    require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub };
    const t = performance.now();
    require(${JSON.stringify(bundle)});
    process.stdout.write(String(performance.now() - t));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const ms = Number(r.stdout);
  if (!Number.isFinite(ms) || r.status !== 0) throw new Error(`loading ${bundle} failed: ${r.stderr}`);
  return ms;
}
