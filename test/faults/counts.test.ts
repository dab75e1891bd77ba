// Fault count models: statistics of counts and positions with fixed seeds, the reference's per-tensor floors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FaultPlanner,
  checkBer,
  countModelName,
  parseCountModel,
  sampleFlipSites,
  samplePoisson,
  trialStream,
  type BitSpace,
  type CountModel,
  type FlipSite,
} from '../../src/faults/index.js';
import { assertProactError, numel, resnet20Shapes, resnet20Surface } from './util.js';

/*
 * Statistical tests use fixed seeds, so they are deterministic; the tolerances say how unlikely a
 * failure would be for a correct sampler (3 sigma: ~0.3% per check; chi-square at p = 0.001).
 * Critical values of chi-square at p = 0.001 (scipy.stats.chi2.ppf(0.999, dof)): dof 2: 13.816,
 * dof 9: 27.877, dof 31: 61.098.
 */
const CHI2_999: Readonly<Record<number, number>> = { 2: 13.816, 9: 27.877, 31: 61.098 };

function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  return observed.reduce((sum, o, i) => sum + (o - expected[i]!) ** 2 / expected[i]!, 0);
}

function meanAndVariance(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

/**
 * Standard error of the unbiased sample variance of n draws from a distribution with variance
 * sigma2 and fourth central moment mu4: Var(s^2) = mu4 / n - sigma2^2 (n - 3) / (n (n - 1)).
 */
function varianceStandardError(n: number, sigma2: number, mu4: number): number {
  return Math.sqrt(mu4 / n - (sigma2 * sigma2 * (n - 3)) / (n * (n - 1)));
}

const SPACE: BitSpace = { sizes: [1000, 250, 3], bits: 32 }; // 40,096 bits
const TOTAL = 1253 * 32;

function drawTrials(model: CountModel, ber: number, trials: number, seed = 2024): FlipSite[][] {
  return Array.from({ length: trials }, (_, trial) => sampleFlipSites(model, SPACE, ber, trialStream(seed, ber, trial)));
}

function assertDistinctSortedInRange(sites: readonly FlipSite[]): void {
  let previous = -1;
  for (const s of sites) {
    assert.ok(s.tensor >= 0 && s.tensor < SPACE.sizes.length);
    assert.ok(s.index >= 0 && s.index < SPACE.sizes[s.tensor]!);
    assert.ok(s.bit >= 0 && s.bit < SPACE.bits);
    const position = (SPACE.sizes.slice(0, s.tensor).reduce((a, b) => a + b, 0) + s.index) * SPACE.bits + s.bit;
    assert.ok(position > previous, 'positions must be distinct and increasing');
    previous = position;
  }
}

test('bernoulli: counts over 10,000 trials have the binomial mean and variance (3 sigma), positions distinct and uniform', () => {
  const ber = 5e-4;
  const trials = drawTrials({ kind: 'bernoulli' }, ber, 10000);
  const counts = trials.map((t) => t.length);
  const { mean, variance } = meanAndVariance(counts);
  const n = counts.length;
  const mu = TOTAL * ber;
  const sigma2 = TOTAL * ber * (1 - ber);
  const mu4 = sigma2 * (1 + 3 * (TOTAL - 2) * ber * (1 - ber)); // fourth central moment of Binomial(N, p)
  assert.ok(Math.abs(mean - mu) < 3 * Math.sqrt(sigma2 / n), `mean ${mean} vs ${mu}`);
  assert.ok(Math.abs(variance - sigma2) < 3 * varianceStandardError(n, sigma2, mu4), `variance ${variance} vs ${sigma2}`);

  const bitCounts = new Array<number>(32).fill(0);
  const tensorCounts = [0, 0, 0];
  const elementBins = new Array<number>(10).fill(0); // tensor 0's 1000 elements in 10 bins of 100
  for (const sites of trials) {
    assertDistinctSortedInRange(sites);
    for (const s of sites) {
      bitCounts[s.bit]! += 1;
      tensorCounts[s.tensor]! += 1;
      if (s.tensor === 0) elementBins[Math.floor(s.index / 100)]! += 1;
    }
  }
  const flips = bitCounts.reduce((a, b) => a + b, 0);
  assert.ok(chiSquare(bitCounts, new Array(32).fill(flips / 32)) < CHI2_999[31]!, `bits: ${bitCounts}`);
  assert.ok(chiSquare(tensorCounts, SPACE.sizes.map((s) => (flips * s) / 1253)) < CHI2_999[2]!, `tensors: ${tensorCounts}`);
  assert.ok(chiSquare(elementBins, new Array(10).fill(tensorCounts[0]! / 10)) < CHI2_999[9]!, `elements: ${elementBins}`);
});

test('bernoulli at a high BER (0.3) still has the binomial mean (300 trials, 3 sigma)', () => {
  const ber = 0.3;
  const counts = drawTrials({ kind: 'bernoulli' }, ber, 300).map((t) => t.length);
  const { mean } = meanAndVariance(counts);
  assert.ok(Math.abs(mean - TOTAL * ber) < 3 * Math.sqrt((TOTAL * ber * (1 - ber)) / counts.length), `mean ${mean}`);
});

test('samplePoisson: mean and variance within 3 sigma, and the pmf passes chi-square (10,000 draws per mean)', () => {
  for (const lambda of [0.7, 3, 50, 2000]) {
    const rng = trialStream(77, 1e-5, Math.round(lambda * 10));
    const n = 10000;
    const xs = Array.from({ length: n }, () => samplePoisson(rng, lambda));
    assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0));
    const { mean, variance } = meanAndVariance(xs);
    const mu4 = lambda * (1 + 3 * lambda); // fourth central moment of Poisson(lambda)
    assert.ok(Math.abs(mean - lambda) < 3 * Math.sqrt(lambda / n), `lambda ${lambda}: mean ${mean}`);
    assert.ok(Math.abs(variance - lambda) < 3 * varianceStandardError(n, lambda, mu4), `lambda ${lambda}: variance ${variance}`);
    if (lambda === 50) {
      // 10 bins: < 42, 42-43, 44-45, ..., 56-57, >= 58, with probabilities from the exact pmf.
      const pmf: number[] = [Math.exp(-lambda)];
      for (let k = 1; k < 200; k++) pmf.push((pmf[k - 1]! * lambda) / k);
      const bin = (k: number): number => Math.min(9, Math.max(0, Math.floor((k - 40) / 2)));
      const expected = new Array<number>(10).fill(0);
      pmf.forEach((p, k) => (expected[bin(k)]! += p * n));
      const observed = new Array<number>(10).fill(0);
      for (const x of xs) observed[bin(x)]! += 1;
      assert.ok(chiSquare(observed, expected) < CHI2_999[9]!, `observed ${observed}, expected ${expected.map((e) => e.toFixed(0))}`);
    }
  }
  assert.equal(samplePoisson(trialStream(1, 1e-5, 0), 0), 0);
});

test('poisson: flip counts have mean total * BER (3 sigma), at distinct positions with uniform bits', () => {
  const ber = 3e-4;
  const trials = drawTrials({ kind: 'poisson' }, ber, 10000, 99);
  const counts = trials.map((t) => t.length);
  const lambda = TOTAL * ber;
  const { mean } = meanAndVariance(counts);
  assert.ok(Math.abs(mean - lambda) < 3 * Math.sqrt(lambda / counts.length), `mean ${mean} vs ${lambda}`);
  const bitCounts = new Array<number>(32).fill(0);
  for (const sites of trials) {
    assertDistinctSortedInRange(sites);
    for (const s of sites) bitCounts[s.bit]! += 1;
  }
  const flips = bitCounts.reduce((a, b) => a + b, 0);
  assert.ok(chiSquare(bitCounts, new Array(32).fill(flips / 32)) < CHI2_999[31]!, `bits: ${bitCounts}`);
});

test('fixed:K flips exactly K distinct bits; fixed:(all bits) flips every bit once', () => {
  for (let trial = 0; trial < 200; trial++) {
    const sites = sampleFlipSites({ kind: 'fixed', faults: 5 }, SPACE, 1e-5, trialStream(5, 1e-5, trial));
    assert.equal(sites.length, 5);
    assertDistinctSortedInRange(sites);
  }
  const small: BitSpace = { sizes: [2, 1], bits: 8 };
  const all = sampleFlipSites({ kind: 'fixed', faults: 24 }, small, 1e-5, trialStream(5, 1e-5, 0));
  assert.deepEqual(
    all.map((s) => [s.tensor, s.index, s.bit]),
    Array.from({ length: 24 }, (_, p) => [p < 16 ? 0 : 1, p < 16 ? Math.floor(p / 8) : 0, p % 8]),
  );
  assertProactError(() => sampleFlipSites({ kind: 'fixed', faults: 25 }, small, 1e-5, trialStream(5, 1e-5, 0)), /fixed:25 asks for more flips than the 24 stored bits/);
  assert.equal(sampleFlipSites({ kind: 'fixed', faults: 0 }, small, 1e-5, trialStream(5, 1e-5, 0)).length, 0);
});

test('reference on a ResNet-20 surface: exactly floor(numel * bits * BER) per tensor (71 at 1e-5)', () => {
  const shapes = resnet20Shapes();
  assert.equal(shapes.length, 40);
  assert.equal(shapes.reduce((sum, s) => sum + numel(s.dims), 0), 269034);
  const floors = (bits: number, ber: number): number[] => shapes.map((s) => Math.floor(numel(s.dims) * bits * ber));
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  assert.equal(sum(floors(32, 1e-5)), 71);
  assert.equal(sum(floors(32, 1e-7)), 0); // the reference injects nothing at 1e-7 (expected ~0.86 flips)

  const surface = resnet20Surface();
  for (const [format, bits, ber] of [['float32', 32, 1e-5], ['q15.16', 32, 3e-5], ['int8', 8, 1e-5], ['float32', 32, 1e-7]] as const) {
    const planner = new FaultPlanner(surface, { seed: 7, faults: { format, count: 'reference' } });
    const expected = floors(bits, ber);
    for (const trial of [0, 1, 2]) {
      const plan = planner.plan(ber, trial);
      const perTensor = shapes.map((s) => plan.faults.filter((f) => f.tensor === s.name).length);
      assert.deepEqual(perTensor, expected, `${format} at ${ber}, trial ${trial}`);
    }
  }
});

test('reference draws positions with replacement: repeats happen when flips outnumber bits', () => {
  const sites = sampleFlipSites({ kind: 'reference' }, { sizes: [2], bits: 32 }, 0.9, trialStream(3, 0.9, 0));
  assert.equal(sites.length, Math.floor(2 * 32 * 0.9));
  const keys = new Set(sites.map((s) => `${s.index}:${s.bit}`));
  assert.ok(keys.size < sites.length, 'with 57 draws among 64 bits, some bit must repeat');
});

test('count model names parse and print back; unknown models and BER outside (0, 1) are one-line errors', () => {
  for (const name of ['bernoulli', 'reference', 'poisson', 'fixed:3', 'fixed:0']) assert.equal(countModelName(parseCountModel(name)), name);
  assert.deepEqual(parseCountModel(' Fixed:12 '), { kind: 'fixed', faults: 12 });
  for (const bad of ['binomial', 'fixed:', 'fixed:-1', 'fixed:1.5', 'fixed', '']) {
    assertProactError(() => parseCountModel(bad), /unknown fault count model/);
  }
  for (const ber of [0, 1, -1e-5, 1.5, NaN, Infinity]) {
    assertProactError(() => checkBer(ber), /is outside \(0, 1\)/);
    assertProactError(() => sampleFlipSites({ kind: 'bernoulli' }, SPACE, ber, trialStream(1, 0.5, 0)), /BER .* is outside \(0, 1\)/);
  }
});
