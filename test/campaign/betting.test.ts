import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bettingInterval, bettingRates } from '../../src/campaign/betting.js';
import { summarizeStrata } from '../../src/campaign/stats.js';
import { mulberry32 } from '../../src/data/index.js';

/**
 * An independent statement of the construction: m is rejected when, at some t, the hedged capital
 * max(K+, K-)/2 reaches 1/alpha, the capital summed in logarithms factor by factor (no renormalisation,
 * no bisection): the interval the module reports must reject just outside and accept just inside.
 */
function naiveRejected(values: number[], confidence: number, m: number, horizon?: number, target?: number): boolean {
  const rates = bettingRates(values, confidence, horizon, target);
  const threshold = Math.log(2 / (1 - confidence));
  let up = 0;
  let down = 0;
  for (let i = 0; i < values.length; i++) {
    up += Math.log1p(Math.min(rates[i]!, 0.75 / m) * (values[i]! - m));
    down += Math.log1p(-Math.min(rates[i]!, 0.75 / (1 - m)) * (values[i]! - m));
    if (up >= threshold || down >= threshold) return true;
  }
  return false;
}

test('the betting interval is exactly the set of means no bettor rejected (checked against a plain log-sum)', () => {
  const u = mulberry32(11);
  for (const [n, law] of [
    [30, () => (u() < 0.1 ? 0.1 : 0.86)],
    [200, () => u()],
    [500, () => 0.9 + 0.01 * u()],
  ] as const) {
    const values = Array.from({ length: n }, law);
    // The ends are exact to 2^-16 and rounded outwards: 2e-5 inside is kept, 1e-5 outside is rejected.
    for (const [horizon, target] of [[undefined, undefined], [n, undefined], [undefined, 0.01]] as const) {
      const r = bettingInterval(values, { confidence: 0.95, horizon, target });
      assert.ok(r.low >= 0 && r.high <= 1 && r.low < r.high);
      if (r.low > 1e-3) assert.ok(naiveRejected(values, 0.95, r.low - 1e-5, horizon, target), `n ${n}: just below ${r.low} is rejected`);
      assert.ok(!naiveRejected(values, 0.95, r.low + 2e-5, horizon, target), `n ${n}: just above ${r.low} is kept`);
      assert.ok(!naiveRejected(values, 0.95, r.high - 2e-5, horizon, target), `n ${n}: just below ${r.high} is kept`);
      if (r.high < 1 - 1e-3) assert.ok(naiveRejected(values, 0.95, r.high + 1e-5, horizon, target), `n ${n}: just above ${r.high} is rejected`);
    }
  }
});

test('betting intervals: never outside [0, 1], never width 0 on ten identical trials, shrinking with data', () => {
  const ten = bettingInterval(new Array(10).fill(0.8542), { confidence: 0.95 });
  assert.ok(ten.high - ten.low > 0.2, `ten identical trials give [${ten.low}, ${ten.high}]`);
  assert.deepEqual(bettingInterval([], { confidence: 0.95 }), { low: 0, high: 1 });
  assert.deepEqual(bettingInterval([0, 0, 0], { confidence: 0.95 }).low, 0);
  assert.deepEqual(bettingInterval([1, 1, 1], { confidence: 0.95 }).high, 1);
  const u = mulberry32(3);
  const values = Array.from({ length: 2000 }, () => (u() < 0.5 ? 1 : 0));
  const widths = [100, 400, 1600].map((n) => {
    const r = bettingInterval(values.slice(0, n), { confidence: 0.95 });
    return r.high - r.low;
  });
  assert.ok(widths[0]! > widths[1]! && widths[1]! > widths[2]!, `widths ${widths}`);
  // Tuned for n trials, the interval at n is narrower than the anytime one.
  const fixed = bettingInterval(values.slice(0, 400), { confidence: 0.95, horizon: 400 });
  assert.ok(fixed.high - fixed.low < widths[1]!);
  assert.throws(() => bettingInterval([0.5, 1.5], { confidence: 0.95 }), /outside \[0, 1\]/);
});

test('bets are predictable: bet t depends on the first t - 1 values only, in every tuning (what keeps the sequence valid)', () => {
  const u = mulberry32(5);
  const values = Array.from({ length: 300 }, () => (u() < 0.05 ? 0.1 : 0.85 + 0.05 * u()));
  for (const [horizon, target] of [[undefined, undefined], [300, undefined], [undefined, 0.01]] as const) {
    const rates = bettingRates(values, 0.95, horizon, target);
    for (const t of [1, 17, 150, 299]) {
      const changed = [...values.slice(0, t), ...values.slice(t).map((v) => 1 - v)];
      assert.deepEqual(bettingRates(changed, 0.95, horizon, target).slice(0, t + 1), rates.slice(0, t + 1), `bet ${t + 1} moved when values after ${t} changed`);
    }
  }
  // Tuned for the stopping point of a +-1 point target, a low-variance sequence bets more than the anytime rule at that point.
  const steady = Array.from({ length: 400 }, () => 0.2 + 0.1 * u());
  assert.ok(bettingRates(steady, 0.95, undefined, 0.01)[399]! > bettingRates(steady, 0.95)[399]!);
});

test('betting-target across strata: stratum h at level 1 - alpha w_h, bets tuned for precision / sqrt(w_h)', () => {
  const strata = [
    { weight: 0.97, values: [0.86, 0.87, 0.85, 0.86, 0.88, 0.84] },
    { weight: 0.03, values: [0.1, 0.5, 0.8] },
  ];
  const s = summarizeStrata(strata, { confidence: 0.95, interval: 'betting-target', target: 0.01 });
  const a = bettingInterval(strata[0]!.values, { confidence: 1 - 0.05 * 0.97, target: 0.01 / Math.sqrt(0.97) });
  const b = bettingInterval(strata[1]!.values, { confidence: 1 - 0.05 * 0.03, target: Math.min(0.5, 0.01 / Math.sqrt(0.03)) });
  assert.ok(Math.abs(s.ciLow - Math.min(0.97 * a.low + 0.03 * b.low, s.mean)) < 1e-12);
  assert.ok(Math.abs(s.ciHigh - Math.max(0.97 * a.high + 0.03 * b.high, s.mean)) < 1e-12);
  assert.equal(s.interval, 'betting-target');
  assert.throws(() => summarizeStrata(strata, { confidence: 0.95, interval: 'betting-target' }), /needs the target half-width/);
});

test('stratified summary: weighted mean, interval arithmetic of per-stratum intervals at alpha / H, weighted quantiles', () => {
  const s = summarizeStrata(
    [
      { weight: 0.9, values: [0.86, 0.87, 0.85, 0.86] },
      { weight: 0.1, values: [0.1, 0.5] },
    ],
    { confidence: 0.95 },
  );
  assert.ok(Math.abs(s.mean - (0.9 * 0.86 + 0.1 * 0.3)) < 1e-12);
  const a = bettingInterval([0.86, 0.87, 0.85, 0.86], { confidence: 0.975 });
  const b = bettingInterval([0.1, 0.5], { confidence: 0.975 });
  assert.ok(Math.abs(s.ciLow - Math.min(0.9 * a.low + 0.1 * b.low, s.mean)) < 1e-12);
  assert.ok(Math.abs(s.ciHigh - Math.max(0.9 * a.high + 0.1 * b.high, s.mean)) < 1e-12);
  assert.equal(s.n, 6);
  assert.equal(s.median, 0.86);
  // An unsampled stratum contributes its whole range.
  const gap = summarizeStrata([{ weight: 0.99, values: [0.5, 0.5] }, { weight: 0.01, values: [] }], { confidence: 0.95 });
  assert.ok(gap.ciHigh - gap.ciLow >= 0.01);
  assert.throws(() => summarizeStrata([{ weight: 0.5, values: [0.5] }], {}), /sum to 1/);
});
