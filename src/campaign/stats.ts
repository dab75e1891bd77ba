/**
 * Statistics of a fault-injection campaign (docs/campaigns.md; the metrics of ../shared/docs/method.md section 6).
 *
 * The independent unit is the trial (one fault pattern), never the image: every function here takes one
 * number per trial (its accuracy, SDC rate or DUE rate) and says how well the mean is known.
 *
 * Distribution quantiles (Student's t, standard normal) come from `jstat`, a small dependency-free library.
 * The sample quantiles are computed here because `jStat.percentile` drops the interpolation fraction near
 * the top of the sample (for [1, 2, 3, 4] it gives 3 as the 0.75 quantile instead of 3.25).
 */
import { createRequire } from 'node:module';
import { ProactError } from '../util/errors.js';
import { bettingInterval } from './betting.js';

/** The part of jstat that proact uses (jstat ships no type declarations). */
interface JStatQuantiles {
  studentt: { inv(p: number, degreesOfFreedom: number): number };
  normal: { inv(p: number, mean: number, std: number): number };
}
const jStat = createRequire(import.meta.url)('jstat') as JStatQuantiles;

export const DEFAULT_CONFIDENCE = 0.95;
export const DEFAULT_MIN_TRIALS = 10;

/**
 * How a summary's interval is made:
 * - 'betting-cs': a confidence sequence by betting (valid at every number of trials, so after sequential
 *   stopping too); the default of campaigns with --precision;
 * - 'betting-target': the same confidence sequence with its bets tuned for the campaign's --precision
 *   (betting.ts) and, across strata, the error rate split in proportion to the stratum weights; still
 *   valid at every number of trials; the default of campaigns with --precision;
 * - 'betting': the betting interval tuned for the planned number of trials (still valid if fewer ran);
 *   the default of fixed-trial campaigns;
 * - 'student-t': mean -/+ t * s / sqrt(n), clipped to the value range; only for comparison with older
 *   results: it undercovers on bimodal outcomes and is invalid after sequential stopping.
 */
export type IntervalMethod = 'betting-target' | 'betting-cs' | 'betting' | 'student-t';
export const INTERVAL_METHODS: readonly IntervalMethod[] = ['betting-target', 'betting-cs', 'betting', 'student-t'];

/** Methods whose interval holds at every number of trials at once (confidence sequences): what sequential stopping needs. */
export function isConfidenceSequence(method: IntervalMethod): boolean {
  return method === 'betting-cs' || method === 'betting-target';
}

export function parseIntervalMethod(text: string): IntervalMethod {
  if ((INTERVAL_METHODS as readonly string[]).includes(text)) return text as IntervalMethod;
  throw new ProactError(`--interval ${text}: use one of ${INTERVAL_METHODS.join(', ')}`);
}

/** Mean with its confidence interval, and the robust description of a distribution that is often bimodal. */
export interface Summary {
  /** Number of trials. */
  n: number;
  mean: number;
  /** Standard deviation of one trial's value (divisor n - 1; for strata, of the mixture); NaN for one trial. */
  std: number;
  /** Estimated variance of `mean` (s^2 / n; for strata, sum of w_h^2 s_h^2 / n_h); NaN when unknown. */
  meanVariance: number;
  /** Two-sided confidence level of the interval, e.g. 0.95. */
  confidence: number;
  /** How the interval was made. */
  interval: IntervalMethod;
  /** The interval, always inside the values' range ([0, 1] for rates). */
  ciLow: number;
  ciHigh: number;
  /** Half the interval's width (the interval need not be symmetric around the mean). */
  ciHalfWidth: number;
  /** Median and quartiles by linear interpolation between order statistics (Hyndman-Fan type 7); weighted for strata. */
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
}

export interface SummarizeOptions {
  confidence?: number;
  /** Default 'betting-cs'. */
  interval?: IntervalMethod;
  /** Planned number of trials, for 'betting' (default: the number of values). */
  horizon?: number;
  /** Target half-width, for 'betting-target' (the campaign's --precision). */
  target?: number;
  /** Range every value lies in (default [0, 1]; [-1, 1] for differences of rates). */
  range?: readonly [number, number];
}

/** Two-sided Student-t critical value t_{(1+confidence)/2, dof}, e.g. 2.262157 for 95% and 9 dof. */
export function studentTCritical(confidence: number, degreesOfFreedom: number): number {
  checkConfidence(confidence);
  if (!(Number.isInteger(degreesOfFreedom) && degreesOfFreedom >= 1)) {
    throw new ProactError(`degrees of freedom ${degreesOfFreedom}: must be an integer >= 1 (at least 2 trials)`);
  }
  return jStat.studentt.inv((1 + confidence) / 2, degreesOfFreedom);
}

/** Two-sided standard-normal critical value z_{(1+confidence)/2}, e.g. 1.959964 for 95%. */
export function normalCritical(confidence: number): number {
  checkConfidence(confidence);
  return jStat.normal.inv((1 + confidence) / 2, 0, 1);
}

/**
 * Sample quantile at probability p of ascending-sorted values, Hyndman-Fan type 7 (the default of R and
 * NumPy): h = (n - 1) p, result = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
 */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new ProactError('quantile of no values: give at least one value');
  if (!(p >= 0 && p <= 1)) throw new ProactError(`quantile probability ${p}: must lie in [0, 1]`);
  const h = (sorted.length - 1) * p;
  const below = Math.floor(h);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (h - below) * (sorted[above]! - sorted[below]!);
}

function sampleMean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Sample variance (divisor n - 1), two-pass: exact for the small spreads of accuracies near 1. NaN for one value. */
function sampleVariance(values: readonly number[], mean: number): number {
  return values.length > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1) : NaN;
}

/**
 * The interval of the mean of `values` (all inside `range`) at `confidence` by `method`, inside `range`.
 * `horizon`: the planned trials of 'betting'; `target`: the half-width 'betting-target' tunes for (in the
 * values' units).
 */
export function meanInterval(
  values: readonly number[],
  method: IntervalMethod,
  confidence: number,
  range: readonly [number, number] = [0, 1],
  horizon?: number,
  target?: number,
): { low: number; high: number } {
  const [lo, hi] = range;
  if (method === 'betting-target' && target === undefined) throw new ProactError("interval 'betting-target' needs the target half-width (--precision); use 'betting-cs' without one");
  if (values.length === 0) return { low: lo, high: hi };
  if (method === 'student-t') {
    if (values.length < 2) return { low: lo, high: hi };
    const mean = sampleMean(values);
    const half = (studentTCritical(confidence, values.length - 1) * Math.sqrt(sampleVariance(values, mean))) / Math.sqrt(values.length);
    return { low: Math.max(lo, mean - half), high: Math.min(hi, mean + half) };
  }
  const scaled = lo === 0 && hi === 1 ? values : values.map((v) => (v - lo) / (hi - lo));
  const tuning =
    method === 'betting' ? { horizon: Math.max(horizon ?? values.length, values.length) } : method === 'betting-target' ? { target: Math.min(1, target! / (hi - lo)) } : {};
  const r = bettingInterval(scaled, { confidence, ...tuning });
  return { low: lo + r.low * (hi - lo), high: lo + r.high * (hi - lo) };
}

function checkRange(values: readonly number[], range: readonly [number, number]): void {
  const bad = values.findIndex((v) => v < range[0] || v > range[1]);
  if (bad >= 0) throw new ProactError(`trial value #${bad} is ${values[bad]}, outside [${range[0]}, ${range[1]}]: per-trial rates must be fractions`);
}

/** Mean, confidence interval (betting by default), median, quartiles and range of per-trial values. */
export function summarize(values: readonly number[], options: SummarizeOptions = {}): Summary {
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  const method = options.interval ?? 'betting-cs';
  const range = options.range ?? [0, 1];
  checkConfidence(confidence);
  checkValues(values);
  checkRange(values, range);
  const n = values.length;
  const mean = sampleMean(values);
  const variance = sampleVariance(values, mean);
  const r = meanInterval(values, method, confidence, range, options.horizon, options.target);
  // The interval always holds the sample mean (a betting interval may, rarely, end just short of it).
  const low = Math.min(r.low, mean);
  const high = Math.max(r.high, mean);
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n,
    mean,
    std: Math.sqrt(variance),
    meanVariance: variance / n,
    confidence,
    interval: method,
    ciLow: low,
    ciHigh: high,
    ciHalfWidth: (high - low) / 2,
    median: quantileSorted(sorted, 0.5),
    q1: quantileSorted(sorted, 0.25),
    q3: quantileSorted(sorted, 0.75),
    min: sorted[0]!,
    max: sorted[n - 1]!,
  };
}

/** One stratum of a stratified sample: its exact probability and the values of the trials drawn inside it. */
export interface StratumSample {
  weight: number;
  values: readonly number[];
  /** Planned trials of this stratum, for 'betting' (default: the number of values). */
  horizon?: number;
}

/**
 * How 'betting-target' shares the error rate alpha and the target among strata (any split fixed before
 * the data keeps the union bound valid; this one is chosen for width): stratum h gets alpha * w_h, so
 * the heavy stratum that decides the width pays little for the split (at BER 1e-7 its level is
 * 1 - 0.97 alpha instead of 1 - alpha / 4), and its bets are tuned for precision / sqrt(w_h) (a light
 * stratum's share of the combined width is small, so it may stay wider). Other methods: alpha / H each,
 * and the campaign's target.
 */
export function stratumLevels(method: IntervalMethod, weights: readonly number[], confidence: number, target?: number): { confidence: number; target?: number }[] {
  const alpha = 1 - confidence;
  return weights.map((w) => {
    if (method !== 'betting-target') return { confidence: 1 - alpha / weights.length, ...(target === undefined ? {} : { target }) };
    // A near-weightless stratum contributes almost nothing whatever its interval: a level just below 1.
    const level = Math.min(1 - alpha * w, 1 - 1e-12);
    return { confidence: level, ...(target === undefined ? {} : { target: Math.min(0.5, target / Math.sqrt(Math.max(w, Number.MIN_VALUE))) }) };
  });
}

/** Weighted type-7-like quantile: the value where the cumulative weight (of trials sorted by value) reaches p. */
function weightedQuantile(points: { value: number; weight: number }[], p: number): number {
  let cumulative = 0;
  const total = points.reduce((sum, q) => sum + q.weight, 0);
  for (const q of points) {
    cumulative += q.weight;
    if (cumulative >= p * total - 1e-15) return q.value;
  }
  return points[points.length - 1]!.value;
}

/**
 * The weighted mean of strata and its interval: each stratum's interval at level alpha / H, the ends
 * combined with the weights (interval arithmetic), widened to hold the mean; a stratum without trials
 * contributes its whole range (and the range's middle to the mean). One stratum of weight 1 is plain
 * sampling. What summaries report and what the stopping rule reads.
 */
export function strataInterval(
  strata: readonly StratumSample[],
  method: IntervalMethod,
  confidence: number,
  range: readonly [number, number] = [0, 1],
  target?: number,
): { mean: number; low: number; high: number; means: number[] } {
  checkConfidence(confidence);
  const totalWeight = strata.reduce((sum, s) => sum + s.weight, 0);
  if (strata.length === 0 || !(Math.abs(totalWeight - 1) < 1e-9) || strata.some((s) => !(s.weight >= 0))) {
    throw new ProactError(`stratified summary: stratum weights must be >= 0 and sum to 1 (they sum to ${totalWeight})`);
  }
  const levels = stratumLevels(method, strata.map((s) => s.weight), confidence, target);
  let mean = 0;
  let low = 0;
  let high = 0;
  const means = strata.map((s, h) => {
    const m = s.values.length > 0 ? sampleMean(s.values) : (range[0] + range[1]) / 2;
    const r = meanInterval(s.values, method, levels[h]!.confidence, range, s.horizon, levels[h]!.target);
    mean += s.weight * m;
    low += s.weight * r.low;
    high += s.weight * r.high;
    return m;
  });
  return { mean, low: Math.max(range[0], Math.min(low, mean)), high: Math.min(range[1], Math.max(high, mean)), means };
}

/**
 * The stratified estimate sum_h w_h mean_h of strata with exact weights w_h (summing to 1), with a
 * valid interval: each stratum gets its own interval at level alpha / H (H strata), and the ends combine
 * with the weights (interval arithmetic): by the union bound all H hold at once with probability
 * >= 1 - alpha, and then so does the combination. A stratum without trials contributes its whole range.
 * Each stratum's interval is a confidence sequence in its own trials, so adaptive allocation and
 * sequential stopping keep the level.
 */
export function summarizeStrata(strata: readonly StratumSample[], options: SummarizeOptions = {}): Summary {
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  const method = options.interval ?? 'betting-cs';
  const range = options.range ?? [0, 1];
  const all = strata.flatMap((s) => s.values);
  checkValues(all);
  checkRange(all, range);
  const { mean, low, high, means } = strataInterval(strata, method, confidence, range, options.target);
  let meanVariance = 0;
  // Per-trial variance of the unstratified law: within-strata plus between-strata parts.
  let variance = 0;
  strata.forEach((s, h) => {
    if (s.weight === 0) return;
    const within = s.values.length > 1 ? sampleVariance(s.values, means[h]!) : NaN;
    meanVariance += (s.weight ** 2 * within) / s.values.length;
    variance += s.weight * ((Number.isNaN(within) ? 0 : within) + (means[h]! - mean) ** 2);
  });
  const points = strata.flatMap((s) => s.values.map((value) => ({ value, weight: s.weight / s.values.length }))).sort((a, b) => a.value - b.value);
  return {
    n: all.length,
    mean,
    std: Math.sqrt(variance),
    meanVariance,
    confidence,
    interval: method,
    ciLow: low,
    ciHigh: high,
    ciHalfWidth: (high - low) / 2,
    median: weightedQuantile(points, 0.5),
    q1: weightedQuantile(points, 0.25),
    q3: weightedQuantile(points, 0.75),
    min: points[0]!.value,
    max: points[points.length - 1]!.value,
  };
}

/** Area under a curve over log10(BER). */
export interface AucLog10 {
  /** Trapezoid-rule integral of the curve over x = log10(BER), in (value units) x (decades). */
  area: number;
  /** area / (log10(max BER) - log10(min BER)): the curve's mean height, comparable across BER ranges. */
  normalized: number;
  /** log10(max BER) - log10(min BER), in decades. */
  log10Span: number;
}

/**
 * Area under accuracy (or any per-BER mean) over log10(BER) by the trapezoid rule. Points may come in any
 * order; they are sorted by BER. Needs at least two distinct positive BERs.
 */
export function aucLog10(bers: readonly number[], means: readonly number[]): AucLog10 {
  if (bers.length !== means.length) {
    throw new ProactError(`AUC: ${bers.length} BERs but ${means.length} values; give one value per BER`);
  }
  if (bers.length < 2) throw new ProactError(`AUC: ${bers.length} BER point(s); the area needs at least two BERs`);
  for (const ber of bers) {
    if (!(Number.isFinite(ber) && ber > 0)) throw new ProactError(`AUC: BER ${ber} is not a positive number`);
  }
  checkValues(means);
  const points = bers.map((ber, i) => ({ x: Math.log10(ber), y: means[i]! })).sort((a, b) => a.x - b.x);
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const [left, right] = [points[i - 1]!, points[i]!];
    if (right.x === left.x) throw new ProactError(`AUC: BER ${10 ** right.x} appears twice; give each BER once`);
    area += ((right.x - left.x) * (left.y + right.y)) / 2;
  }
  const log10Span = points[points.length - 1]!.x - points[0]!.x;
  return { area, normalized: area / log10Span, log10Span };
}

/**
 * Number of fault injections for statistical fault injection (Leveugle et al., DATE 2009):
 * n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p))), with N the population size (number of possible faults),
 * e the error margin, t the two-sided normal critical value of the confidence (1.96 for 95%) and p the
 * expected proportion (0.5, the worst case, when unknown). For N = Infinity this is the limit
 * t^2 p (1 - p) / e^2. The result is rounded up so the margin is met, and never exceeds N.
 */
export function leveugleSampleSize(population: number, margin: number, confidence = DEFAULT_CONFIDENCE, p = 0.5): number {
  if (!(population === Infinity || (Number.isInteger(population) && population >= 1))) {
    throw new ProactError(`Leveugle sample size: population ${population} must be an integer >= 1 or Infinity`);
  }
  if (!(margin > 0 && margin < 1)) throw new ProactError(`Leveugle sample size: margin ${margin} must lie in (0, 1), e.g. 0.01`);
  if (!(p > 0 && p < 1)) throw new ProactError(`Leveugle sample size: proportion p ${p} must lie in (0, 1); use 0.5 when unknown`);
  const t = normalCritical(confidence);
  const infiniteLimit = (t * t * p * (1 - p)) / (margin * margin);
  const n = population === Infinity ? infiniteLimit : population / (1 + (population - 1) / infiniteLimit);
  return Math.min(population, Math.ceil(n));
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) {
    throw new ProactError(`confidence ${confidence}: must lie in (0, 1), e.g. 0.95`);
  }
}

function checkValues(values: readonly number[]): void {
  if (values.length === 0) throw new ProactError('statistics of no trials: run at least one trial first');
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new ProactError(`trial value #${bad} is ${values[bad]}: every per-trial value must be a finite number`);
}
