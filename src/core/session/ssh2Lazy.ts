import type * as Ssh2 from 'ssh2';

let loaded: typeof Ssh2 | undefined;

/**
 * ssh2, loaded on first use rather than when the bundle loads: evaluating it (and its crypto
 * set-up) is most of the extension's activation time, and an extension host that never
 * connects never needs it. Value imports of 'ssh2' go through here; `import type` is free.
 * esbuild keeps ssh2 in the bundle as a lazily run CommonJS module.
 */
export function ssh2(): typeof Ssh2 {
  // The one require() in src: an import would run ssh2 when the bundle loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('ssh2') as typeof Ssh2);
}
