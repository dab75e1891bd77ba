/**
 * The sampling design of one BER: which trials to run, in which stratum, on how many images, and when to
 * stop. One design serves local campaigns, worker pools and the queue (they only execute the waves it
 * issues), and it is a pure function of the stored outcomes: the same seed gives the same trials, the
 * same images and the same stopping point whatever the number of workers, and a resumed campaign
 * re-derives every decision from the trials it stored.
 *
 * A BER runs in waves (of --wave trials, or an eighth of the trials so far when that is more). The first wave is a pilot (every stratum with weight gets PILOT_PER_STRATUM
 * trials; plain sampling gets max(minTrials, wave) trials). After each wave the design summarises the
 * outcomes (stats.ts: a betting interval, per stratum and combined with the exact weights), stops when
 * the half-width reaches --precision (or the trial cap is reached), and otherwise allocates the next wave:
 * each trial goes to the stratum whose weighted half-width it is predicted to shrink most per unit of
 * cost, with as many images as minimise that stratum's predicted cost (the two-stage nested design:
 * between-trial spread s_b^2 and per-image spread s_w^2 estimated from the stratum's trials so far).
 * The allocation only changes the cost, never the validity: every stratum's interval holds whatever
 * trials it receives.
 */
import { ProactError } from '../util/errors.js';
import { STRATUM_STRIDE, type Sampling } from '../faults/index.js';
import { strataInterval, stratumLevels, summarize, summarizeStrata, type IntervalMethod, type Summary } from './stats.js';

/** Trials per stratum in the pilot wave of a stratified BER. */
export const PILOT_PER_STRATUM = 5;
/** Images per trial in pilot waves when the count is chosen automatically (or the whole set if smaller). */
export const PILOT_IMAGES = 1000;
/** The fewest images an automatic choice gives a trial. */
export const MIN_AUTO_IMAGES = 50;
/** Strata lighter than this are never sampled: their whole range, times the weight, is in the interval. */
export const NEGLIGIBLE_WEIGHT = 1e-12;
/**
 * Default cost of one trial's set-up (patched model, new session, first run) in units of one image's
 * evaluation. Set from one measurement on resnet20.onnx (2026-12-06, 1 intra-op thread: session creation
 * plus a first one-image run 22 ms, one image of a 250-image batch 1.36 ms); `npm run bench -- trialcost`
 * measures it again and docs/campaigns.md shows its latest figure next to this default. The choice only
 * moves the cost of a campaign, never its validity.
 */
export const DEFAULT_TRIAL_COST_IMAGES = 16;

export interface BerDesignOptions {
  sampling: Sampling;
  /** Exact stratum probabilities (one entry, 1, for plain sampling). */
  weights: readonly number[];
  /** Images per trial: a count, or 'auto' (chosen from the pilot). */
  images: number | 'auto';
  /** Size of the evaluation set trials draw images from. */
  evalCount: number;
  /** Stop once the half-width of the accuracy interval is at most this; undefined: run maxTrials. */
  precision?: number;
  confidence: number;
  interval: IntervalMethod;
  /** Trials of this BER at most (all strata together). */
  maxTrials: number;
  /** Never stop on precision before this many trials. */
  minTrials: number;
  /** Trials per wave after the pilot. */
  wave: number;
  /** c_t / c_i: the cost of a trial's set-up in image evaluations. */
  trialCostImages: number;
}

/** One trial to run: its number (a function of stratum and index), stratum and image count. */
export interface TrialSpec {
  trial: number;
  stratum: number | null;
  images: number;
}

/** What the design needs of a finished trial. */
export interface TrialValue {
  trial: number;
  images: number;
  accuracy: number;
}

export type StopReason = 'precision' | 'max-trials' | 'interrupted';

/** The accuracy interval a decision was taken on. */
export interface DecisionInterval {
  n: number;
  low: number;
  high: number;
  halfWidth: number;
}

export type WaveDecision = { stop: true; reason: Exclude<StopReason, 'interrupted'>; interval: DecisionInterval } | { stop: false; wave: TrialSpec[]; interval: DecisionInterval };

/** The stratum of a trial number under `sampling` (null for plain sampling). */
export function stratumOfTrial(sampling: Sampling, trial: number): number | null {
  return sampling === 'stratified' ? Math.floor(trial / STRATUM_STRIDE) : null;
}

function trialNumber(stratum: number | null, index: number): number {
  return stratum === null ? index : stratum * STRATUM_STRIDE + index;
}

/** Groups trial values by stratum (index h of `weights`; plain sampling has one group). */
export function valuesByStratum<T extends { trial: number }>(sampling: Sampling, strata: number, trials: readonly T[]): T[][] {
  const groups: T[][] = Array.from({ length: strata }, () => []);
  for (const t of trials) {
    const h = stratumOfTrial(sampling, t.trial) ?? 0;
    if (h >= strata) throw new ProactError(`trial ${t.trial} belongs to stratum ${h}, but the design has ${strata}: the store holds trials of another design`);
    groups[h]!.push(t);
  }
  for (const g of groups) g.sort((a, b) => a.trial - b.trial);
  return groups;
}

/**
 * The summary of per-trial values (accuracy, SDC or DUE) of one BER under a design: plain sampling
 * summarises the trials in index order; stratified sampling combines per-stratum intervals with the
 * exact weights. `horizon` tunes a 'betting' interval for the planned trials of a fixed plain campaign.
 */
export function summarizeDesign(
  sampling: Sampling,
  weights: readonly number[],
  trials: readonly { trial: number; value: number }[],
  options: { confidence: number; interval: IntervalMethod; horizon?: number; target?: number; range?: readonly [number, number] },
): Summary {
  if (sampling === 'plain') {
    const sorted = [...trials].sort((a, b) => a.trial - b.trial);
    return summarize(sorted.map((t) => t.value), options);
  }
  const groups = valuesByStratum(sampling, weights.length, trials);
  return summarizeStrata(
    groups.map((g, h) => ({ weight: weights[h]!, values: g.map((t) => t.value) })),
    { confidence: options.confidence, interval: stratumMethod(options.interval), range: options.range, target: options.target },
  );
}

/**
 * The interval method of a stratum: a stratum's trial count is decided as the campaign goes (allocation),
 * so no horizon is known in advance and 'betting' becomes the confidence sequence.
 */
function stratumMethod(method: IntervalMethod): IntervalMethod {
  return method === 'betting' ? 'betting-cs' : method;
}

/** Number of strata a design samples (plain: 1). */
function activeStrata(o: BerDesignOptions): number[] {
  return o.weights.map((w, h) => (w > NEGLIGIBLE_WEIGHT ? h : -1)).filter((h) => h >= 0);
}

function imagesFor(o: BerDesignOptions, chosen: number | undefined): number {
  if (o.images !== 'auto') return Math.min(o.images, o.evalCount);
  return chosen ?? Math.min(PILOT_IMAGES, o.evalCount);
}

/** The pilot wave of a BER. */
export function firstWave(o: BerDesignOptions): TrialSpec[] {
  checkDesign(o);
  const images = imagesFor(o, undefined);
  if (o.sampling === 'plain') {
    // Nothing to adapt (fixed trials and images): one wave of every trial, all workers busy from the start.
    const adaptive = o.precision !== undefined || o.images === 'auto';
    const n = adaptive ? Math.min(o.maxTrials, Math.max(o.minTrials, o.wave)) : o.maxTrials;
    return Array.from({ length: n }, (_, j) => ({ trial: j, stratum: null, images }));
  }
  const specs: TrialSpec[] = [];
  const strata = activeStrata(o);
  const perStratum = Math.max(1, Math.min(PILOT_PER_STRATUM, Math.floor(o.maxTrials / strata.length)));
  for (const h of strata) for (let j = 0; j < perStratum; j++) specs.push({ trial: trialNumber(h, j), stratum: h, images });
  return specs;
}

/** What the allocation knows of one stratum from its trials so far. */
interface StratumState {
  h: number;
  weight: number;
  n: number;
  mean: number;
  /** Between-trial variance of the full-set outcome. */
  between: number;
  /** Per-image variance within a trial (about a (1 - a)). */
  within: number;
}

function stratumState(o: BerDesignOptions, h: number, trials: readonly TrialValue[]): StratumState {
  const n = trials.length;
  const N = o.evalCount;
  const mean = n > 0 ? trials.reduce((s, t) => s + t.accuracy, 0) / n : 0.5;
  if (n < 2) return { h, weight: o.weights[h]!, n, mean, between: 0.25, within: 0.25 };
  const variance = trials.reduce((s, t) => s + (t.accuracy - mean) ** 2, 0) / (n - 1);
  let within = 0;
  let imageNoise = 0;
  for (const t of trials) {
    const m = t.images;
    const perImage = m > 1 ? (t.accuracy * (1 - t.accuracy) * m) / (m - 1) : 0.25;
    within += perImage / n;
    // Variance a trial's outcome gets from sampling m of N images (without replacement).
    imageNoise += (perImage * (N - m)) / (Math.max(1, N - 1) * m) / n;
  }
  return { h, weight: o.weights[h]!, n, mean, between: Math.max(0, variance - imageNoise), within };
}

/**
 * Predicted half-width of a stratum's betting interval after n trials of m images: the larger of a
 * variance term (about sqrt(2 log(2/alpha) log n * sigma^2 / n)) and a bet-cap term (log(2/alpha) *
 * max(mu, 1 - mu) / (c n)): with bets capped so a trial at 0 cannot ruin the bettor, even identical
 * outcomes need that many trials to exclude a rare collapse. A planning model only: validity never
 * depends on it.
 */
function predictedHalfWidth(s: StratumState, n: number, m: number, evalCount: number, alpha: number, tuned: boolean): number {
  if (n <= 0) return 1;
  const logTerm = Math.log(2 / alpha);
  const fpc = evalCount > 1 ? (evalCount - m) / (evalCount - 1) : 0;
  const variance = s.between + (s.within * fpc) / m;
  // Bets tuned for the stopping point ('betting-target') save the anytime rule's log(1 + n).
  const varianceTerm = Math.sqrt((2 * logTerm * (tuned ? 1 : Math.log(1 + n)) * variance) / n);
  const capTerm = (logTerm * Math.max(s.mean, 1 - s.mean)) / (0.75 * n);
  // Not capped at 0.5: the allocation needs the prediction to keep falling even while the true interval is still the whole range.
  return Math.max(varianceTerm, capTerm);
}

/** Candidate image counts for an automatic choice: a geometric ladder from MIN_AUTO_IMAGES to the whole set. */
function imageLadder(evalCount: number): number[] {
  const out: number[] = [];
  for (let m = Math.min(MIN_AUTO_IMAGES, evalCount); m < evalCount; m = Math.ceil(m * 1.5)) out.push(m);
  out.push(evalCount);
  return out;
}

/** The image count that minimises a stratum's predicted cost of reaching `target` half-width. */
function chooseImages(o: BerDesignOptions, s: StratumState, target: number, alpha: number, tuned: boolean): number {
  if (o.images !== 'auto') return Math.min(o.images, o.evalCount);
  let best = o.evalCount;
  let bestCost = Infinity;
  for (const m of imageLadder(o.evalCount)) {
    // Smallest n reaching the target (doubling then bisection on the monotone prediction).
    let hi = 1;
    while (predictedHalfWidth(s, hi, m, o.evalCount, alpha, tuned) > target && hi < 1e9) hi *= 2;
    let lo = Math.max(1, hi / 2);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (predictedHalfWidth(s, mid, m, o.evalCount, alpha, tuned) > target) lo = mid;
      else hi = mid;
    }
    const cost = hi * (o.trialCostImages + m);
    if (cost < bestCost) {
      bestCost = cost;
      best = m;
    }
  }
  return best;
}

/**
 * After a wave: stop (precision reached or trial cap) or the next wave. `issued` are all trials issued so
 * far at this BER and `values` their outcomes (every issued trial must have one).
 */
export function nextWave(o: BerDesignOptions, issued: readonly TrialSpec[], values: readonly TrialValue[]): WaveDecision {
  checkDesign(o);
  const byTrial = new Map(values.map((v) => [v.trial, v]));
  const done = issued.map((spec) => {
    const v = byTrial.get(spec.trial);
    if (v === undefined) throw new ProactError(`trial ${spec.trial} was issued but has no stored outcome: resume the campaign`);
    return v;
  });
  const strata = o.weights.length;
  const groups = valuesByStratum(o.sampling, strata, done);
  const interval = designInterval(o, groups);
  if (o.precision !== undefined && done.length >= o.minTrials && interval.halfWidth <= o.precision) return { stop: true, reason: 'precision', interval };
  if (done.length >= o.maxTrials) return { stop: true, reason: 'max-trials', interval };
  // Waves grow with the BER's trials (an eighth of them, at least --wave): a decision then costs little
  // however long the BER runs, and at most an eighth more trials run than the stopping point needed.
  const size = Math.min(Math.max(o.wave, Math.ceil(done.length / 8)), o.maxTrials - done.length);
  const method = o.sampling === 'stratified' ? stratumMethod(o.interval) : o.interval;
  const tuned = method === 'betting-target';
  // Each stratum's level and target, as its interval will have them (stratumLevels).
  const levels = stratumLevels(method, o.weights, o.confidence, o.precision ?? 0.01);
  const alphaOf = (h: number) => 1 - levels[h]!.confidence;
  const states = activeStrata(o).map((h) => stratumState(o, h, groups[h]!));
  const images = new Map(states.map((s) => [s.h, chooseImages(o, s, levels[s.h]!.target!, alphaOf(s.h), tuned)]));
  const counts = new Map(states.map((s) => [s.h, s.n]));
  const nextIndex = new Map(states.map((s) => [s.h, groups[s.h]!.reduce((max, t) => Math.max(max, (t.trial % STRATUM_STRIDE) + 1), 0)]));
  const wave: TrialSpec[] = [];
  for (let k = 0; k < size; k++) {
    let bestH = states[0]!.h;
    let bestGain = -Infinity;
    for (const s of states) {
      const n = counts.get(s.h)!;
      const m = images.get(s.h)!;
      const gain = (s.weight * (predictedHalfWidth(s, n, m, o.evalCount, alphaOf(s.h), tuned) - predictedHalfWidth(s, n + 1, m, o.evalCount, alphaOf(s.h), tuned))) / (o.trialCostImages + m);
      if (gain > bestGain) {
        bestGain = gain;
        bestH = s.h;
      }
    }
    const j = nextIndex.get(bestH)!;
    nextIndex.set(bestH, j + 1);
    counts.set(bestH, counts.get(bestH)! + 1);
    const stratum = o.sampling === 'stratified' ? bestH : null;
    wave.push({ trial: trialNumber(stratum, j), stratum, images: images.get(bestH)! });
  }
  return { stop: false, wave, interval };
}

/**
 * The accuracy interval the stopping rule reads: the interval summarizeDesign reports (strataInterval),
 * without the quantiles a decision does not need.
 */
function designInterval(o: BerDesignOptions, groups: readonly TrialValue[][]): DecisionInterval {
  const method = o.sampling === 'stratified' ? stratumMethod(o.interval) : o.interval;
  const horizon = o.sampling === 'plain' && o.precision === undefined ? o.maxTrials : undefined;
  const strata = groups.map((g, h) => ({ weight: o.weights[h]!, values: g.map((t) => t.accuracy), horizon }));
  const { low, high } = strataInterval(strata, method, o.confidence, [0, 1], o.precision);
  return { n: groups.reduce((n, g) => n + g.length, 0), low, high, halfWidth: (high - low) / 2 };
}

function checkDesign(o: BerDesignOptions): void {
  if (o.sampling === 'plain' && o.weights.length !== 1) throw new ProactError('plain sampling has one stratum of weight 1');
  if (!(Number.isInteger(o.maxTrials) && o.maxTrials >= 1)) throw new ProactError(`trials per BER ${o.maxTrials}: expected an integer >= 1`);
  if (!(Number.isInteger(o.wave) && o.wave >= 1)) throw new ProactError(`--wave ${o.wave}: expected an integer >= 1`);
  if (o.images !== 'auto' && !(Number.isInteger(o.images) && o.images >= 1)) throw new ProactError(`--images ${o.images}: expected 'auto', 'all' or an integer >= 1`);
}

/**
 * Runs one BER's design: issues waves through `runWave` (which returns once every trial of the wave is
 * stored) until the design stops. `stored()` gives the outcomes stored so far at this BER (any superset
 * of the issued trials: a resumed campaign may hold more). Returns why it stopped.
 */
export async function runDesign(
  o: BerDesignOptions,
  runWave: (wave: TrialSpec[]) => Promise<void>,
  stored: () => readonly TrialValue[],
  aborted: () => boolean,
  onDecision?: (interval: DecisionInterval) => void,
): Promise<StopReason> {
  const issued: TrialSpec[] = [];
  let wave = firstWave(o);
  for (;;) {
    issued.push(...wave);
    await runWave(wave);
    if (aborted()) return 'interrupted';
    // A design fixed in advance ends with its last trial: no decision needs the outcomes (a shard holds only its own).
    if (o.precision === undefined && issued.length >= o.maxTrials) return 'max-trials';
    const decision = nextWave(o, issued, stored());
    onDecision?.(decision.interval);
    if (decision.stop) return decision.reason;
    wave = decision.wave;
  }
}
