// Bundles the extension and the CLI with esbuild.
// ssh2's optional native add-ons (sshcrypto.node via ../build/Release, cpu-features)
// are left out: ssh2 falls back to pure JS when they fail to load, and a .node file
// built for one Node ABI would break the other host (VS Code's Electron vs. plain node).
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { patchSsh2Source, ssh2Patches } from './ssh2-patch.mjs';

const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // The session keeper (keeper/keeper.py) travels inside the bundle as text and is sent to
  // the server over the SSH connection (src/core/keeper/program.ts).
  loader: { '.py': 'text' },
  external: ['vscode', 'cpu-features', '*.node'],
  // ssh2 requires '../build/Release/sshcrypto.node' inside try/catch; mark it external so
  // the require fails at run time and ssh2 takes its pure-JS path.
  plugins: [
    {
      name: 'ssh2-native-out',
      setup(b) {
        b.onResolve({ filter: /sshcrypto\.node$|cpu-features/ }, (args) => ({ path: args.path, external: true }));
      },
    },
    {
      // scripts/ssh2-patch.mjs: fails the build when an ssh2 upgrade moved the patched lines.
      name: 'ssh2-patch',
      setup(b) {
        const files = ssh2Patches.map((p) => p.file.replace(/[./]/g, (c) => `\\${c}`)).join('|');
        b.onLoad({ filter: new RegExp(`[\\\\/]ssh2[\\\\/](${files})$`) }, async (args) => ({
          contents: patchSsh2Source(args.path, await readFile(args.path, 'utf8')),
          loader: 'js',
        }));
      },
    },
  ],
};

const entries = [
  // The banner marks when the bundle starts running: the extension-host suite reports load +
  // activate() from it (src/extension.ts, activationMs).
  { entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', banner: { js: "'use strict';\nglobalThis.__sshKeepaliveLoadStart = performance.now();" } },
  { entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // Until the extension and CLI import the keeper client, the program ships as its own module
  // (packaged via .vscodeignore), so the .vsix already carries what the server will run.
  { entryPoints: ['src/core/keeper/program.ts'], outfile: 'dist/keeper-program.js', sourcemap: false },
];

for (const e of entries) {
  await build({ ...common, ...e });
}
if (watch) console.log('watch mode is not supported; re-run npm run build');
