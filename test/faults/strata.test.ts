import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLOAT32,
  FaultPlanner,
  STRATUM_STRIDE,
  criticalSet,
  planFromJSON,
  planToJSON,
  sampleStratumSites,
  strataWeights,
  trialImages,
  trialStream,
  imageStream,
  type SurfaceTensor,
} from '../../src/faults/index.js';
import { logFactorial } from '../../src/faults/counts.js';

const VALUES = Float32Array.from([0.5, -0.25, 3.0, 0]);
const SURFACE: SurfaceTensor[] = [{ name: 'w', kind: 'weight', dims: [4], values: VALUES }];

test('critical flips are those that leave the tensor range by 64x or become non-finite (worked by hand)', () => {
  const c = criticalSet([FLOAT32.encode(VALUES)], [4], FLOAT32, 'ieee');
  // 0.5 and -0.25 (exponents 126, 125): bit 30 multiplies by 2^128. 3.0 (exponent 128 = 0b10000000): bits
  // 29..26 multiply by 2^64, 2^32, 2^16, 2^8 (> 64 x 3 = 192); bit 25 (x16 = 48) does not. 0 has none.
  const expected = [0 * 32 + 30, 1 * 32 + 30, 2 * 32 + 26, 2 * 32 + 27, 2 * 32 + 28, 2 * 32 + 29];
  assert.deepEqual(Array.from(c.perTensor[0]!), expected);
  assert.equal(c.size, 6);
});

function binomialPmf(n: number, k: number, p: number): number {
  return Math.exp(logFactorial(n) - logFactorial(k) - logFactorial(n - k) + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

test('strata weights are the exact binomial probabilities of 0, 1, 2 and >= 3 critical flips', () => {
  const w = strataWeights(270_000, 1e-6);
  assert.equal(w.length, 4);
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(w[k]! - binomialPmf(270_000, k, 1e-6)) < 1e-12);
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // lambda = 0.27: P(K = 0) = e^-0.27 to 5 digits (Poisson limit).
  assert.ok(Math.abs(w[0]! - Math.exp(-0.27)) < 1e-5);
  assert.deepEqual(strataWeights(1, 0.1), [0.9, 0.09999999999999998]);
});

test('a stratum trial draws exactly its critical count, and the other flips as bernoulli on the rest: the conditional law', () => {
  const critical = criticalSet([FLOAT32.encode(VALUES)], [4], FLOAT32, 'ieee');
  const space = { sizes: [4], bits: 32 };
  const isCritical = new Set(Array.from(critical.perTensor[0]!));
  const p = 0.05;
  const runs = 4000;
  for (let h = 0; h < 4; h++) {
    let others = 0;
    let criticalTotal = 0;
    for (let t = 0; t < runs; t++) {
      const sites = sampleStratumSites(critical, space, p, h, trialStream(3, p, h * STRATUM_STRIDE + t));
      const k = sites.filter((s) => isCritical.has(s.index * 32 + s.bit)).length;
      if (h < 3) assert.equal(k, h);
      else assert.ok(k >= 3);
      criticalTotal += k;
      others += sites.length - k;
      // Distinct positions, sorted.
      for (let i = 1; i < sites.length; i++) assert.ok(sites[i]!.index * 32 + sites[i]!.bit > sites[i - 1]!.index * 32 + sites[i - 1]!.bit);
    }
    // Non-critical flips: Binomial(122, 0.05), mean 6.1, sd of the mean over 4000 runs 0.038.
    assert.ok(Math.abs(others / runs - 122 * p) < 0.15, `stratum ${h}: ${others / runs} non-critical flips on average`);
    if (h === 3) {
      // E[K | K >= 3] for Binomial(6, 0.05), computed from the pmf.
      let mass = 0;
      let first = 0;
      for (let k = 3; k <= 6; k++) {
        mass += binomialPmf(6, k, p);
        first += k * binomialPmf(6, k, p);
      }
      assert.ok(Math.abs(criticalTotal / runs - first / mass) < 0.03, `E[K | K >= 3] = ${criticalTotal / runs}, expected ${first / mass}`);
    }
  }
});

test('a stratified plan records its stratum, round-trips through JSON, and plain plans are unchanged', () => {
  const planner = new FaultPlanner(SURFACE, { seed: 5, sampling: 'stratified' });
  assert.equal(planner.strata, 4);
  const plan = planner.plan(0.01, 2 * STRATUM_STRIDE + 7);
  assert.equal(plan.stratum, 2);
  const critical = new Set(Array.from(planner.criticalSet.perTensor[0]!));
  assert.equal(plan.faults.filter((f) => critical.has(f.index * 32 + f.bit)).length, 2);
  assert.deepEqual(planFromJSON(planToJSON(plan), SURFACE), plan);
  assert.throws(() => planner.plan(0.01, 4 * STRATUM_STRIDE), /stratum 4/);
  const plain = new FaultPlanner(SURFACE, { seed: 5 }).plan(0.01, 7);
  assert.equal(plain.stratum, null);
  // A plan JSON of an earlier version (no stratum field) still reads.
  const legacy = JSON.parse(planToJSON(plain)) as Record<string, unknown>;
  delete legacy.stratum;
  assert.deepEqual(planFromJSON(JSON.stringify(legacy), SURFACE), plain);
  assert.throws(() => new FaultPlanner(SURFACE, { seed: 5, sampling: 'stratified', faults: { count: 'reference' } }), /bernoulli/);
});

test('trial images: a pure function of (seed, BER, trial), nested across counts, uniform, from a stream of their own', () => {
  const a = trialImages(7, 1e-5, 3, 100, 1000);
  assert.deepEqual(trialImages(7, 1e-5, 3, 100, 1000), a);
  assert.equal(new Set(a).size, 100);
  assert.ok(a.every((v, i) => v >= 0 && v < 1000 && (i === 0 || v > a[i - 1]!)));
  const larger = new Set(trialImages(7, 1e-5, 3, 300, 1000));
  assert.ok(Array.from(a).every((v) => larger.has(v)), 'the 100 images are among the 300');
  assert.notDeepEqual(trialImages(7, 1e-5, 4, 100, 1000), a);
  assert.deepEqual(Array.from(trialImages(7, 1e-5, 3, 1000, 1000)), Array.from({ length: 1000 }, (_, i) => i));
  // Each image is drawn with probability m / N: 20 images of 40 over 4000 trials, counts 2000 +- 32.
  const counts = new Array<number>(40).fill(0);
  for (let t = 0; t < 4000; t++) for (const i of trialImages(1, 1e-6, t, 20, 40)) counts[i]!++;
  for (const c of counts) assert.ok(Math.abs(c - 2000) < 140, `an image was drawn ${c} times`);
  // The image stream never replays the fault stream of the same trial.
  assert.notEqual(imageStream(7, 1e-5, 3).uint32(), trialStream(7, 1e-5, 3).uint32());
});
