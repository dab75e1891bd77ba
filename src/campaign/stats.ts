/**
 * Statistics of a fault-injection campaign (method.md section 6).
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

/** The part of jstat that proact uses (jstat ships no type declarations). */
interface JStatQuantiles {
  studentt: { inv(p: number, degreesOfFreedom: number): number };
  normal: { inv(p: number, mean: number, std: number): number };
}
const jStat = createRequire(import.meta.url)('jstat') as JStatQuantiles;

export const DEFAULT_CONFIDENCE = 0.95;
export const DEFAULT_MIN_TRIALS = 10;

/** Mean with its confidence interval, and the robust description of a distribution that is often bimodal. */
export interface Summary {
  /** Number of trials. */
  n: number;
  mean: number;
  /** Sample standard deviation (divisor n - 1); NaN for a single trial. */
  std: number;
  /** Two-sided confidence level of the interval, e.g. 0.95. */
  confidence: number;
  /** mean -/+ t_{(1+confidence)/2, n-1} * std / sqrt(n); -Infinity/+Infinity for a single trial. */
  ciLow: number;
  ciHigh: number;
  /** Half the width of the confidence interval; Infinity for a single trial (nothing is known yet). */
  ciHalfWidth: number;
  /** Median and quartiles by linear interpolation between order statistics (Hyndman-Fan type 7). */
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
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

/** Mean, t-based confidence interval, median, quartiles and range of per-trial values. */
export function summarize(values: readonly number[], options: { confidence?: number } = {}): Summary {
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  checkConfidence(confidence);
  checkValues(values);
  const n = values.length;
  const mean = values.reduce((sum, v) => sum + v, 0) / n;
  // Two-pass variance: exact for the small spreads of accuracies near 1, unlike sum-of-squares.
  const variance = n > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1) : NaN;
  const std = Math.sqrt(variance);
  const ciHalfWidth = n > 1 ? (studentTCritical(confidence, n - 1) * std) / Math.sqrt(n) : Infinity;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n,
    mean,
    std,
    confidence,
    ciLow: mean - ciHalfWidth,
    ciHigh: mean + ciHalfWidth,
    ciHalfWidth,
    median: quantileSorted(sorted, 0.5),
    q1: quantileSorted(sorted, 0.25),
    q3: quantileSorted(sorted, 0.75),
    min: sorted[0]!,
    max: sorted[n - 1]!,
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

export interface StoppingRule {
  /** Stop once the confidence interval's half-width is at most this (same units as the values, e.g. 0.005). */
  precision: number;
  confidence?: number;
  /** Never stop on precision before this many trials (default 10): a few equal values give a zero width. */
  minTrials?: number;
  /** Stop at this many trials whatever the precision. */
  maxTrials: number;
}

export interface StopDecision {
  stop: boolean;
  /** Why the campaign stops at this BER, or 'continue'. */
  reason: 'precision' | 'max-trials' | 'continue';
  n: number;
  /** Current half-width (Infinity before two trials). */
  ciHalfWidth: number;
}

/**
 * Sequential stopping at one BER: stop when the CI half-width is <= precision and at least minTrials trials
 * ran, or when maxTrials trials ran.
 */
export function shouldStop(values: readonly number[], rule: StoppingRule): StopDecision {
  const minTrials = rule.minTrials ?? DEFAULT_MIN_TRIALS;
  if (!(rule.precision > 0)) throw new ProactError(`stopping rule: precision ${rule.precision} must be > 0, e.g. 0.005`);
  if (!(Number.isInteger(minTrials) && minTrials >= 1)) {
    throw new ProactError(`stopping rule: minTrials ${minTrials} must be an integer >= 1`);
  }
  if (!(Number.isInteger(rule.maxTrials) && rule.maxTrials >= 1)) {
    throw new ProactError(`stopping rule: maxTrials ${rule.maxTrials} must be an integer >= 1`);
  }
  const confidence = rule.confidence ?? DEFAULT_CONFIDENCE;
  checkConfidence(confidence);
  const n = values.length;
  const ciHalfWidth = n >= 2 ? summarize(values, { confidence }).ciHalfWidth : Infinity;
  if (n >= minTrials && ciHalfWidth <= rule.precision) return { stop: true, reason: 'precision', n, ciHalfWidth };
  if (n >= rule.maxTrials) return { stop: true, reason: 'max-trials', n, ciHalfWidth };
  return { stop: false, reason: 'continue', n, ciHalfWidth };
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
