/**
 * Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers:
 * as easy as 1, 2, 3", SC'11; the Random123 library).
 *
 * Why counter-based: a campaign's trials run in any order, on any worker, on any machine, and a single
 * trial must be reproducible alone (to replay or show it). With a counter-based generator the random
 * stream of a trial is a pure function of (campaign seed, BER, trial index): no state is carried from
 * one trial to the next, so nothing depends on which trials ran before.
 *
 * The algorithm, as published: a 128-bit counter (four 32-bit words c0..c3) and a 64-bit key (k0, k1)
 * go through 10 rounds; one round is
 *     (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2          (full 32x32 -> 64-bit products)
 *     (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 * with M0 = 0xD2511F53, M1 = 0xCD9E8D57, and between rounds the key is bumped by the Weyl constants
 * k0 += 0x9E3779B9, k1 += 0xBB67AE85 (mod 2^32). The four output words are the random block.
 * Checked against the Random123 known-answer vectors (test/faults/prng.test.ts).
 *
 * How a trial is keyed (our convention, documented in docs/faults.md):
 *     key     = (seed mod 2^32, floor(seed / 2^32))             seed: integer in [0, 2^53)
 *     counter = (block, trial, BER bits low, BER bits high)     BER as its IEEE-754 float64 bits
 * and the stream reads blocks 0, 1, 2, ... word by word. Each (seed, BER, trial) thus owns 2^32 blocks.
 */
import { ProactError } from '../util/errors.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_32 = 2 ** 32;

/** High 32 bits of the 64-bit product of two uint32, from four 16x16-bit partial products (all exact). */
function mulHi(a: number, b: number): number {
  const aLow = a & 0xffff;
  const aHigh = a >>> 16;
  const bLow = b & 0xffff;
  const bHigh = b >>> 16;
  const cross1 = aLow * bHigh;
  const cross2 = aHigh * bLow;
  const middle = ((aLow * bLow) >>> 16) + (cross1 & 0xffff) + (cross2 & 0xffff);
  return (aHigh * bHigh + (cross1 >>> 16) + (cross2 >>> 16) + (middle >>> 16)) >>> 0;
}

/**
 * One Philox4x32-10 block: the 4 output words for `counter` (4 uint32) and `key` (2 uint32), written
 * into `out` (allocated when omitted).
 */
export function philox4x32_10(
  counter: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let c0 = counter[0]! >>> 0;
  let c1 = counter[1]! >>> 0;
  let c2 = counter[2]! >>> 0;
  let c3 = counter[3]! >>> 0;
  let k0 = key[0]! >>> 0;
  let k1 = key[1]! >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulHi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulHi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** A source of random numbers (what the fault count models draw from). */
export interface RandomSource {
  /** A uniform integer in [0, 2^32). */
  uint32(): number;
  /** A uniform float64 in [0, 1) with 53 random bits. */
  float64(): number;
  /** A uniform integer in [0, n), n a positive integer <= 2^53, without modulo bias (rejection). */
  int(n: number): number;
}

/** Reads a Philox stream block by block: counter = (block, c1, c2, c3), block = 0, 1, 2, ... */
export class PhiloxStream implements RandomSource {
  private readonly counter: Uint32Array;
  private readonly key: Uint32Array;
  private readonly block = new Uint32Array(4);
  private next = 4; // words of `block` already used

  constructor(key: readonly [number, number], streamWords: readonly [number, number, number]) {
    this.key = Uint32Array.from(key);
    this.counter = Uint32Array.from([0, ...streamWords]);
  }

  uint32(): number {
    if (this.next === 4) {
      philox4x32_10(this.counter, this.key, this.block);
      if (this.counter[0] === 0xffffffff) throw new ProactError('random stream exhausted (2^32 blocks drawn in one trial): use fewer faults per trial');
      this.counter[0] += 1;
      this.next = 0;
    }
    return this.block[this.next++]!;
  }

  float64(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > Number.MAX_SAFE_INTEGER + 1) {
      throw new RangeError(`int(n) needs an integer n in [1, 2^53], got ${n}`);
    }
    if (n <= TWO_32) {
      // Accept r below the largest multiple of n that fits in 2^32, so r % n is exactly uniform.
      const limit = TWO_32 - (TWO_32 % n);
      for (;;) {
        const r = this.uint32();
        if (r < limit) return r % n;
      }
    }
    const range = 2 ** 53;
    const limit = range - (range % n);
    for (;;) {
      const r = (this.uint32() >>> 11) * TWO_32 + this.uint32(); // 21 + 32 = 53 bits
      if (r < limit) return r % n;
    }
  }
}

function float64Words(x: number): [number, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x, true);
  return [view.getUint32(0, true), view.getUint32(4, true)];
}

/** Checks a campaign seed: an integer in [0, 2^53). */
export function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ProactError(`seed ${seed} is not valid: use an integer in [0, 2^53)`);
  }
}

/** Checks a trial index: an integer in [0, 2^32). */
export function checkTrial(trial: number): void {
  if (!Number.isInteger(trial) || trial < 0 || trial >= TWO_32) {
    throw new ProactError(`trial ${trial} is not valid: use an integer in [0, 2^32)`);
  }
}

/** The random stream of one trial: a pure function of (seed, BER, trial). */
export function trialStream(seed: number, ber: number, trial: number): PhiloxStream {
  checkSeed(seed);
  checkTrial(trial);
  if (!Number.isFinite(ber)) throw new ProactError(`BER ${ber} is not a finite number: use a value in (0, 1)`);
  const [berLow, berHigh] = float64Words(ber);
  return new PhiloxStream([seed % TWO_32, Math.floor(seed / TWO_32)], [trial, berLow, berHigh]);
}

/**
 * The random stream that picks a trial's evaluation images: a pure function of (seed, BER, trial), like
 * the fault stream, but under a disjoint key (bit 31 of the high key word, which a seed below 2^53 never
 * sets), so drawing images never shifts a fault draw and two campaigns with the same seed see the same
 * images in trial i whatever their models.
 */
export function imageStream(seed: number, ber: number, trial: number): PhiloxStream {
  checkSeed(seed);
  checkTrial(trial);
  if (!Number.isFinite(ber)) throw new ProactError(`BER ${ber} is not a finite number: use a value in (0, 1)`);
  const [berLow, berHigh] = float64Words(ber);
  return new PhiloxStream([seed % TWO_32, (Math.floor(seed / TWO_32) | 0x80000000) >>> 0], [trial, berLow, berHigh]);
}

/**
 * The random stream of a trial's activation faults: a pure function of (seed, BER, trial) under its own
 * key (bit 30 of the high key word, which neither a seed below 2^53 nor imageStream sets), so adding
 * activation faults to a campaign never shifts its weight faults or its images.
 */
export function activationStream(seed: number, ber: number, trial: number): PhiloxStream {
  checkSeed(seed);
  checkTrial(trial);
  if (!Number.isFinite(ber)) throw new ProactError(`BER ${ber} is not a finite number: use a value in (0, 1)`);
  const [berLow, berHigh] = float64Words(ber);
  return new PhiloxStream([seed % TWO_32, (Math.floor(seed / TWO_32) | 0x40000000) >>> 0], [trial, berLow, berHigh]);
}

/**
 * The `count` evaluation images of a trial out of `total`: the first `count` entries of a uniform random
 * permutation of [0, total) drawn from imageStream (a partial Fisher-Yates shuffle), returned in
 * ascending order. Subsets are nested: the images of a smaller count are among those of a larger one.
 */
export function trialImages(seed: number, ber: number, trial: number, count: number, total: number): Int32Array {
  if (!(Number.isInteger(total) && total >= 1)) throw new ProactError(`image subset: ${total} images to draw from; the evaluation set is empty`);
  if (!(Number.isInteger(count) && count >= 1 && count <= total)) throw new ProactError(`image subset: ${count} images per trial is not in [1, ${total}]`);
  if (count === total) return Int32Array.from({ length: total }, (_, i) => i);
  const rng = imageStream(seed, ber, trial);
  // Only the swapped positions are remembered: O(count) memory for any total.
  const swapped = new Map<number, number>();
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(total - i);
    const atJ = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out[i] = atJ;
  }
  return out.sort();
}
