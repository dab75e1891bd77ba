/**
 * What a stored campaign estimates: its design read back from the record, per-BER summaries with the
 * campaign's intervals (strata combined with their exact weights), the accuracy AUC, and the paired
 * comparison of two campaigns. The store only persists trials; every estimator reads them from here.
 */
import { ProactError } from '../util/errors.js';
import { FAULT_MODEL_KEYS, STRATA, STRATUM_STRIDE, strataWeights, type Sampling } from '../faults/index.js';
import { aucLog10, parseIntervalMethod, summarize, type AucLog10, type IntervalMethod, type Summary } from './stats.js';
import { summarizeDesign } from './design.js';
import { canonicalJson, damaged, type CampaignRecord, type ResultStore, type StoredTrial } from './store.js';

/** Per-BER statistics of a campaign. */
export interface BerSummary {
  ber: number;
  accuracy: Summary;
  sdc: Summary;
  due: Summary;
}

export interface CampaignSummary {
  campaign: CampaignRecord;
  perBer: BerSummary[];
  /** Area under mean accuracy over log10(BER) (BERs > 0 only); null with fewer than two such BERs. */
  accuracyAuc: AucLog10 | null;
}

/** The trials of a campaign grouped by BER, BERs in ascending order (trials by index within each). */
function trialsByBer(store: ResultStore, campaignId: number): Map<number, StoredTrial[]> {
  const byBer = new Map<number, StoredTrial[]>();
  for (const t of store.trials(campaignId)) {
    const list = byBer.get(t.ber) ?? [];
    list.push(t);
    byBer.set(t.ber, list);
  }
  return byBer;
}

/** The BERs and trials per BER a campaign planned, from its stored options; undefined when it does not say. */
export function campaignPlan(campaign: CampaignRecord): { bers: number[]; trials: number } | undefined {
  const { bers, trials } = campaign.options;
  if (!Array.isArray(bers) || !bers.every((b) => typeof b === 'number') || typeof trials !== 'number') return undefined;
  return { bers: bers as number[], trials };
}

/**
 * Refuses trials the campaign never planned (a BER not in its list, an index past its trial count):
 * they come from a damaged or hand-edited store, and summarising them would report numbers no run made.
 */
export function checkPlannedTrials(store: ResultStore, campaign: CampaignRecord, trials: readonly StoredTrial[]): void {
  const plan = campaignPlan(campaign);
  if (plan === undefined) return;
  const bers = new Set(plan.bers);
  // A stratified trial's number is stratum * STRATUM_STRIDE + its index in the stratum.
  const stratified = campaignDesign(campaign).sampling === 'stratified';
  for (const t of trials) {
    if (!bers.has(t.ber)) throw damaged(store.path, `campaign ${campaign.id}`, `holds trial ${t.trial} at BER ${t.ber}, a BER it never planned (${plan.bers.join(', ')})`);
    const index = stratified ? t.trial % STRATUM_STRIDE : t.trial;
    if (index >= plan.trials || (stratified && Math.floor(t.trial / STRATUM_STRIDE) >= STRATA))
      throw damaged(store.path, `campaign ${campaign.id}`, `holds trial ${t.trial} at BER ${t.ber}, past the ${plan.trials} trials per BER it planned`);
  }
}

/** How a campaign's trials were sampled and how its intervals are made, read back from its options. */
export interface CampaignDesignInfo {
  sampling: Sampling;
  /** |C| of the stratified design (strata weights at each BER follow from it). */
  criticalBits: number | null;
  interval: IntervalMethod;
  /** Confidence level the campaign ran with (stopping and summaries). */
  confidence: number;
  /** Planned trials per BER (the horizon of a 'betting' interval). */
  trials: number | null;
  /** The --precision the campaign stopped on (the target a 'betting-target' interval is tuned for), or null. */
  precision: number | null;
}

/** The design of a stored campaign; campaigns of earlier versions (no 'sampling' option) were plain, fixed-n. */
export function campaignDesign(campaign: CampaignRecord): CampaignDesignInfo {
  const o = campaign.options;
  const sampling: Sampling = o.sampling === 'stratified' ? 'stratified' : 'plain';
  const criticalBits = typeof o.criticalBits === 'number' ? o.criticalBits : null;
  if (sampling === 'stratified' && criticalBits === null) throw new ProactError(`campaign ${campaign.id}: stratified but no criticalBits in its options (damaged record)`);
  const interval = typeof o.interval === 'string' ? parseIntervalMethod(o.interval) : o.precision !== undefined ? 'betting-cs' : 'betting';
  const confidence = typeof o.confidence === 'number' ? o.confidence : 0.95;
  const precision = typeof o.precision === 'number' ? o.precision : null;
  return { sampling, criticalBits, interval, confidence, trials: typeof o.trials === 'number' ? o.trials : null, precision };
}

/**
 * Per-BER summaries (mean, interval, median, IQR) of accuracy, SDC and DUE, and the accuracy AUC. The
 * interval is the campaign's (its design's sampling and interval method) unless `interval` overrides it;
 * stratified campaigns combine their strata with the exact weights.
 */
export function summarizeCampaign(store: ResultStore, campaignId: number, options: { confidence?: number; interval?: IntervalMethod; target?: number } = {}): CampaignSummary {
  const campaign = store.getCampaign(campaignId);
  if (campaign === undefined) throw new ProactError(`${store.path}: no campaign with id ${campaignId}; list them with listCampaigns()`);
  checkPlannedTrials(store, campaign, store.trials(campaignId));
  const design = campaignDesign(campaign);
  const confidence = options.confidence ?? design.confidence;
  const interval = options.interval ?? design.interval;
  const target = options.target ?? design.precision ?? undefined;
  if (interval === 'betting-target' && target === undefined)
    throw new ProactError(`campaign ${campaignId} has no --precision: summarise it with interval 'betting-cs' or give the target half-width`);
  const perBer = [...trialsByBer(store, campaignId)].map(([ber, trials]) => {
    const weights = design.sampling === 'stratified' ? strataWeights(design.criticalBits!, ber) : [1];
    const of = (metric: 'accuracy' | 'sdc' | 'due') =>
      summarizeDesign(design.sampling, weights, trials.map((t) => ({ trial: t.trial, value: t[metric] })), { confidence, interval, horizon: design.trials ?? undefined, target });
    return { ber, accuracy: of('accuracy'), sdc: of('sdc'), due: of('due') };
  });
  // BER 0 (a clean reference point) has no place on a log axis.
  const onLogAxis = perBer.filter((s) => s.ber > 0);
  const accuracyAuc = onLogAxis.length >= 2 ? aucLog10(onLogAxis.map((s) => s.ber), onLogAxis.map((s) => s.accuracy.mean)) : null;
  return { campaign, perBer, accuracyAuc };
}

/** One BER of a paired comparison: trial i of A against trial i of B. */
export interface PairedBer {
  ber: number;
  /** Trial indices both campaigns ran. */
  pairs: number;
  /** Trials only one side ran (not used). */
  onlyA: number;
  onlyB: number;
  /** Statistics of accuracy(A, trial i) - accuracy(B, trial i) over the pairs. */
  accuracyDifference: Summary;
}

export interface PairedComparison {
  a: CampaignRecord;
  b: CampaignRecord;
  perBer: PairedBer[];
}

/**
 * Compares two campaigns trial by trial. With the same seed, trial i at a BER draws the same stream for
 * both, and with `bernoulli` (or `reference`) counts the same weight and bias faults: the models differ
 * only in what they do with them (thresholds add their own flips on top). Differences of paired trials
 * cancel the trial-to-trial spread of the faults themselves, which dominates the CI of each campaign
 * alone (a trial either survives or collapses), so a paired CI can separate methods that two
 * overlapping unpaired CIs cannot. Campaigns with different seeds are refused: their trials are unrelated.
 */
export function compareCampaigns(store: ResultStore, idA: number, idB: number, options: { confidence?: number } = {}): PairedComparison {
  const a = store.getCampaign(idA);
  const b = store.getCampaign(idB);
  if (a === undefined || b === undefined) throw new ProactError(`${store.path}: no campaign with id ${a === undefined ? idA : idB}; list them with 'proact campaign export ${store.path}'`);
  for (const c of [a, b])
    if (campaignDesign(c).sampling !== 'plain')
      throw new ProactError(`campaign ${c.id} drew its trials in strata of its own model's critical flips, so its trial i is not paired with another model's; compare campaigns run with --sampling plain`);
  // Trials are paired only when both drew faults and images the same way.
  // The whole fault model (a key absent from a record is its default on both sides), the float32 scalar
  // thresholds of a quantised reference surface (engine.ts keyOptions), and the images per trial.
  for (const field of [...FAULT_MODEL_KEYS, 'scalarThresholds', 'images']) {
    const [va, vb] = [canonicalJson(a.options[field] ?? null), canonicalJson(b.options[field] ?? null)];
    if (va !== vb) throw new ProactError(`campaigns ${idA} and ${idB} differ in ${field} (${va} vs ${vb}): their trials are not paired; compare campaigns run with the same fault model and images`);
  }
  if (a.seed !== b.seed) throw new ProactError(`campaigns ${idA} and ${idB} have different seeds (${a.seed}, ${b.seed}): their trials are not paired; compare campaigns run with the same --seed`);
  if (a.data !== b.data) throw new ProactError(`campaigns ${idA} and ${idB} evaluated different images (${a.data}, ${b.data}); compare campaigns run on the same --data and --eval-limit`);
  const trialsB = trialsByBer(store, idB);
  const perBer: PairedBer[] = [];
  for (const [ber, trialsA] of trialsByBer(store, idA)) {
    const accuracyB = new Map((trialsB.get(ber) ?? []).map((t) => [t.trial, t.accuracy]));
    const diffs: number[] = [];
    for (const t of trialsA) {
      const other = accuracyB.get(t.trial);
      if (other !== undefined) diffs.push(t.accuracy - other);
    }
    if (diffs.length === 0) continue;
    // Differences of two rates lie in [-1, 1]; the betting interval over that range stays valid and inside it.
    const accuracyDifference = summarize(diffs, { confidence: options.confidence, interval: 'betting-cs', range: [-1, 1] });
    perBer.push({ ber, pairs: diffs.length, onlyA: trialsA.length - diffs.length, onlyB: accuracyB.size - diffs.length, accuracyDifference });
  }
  return { a, b, perBer };
}
