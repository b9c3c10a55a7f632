/**
 * Shared pieces of the fuzz tests (test/unit/fuzz/): the seed and run count, a runner that
 * names the seed on failure, a linear-time check, and the arbitraries several targets use.
 *
 * The seed is random on every run (so CI keeps exploring) and printed with any failure;
 * SKA_FUZZ_SEED=<n> replays one. SKA_FUZZ_RUNS=<k> multiplies every property's number of
 * runs (k=20 for a long local run). See TESTING.md, "Fuzz tests".
 */
import fc from 'fast-check';

function seedFromEnv(): number {
  const text = process.env.SKA_FUZZ_SEED;
  if (text === undefined || text === '') return (Math.random() * 0x7fffffff) | 0;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`SKA_FUZZ_SEED must be an integer, not ${JSON.stringify(text)}`);
  return n | 0;
}

export const FUZZ_SEED = seedFromEnv();
export const FUZZ_RUNS = Math.max(0.01, Number(process.env.SKA_FUZZ_RUNS ?? 1) || 1);

/** fast-check parameters: this run's seed, `numRuns` scaled by SKA_FUZZ_RUNS. */
export function fuzzParams<T>(numRuns: number): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * FUZZ_RUNS)) };
}

/** fast-check's report plus the error the property threw (fast-check 4 keeps it as the cause). */
function report(err: unknown): string {
  const cause = (err as Error).cause;
  return `${(err as Error).message}${cause instanceof Error ? `\n${cause.message}` : ''}`;
}

function replayHint(): string {
  return `replay with SKA_FUZZ_SEED=${FUZZ_SEED}${process.env.SKA_FUZZ_RUNS ? ` SKA_FUZZ_RUNS=${process.env.SKA_FUZZ_RUNS}` : ''}`;
}

/** fc.assert with this run's seed; a failure says how to replay it (fast-check adds the shrunk input). */
export function fuzz<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, numRuns: number): void {
  try {
    fc.assert(property, fuzzParams(numRuns));
  } catch (err) {
    throw new Error(`fuzz failure (${replayHint()}):\n${report(err)}`, { cause: err });
  }
}

/** The same for async properties. */
export async function fuzzAsync<Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<void> {
  try {
    await fc.assert(property, fuzzParams(numRuns));
  } catch (err) {
    throw new Error(`fuzz failure (${replayHint()}):\n${report(err)}`, { cause: err });
  }
}

/** Samples for a batch (one child process for all of them): seeded like the properties. */
export function fuzzSample<T>(arb: fc.Arbitrary<T>, numRuns: number): T[] {
  return fc.sample(arb, fuzzParams(numRuns));
}

/**
 * Fails when `run` on `build(8 * n)` takes more than 32 times as long as on `build(n)`:
 * linear work is ~8x, quadratic ~64x. A fast run is repeated until a measurement takes
 * about 10 ms (the inputs stay small: at megabytes the garbage collector, not the
 * algorithm, sets the pace). Best of three measurements each, plus a fixed slack, so a busy
 * shared machine does not fail it.
 */
export function assertLinear<T>(what: string, build: (n: number) => T, run: (input: T) => void, n: number): void {
  const perRun = (input: T, reps: number): number => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      for (let r = 0; r < reps; r++) run(input);
      best = Math.min(best, (performance.now() - started) / reps);
    }
    return best;
  };
  const small = build(n);
  const large = build(8 * n);
  run(small); // warm up the JIT
  const reps = Math.min(1000, Math.max(1, Math.ceil(10 / Math.max(0.01, perRun(small, 1)))));
  const t1 = perRun(small, reps);
  const t8 = perRun(large, Math.max(1, Math.ceil(reps / 8)));
  if (t8 > 32 * t1 + 5) {
    throw new Error(`${what}: ${8 * n} units took ${t8.toFixed(2)} ms, ${n} took ${t1.toFixed(2)} ms: worse than linear`);
  }
}

/** Splits `data` into chunks of the given sizes (cycled), the way TCP may deliver it. */
export function chunked(data: Buffer, sizes: readonly number[]): Buffer[] {
  if (sizes.length === 0) return data.length ? [data] : [];
  const out: Buffer[] = [];
  for (let pos = 0, i = 0; pos < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    out.push(data.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

/** Chunk sizes for `chunked`: none (one piece), single bytes, or a mix. */
export const chunkSizes: fc.Arbitrary<number[]> = fc.oneof(
  fc.constant<number[]>([]),
  fc.constant<number[]>([1]),
  fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }),
);

/** Flips, inserts, deletes or truncates bytes of `data`: a valid message made slightly wrong. */
export function mutatedBytes(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }));
  return fc.tuple(valid, fc.array(edit, { maxLength: 4 })).map(([buf, edits]) => {
    const bytes = [...buf];
    for (const [at, value, op] of edits) {
      const i = at % (bytes.length + 1);
      if (op === 0 && bytes.length) bytes[Math.min(i, bytes.length - 1)] ^= 1 << (value % 8);
      else if (op === 1) bytes.splice(i, 0, value);
      else if (op === 2) bytes.splice(i, 1 + (value % 7));
      else bytes.length = Math.min(bytes.length, i);
    }
    return Buffer.from(bytes);
  });
}

/** Text users type, plus what breaks parsers: quotes, escapes, separators, control and non-ASCII characters. */
export const nastyText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.constantFrom(
          '"',
          "'",
          '\\',
          '=',
          ' ',
          '\t',
          '#',
          ':',
          '[',
          ']',
          '/',
          '*',
          '?',
          '!',
          ',',
          '%',
          '$',
          '{',
          '}',
          '~',
          '@',
          '-',
          '\r',
          '\f',
          '\u00e9',
          '\0',
        ),
        { maxLength: 8 },
      )
      .chain((specials) =>
        fc.tuple(fc.constant(specials), fc.array(fc.stringMatching(/^[a-z0-9.]{0,6}$/), { minLength: specials.length + 1, maxLength: specials.length + 1 })),
      )
      .map(([specials, words]) => words.map((w, i) => w + (specials[i] ?? '')).join('')),
  },
);

/** A port as text: usually valid, sometimes 0, too large, signed, padded or not a number. */
export const portText: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 65535 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '65536', '99999', '-1', '+22', '022', '1e3', '0x50', '', ' 22', 'http', '١٢') },
);

/** A host: names, IPv4, IPv6 (bracketed or not), with wildcards now and then. */
export const hostText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.domain() },
  { weight: 2, arbitrary: fc.ipV4() },
  { weight: 1, arbitrary: fc.ipV6() },
  { weight: 1, arbitrary: fc.ipV6().map((a) => `[${a}]`) },
  { weight: 1, arbitrary: fc.constantFrom('localhost', '*', '', 'a*b', 'h?st', '!neg', '-oProxyCommand=x', 'x y') },
);
