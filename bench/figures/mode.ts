/** How long the bench runs: quick (a few minutes, the default) or full (`--full`). */
export interface Mode {
  name: 'quick' | 'full';
  runs: number;
  loopbackMiB: number;
  rtt50MiB: number;
  rtt150MiB: number;
  echoRounds: number;
  idleSeconds: number;
  wireSeconds: number;
  concurrency: number;
}

export const quickMode: Mode = {
  name: 'quick',
  runs: 3,
  loopbackMiB: 64,
  rtt50MiB: 32,
  rtt150MiB: 16,
  echoRounds: 400,
  idleSeconds: 20,
  wireSeconds: 6,
  concurrency: 500,
};
export const fullMode: Mode = {
  name: 'full',
  runs: 5,
  loopbackMiB: 256,
  rtt50MiB: 128,
  rtt150MiB: 64,
  echoRounds: 2000,
  idleSeconds: 300,
  wireSeconds: 20,
  concurrency: 500,
};
