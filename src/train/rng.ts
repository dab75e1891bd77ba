/**
 * Seeded randomness for training: xoshiro128** 1.0 (Blackman and Vigna, "Scrambled linear
 * pseudorandom number generators", 2018; reference code at prng.di.unimi.it), a 128-bit-state
 * generator of 32-bit words. Training draws every random choice (shuffles, crops, flips, initial
 * weights) from one of these, so a run is a pure function of its seed, and the 4-word state can be
 * saved in a checkpoint and restored exactly.
 *
 * One step of the generator, on the state words s0..s3 (uint32, arithmetic mod 2^32):
 *     result = rotl(s1 * 5, 7) * 9
 *     t = s1 << 9
 *     s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11)
 *
 * Seeding (ours, as the authors recommend): the integer seed (0 <= seed < 2^53) is the starting state
 * of SplitMix64; its first two 64-bit outputs, each split low word first, fill s0..s3. The test checks
 * outputs against the reference C code seeded the same way.
 */
import { ProactError } from '../util/errors.js';

const MASK64 = (1n << 64n) - 1n;

/** The next output of SplitMix64 (Steele, Lea, Flood 2014) and its new state. */
function splitMix64(state: bigint): { state: bigint; value: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { state: next, value: z ^ (z >> 31n) };
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Throws unless `seed` is an integer in [0, 2^53). */
export function checkSeed(seed: number, what = 'seed'): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new ProactError(`${what} ${seed} is invalid: pass an integer between 0 and 2^53 - 1`);
}

export class Rng {
  private readonly s: Uint32Array;

  private constructor(state: Uint32Array) {
    this.s = state;
  }

  /** A generator whose state is derived from `seed` by SplitMix64. */
  static fromSeed(seed: number): Rng {
    checkSeed(seed);
    let sm = BigInt(seed);
    const s = new Uint32Array(4);
    for (let k = 0; k < 2; k++) {
      const r = splitMix64(sm);
      sm = r.state;
      s[2 * k] = Number(r.value & 0xffffffffn);
      s[2 * k + 1] = Number(r.value >> 32n);
    }
    return new Rng(s);
  }

  /** A generator continuing from a state saved with {@link Rng.state}. */
  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff) || state.every((w) => w === 0))
      throw new ProactError(`random generator state [${state.join(', ')}] is invalid: expected 4 unsigned 32-bit words, not all zero (the checkpoint is corrupted)`);
    return new Rng(Uint32Array.from(state));
  }

  /** The 4 state words, to store in a checkpoint. */
  state(): number[] {
    return Array.from(this.s);
  }

  /** A uniform integer in [0, 2^32). */
  uint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform float64 in [0, 1) with 53 random bits (two draws). */
  float(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A uniform integer in [0, n) for 1 <= n <= 2^32, without modulo bias (rejection of the top partial range). */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`Rng.below: n = ${n} must be an integer in [1, 2^32]`);
    const limit = 2 ** 32 - (2 ** 32 % n); // largest multiple of n not above 2^32
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** True with probability 1/2 (one draw). */
  coin(): boolean {
    return (this.uint32() & 0x80000000) !== 0;
  }

  /** Shuffles `values` in place by Fisher-Yates: for i from length - 1 down to 1, swap i with below(i + 1). */
  shuffle<T extends { length: number; [i: number]: number }>(values: T): T {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = values[i]!;
      values[i] = values[j]!;
      values[j] = t;
    }
    return values;
  }

  /** A permutation of 0 .. n - 1 drawn by {@link Rng.shuffle}. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

/**
 * A seed for a sub-stream (e.g. weight init vs. data order) derived from a seed and a label, so that
 * independent uses of one user seed do not share a stream. FNV-1a of the label mixed into the seed by
 * SplitMix64; the result is below 2^53.
 */
export function deriveSeed(seed: number, label: string): number {
  checkSeed(seed);
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(label, 'utf8')) h = ((h ^ BigInt(ch)) * 0x100000001b3n) & MASK64;
  const mixed = splitMix64((BigInt(seed) ^ h) & MASK64).value;
  return Number(mixed >> 11n);
}

/** A fresh random seed for a run that was given none (printed and stored by the caller). */
export function freshSeed(): number {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return (words[0]! & 0x1fffff) * 2 ** 32 + words[1]!;
}
