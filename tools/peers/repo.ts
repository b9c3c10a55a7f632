/**
 * Where things are in the repository, and the versions the peers are pinned to. The code-server
 * version lives in tools/peers/pins.json (the shell scripts read it too); the extension id is
 * derived from package.json, which defines it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (this file runs from out/tools/peers). */
export const repoRoot = join(__dirname, '..', '..', '..');
/** The bundled CLI (`npm run build`). */
export const cliPath = join(repoRoot, 'dist', 'cli.js');
/** The packaged extension (`npm run package`). */
export const defaultVsix = join(repoRoot, 'dist', 'ssh-keepalive.vsix');

const pins = JSON.parse(readFileSync(join(repoRoot, 'tools', 'peers', 'pins.json'), 'utf8')) as { codeServerVersion: string };
const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { publisher: string; name: string };

/** CODE_SERVER_VERSION overrides the pin (as scripts/install-code-server.sh honours it). */
export const codeServerVersion = process.env.CODE_SERVER_VERSION || pins.codeServerVersion;
/** `publisher.name` (VS Code compares it ignoring case). */
export const extensionId = `${manifest.publisher}.${manifest.name}`;
