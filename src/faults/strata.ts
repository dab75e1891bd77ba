/**
 * Stratified fault sampling on critical flips (docs/campaigns.md, "Strata").
 *
 * Under the bernoulli count model every stored bit flips independently with probability p = BER. A few
 * bit positions decide most outcomes: a flip that makes a value non-finite, or multiplies its magnitude
 * far beyond what its tensor holds (bit 30 of a float32 weight below 2 in magnitude: 0.03 -> 1e37),
 * collapses the network, while the many other flips barely move it. The set C of such critical
 * positions is fixed from the clean stored values before any trial:
 *
 *   a flip of bit b of element i of tensor t is critical iff the flipped value (after the float policy)
 *   is non-finite or its magnitude exceeds CRITICAL_FACTOR x the largest clean magnitude of t.
 *
 * The number K of critical flips is Binomial(|C|, p), independent of the other flips, so the strata
 * {K = 0}, {K = 1}, {K = 2} and {K >= 3} have exactly known probabilities. A trial of stratum k draws k
 * distinct critical positions uniformly from C (for the last stratum, K first from the binomial law
 * conditioned on K >= 3) and the other flips by the usual bernoulli process on the bits outside C: that
 * is exactly the conditional law of a bernoulli trial given its stratum. The estimator sum_h w_h mean_h
 * is then unbiased whatever C is; a good C only makes it more precise (rare collapses are measured
 * directly in their strata instead of waiting for them to appear by chance).
 */
import { ProactError } from '../util/errors.js';
import { bernoulliPositions, checkBer, distinctPositions, logFactorial, sitesAt, type BitSpace, type FlipSite } from './counts.js';
import type { EncodedTensor, NumberFormat } from './formats.js';
import { flippedValue, type FloatPolicy } from './policy.js';
import type { RandomSource } from './prng.js';

/** A flip is critical when it raises a value's magnitude beyond this multiple of its tensor's largest clean magnitude. */
export const CRITICAL_FACTOR = 64;
/** Strata {K = 0}, ..., {K = STRATA - 2}, {K >= STRATA - 1}. */
export const STRATA = 4;
/** Trial numbers of stratum h are h * STRATUM_STRIDE + j (j = 0, 1, ...): plans stay a function of (seed, BER, trial). */
export const STRATUM_STRIDE = 2 ** 24;

/** The critical bit positions of a fault surface: per tensor, sorted local positions (element * bits + bit). */
export interface CriticalSet {
  /** Local positions per hittable tensor, ascending. */
  readonly perTensor: readonly (Uint32Array | Float64Array)[];
  /** First global bit of each tensor in the surface's bit space. */
  readonly starts: readonly number[];
  /** |C|. */
  readonly size: number;
}

/**
 * Bits whose flip can be critical. In the float formats a mantissa or sign flip changes a magnitude by less
 * than 2x (never 64x beyond its tensor's range), and neither can turn a finite value into Inf or NaN, so
 * only exponent bits are visited: 8 of 32 bits in float32, 5 of 16 in float16, 8 of 16 in bfloat16.
 * Other formats (fixed point, int8) visit every bit.
 */
function candidateBits(format: NumberFormat): number[] {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  switch (format.name) {
    case 'float32':
      return range(23, 30);
    case 'float16':
      return range(10, 14);
    case 'bfloat16':
      return range(7, 14);
    default:
      return range(0, format.bits - 1);
  }
}

/** Finds the critical flips of each tensor from its clean stored words (see the module comment for the rule). */
export function criticalSet(tensors: readonly EncodedTensor[], sizes: readonly number[], format: NumberFormat, policy: FloatPolicy): CriticalSet {
  const perTensor: (Uint32Array | Float64Array)[] = [];
  const starts: number[] = [];
  let start = 0;
  let size = 0;
  const bits = candidateBits(format);
  tensors.forEach((encoded, t) => {
    const n = sizes[t]!;
    let largest = 0;
    for (let i = 0; i < n; i++) largest = Math.max(largest, Math.abs(format.decodeWord(encoded.words[i]!, encoded, i)));
    // A tensor of zeros: any non-zero value is "beyond its range"; a tiny floor keeps subnormal noise out.
    const limit = CRITICAL_FACTOR * Math.max(largest, 1e-30);
    const positions: number[] = [];
    for (let i = 0; i < n; i++) {
      const word = encoded.words[i]!;
      for (const b of bits) {
        const v = flippedValue(format, word, [b], encoded, i, policy);
        if (!Number.isFinite(v) || Math.abs(v) > limit) positions.push(i * format.bits + b);
      }
    }
    // Local positions fit 32 bits unless a tensor holds more than 2^32 bits.
    perTensor.push(n * format.bits <= 2 ** 32 ? Uint32Array.from(positions) : Float64Array.from(positions));
    starts.push(start);
    start += n * format.bits;
    size += positions.length;
  });
  return { perTensor, starts, size };
}

function logBinomialPmf(n: number, k: number, p: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

/** Number of strata for a critical set of `size` positions: STRATA, fewer when C is smaller (K <= |C|). */
export function strataCount(size: number): number {
  return Math.min(STRATA, size + 1);
}

/** Exact probabilities of the strata {K = 0}, ..., {K >= H - 1} at `ber` for |C| = `size`; they sum to 1. */
export function strataWeights(size: number, ber: number): number[] {
  checkBer(ber);
  const h = strataCount(size);
  const weights: number[] = [];
  let sum = 0;
  for (let k = 0; k < h - 1; k++) {
    const w = Math.exp(logBinomialPmf(size, k, ber));
    weights.push(w);
    sum += w;
  }
  weights.push(Math.max(0, 1 - sum));
  return weights;
}

/** K drawn from Binomial(size, ber) conditioned on K >= from, by inversion over the pmf. */
function conditionalCount(size: number, ber: number, from: number, rng: RandomSource): number {
  const mean = size * ber;
  const last = Math.min(size, Math.ceil(Math.max(from, mean) + 12 * Math.sqrt(mean + 1) + 20));
  const pmf: number[] = [];
  let total = 0;
  for (let k = from; k <= last; k++) {
    const w = Math.exp(logBinomialPmf(size, k, ber));
    pmf.push(w);
    total += w;
  }
  if (!(total > 0)) return from; // the conditional mass underflows: K = from is the only sensible draw
  let u = rng.float64() * total;
  for (let i = 0; i < pmf.length; i++) {
    u -= pmf[i]!;
    if (u < 0) return from + i;
  }
  return last;
}

function isCritical(critical: CriticalSet, tensor: number, local: number): boolean {
  const list = critical.perTensor[tensor]!;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < local) lo = mid + 1;
    else hi = mid;
  }
  return lo < list.length && list[lo] === local;
}

/** The global bit position of the r-th critical position (0 <= r < |C|). */
function criticalPosition(critical: CriticalSet, rank: number): number {
  let r = rank;
  for (let t = 0; t < critical.perTensor.length; t++) {
    const list = critical.perTensor[t]!;
    if (r < list.length) return critical.starts[t]! + list[r]!;
    r -= list.length;
  }
  throw new ProactError(`critical position ${rank} is beyond the ${critical.size} critical bits`);
}

/**
 * The flip sites of a bernoulli trial conditioned on its stratum (0 .. H - 1; the last is K >= H - 1),
 * sorted by position.
 */
export function sampleStratumSites(critical: CriticalSet, space: BitSpace, ber: number, stratum: number, rng: RandomSource): FlipSite[] {
  checkBer(ber);
  const h = strataCount(critical.size);
  if (!(Number.isInteger(stratum) && stratum >= 0 && stratum < h)) throw new ProactError(`stratum ${stratum} is not in [0, ${h - 1}]`);
  const k = stratum < h - 1 ? stratum : conditionalCount(critical.size, ber, stratum, rng);
  const chosen = distinctPositions(critical.size, k, rng);
  const positions: number[] = Array.from(chosen, (rank) => criticalPosition(critical, rank));
  let total = 0;
  for (const s of space.sizes) total += s * space.bits;
  const others = sitesAt(space, bernoulliPositions(total, ber, rng));
  const globalOf = (site: FlipSite) => critical.starts[site.tensor]! + site.index * space.bits + site.bit;
  for (const site of others) if (!isCritical(critical, site.tensor, site.index * space.bits + site.bit)) positions.push(globalOf(site));
  positions.sort((a, b) => a - b);
  return sitesAt(space, positions);
}
