/**
 * Confidence intervals for the mean of bounded observations by betting (Waudby-Smith and Ramdas,
 * "Estimating means of bounded random variables by betting", JRSS-B 2024, sections 4-5).
 *
 * Why betting and not Student-t: a trial's accuracy, SDC or DUE lies in [0, 1] and is often bimodal (a
 * trial survives or collapses). With rare collapses the first ten trials can be identical, the t-interval
 * then has width zero and a sequential rule stops on it; a t-interval also leaves [0, 1]. A betting
 * interval uses only boundedness: it is always inside [0, 1], never has width zero, and it holds at every
 * number of trials at once (a confidence sequence), so stopping when it is narrow enough keeps its level.
 *
 * The construction, for observations x_1..x_n in [0, 1] and a candidate mean m:
 *   K+_t(m) = prod_{i<=t} (1 + l+_i(m) (x_i - m))   (a bet that the mean is above m)
 *   K-_t(m) = prod_{i<=t} (1 - l-_i(m) (x_i - m))   (a bet that it is below)
 * with predictable bet sizes l_i (they use x_1..x_{i-1} only), capped at c/m and c/(1-m) so every factor
 * stays >= 1 - c > 0. If m is the true mean, (K+ + K-)/2 is a nonnegative martingale starting at 1, so by
 * Ville's inequality it ever reaches 1/alpha with probability at most alpha; the hedged capital
 * max(K+, K-)/2 is below it. m is rejected once max(K+_t(m), K-_t(m)) / 2 >= 1/alpha at some t <= n; the
 * interval is the set of m never rejected (the running intersection over t).
 *
 * Each factor of K+ is nonincreasing in m and each factor of K- nondecreasing (the caps only shrink the bet
 * in the direction that keeps this), so the m rejected by K+ form a down-set [0, L) and those rejected by K-
 * an up-set (U, 1]: the interval is [L, U], found by bisection on each side. Reported ends are rounded
 * outwards (the last rejected point found below L, the first above U), so the reported interval always
 * contains the exact one.
 *
 * Bet sizes: the paper's predictable plug-in with a running mean mu_t = (1/2 + sum x) / (t + 1) and
 * variance s2_t = (1/4 + sum (x_i - mu_i)^2) / (t + 1) (the priors 1/2 and 1/4 keep early bets moderate):
 *   anytime (a confidence sequence, for sequential stopping): l_t = sqrt(2 log(2/alpha) / (s2_{t-1} t log(1+t)))
 *   tuned for a planned number of trials n (a tighter interval at n):   l_t = sqrt(2 log(2/alpha) / (n s2_{t-1}))
 * Both are valid at every t (only the tuning differs), so a fixed-n campaign that stops early still
 * reports a valid interval.
 */
import { ProactError } from '../util/errors.js';

/** Caps each bet at c/m (c/(1-m)): every capital factor then stays >= 1 - c = 1/4. */
const BET_CAP = 0.75;
/** Bisection steps per end: the ends are exact to 2^-16 (1.5e-5, far below any precision asked of a campaign) before outward rounding. */
const BISECTION_STEPS = 16;

export interface BettingOptions {
  /** Two-sided confidence level, e.g. 0.95. */
  confidence: number;
  /** Planned number of observations: tunes the bets for a tight interval at that n. Omit for a confidence sequence. */
  horizon?: number;
  /**
   * Target half-width (on the [0, 1] scale): tunes each bet for the number of observations the running
   * variance predicts that target needs (see bettingRates). Ignored when `horizon` is given.
   */
  target?: number;
}

export interface BoundedInterval {
  low: number;
  high: number;
}

/**
 * The predictable bet sizes l_1..l_n (before the c/m caps) of the predictable plug-in rule: tuned for a
 * planned `horizon`, for a `target` half-width, or (neither) for every t at once.
 *
 * With a target w, bet t is tuned for n_t = max(t, 2 log(2/alpha) s2_{t-1} / w^2), the number of
 * observations at which an interval tuned for n reaches half-width w if the variance is s2_{t-1}
 * (half-width ~ sqrt(2 log(2/alpha) s2 / n)). n_t uses only x_1..x_{t-1} and constants, so the bets stay
 * predictable and the interval a confidence sequence, valid at every t; the tuning puts its tightness at
 * the point where a campaign stopping on w will stop, instead of spreading it over all t (the anytime
 * rule's extra log(1 + t), which costs about twice the trials at the stopping point).
 */
export function bettingRates(values: readonly number[], confidence: number, horizon?: number, target?: number): Float64Array {
  const alpha = 1 - confidence;
  const logTerm = 2 * Math.log(2 / alpha);
  const rates = new Float64Array(values.length);
  let sum = 0;
  let squares = 0.25; // prior 1/4: the largest variance of a [0, 1] variable
  for (let t = 1; t <= values.length; t++) {
    const variance = squares / t; // s2_{t-1}
    let tuning: number;
    if (horizon !== undefined) tuning = horizon;
    else if (target !== undefined) tuning = Math.max(t, (logTerm * variance) / (target * target));
    else tuning = t * Math.log(1 + t);
    rates[t - 1] = Math.sqrt(logTerm / (tuning * variance));
    const x = values[t - 1]!;
    sum += x;
    const runningMean = (0.5 + sum) / (t + 1); // mu_t includes x_t, as in the paper
    squares += (x - runningMean) ** 2;
  }
  return rates;
}

/**
 * Whether some t has K+_t(m) / 2 >= 1/alpha (side +1) or K-_t(m) / 2 >= 1/alpha (side -1). The capital is
 * a running product renormalised every 16 factors (each factor lies in [1/4, ~6], so 16 of them neither
 * overflow nor underflow), compared at every t with the threshold divided by the capital banked so far:
 * the same decisions as summing logarithms, at a fraction of the cost.
 */
function rejected(values: readonly number[], rates: Float64Array, m: number, side: 1 | -1, logThreshold: number): boolean {
  const cap = side === 1 ? (m > 0 ? BET_CAP / m : Infinity) : m < 1 ? BET_CAP / (1 - m) : Infinity;
  let banked = 0; // log of the capital up to the last renormalisation
  let product = 1;
  let limit = Math.exp(logThreshold);
  for (let i = 0; i < values.length; i++) {
    const bet = rates[i]! < cap ? rates[i]! : cap;
    product *= 1 + side * bet * (values[i]! - m);
    if (product >= limit) return true;
    if ((i & 15) === 15) {
      banked += Math.log(product);
      product = 1;
      limit = Math.exp(logThreshold - banked);
    }
  }
  return false;
}

/**
 * The betting interval for the mean of `values` (each in [0, 1]) at `confidence`: a confidence sequence
 * when `horizon` is omitted, an interval tuned for `horizon` trials otherwise. Always inside [0, 1].
 */
export function bettingInterval(values: readonly number[], options: BettingOptions): BoundedInterval {
  const { confidence, horizon, target } = options;
  if (!(confidence > 0 && confidence < 1)) throw new ProactError(`confidence ${confidence}: must lie in (0, 1), e.g. 0.95`);
  if (horizon !== undefined && !(Number.isInteger(horizon) && horizon >= 1)) throw new ProactError(`betting interval: horizon ${horizon} must be an integer >= 1`);
  if (target !== undefined && !(target > 0 && target <= 1)) throw new ProactError(`betting interval: target half-width ${target} must lie in (0, 1]`);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!(x >= 0 && x <= 1)) throw new ProactError(`betting interval: value #${i} is ${x}, outside [0, 1]; per-trial rates must be fractions`);
  }
  if (values.length === 0) return { low: 0, high: 1 };
  const rates = bettingRates(values, confidence, horizon, target);
  // Hedged capital max(K+, K-)/2 >= 1/alpha  <=>  log K >= log(2/alpha).
  const logThreshold = Math.log(2 / (1 - confidence));
  let low = 0;
  if (rejected(values, rates, 0, 1, logThreshold)) {
    let lo = 0; // rejected
    let hi = 1; // K+ factors at m = 1 are <= 1: never rejected
    for (let s = 0; s < BISECTION_STEPS; s++) {
      const mid = (lo + hi) / 2;
      if (rejected(values, rates, mid, 1, logThreshold)) lo = mid;
      else hi = mid;
    }
    low = lo;
  }
  let high = 1;
  if (rejected(values, rates, 1, -1, logThreshold)) {
    let lo = 0; // K- factors at m = 0 are <= 1: never rejected
    let hi = 1; // rejected
    for (let s = 0; s < BISECTION_STEPS; s++) {
      const mid = (lo + hi) / 2;
      if (rejected(values, rates, mid, -1, logThreshold)) hi = mid;
      else lo = mid;
    }
    high = hi;
  }
  // The two sides overlap (every m rejected) only with probability <= alpha; the span between the two
  // ends is then reported, which contains every m either side left.
  return low <= high ? { low, high } : { low: high, high: low };
}
