import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aucLog10,
  leveugleSampleSize,
  normalCritical,
  quantileSorted,
  studentTCritical,
  summarize,
} from '../../src/campaign/stats.js';
import { ProactError } from '../../src/util/errors.js';
import { mulberry32 } from '../../src/data/index.js';

// Reference quantiles from SciPy 1.17 (scipy.stats.t.ppf / norm.ppf); jstat agrees to ~1e-8.
const T_0975_9 = 2.262157162798205;
const T_0975_4 = 2.7764451051977934;
const T_0995_4 = 4.604094871349992;
const T_0975_1 = 12.706204736174694;
const T_095_4 = 2.1318467863266495;
const Z_0975 = 1.959963984540054;

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);
}

test('Student t and normal critical values match reference tables', () => {
  near(studentTCritical(0.95, 9), T_0975_9, 1e-7, 't(0.975, 9)');
  near(studentTCritical(0.95, 4), T_0975_4, 1e-7, 't(0.975, 4)');
  near(studentTCritical(0.99, 4), T_0995_4, 1e-7, 't(0.995, 4)');
  near(studentTCritical(0.95, 1), T_0975_1, 1e-6, 't(0.975, 1)');
  near(normalCritical(0.95), Z_0975, 1e-9, 'z(0.975)');
  assert.throws(() => studentTCritical(0.95, 0), ProactError);
  assert.throws(() => studentTCritical(1, 3), ProactError);
});

test('summarize gives mean, sample std, t interval and type-7 quartiles computed by hand', () => {
  const values = [0.91, 0.87, 0.93, 0.55, 0.89];
  const s = summarize(values, { interval: 'student-t' });
  // mean = 4.15 / 5; std^2 = sum of squared deviations (0.0064+0.0016+0.01+0.0784+0.0036) / 4 = 0.025
  near(s.mean, 0.83, 1e-12, 'mean');
  near(s.std, Math.sqrt(0.025), 1e-12, 'std');
  // mean +- t s / sqrt(n) = 0.83 +- 0.1963: the upper end is clipped to the range of a rate.
  const half = (T_0975_4 * Math.sqrt(0.025)) / Math.sqrt(5);
  near(s.ciLow, 0.83 - half, 1e-8, 'ciLow');
  assert.equal(s.ciHigh, 1);
  near(s.ciHalfWidth, (1 - (0.83 - half)) / 2, 1e-8, 'half-width');
  assert.equal(s.n, 5);
  assert.equal(s.confidence, 0.95);
  // Sorted 0.55 0.87 0.89 0.91 0.93: quartile positions (n-1)p = 1, 2, 3 fall on order statistics.
  assert.deepEqual([s.q1, s.median, s.q3, s.min, s.max], [0.87, 0.89, 0.91, 0.55, 0.93]);

  const at90 = summarize(values, { confidence: 0.9, interval: 'student-t' });
  near(at90.ciHalfWidth, (T_095_4 * Math.sqrt(0.025)) / Math.sqrt(5), 1e-8, '90% half-width');
});

test('quantiles interpolate linearly between order statistics (type 7, as R and NumPy)', () => {
  // [1, 2, 3, 4]: h = 3p -> 0.75, 1.5, 2.25 -> 1.75, 2.5, 3.25 (jStat.percentile would give 3 for q3).
  const s = summarize([4, 1, 3, 2], { range: [0, 10] });
  assert.deepEqual([s.q1, s.median, s.q3], [1.75, 2.5, 3.25]);
  // NumPy: np.quantile([3,1,4,1,5,9,2,6], [.25,.5,.75]) = [1.75, 3.5, 5.25]
  const sorted = [1, 1, 2, 3, 4, 5, 6, 9];
  assert.deepEqual([0.25, 0.5, 0.75].map((p) => quantileSorted(sorted, p)), [1.75, 3.5, 5.25]);
  assert.equal(quantileSorted(sorted, 0), 1);
  assert.equal(quantileSorted(sorted, 1), 9);
  assert.throws(() => quantileSorted(sorted, 1.5), ProactError);
});

test('a single trial has an unknown spread: NaN std and the whole range as interval, never beyond it', () => {
  for (const interval of ['betting-cs', 'betting', 'student-t'] as const) {
    const s = summarize([0.7], { interval });
    assert.equal(s.mean, 0.7);
    assert.ok(Number.isNaN(s.std));
    assert.deepEqual([s.ciLow, s.ciHigh, s.ciHalfWidth], [0, 1, 0.5], interval);
    assert.equal(s.median, 0.7);
  }
  // Three trials at 1e-5 that collapse once: a t-interval leaves [0, 1], every interval here stays inside.
  for (const interval of ['betting-cs', 'betting', 'student-t'] as const) {
    const s = summarize([0.86, 0.02, 0.85], { interval });
    assert.ok(s.ciLow >= 0 && s.ciHigh <= 1 && s.ciLow <= s.mean && s.mean <= s.ciHigh, `${interval}: [${s.ciLow}, ${s.ciHigh}]`);
  }
});

test('summarize refuses empty input, non-finite values and bad confidence with one-line errors', () => {
  assert.throws(() => summarize([]), /no trials/);
  assert.throws(() => summarize([0.5, NaN]), /trial value #1 is NaN/);
  assert.throws(() => summarize([0.5, 0.6], { confidence: 95 }), /confidence 95/);
});


test('the 95% t interval covers the true mean of normal samples of 5 about 95% of the time', () => {
  const uniform = mulberry32(12345);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const experiments = 4000;
  let covered = 0;
  for (let i = 0; i < experiments; i++) {
    const s = summarize(Array.from({ length: 5 }, () => 0.8 + 0.05 * normal()), { interval: 'student-t', range: [-Infinity, Infinity] });
    if (s.ciLow <= 0.8 && 0.8 <= s.ciHigh) covered++;
  }
  // Binomial sd at p = 0.95 over 4000 runs is 0.0034; a z interval (1.96) would cover only ~0.88 at n = 5.
  near(covered / experiments, 0.95, 0.012, 'coverage');
});

test('aucLog10 integrates by trapezoids over log10(BER) and normalises by the span', () => {
  // Two decades: (0.9+0.8)/2 + (0.8+0.2)/2 = 1.35 decade-units; span 2 -> 0.675.
  const auc = aucLog10([1e-6, 1e-5, 1e-4], [0.9, 0.8, 0.2]);
  near(auc.area, 1.35, 1e-12, 'area');
  near(auc.log10Span, 2, 1e-12, 'span');
  near(auc.normalized, 0.675, 1e-12, 'normalized');
  // Order of the points does not matter; uneven spacing is weighted by decades.
  const shuffled = aucLog10([1e-4, 1e-6, 1e-5], [0.2, 0.9, 0.8]);
  near(shuffled.area, 1.35, 1e-12, 'shuffled area');
  const uneven = aucLog10([1e-7, 1e-6, 1e-3], [1, 1, 0]);
  near(uneven.area, 1 + 1.5, 1e-12, 'uneven area');
  near(uneven.normalized, 2.5 / 4, 1e-12, 'uneven normalized');
  near(aucLog10([1e-8, 3e-6, 1e-2], [0.42, 0.42, 0.42]).normalized, 0.42, 1e-12, 'constant curve');
});

test('aucLog10 refuses mismatched, too few, duplicate or non-positive BERs', () => {
  assert.throws(() => aucLog10([1e-5, 1e-4], [0.9]), /2 BERs but 1 values/);
  assert.throws(() => aucLog10([1e-5], [0.9]), /at least two BERs/);
  assert.throws(() => aucLog10([1e-5, 1e-5], [0.9, 0.8]), /appears twice/);
  assert.throws(() => aucLog10([0, 1e-5], [0.9, 0.8]), /BER 0 is not a positive number/);
});

test('Leveugle sample size follows n = N / (1 + e^2 (N-1) / (t^2 p (1-p)))', () => {
  const t = normalCritical(0.95);
  const exact = 1e6 / (1 + (0.01 ** 2 * (1e6 - 1)) / (t * t * 0.25));
  near(exact, 9512.3, 0.05, 'formula');
  assert.equal(leveugleSampleSize(1e6, 0.01, 0.95), Math.ceil(exact));
  assert.equal(leveugleSampleSize(1e6, 0.01), 9513);
  // Infinite population: t^2 p (1-p) / e^2 = 1.959964^2 * 0.25 / 1e-4 = 9603.65 -> 9604.
  assert.equal(leveugleSampleSize(Infinity, 0.01, 0.95), 9604);
  // Small population: 100 / (1 + 0.0025 * 99 / 0.9604) = 79.5 -> 80; at 99%: z = 2.5758.
  assert.equal(leveugleSampleSize(100, 0.05), 80);
  const z99 = 2.5758293035489004;
  assert.equal(leveugleSampleSize(1e6, 0.01, 0.99), Math.ceil(1e6 / (1 + (1e-4 * (1e6 - 1)) / (z99 * z99 * 0.25))));
  // A known proportion p = 0.1 needs fewer: 1.96^2 * 0.09 / 1e-4 = 3457.3 -> 3458.
  assert.equal(leveugleSampleSize(Infinity, 0.01, 0.95, 0.1), 3458);
  assert.equal(leveugleSampleSize(1, 0.01), 1);
});

test('Leveugle sample size refuses bad arguments', () => {
  assert.throws(() => leveugleSampleSize(0, 0.01), /population 0/);
  assert.throws(() => leveugleSampleSize(10.5, 0.01), /population 10.5/);
  assert.throws(() => leveugleSampleSize(100, 0), /margin 0/);
  assert.throws(() => leveugleSampleSize(100, 0.01, 0.95, 1), /proportion p 1/);
  assert.throws(() => leveugleSampleSize(100, 0.01, 0), /confidence 0/);
});

