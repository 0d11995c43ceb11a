/**
 * The tests' one seeded PRNG: xoshiro128** seeded through splitmix32 from a 32-bit seed.
 * It is the fleet simulation's (test/sim), unchanged, so its recorded seeds replay the
 * same runs; the other randomised tests draw from it too. `testSeed` picks a test's seed
 * (WRIT_TEST_SEED overrides it) and `withSeed` names the seed in the error of a failure,
 * so every failure can be replayed:
 *
 *   WRIT_TEST_SEED=<seed> npx node --test <file>
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      // splitmix32
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    return result;
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** A uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('prng: pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** WRIT_TEST_SEED as a 32-bit seed (decimal or 0x hex), or undefined when it is not set. */
export function seedOverride(): number | undefined {
  const v = process.env.WRIT_TEST_SEED;
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v.trim());
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff_ffff) throw new Error(`WRIT_TEST_SEED=${v}: not a 32-bit unsigned integer`);
  return n;
}

/** A test's seed: WRIT_TEST_SEED if set, else `fallback`, else a fresh random one (print it: see withSeed). */
export function testSeed(fallback?: number): number {
  return seedOverride() ?? fallback ?? Math.floor(Math.random() * 0x1_0000_0000);
}

/** Runs `f` with a Prng of `seed`; an error it throws names the seed and how to replay it. */
export async function withSeed<T>(seed: number, f: (r: Prng) => Promise<T> | T): Promise<T> {
  try {
    return await f(new Prng(seed));
  } catch (err) {
    throw annotate(err, seed);
  }
}

/** The same for synchronous code. */
export function withSeedSync<T>(seed: number, f: (r: Prng) => T): T {
  try {
    return f(new Prng(seed));
  } catch (err) {
    throw annotate(err, seed);
  }
}

function annotate(err: unknown, seed: number): unknown {
  const note = `(seed ${seed}: replay with WRIT_TEST_SEED=${seed})`;
  process.stderr.write(`\nFAILED ${note}\n`); // also where a reporter shows the stack, not the message
  if (err instanceof Error) {
    if (!err.message.includes(note)) err.message = `${err.message}\n${note}`;
    return err;
  }
  return new Error(`${String(err)}\n${note}`, { cause: err });
}
