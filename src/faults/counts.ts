/**
 * Fault count models: how many bits flip in one trial, and where.
 *
 * Why several: the physical model is that every stored bit flips independently with probability BER
 * (`bernoulli`: Binomial(total bits, BER) flips at distinct positions). The public ProAct reference
 * instead flips floor(numel * bits * BER) bits per tensor at positions drawn with replacement
 * (`reference`), which injects nothing into small tensors at low BER: results are only comparable with
 * its numbers under that model. `poisson` is the usual large-memory approximation of the binomial, and
 * `fixed:K` (exactly K distinct bits) serves sensitivity studies ("what does one flip do?").
 *
 * Positions live in one bit space: the surface tensors' words laid end to end, `bits` bits per word,
 * bit 0 of a word being its LSB. Bernoulli positions are drawn as geometric gaps between consecutive
 * flipped bits, so the cost is proportional to the number of flips, never to the number of bits.
 */
import { ProactError } from '../util/errors.js';
import type { RandomSource } from './prng.js';

export type CountModel =
  | { readonly kind: 'bernoulli' }
  | { readonly kind: 'reference' }
  | { readonly kind: 'poisson' }
  | { readonly kind: 'fixed'; readonly faults: number };

/** Where one bit flips: element `index` of surface tensor number `tensor`, bit `bit` (0 = LSB). */
export interface FlipSite {
  readonly tensor: number;
  readonly index: number;
  readonly bit: number;
}

/** The fault-able memory: element counts of the hittable tensors, in surface order, and bits per word. */
export interface BitSpace {
  readonly sizes: readonly number[];
  readonly bits: number;
}

const COUNT_HELP = "use 'bernoulli', 'reference', 'poisson' or 'fixed:K' (K a whole number of flips, e.g. fixed:3)";

export function parseCountModel(text: string): CountModel {
  const name = text.trim().toLowerCase();
  if (name === 'bernoulli' || name === 'reference' || name === 'poisson') return { kind: name };
  const fixed = /^fixed:(\d+)$/.exec(name);
  if (fixed !== null) {
    const faults = Number(fixed[1]);
    if (!Number.isSafeInteger(faults)) throw new ProactError(`fault count model '${text}' asks for too many flips: ${COUNT_HELP}`);
    return { kind: 'fixed', faults };
  }
  throw new ProactError(`unknown fault count model '${text}': ${COUNT_HELP}`);
}

/** The canonical text of a count model, accepted back by parseCountModel. */
export function countModelName(model: CountModel): string {
  return model.kind === 'fixed' ? `fixed:${model.faults}` : model.kind;
}

export function toCountModel(model: string | CountModel): CountModel {
  return typeof model === 'string' ? parseCountModel(model) : parseCountModel(countModelName(model));
}

/** Checks a bit error rate: a probability strictly between 0 and 1. */
export function checkBer(ber: number): void {
  if (typeof ber !== 'number' || !(ber > 0 && ber < 1)) {
    throw new ProactError(`BER ${String(ber)} is outside (0, 1): give the per-bit flip probability, e.g. 1e-5`);
  }
}

/** The flip sites of one trial under `model`. Distinct-position models return them sorted by position. */
export function sampleFlipSites(model: CountModel, space: BitSpace, ber: number, rng: RandomSource): FlipSite[] {
  checkBer(ber);
  const total = totalBits(space);
  switch (model.kind) {
    case 'bernoulli':
      return sitesAt(space, bernoulliPositions(total, ber, rng));
    case 'poisson':
      return sitesAt(space, distinctPositions(total, Math.min(total, samplePoisson(rng, total * ber)), rng));
    case 'fixed':
      if (model.faults > total) {
        throw new ProactError(`fixed:${model.faults} asks for more flips than the ${total} stored bits of the fault surface: use a smaller K`);
      }
      return sitesAt(space, distinctPositions(total, model.faults, rng));
    case 'reference':
      return referenceSites(space, ber, rng);
  }
}

export function totalBits(space: BitSpace): number {
  let elements = 0;
  for (const size of space.sizes) elements += size;
  const total = elements * space.bits;
  if (!Number.isSafeInteger(total)) throw new ProactError(`the fault surface holds ${total} bits, more than 2^53: split the campaign`);
  return total;
}

/** Every bit flips with probability `ber`: the gap before the next flip is Geometric(ber). */
export function bernoulliPositions(total: number, ber: number, rng: RandomSource): number[] {
  const logKeep = Math.log1p(-ber);
  const positions: number[] = [];
  let position = -1;
  for (;;) {
    const u = 1 - rng.float64(); // in (0, 1]: P(gap >= k) = P(u <= (1 - ber)^k) = (1 - ber)^k
    position += Math.floor(Math.log(u) / logKeep) + 1;
    if (position >= total) return positions;
    positions.push(position);
  }
}

/** `count` distinct positions in [0, total), uniform over all subsets (Floyd's algorithm), sorted. */
export function distinctPositions(total: number, count: number, rng: RandomSource): Float64Array {
  const chosen = new Set<number>();
  for (let j = total - count; j < total; j++) {
    const t = rng.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return Float64Array.from(chosen).sort();
}

/** Maps sorted global bit positions to (tensor, element, bit). */
export function sitesAt(space: BitSpace, positions: ArrayLike<number>): FlipSite[] {
  const sites: FlipSite[] = new Array(positions.length);
  let tensor = 0;
  let start = 0; // first global bit of `tensor`
  for (let i = 0; i < positions.length; i++) {
    const position = positions[i]!;
    while (position >= start + space.sizes[tensor]! * space.bits) {
      start += space.sizes[tensor]! * space.bits;
      tensor += 1;
    }
    const offset = position - start;
    sites[i] = { tensor, index: Math.floor(offset / space.bits), bit: offset % space.bits };
  }
  return sites;
}

/** The reference: floor(numel * bits * BER) flips per tensor, element and bit drawn with replacement. */
function referenceSites(space: BitSpace, ber: number, rng: RandomSource): FlipSite[] {
  const sites: FlipSite[] = [];
  space.sizes.forEach((size, tensor) => {
    const count = Math.floor(size * space.bits * ber); // the reference's int(numel * 32 * ber)
    for (let i = 0; i < count; i++) sites.push({ tensor, index: rng.int(size), bit: rng.int(space.bits) });
  });
  return sites;
}

// ---------------------------------------------------------------- Poisson sampling

const LOG_FACTORIAL_TABLE_SIZE = 256;
let logFactorialTable: Float64Array | undefined;

/** ln(k!) for an integer k >= 0: a table below 256, Stirling's series above (error < 1e-15). */
export function logFactorial(k: number): number {
  if (k < LOG_FACTORIAL_TABLE_SIZE) {
    if (logFactorialTable === undefined) {
      logFactorialTable = new Float64Array(LOG_FACTORIAL_TABLE_SIZE);
      for (let i = 2; i < LOG_FACTORIAL_TABLE_SIZE; i++) logFactorialTable[i] = logFactorialTable[i - 1]! + Math.log(i);
    }
    return logFactorialTable[k]!;
  }
  const x = k + 1;
  const x2 = x * x;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + (1 / 12 - (1 / 360 - 1 / (1260 * x2)) / x2) / x;
}

/**
 * A Poisson(mean) variate. Below mean 10: inversion by multiplying uniforms (Knuth), about mean + 1
 * uniforms. From 10 on: Hörmann's transformed rejection with squeeze, PTRS ("The transformed rejection
 * method for generating Poisson random variables", Insurance: Mathematics and Economics 12, 1993),
 * a few uniforms whatever the mean.
 */
export function samplePoisson(rng: RandomSource, mean: number): number {
  if (!(mean >= 0) || !Number.isFinite(mean)) throw new RangeError(`Poisson mean must be finite and >= 0, got ${mean}`);
  if (mean === 0) return 0;
  if (mean < 10) {
    const limit = Math.exp(-mean);
    let k = 0;
    let product = rng.float64();
    while (product > limit) {
      k += 1;
      product *= rng.float64();
    }
    return k;
  }
  const sqrtMean = Math.sqrt(mean);
  const logMean = Math.log(mean);
  const b = 0.931 + 2.53 * sqrtMean;
  const a = -0.059 + 0.02483 * b;
  const logInvAlpha = Math.log(1.1239 + 1.1328 / (b - 3.4));
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.float64() - 0.5;
    const v = rng.float64();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + logInvAlpha - Math.log(a / (us * us) + b) <= -mean + k * logMean - logFactorial(k)) return k;
  }
}
