/**
 * ProAct (docs/hardening.md, "ProAct"): HyReLU thresholds initialised from the profile, then trained
 * progressively, one activation layer at a time from the last to the first, with the weights frozen.
 *
 *   1. acc0 := validation accuracy with the initial thresholds.
 *   2. For each layer l from last to first, for each weight decay wd from strong to weak: start from
 *      the last accepted thresholds, train layer l's thresholds with AdamW(wd), and accept when
 *      |acc0 - acc| <= tolerance on the validation split; otherwise roll back and try the next wd. When
 *      no wd is accepted the layer keeps its previous thresholds.
 *   3. Loss: 0.8 CE(student, labels) + 0.1 KD(teacher, student) + 4e-8 sum(mean(T^2)).
 *
 * What makes a step cheap here (and differs from the reference, see docs/hardening.md): the teacher's
 * probabilities are computed once per training image; the frozen front of the network, up to the
 * layer being trained, is evaluated once per image and cached (threshold-train.ts), so a step runs
 * only the layers after the threshold; the validation accuracy of each trial runs on cached values too.
 * One layer is trained at a time (the reference keeps accepted layers trainable: `referenceGrowingSet`).
 */
import type { Graph } from '../graph/index.js';
import { Optimizer, checkSeed, deriveSeed, type OptimizerOptions } from '../train/index.js';
import { ProactError } from '../util/errors.js';
import { DEFAULT_SMOOTH_K, type Granularity } from './activations.js';
import { graphAccuracy } from './accuracy.js';
import { checkProfileMatches } from './profile.js';
import {
  ThresholdTrainer,
  buildThresholdProblem,
  cacheCutValues,
  checkInteger,
  checkNumber,
  loadRunCheckpoint,
  modelFingerprint,
  phaseSchedule,
  resolveGranularities,
  runEpochs,
  saveRunCheckpoint,
  seededSubset,
  stepsPerEpoch,
  teacherProbabilities,
  thresholdsFromArrays,
  thresholdsToArrays,
  warmupFactor,
  type ActivationCache,
  type GranularitySpec,
  type LossWeights,
  type ThresholdProblem,
  type ThresholdProgress,
  type ThresholdTrainingOptions,
} from './threshold-train.js';
import { applyThresholds, thresholdsFromProfile } from './thresholds.js';
import type { Decision, HardenData, HardenOutcome, LayerThresholds, Profile } from './types.js';

/** Training budget of one trial (one layer, one weight decay). */
export interface PhaseBudget {
  /** Epochs after the warm-up (cosine decay to 0). */
  epochs: number;
  /** Epochs at 0.1 x lr (the full lr with `flatWarmup`) before the cosine decay. */
  warmupEpochs: number;
  lr: number;
}

/** ProAct's options; the shared ones are documented in ThresholdTrainingOptions, defaults below. */
export interface ProActOptions extends ThresholdTrainingOptions {
  /** Mini-batch size (default 64; ref 128). */
  batchSize?: number;
  /** Training images used, a seeded subset of `data.train` (default 1024; ref: all 50,000). */
  images?: number;
  /** Validation images for acc0 and the acceptance test, a seeded subset of `data.validation` (default: all). */
  validationImages?: number;
  /** Weight decays tried per layer, strong to weak (default 4e-1, 4e-2, 4e-3, 0; ref 4e-1, 4e-2, ..., 4e-11). */
  weightDecays?: readonly number[];
  /** Accept a trial when |acc0 - acc| <= tolerance, accuracies as fractions (default 0.01 = 1 point; ref 1.5 points). */
  tolerance?: number;
  /** Default 'hyrelu': layer-wise everywhere, neuron-wise in the last activation layer. */
  granularity?: GranularitySpec;
  /** Budget for layer-wise (scalar) thresholds (default 2 + 1 warm-up epochs, lr 1e-1; ref 10 + 5, lr 1e-2). */
  scalarPhase?: Partial<PhaseBudget>;
  /** Budget for channel- and neuron-wise thresholds (default 20 + 1 warm-up epochs, lr 1e-2; ref 100 + 5, lr 1e-3). */
  vectorPhase?: Partial<PhaseBudget>;
  /** Loss weights (default crossEntropy 0.8, distillation 0.1, l2 4e-8). */
  loss?: Partial<LossWeights>;
  /**
   * Test the tolerance after every epoch past the warm-up too (every epoch with a flat warm-up, as the
   * reference), and stop a trial as soon as it has left it (default true, as the later reference
   * toolbox); false runs every trial to its end (paper era).
   */
  earlyRollback?: boolean;
  /** The reference's behaviour: accepted layers stay trainable, so layer l trains l..last together (default false). */
  referenceGrowingSet?: boolean;
  /** Cache the frozen front of the network (default true); results are the same up to float rounding. */
  cachePrefix?: boolean;
  /** Above this many bytes of cached values for a layer, that layer runs uncached (default 1.5 GiB). */
  maxCacheBytes?: number;
  /** Called after every trial, accepted or rolled back. */
  onDecision?: (d: Decision) => void;
}

/** ProAct's defaults, sized for a few minutes of ResNet-20 on two cores; docs/hardening.md compares them with the reference. */
export const PROACT_DEFAULTS = {
  seed: 0,
  threads: 2,
  batchSize: 64,
  images: 1024,
  weightDecays: [4e-1, 4e-2, 4e-3, 0] as readonly number[],
  tolerance: 0.01,
  k: DEFAULT_SMOOTH_K,
  granularity: 'hyrelu' as GranularitySpec,
  scalarPhase: { epochs: 2, warmupEpochs: 1, lr: 1e-1 } as PhaseBudget,
  vectorPhase: { epochs: 20, warmupEpochs: 1, lr: 1e-2 } as PhaseBudget,
  loss: { crossEntropy: 0.8, distillation: 0.1, l2: 4e-8 } as LossWeights,
  maxCacheBytes: 1.5 * 2 ** 30,
};

interface Resolved {
  seed: number;
  threads: number;
  batchSize: number;
  images: number;
  validationImages: number | undefined;
  weightDecays: number[];
  tolerance: number;
  k: number;
  granularities: Granularity[];
  scalarPhase: PhaseBudget;
  vectorPhase: PhaseBudget;
  loss: LossWeights;
  growing: boolean;
  earlyRollback: boolean;
  flatWarmup: boolean;
  cachePrefix: boolean;
  maxCacheBytes: number;
}

/** What a run carries from layer to layer (and through a checkpoint). */
interface RunState {
  thresholds: LayerThresholds[];
  decisions: Decision[];
  /** Layers finished (accepted or kept). */
  done: number[];
  acc0: number | undefined;
  imagesProcessed: number;
  secondsBefore: number;
}

/** Everything a layer's training needs besides the state. */
interface Context {
  graph: Graph;
  o: Resolved;
  opts: ProActOptions;
  train: HardenData['train'];
  validation: HardenData['validation'];
  teacher: Float32Array;
}

const METHOD = 'proact';

export async function hardenProAct(graph: Graph, data: HardenData, profile: Profile, opts: ProActOptions = {}): Promise<HardenOutcome> {
  const t0 = performance.now();
  checkProfileMatches(profile, graph, 'proact: profile');
  const o = resolveOptions(opts, profile.layers.length);
  const train = seededSubset(data.train, o.images, o.seed, 'proact train');
  const validation = o.validationImages === undefined ? data.validation : seededSubset(data.validation, o.validationImages, o.seed, 'proact validation');
  if (train.count === 0) throw new ProactError(`proact: the training data ${data.train.name} is empty; threshold training needs images`);
  if (validation.count === 0) throw new ProactError(`proact: the validation data ${data.validation.name} is empty; the acceptance test needs held-out images`);

  const state: RunState = {
    thresholds: initialThresholds(profile, o.granularities),
    decisions: [],
    done: [],
    acc0: undefined,
    imagesProcessed: 0,
    secondsBefore: 0,
  };
  const config = runConfig(o, state.thresholds, profile, train.name, validation.name);
  if (opts.checkpointPath && opts.resume !== false) resumeFrom(opts.checkpointPath, config, state);
  const elapsed = () => state.secondsBefore + (performance.now() - t0) / 1000;

  state.acc0 ??= await baselineAccuracy(graph, state, o, validation);
  const remaining = range(0, state.thresholds.length).reverse().filter((layer) => !state.done.includes(layer));
  let teacher: Float32Array = new Float32Array(0);
  if (remaining.length) {
    teacher = await teacherProbabilities(graph, train, { threads: o.threads, batchSize: o.batchSize });
    state.imagesProcessed += train.count;
  }
  const ctx: Context = { graph, o, opts, train, validation, teacher };

  for (const layer of remaining) {
    await trainLayer(ctx, state, layer);
    state.done.push(layer);
    if (opts.checkpointPath) saveProgress(opts.checkpointPath, config, state, elapsed());
  }
  return finish(ctx, state, elapsed);
}

/** HyReLU (or the requested granularities) at the profiled maxima, as smooth-zero thresholds. */
function initialThresholds(profile: Profile, granularities: readonly Granularity[]): LayerThresholds[] {
  return profile.layers.map((p, layer) => thresholdsFromProfile(layer, p, 'smooth-zero', granularities[layer]!));
}

/** acc0: validation accuracy of the model with the initial thresholds. */
async function baselineAccuracy(graph: Graph, state: RunState, o: Resolved, validation: HardenData['validation']): Promise<number> {
  const clipped = applyThresholds(graph, state.thresholds, METHOD, { k: o.k, guard: true });
  state.imagesProcessed += validation.count;
  return graphAccuracy(clipped, validation, { threads: o.threads, batchSize: Math.max(o.batchSize, 256) });
}

/** Trains one layer: the weight decays from strong to weak until one keeps accuracy within tolerance. */
async function trainLayer(ctx: Context, state: RunState, layer: number): Promise<void> {
  const { o } = ctx;
  const last = state.thresholds.length - 1;
  const trainable = o.growing ? range(layer, last + 1) : [layer];
  const problem = layerProblem(ctx, state, trainable);
  const trainer = await ThresholdTrainer.create(problem, o.threads);
  try {
    const trainCache = await cacheCutValues(problem, ctx.train, { threads: o.threads, batchSize: o.batchSize });
    trainCache.teacher = ctx.teacher;
    const validationCache = await cacheCutValues(problem, ctx.validation, { threads: o.threads, batchSize: Math.max(o.batchSize, 256) });
    if (problem.prefix) state.imagesProcessed += ctx.train.count + ctx.validation.count;
    const accepted = trainable.map((l) => state.thresholds[l]!);
    for (const weightDecay of o.weightDecays) {
      const params = new Map(accepted.map((t) => [t.thresholdName, t.values.slice()] as const));
      const outcome = await trainTrial(ctx, state, { layer, weightDecay, trainer, cache: trainCache, validation: validationCache, params, accepted });
      recordDecision(ctx, state, { layer, trainable, weightDecay, ...outcome });
      if (outcome.accepted) {
        for (const t of accepted) t.values = params.get(t.thresholdName)!;
        return;
      }
    }
  } finally {
    await trainer.release();
  }
}

/** The training problem of a layer: the cut before it, uncached when the cache would not fit in memory. */
function layerProblem(ctx: Context, state: RunState, trainable: number[]): ThresholdProblem {
  const { o } = ctx;
  const make = (cachePrefix: boolean) => buildThresholdProblem(ctx.graph, state.thresholds, { trainable, loss: o.loss, k: o.k, cachePrefix });
  const problem = make(o.cachePrefix);
  const bytes = (ctx.train.count + ctx.validation.count) * problem.bytesPerImage;
  return problem.prefix && bytes > o.maxCacheBytes ? make(false) : problem;
}

interface Trial {
  layer: number;
  weightDecay: number;
  trainer: ThresholdTrainer;
  cache: ActivationCache;
  validation: ActivationCache;
  /** Trainable thresholds, starting at the last accepted values; updated in place. */
  params: Map<string, Float32Array>;
  accepted: LayerThresholds[];
}

/** What one tolerance trial of the progressive training gave (not a campaign trial: campaign/trial.ts). */
interface TrainingTrialResult {
  accuracy: number;
  accepted: boolean;
  /** Epochs run, and planned (warm-up included). */
  epochsRun: number;
  epochs: number;
}

/**
 * One trial: AdamW with the trial's weight decay, constant warm-up then cosine decay, then the
 * acceptance test on the validation split. With early rollback, the test also runs after every earlier
 * epoch past the warm-up, and a trial that has already left the tolerance stops there (rolled back).
 */
async function trainTrial(ctx: Context, state: RunState, trial: Trial): Promise<TrainingTrialResult> {
  const { o, opts } = ctx;
  const phase = phaseOf(o, state.thresholds[trial.layer]!.granularity);
  const epochs = phase.warmupEpochs + phase.epochs;
  const perEpoch = stepsPerEpoch(trial.cache.count, o.batchSize);
  const optimizer = new Optimizer(optimizerOptions(o, trial.accepted, phase, trial.weightDecay));
  const schedule = phaseSchedule(phase.epochs, phase.warmupEpochs, perEpoch, o.flatWarmup);
  // A 0.1 x lr warm-up barely moves the thresholds, so the early test starts after it; a flat warm-up
  // trains at full rate from the first step, and the reference tests after every epoch.
  const firstTested = o.flatWarmup ? 0 : phase.warmupEpochs;
  let accuracy = NaN;
  const validate = async (): Promise<boolean> => {
    accuracy = await trial.trainer.accuracy(trial.validation, trial.params, Math.max(o.batchSize, 256));
    state.imagesProcessed += trial.validation.count;
    return withinTolerance(state.acc0!, accuracy, o.tolerance);
  };
  const done = await runEpochs({
    trainer: trial.trainer,
    cache: trial.cache,
    params: trial.params,
    optimizer,
    schedule,
    batchSize: o.batchSize,
    epochs,
    seed: deriveSeed(o.seed, `proact layer ${trial.layer} wd ${trial.weightDecay}`),
    ...(opts.signal ? { signal: opts.signal } : {}),
    interruptMessage: `proact: interrupted while training layer ${trial.layer}${opts.checkpointPath ? `; run again with checkpoint ${opts.checkpointPath} to resume` : ''}`,
    onStep: (epoch, step, steps, loss) =>
      opts.onProgress?.({ method: METHOD, layer: trial.layer, weightDecay: trial.weightDecay, epoch, epochs, step, steps, loss }),
    onEpoch: async (epoch) => (o.earlyRollback && epoch > firstTested && epoch < epochs && !(await validate()) ? 'stop' : undefined),
  });
  state.imagesProcessed += done.images;
  if (done.lastEpoch < epochs) return { accuracy, accepted: false, epochsRun: done.lastEpoch, epochs };
  return { accepted: await validate(), accuracy, epochsRun: epochs, epochs };
}

/** AdamW over the trainable thresholds; with the growing set, each threshold keeps its own phase's lr. */
function optimizerOptions(o: Resolved, trainable: readonly LayerThresholds[], phase: PhaseBudget, weightDecay: number): OptimizerOptions {
  const groups = trainable.map((t) => ({ params: [t.thresholdName], lr: phaseOf(o, t.granularity).lr }));
  return { kind: 'adamw', lr: phase.lr, weightDecay, groups };
}

function phaseOf(o: Resolved, granularity: Granularity): PhaseBudget {
  return granularity === 'layer' ? o.scalarPhase : o.vectorPhase;
}

/** The acceptance test of the method: |acc0 - acc| <= tolerance (a gain beyond it is refused too, as the reference). */
export function withinTolerance(acc0: number, accuracy: number, tolerance: number): boolean {
  return Math.abs(acc0 - accuracy) <= tolerance + 1e-12;
}

function recordDecision(ctx: Context, state: RunState, d: { layer: number; trainable: number[]; weightDecay: number } & TrainingTrialResult): void {
  const { layer, trainable, accuracy, accepted } = d;
  const t = state.thresholds[layer]!;
  const phase = phaseOf(ctx.o, t.granularity);
  const drop = `${((state.acc0! - accuracy) * 100).toFixed(2)} points down`;
  const tolerance = (ctx.o.tolerance * 100).toFixed(2);
  const versus = `accuracy ${fmt(accuracy)} vs acc0 ${fmt(state.acc0!)}`;
  const decision: Decision = {
    layer,
    node: t.node,
    setting: {
      weightDecay: d.weightDecay,
      lr: phase.lr,
      epochs: phase.epochs,
      warmupEpochs: phase.warmupEpochs,
      warmupFactor: warmupFactor(ctx.o.flatWarmup),
      epochsRun: d.epochsRun,
      granularity: t.granularity,
      trainable: trainable.length === 1 ? `${layer}` : `${trainable[0]}..${trainable[trainable.length - 1]}`,
    },
    accuracy,
    accepted,
    note: accepted
      ? `accepted: ${versus} (${drop}, tolerance ${tolerance})`
      : `rolled back${d.epochsRun < d.epochs ? ` after epoch ${d.epochsRun} of ${d.epochs}` : ''}: ${versus} (${drop}, beyond the tolerance of ${tolerance})`,
  };
  state.decisions.push(decision);
  ctx.opts.onDecision?.(decision);
}

const fmt = (a: number) => `${(a * 100).toFixed(2)}%`;

/** The hardened model (guarded smooth-zero, the inference form) and its validation accuracy. */
async function finish(ctx: Context, state: RunState, elapsed: () => number): Promise<HardenOutcome> {
  const { o } = ctx;
  const hardened = applyThresholds(ctx.graph, state.thresholds, METHOD, { k: o.k, guard: true });
  hardened.metadata['proact.training'] = JSON.stringify({ acc0: state.acc0, tolerance: o.tolerance, images: ctx.train.count, validationImages: ctx.validation.count });
  const validationAccuracy = await graphAccuracy(hardened, ctx.validation, { threads: o.threads, batchSize: Math.max(o.batchSize, 256) });
  state.imagesProcessed += ctx.validation.count;
  return {
    method: METHOD,
    graph: hardened,
    thresholds: state.thresholds,
    decisions: state.decisions,
    imagesProcessed: state.imagesProcessed,
    seconds: elapsed(),
    validationAccuracy,
  };
}

// ---------------------------------------------------------------------------------------------------
// Options and checkpoints

function resolveOptions(opts: ProActOptions, layerCount: number): Resolved {
  const d = PROACT_DEFAULTS;
  const o: Resolved = {
    seed: opts.seed ?? d.seed,
    threads: opts.threads ?? d.threads,
    batchSize: opts.batchSize ?? d.batchSize,
    images: opts.images ?? d.images,
    validationImages: opts.validationImages,
    weightDecays: [...(opts.weightDecays ?? d.weightDecays)],
    tolerance: opts.tolerance ?? d.tolerance,
    k: opts.k ?? d.k,
    granularities: resolveGranularities(opts.granularity ?? d.granularity, layerCount, 'proact'),
    scalarPhase: { ...d.scalarPhase, ...opts.scalarPhase },
    vectorPhase: { ...d.vectorPhase, ...opts.vectorPhase },
    loss: { ...d.loss, ...opts.loss },
    growing: opts.referenceGrowingSet ?? false,
    earlyRollback: opts.earlyRollback ?? true,
    flatWarmup: opts.flatWarmup ?? false,
    cachePrefix: opts.cachePrefix ?? true,
    maxCacheBytes: opts.maxCacheBytes ?? d.maxCacheBytes,
  };
  checkSeed(o.seed, 'proact: seed');
  checkInteger(o.threads, 1, 'proact: threads');
  checkInteger(o.batchSize, 1, 'proact: batch size');
  checkInteger(o.images, 1, 'proact: training images');
  if (o.validationImages !== undefined) checkInteger(o.validationImages, 1, 'proact: validation images');
  if (o.weightDecays.length === 0) throw new ProactError('proact: the weight-decay list is empty; give at least one value (ref: 4e-1 ... 4e-11)');
  o.weightDecays.forEach((wd, k) => checkNumber(wd, 0, `proact: weight decay #${k + 1}`));
  checkNumber(o.tolerance, 0, 'proact: tolerance (a fraction: 0.01 = 1 point)');
  if (o.tolerance >= 1) throw new ProactError(`proact: tolerance = ${o.tolerance} is a fraction of accuracy; give e.g. 0.01 for 1 point, not ${o.tolerance}`);
  checkNumber(o.k, 0, 'proact: k', true);
  for (const [name, p] of [['scalar', o.scalarPhase], ['vector', o.vectorPhase]] as const) {
    checkInteger(p.epochs, 1, `proact: ${name} phase epochs`);
    checkInteger(p.warmupEpochs, 0, `proact: ${name} phase warm-up epochs`);
    checkNumber(p.lr, 0, `proact: ${name} phase learning rate`, true);
  }
  checkNumber(o.maxCacheBytes, 0, 'proact: maxCacheBytes');
  return o;
}

/** What must not change between a run and its resumption. */
function runConfig(o: Resolved, thresholds: LayerThresholds[], profile: Profile, train: string, validation: string): Record<string, unknown> {
  return {
    model: modelFingerprint(thresholds),
    profileImages: profile.images,
    profileLayerMax: profile.layers.map((l) => l.layerMax),
    train,
    validation,
    seed: o.seed,
    batchSize: o.batchSize,
    images: o.images,
    weightDecays: o.weightDecays,
    tolerance: o.tolerance,
    k: o.k,
    granularities: o.granularities.join(','),
    scalarPhase: o.scalarPhase,
    vectorPhase: o.vectorPhase,
    loss: o.loss,
    referenceGrowingSet: o.growing,
    earlyRollback: o.earlyRollback,
    // Absent from older checkpoints when false, so they still resume.
    ...(o.flatWarmup ? { flatWarmup: true } : {}),
  };
}

function saveProgress(path: string, config: Record<string, unknown>, state: RunState, seconds: number): void {
  const arrays = new Map<string, Float32Array>();
  thresholdsToArrays(state.thresholds, arrays);
  saveRunCheckpoint(path, {
    method: METHOD,
    config,
    state: { acc0: state.acc0, done: state.done, decisions: state.decisions, imagesProcessed: state.imagesProcessed, seconds },
    arrays,
  });
}

function resumeFrom(path: string, config: Record<string, unknown>, state: RunState): void {
  const ck = loadRunCheckpoint(path, METHOD, config);
  if (!ck) return;
  const s = ck.state as { acc0?: number; done?: number[]; decisions?: Decision[]; imagesProcessed?: number; seconds?: number };
  if (typeof s.acc0 !== 'number' || !Array.isArray(s.done) || !Array.isArray(s.decisions))
    throw new ProactError(`${path}: the checkpoint lacks acc0, done layers or decisions; delete it to start again`);
  thresholdsFromArrays(path, ck, state.thresholds);
  state.acc0 = s.acc0;
  state.done = [...s.done];
  state.decisions = [...s.decisions];
  state.imagesProcessed = s.imagesProcessed ?? 0;
  state.secondsBefore = s.seconds ?? 0;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);
