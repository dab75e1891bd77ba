/**
 * Fault-injection campaigns: for each bit error rate, trials (fresh fault plans on the clean model)
 * are evaluated and stored one by one in SQLite, so a campaign interrupted at any moment resumes
 * where it stopped. Trials at one BER either run to a fixed count or stop as soon as the accuracy's
 * confidence interval is narrow enough (decided after each wave of trials, so the set of trials run is
 * the same for any number of workers).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ProactError } from '../util/errors.js';
import { checkInputFile } from '../util/outputs.js';
import { prepareGraph, readOnnx, type Graph } from '../graph/index.js';
import { openDataset, type Dataset } from '../data/index.js';
import { ActivationPlanner, FaultPlanner, checkBer, faultModelToJSON, parseFormat, resolveFaultModel, strataWeights, type FaultModelInput, type FloatPolicy, type Sampling } from '../faults/index.js';
import { Session, checkModelContract } from '../runtime/index.js';
import { makeFaultable, sha256, type FaultableModel } from './model.js';
import { TrialPool, type TrialRef } from './pool.js';
import { evalSetExpectation, imagesOfTrial, predictAll, type EvalSet, type ModelOutcome, type TrialContext, type TrialOutcome, type TrialTask } from './trial.js';
import { activationSurfaceOf, buildSegmentCache, cacheBoundaries, cutValues, keepExactBoundaries, probeModel, releaseSegmentSessions, segmentGraph, type SegmentedModel } from './segments.js';
import { openStore, trialKey, type CampaignSpec, type JsonObject, type JsonValue, type ResultStore } from './store.js';
import { checkPlannedTrials, summarizeCampaign, type CampaignSummary } from './summary.js';
import { isConfidenceSequence, leveugleSampleSize, DEFAULT_MIN_TRIALS, type IntervalMethod } from './stats.js';
import { DEFAULT_TRIAL_COST_IMAGES, runDesign, type BerDesignOptions, type TrialSpec, type TrialValue } from './design.js';
import { WHOLE, formatShard, trialInShard, type Shard } from './shard.js';

export { TOOL_VERSION } from '../util/version.js';
import { TOOL_VERSION } from '../util/version.js';
export const DEFAULT_BERS = [1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5];
/**
 * Trial cap per BER with --precision: an interval valid for bounded outcomes needs a few hundred trials to
 * rule out rare collapses to +-1 point (docs/campaigns.md), so the cap must leave room for that.
 */
export const DEFAULT_PRECISION_MAX_TRIALS = 2000;
/** Most trials per BER a campaign plans (a million trials at one BER is far past any useful precision). */
export const MAX_TRIALS_PER_BER = 1_000_000;
/** Default memory bound of the delayed-start cache (MiB): ResNet-20's last stage for 10,000 images fits. */
export const DEFAULT_CACHE_MB = 512;
/** Images on which each cached boundary must reproduce the whole model's logits bit for bit. */
export const EXACTNESS_CHECK_IMAGES = 64;


export interface CampaignOptions {
  /** ONNX model file. */
  model: string;
  /** Dataset path, or 'mnist' for the embedded MNIST. */
  data: string;
  split?: 'test' | 'train';
  bers?: number[];
  /** Trials per BER (the maximum when `precision` is set). Default 100, or 2,000 with `precision`. */
  trials?: number;
  /** Stop a BER once the accuracy CI half-width is <= precision (e.g. 0.01). */
  precision?: number;
  confidence?: number;
  minTrials?: number;
  /** Trials per wave of the sequential rule (default 10). */
  wave?: number;
  /**
   * 'stratified': trials drawn inside critical-flip strata with exact weights (bernoulli counts only);
   * 'plain': unconditional draws; 'auto' (default): stratified with --precision, plain otherwise.
   */
  sampling?: Sampling | 'auto';
  /** Images per trial: a count, 'all' (the whole evaluation set) or 'auto' (chosen per BER and stratum); default 'auto' with --precision, 'all' otherwise. */
  images?: number | 'all' | 'auto';
  /** Interval of the summaries: default 'betting-target' with --precision, 'betting-cs' for strata without it, 'betting' (tuned for --trials) otherwise. */
  interval?: IntervalMethod;
  /** Cost of a trial's set-up in image evaluations, for the automatic image count (default DEFAULT_TRIAL_COST_IMAGES). */
  trialCostImages?: number;
  /**
   * The fault model: format, count model, policy, surface (stored-tensor kinds and activation layers),
   * BatchNorm handling, fault kind (defaults: DEFAULT_FAULT_MODEL).
   */
  faults?: FaultModelInput;
  /**
   * Memory bound of the clean activations cached for delayed start, in MiB (default
   * DEFAULT_CACHE_MB; 0: every weight-fault trial runs the whole model). Never changes results.
   */
  cacheMb?: number;
  evalOffset?: number;
  evalLimit?: number;
  seed?: number;
  workers?: number;
  threads?: number;
  batchSize?: number;
  db: string;
  resume?: boolean;
  shard?: Shard;
  /** Called after each stored trial. */
  onTrial?: (o: TrialOutcome, state: CampaignProgress) => void;
  onStart?: (info: CampaignStartInfo) => void;
  /** Set to true (e.g. on SIGINT) to stop after the running trials. */
  signal?: { aborted: boolean };
}

export interface CampaignStartInfo {
  campaignId: number;
  seed: number;
  cleanAccuracy: number;
  surfaceBits: number;
  plannedTrials: number;
  alreadyDone: number;
  leveugle: number;
  resumed: boolean;
  /** The model has a fixed batch of 1: every image is run on its own (slower, same results). */
  oneImageAtATime: boolean;
  /** Stored activation bits per image (activation faults), 0 without. */
  activationBits: number;
  /** Delayed start: boundaries cached and their bytes (undefined: whole-model trials only). */
  cache?: { boundaries: number; segments: number; bytes: number };
  /** Choices the engine made for the user (e.g. plain sampling for activation faults), one line each. */
  notes: string[];
}

export interface CampaignProgress {
  done: number;
  planned: number;
  ber: number;
  /** Plain mean of the BER's stored trials (unweighted: strata are combined only at decisions). */
  berMean: number;
  /** Half-width of the accuracy interval at the BER's last wave decision (Infinity before the first). */
  berCiHalfWidth: number;
  berTrials: number;
}

export interface CampaignResult {
  campaignId: number;
  db: string;
  seed: number;
  cleanAccuracy: number;
  summary: CampaignSummary;
  interrupted: boolean;
}

/** Decodes the evaluation records once into a (shareable) buffer. */
export function loadEvalSet(ds: Dataset, offset: number, limit: number): EvalSet {
  const count = Math.max(0, Math.min(limit, ds.count - offset));
  if (count === 0) throw new ProactError(`${ds.name}: no records to evaluate (offset ${offset}, limit ${limit}, ${ds.count} records)`);
  const [c, h, w] = ds.shape;
  const size = c * h * w;
  const x = new Float32Array(new SharedArrayBuffer(count * size * 4));
  const labels = new Int32Array(new SharedArrayBuffer(count * 4));
  for (let start = 0; start < count; start += 1000) {
    const b = ds.read(offset + start, Math.min(1000, count - start));
    x.set(b.x, start * size);
    labels.set(b.labels, start);
  }
  return { x, labels, count, shape: [c, h, w] };
}

function validate(o: CampaignOptions): void {
  for (const b of o.bers ?? DEFAULT_BERS) checkBer(b);
  resolveFaultModel(o.faults);
  if (o.cacheMb !== undefined && !(Number.isFinite(o.cacheMb) && o.cacheMb >= 0)) throw new ProactError(`--cache-mb ${o.cacheMb}: expected a number of MiB >= 0 (0 turns delayed start off)`);
  if (o.trials !== undefined && !(Number.isInteger(o.trials) && o.trials >= 1 && o.trials <= MAX_TRIALS_PER_BER))
    throw new ProactError(`--trials ${o.trials}: expected an integer from 1 to ${MAX_TRIALS_PER_BER.toLocaleString('en-US')}`);
  const bers = o.bers ?? DEFAULT_BERS;
  const twice = bers.find((b, i) => bers.indexOf(b) !== i);
  if (twice !== undefined) throw new ProactError(`--ber: ${twice} is given twice; list each BER once`);
  if (o.precision !== undefined && !(o.precision > 0 && o.precision < 1)) throw new ProactError(`--precision ${o.precision}: expected a fraction in (0, 1), e.g. 0.01 for +-1 point`);
  if (o.precision !== undefined && o.shard && o.shard.count > 1)
    throw new ProactError('--shard needs a fixed --trials count: sequential stopping (--precision) must see every trial of a BER; run shards with --trials N');
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0)) throw new ProactError(`--seed ${o.seed}: expected a non-negative integer`);
  if (typeof o.images === 'number' && !(Number.isInteger(o.images) && o.images >= 1)) throw new ProactError(`--images ${o.images}: expected 'auto', 'all' or an integer >= 1`);
  if (o.trialCostImages !== undefined && !(Number.isFinite(o.trialCostImages) && o.trialCostImages >= 0)) throw new ProactError(`--trial-cost ${o.trialCostImages}: expected a number of images >= 0`);
  const design = resolveSampling(o);
  if (o.shard && o.shard.count > 1 && (design.sampling === 'stratified' || design.images === 'auto'))
    throw new ProactError('--shard needs a design fixed in advance: use --sampling plain and --images all (or a number); strata and automatic image counts adapt to results that other shards hold');
}

/** Sampling, images and interval of a campaign after defaults (see CampaignOptions). */
export function resolveSampling(o: Pick<CampaignOptions, 'sampling' | 'images' | 'interval' | 'precision' | 'faults' | 'trialCostImages'>): {
  sampling: Sampling;
  images: number | 'all' | 'auto';
  interval: IntervalMethod;
  trialCostImages: number;
} {
  const count = resolveFaultModel(o.faults).count;
  const bernoulli = count === 'bernoulli';
  const requested = o.sampling ?? 'auto';
  if (requested === 'stratified' && !bernoulli) throw new ProactError(`--sampling stratified needs --count bernoulli (got ${count}): strata have exact weights only when every bit flips independently; use --sampling plain`);
  // Strata are defined on weight bit flips; activation faults and stuck-at cells are drawn plainly.
  const model = resolveFaultModel(o.faults);
  const stratifiable = bernoulli && model.activations.length === 0 && model.fault === 'flip';
  if (requested === 'stratified' && !stratifiable) throw new ProactError('--sampling stratified is defined for weight bit flips only: activation faults and stuck-at faults use --sampling plain');
  const sampling: Sampling = requested === 'auto' ? (o.precision !== undefined && stratifiable ? 'stratified' : 'plain') : requested;
  const images = o.images ?? (o.precision !== undefined ? 'auto' : 'all');
  const interval = o.interval ?? (o.precision !== undefined ? 'betting-target' : sampling === 'stratified' ? 'betting-cs' : 'betting');
  if (o.precision !== undefined && !isConfidenceSequence(interval))
    throw new ProactError(`--interval ${interval} with --precision: only a confidence sequence (betting-target, betting-cs) stays valid when the data decide when to stop`);
  if (o.precision === undefined && interval === 'betting-target') throw new ProactError('--interval betting-target tunes its bets for --precision: give --precision, or use betting-cs');
  return { sampling, images, interval, trialCostImages: o.trialCostImages ?? DEFAULT_TRIAL_COST_IMAGES };
}

/** Options that change results: they, the model hash, the data and the seed make the campaign's key. */
function keyOptions(o: CampaignOptions, bers: number[], trials: number, criticalBits: number | null): JsonObject {
  const design = resolveSampling(o);
  const faults = resolveFaultModel(o.faults);
  const opts: JsonObject = {
    sampling: design.sampling,
    images: design.images,
    interval: design.interval,
    confidence: o.confidence ?? 0.95,
    bers,
    trials,
    // Flat in the options (format, count, policy, surface, referenceSurface, foldBatchNorm), as every stored campaign has them.
    ...faultModelToJSON(faults),
    batchSize: o.batchSize ?? 250,
  };
  // The set-up cost steers automatic image counts only.
  if (design.images === 'auto') opts.trialCostImages = design.trialCostImages;
  // |C| fixes the strata weights at every BER: summaries recompute them from it.
  if (criticalBits !== null) opts.criticalBits = criticalBits;
  // Under the reference surface, scalar thresholds keep their float32 values in a quantised model (as the
  // reference stores them); campaigns stored before that rule quantised them, so the key keeps them apart.
  if (faults.referenceSurface && faults.format !== 'float32') opts.scalarThresholds = 'float32';
  if (o.precision !== undefined) {
    opts.precision = o.precision;
    opts.minTrials = o.minTrials ?? DEFAULT_MIN_TRIALS;
    opts.wave = o.wave ?? 10;
  }
  return opts;
}

/** Where a campaign's model and evaluation data come from, and how the model is prepared for injection. */
export interface CampaignInputOptions {
  model: string;
  data: string;
  split?: 'test' | 'train';
  evalOffset?: number;
  evalLimit?: number;
  /** The fault model: its format, surface and BatchNorm handling decide how the model is prepared. */
  faults?: FaultModelInput;
}

/** A campaign's model and data, loaded: built the same way by a local run, a queue coordinator and every queue worker. */
export interface CampaignInputs {
  /** sha256 of the model file as read (part of the campaign key). */
  modelHash: string;
  faultable: FaultableModel;
  evalSet: EvalSet;
  /** Identity of the evaluation data: dataset name, record range and a hash of the decoded images (part of the key). */
  dataId: string;
  /**
   * Report artifacts a hardened model carries in its ONNX metadata (`proact.artifact.<name>`: thresholds,
   * overhead, hardening log, written by `proact harden`); stored with the campaign so reports can show them.
   */
  artifacts: Record<string, JsonValue>;
  /** The model file, named in errors. */
  modelPath: string;
  /** The prepared graph (segments for activation faults and delayed start are cut from it). */
  graph: Graph;
}

/** ONNX metadata keys holding report artifacts. */
export const ARTIFACT_METADATA_PREFIX = 'proact.artifact.';

function metadataArtifacts(g: Graph): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(g.metadata)) {
    if (!key.startsWith(ARTIFACT_METADATA_PREFIX)) continue;
    try {
      out[key.slice(ARTIFACT_METADATA_PREFIX.length)] = JSON.parse(value) as JsonValue;
    } catch {
      // A damaged artifact is left out; it never changes results, only what the report can show.
    }
  }
  return out;
}

/** Reads the model file and the evaluation records; the content hashes identify them wherever they are loaded. */
export function loadCampaignInputs(o: CampaignInputOptions): CampaignInputs {
  let modelBytes: Uint8Array;
  checkInputFile(o.model, '--model');
  try {
    modelBytes = readFileSync(o.model);
  } catch {
    throw new ProactError(`${o.model}: cannot read the model file; give the path to an .onnx file`);
  }
  const faults = resolveFaultModel(o.faults);
  const graph: Graph = prepareGraph(readOnnx(modelBytes, { source: o.model, baseDir: dirname(resolve(o.model)) }), { foldBatchNorm: faults.foldBatchNorm });
  const ds = openDataset(o.data, { split: o.split ?? 'test' });
  const evalOffset = o.evalOffset ?? 0;
  const evalSet = loadEvalSet(ds, evalOffset, o.evalLimit ?? ds.count);
  const faultable = makeFaultable(graph, { format: faults.format, kinds: faults.surface, referenceSurface: faults.referenceSurface });
  const dataId = `${ds.name}:${evalOffset}+${evalSet.count}:${sha256(evalSet.x).slice(0, 16)}`;
  return { modelHash: sha256(modelBytes), faultable, evalSet, dataId, artifacts: metadataArtifacts(graph), modelPath: o.model, graph };
}

/** Clean (golden) run of the model under the campaign's number format. */
export async function runClean(inputs: CampaignInputs, batchSize: number, threads: number): Promise<ModelOutcome & { oneImageAtATime: boolean }> {
  const session = await Session.create(inputs.faultable.bytes, { threads, name: inputs.modelPath });
  try {
    const contract = checkModelContract(session, evalSetExpectation(inputs.evalSet));
    return { ...(await predictAll(session, inputs.evalSet, batchSize)), oneImageAtATime: contract.fixedBatch === 1 };
  } finally {
    await session.release();
  }
}

/** A campaign ready to run: options checked, inputs loaded, clean run done, identity (spec) built. */
export interface PreparedCampaign extends CampaignInputs {
  bers: number[];
  trials: number;
  seed: number;
  batchSize: number;
  clean: ModelOutcome & { oneImageAtATime: boolean };
  cleanAccuracy: number;
  spec: CampaignSpec;
  /** The campaign's fault planner (its critical set already computed for stratified sampling). */
  planner: FaultPlanner;
  /** The planner of activation faults (with --surface activation...). */
  activationPlanner?: ActivationPlanner;
  /** The model cut in segments (activation faults, delayed start), with its cache of clean values. */
  segments?: SegmentedModel;
  /** See CampaignStartInfo.notes. */
  notes: string[];
}

/** Validates `o`, loads model and data, runs the clean model once (on `cleanThreads` threads) and builds the spec. */
export async function prepareCampaign(o: CampaignOptions, cleanThreads: number): Promise<PreparedCampaign> {
  validate(o);
  const bers = o.bers ?? DEFAULT_BERS;
  const trials = o.trials ?? (o.precision !== undefined ? DEFAULT_PRECISION_MAX_TRIALS : 100);
  const seed = o.seed ?? 0;
  const batchSize = o.batchSize ?? 250;
  const inputs = loadCampaignInputs(o);
  const clean = await runClean(inputs, batchSize, cleanThreads);
  const cleanAccuracy = clean.correct / inputs.evalSet.count;
  const planner = campaignPlanner(inputs.faultable.surface, o, seed);
  const criticalBits = planner.sampling === 'stratified' ? planner.criticalSet.size : null;
  const notes: string[] = [];
  if ((o.sampling ?? 'auto') === 'auto' && o.precision !== undefined && resolveSampling(o).sampling === 'plain' && resolveFaultModel(o.faults).count === 'bernoulli') {
    notes.push('sampling: plain (critical-flip strata are defined for weight bit flips; activation and stuck-at faults are drawn without strata)');
  }
  const { segments, activationPlanner } = await campaignSegments(inputs, o, seed, batchSize, cleanThreads, notes);
  const spec: CampaignSpec = {
    toolVersion: TOOL_VERSION,
    modelPath: o.model,
    modelHash: inputs.modelHash,
    data: inputs.dataId,
    seed,
    options: keyOptions(o, bers, trials, criticalBits),
    cleanAccuracy,
  };
  return { ...inputs, bers, trials, seed, batchSize, clean, cleanAccuracy, spec, planner, notes, ...(segments ? { segments } : {}), ...(activationPlanner ? { activationPlanner } : {}) };
}

/**
 * The segments of a campaign's model (segments.ts) and its activation planner: needed for activation
 * faults; for weight faults, the clean values of the boundaries that fit in --cache-mb are computed once
 * here (delayed start). A model that cannot be cut runs weight-fault trials whole, as without a cache.
 */
export async function campaignSegments(
  inputs: Pick<CampaignInputs, 'graph' | 'evalSet' | 'faultable'>,
  o: Pick<CampaignOptions, 'faults' | 'cacheMb'>,
  seed: number,
  batchSize: number,
  threads: number,
  notes: string[] = [],
): Promise<{ segments?: SegmentedModel; activationPlanner?: ActivationPlanner }> {
  const faults = resolveFaultModel(o.faults);
  const selectors = faults.activations;
  const cacheBytes = (o.cacheMb ?? DEFAULT_CACHE_MB) * 2 ** 20;
  if (selectors.length === 0 && cacheBytes === 0) return {};
  const layers = selectors.length > 0 ? activationSurfaceOf(inputs.graph, selectors) : [];
  let segments: SegmentedModel;
  try {
    segments = segmentGraph(inputs.graph, cutValues(inputs.graph, layers), { format: faults.format, kinds: faults.surface });
  } catch (e) {
    if (selectors.length > 0 || !(e instanceof ProactError)) throw e;
    notes.push(`delayed start: off (${e.message})`);
    return {};
  }
  const boundaries = cacheBoundaries(segments, inputs.evalSet.count, cacheBytes);
  if (boundaries.length > 0) {
    const ctx = { segments, evalSet: inputs.evalSet, batchSize, threads };
    segments.cache = await buildSegmentCache(ctx, boundaries, probeModel(inputs.graph, segments, boundaries));
    // Only boundaries from which the clean model's logits come out bit for bit serve delayed starts.
    await keepExactBoundaries(ctx, inputs.faultable.bytes, EXACTNESS_CHECK_IMAGES);
  }
  const activationPlanner = layers.length > 0 ? new ActivationPlanner(layers, { seed, format: faults.format, count: faults.count, policy: faults.policy }) : undefined;
  return { segments, ...(activationPlanner ? { activationPlanner } : {}) };
}

/**
 * The task of one trial: its weight faults and, with an activation planner, its activation faults on
 * the trial's images. Every runner (local, workers, the queue) plans trials through this.
 */
export function trialTask(
  planners: { planner: FaultPlanner; activationPlanner?: ActivationPlanner | undefined },
  context: Pick<TrialContext, 'seed' | 'evalSet'>,
  ber: number,
  trial: number,
  images: number,
): TrialTask {
  const task: TrialTask = { ber, trial, faults: planners.planner.plan(ber, trial).faults, images };
  if (planners.activationPlanner) {
    const subset = imagesOfTrial(context, task) ?? Int32Array.from({ length: context.evalSet.count }, (_, i) => i);
    task.activations = planners.activationPlanner.plan(ber, trial, subset);
  }
  return task;
}

/**
 * Finds or creates the campaign of `prepared` in `store` and marks it running. A campaign that already has
 * trials continues only with `resume`; a stored clean accuracy must match this run's.
 */
export function openCampaign(store: ResultStore, prepared: PreparedCampaign, o: Pick<CampaignOptions, 'db' | 'resume'>): { id: number; created: boolean; done: Set<string> } {
  const { id, created } = store.findOrCreateCampaign(prepared.spec);
  const existing = store.countTrials(id);
  if (!created && existing > 0 && !o.resume)
    throw new ProactError(`${o.db}: this campaign already has ${existing} stored trials; pass --resume to continue it, or --db another file`);
  const rec = store.getCampaign(id)!;
  if (!created) checkPlannedTrials(store, rec, store.trials(id)); // a resume refuses trials this campaign never planned
  if (rec.cleanAccuracy !== null && rec.cleanAccuracy !== prepared.cleanAccuracy)
    throw new ProactError(`${o.db}: stored clean accuracy ${rec.cleanAccuracy} differs from this run's ${prepared.cleanAccuracy}; the runtime or data changed, use another --db`);
  store.setStatus(id, 'running');
  for (const [name, value] of Object.entries(prepared.artifacts)) store.putArtifact(id, name, value);
  return { id, created, done: store.completedTrialKeys(id) };
}

/** The fault planner of a campaign: plans are a pure function of (seed, BER, trial) and these options. */
export function campaignPlanner(
  surface: FaultableModel['surface'],
  o: Pick<CampaignOptions, 'faults' | 'sampling' | 'precision'>,
  seed: number,
): FaultPlanner {
  return new FaultPlanner(surface, { seed, faults: o.faults, sampling: resolveSampling(o).sampling });
}

/** The sampling design of one BER of a prepared campaign. */
export function berDesign(o: CampaignOptions, prepared: Pick<PreparedCampaign, 'planner' | 'trials' | 'evalSet'>, ber: number): BerDesignOptions {
  const design = resolveSampling(o);
  const evalCount = prepared.evalSet.count;
  return {
    sampling: design.sampling,
    weights: design.sampling === 'stratified' ? strataWeights(prepared.planner.criticalSet.size, ber) : [1],
    images: design.images === 'all' ? evalCount : design.images,
    evalCount,
    precision: o.precision,
    confidence: o.confidence ?? 0.95,
    interval: design.interval,
    maxTrials: prepared.trials,
    minTrials: o.minTrials ?? DEFAULT_MIN_TRIALS,
    wave: o.wave ?? 10,
    trialCostImages: design.trialCostImages,
  };
}

/** The stored outcomes of one BER as the design reads them. */
export function storedValues(store: ResultStore, campaignId: number, ber: number, evalCount: number): TrialValue[] {
  return store.trials(campaignId, ber).map((t) => ({ trial: t.trial, images: t.images ?? evalCount, accuracy: t.accuracy }));
}

/** What every trial of a campaign shares (model bytes, evaluation set, clean outcome). */
export function trialContext(
  inputs: CampaignInputs,
  clean: ModelOutcome,
  batchSize: number,
  threads: number,
  seed: number,
  segmented?: { segments?: SegmentedModel | undefined; format?: string | undefined; policy?: FloatPolicy | undefined },
): TrialContext {
  const n = inputs.evalSet.count;
  return {
    ...(segmented?.segments ? { segments: segmented.segments, format: parseFormat(segmented.format ?? 'float32').name, policy: segmented.policy ?? 'ieee' } : {}),
    seed,
    bytes: inputs.faultable.bytes,
    offsets: inputs.faultable.offsets,
    evalSet: inputs.evalSet,
    cleanPredictions: clean.predictions,
    clean: { accuracy: clean.correct / n, due: clean.nonFinite / n },
    batchSize,
    threads,
  };
}

/** Trials a campaign plans: `trials` per BER (the maximum with sequential stopping), those of `shard` only. */
export function plannedTrials(bers: readonly number[], trials: number, shard: Shard): number {
  // Counted, not enumerated: at BER index b the shard runs t = r, r + N, ... below `trials`, r = (i - 1 - b) mod N.
  let planned = 0;
  for (let b = 0; b < bers.length; b++) {
    const first = (((shard.index - 1 - b) % shard.count) + shard.count) % shard.count;
    if (first < trials) planned += Math.floor((trials - 1 - first) / shard.count) + 1;
  }
  return planned;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const shard = o.shard ?? WHOLE;
  const workers = o.workers ?? 1;
  const threads = o.threads ?? (workers >= 2 ? 1 : 2);
  const prepared = await prepareCampaign(o, workers >= 2 ? 2 : threads);
  const { bers, trials, seed, cleanAccuracy } = prepared;

  const store = openStore(o.db);
  try {
    const { id, created, done } = openCampaign(store, prepared, o);
    const planner = prepared.planner;
    const { format, policy } = resolveFaultModel(o.faults);
    const context = trialContext(prepared, prepared.clean, prepared.batchSize, threads, seed, { segments: prepared.segments, format, policy });
    const planned = plannedTrials(bers, trials, shard);
    o.onStart?.({
      campaignId: id,
      seed,
      cleanAccuracy,
      surfaceBits: planner.totalBits,
      plannedTrials: planned,
      alreadyDone: done.size,
      leveugle: leveugleSampleSize(Infinity, o.precision ?? 0.01, o.confidence ?? 0.95),
      resumed: !created,
      oneImageAtATime: prepared.clean.oneImageAtATime,
      activationBits: prepared.activationPlanner?.bitsPerImage ?? 0,
      ...(prepared.segments?.cache ? { cache: { boundaries: prepared.segments.cache.boundaries.length, segments: prepared.segments.segments.length, bytes: prepared.segments.cache.bytes } } : {}),
      notes: prepared.notes,
    });

    const pool = await TrialPool.start(context, workers);
    let doneCount = done.size;
    const shardLabel = shard.count > 1 ? formatShard(shard) : null;
    const signal = o.signal ?? { aborted: false };
    try {
      for (let b = 0; b < bers.length && !signal.aborted; b++) {
        const ber = bers[b]!;
        const accs = store.trials(id, ber).map((t) => t.accuracy);
        let halfWidth = Infinity;
        const runWave = async (wave: TrialSpec[]) => {
          // Plans are made per trial as the pool hands trials out (never a whole wave of plans in memory).
          const refs: (TrialRef & { images: number })[] = [];
          for (const spec of wave) if (trialInShard(b, spec.trial, shard) && !done.has(trialKey(ber, spec.trial))) refs.push({ ber, trial: spec.trial, images: spec.images });
          const imagesOf = new Map(refs.map((r) => [r.trial, r.images]));
          const abortWatch = setInterval(() => signal.aborted && pool.stop(), 100);
          try {
            await pool.run(refs, (ref): TrialTask => trialTask(prepared, context, ref.ber, ref.trial, imagesOf.get(ref.trial)!), (r) => {
              store.insertTrial(id, { ...r, shard: shardLabel });
              done.add(trialKey(ber, r.trial));
              accs.push(r.accuracy);
              doneCount++;
              o.onTrial?.(r, { done: doneCount, planned, ber, berMean: accs.reduce((a, b) => a + b, 0) / accs.length, berCiHalfWidth: halfWidth, berTrials: accs.length });
            });
          } finally {
            clearInterval(abortWatch);
          }
        };
        await runDesign(berDesign(o, prepared, ber), runWave, () => storedValues(store, id, ber, prepared.evalSet.count), () => signal.aborted, (d) => (halfWidth = d.halfWidth));
      }
    } finally {
      await pool.close();
      if (prepared.segments) await releaseSegmentSessions(prepared.segments);
    }
    store.setStatus(id, signal.aborted ? 'interrupted' : 'complete');
    return { campaignId: id, db: o.db, seed, cleanAccuracy, summary: summarizeCampaign(store, id), interrupted: signal.aborted };
  } finally {
    store.close();
  }
}
