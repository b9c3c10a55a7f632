// The keeper program's text, embedded in the bundle by esbuild's text loader for '.py'
// (scripts/build.mjs). Tests compiled by tsc read keeper/keeper.py from disk instead.
import keeperSource from '../../../keeper/keeper.py';

export const keeperProgram: string = keeperSource;
