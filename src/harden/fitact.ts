/**
 * FitAct (Mousavi et al., arXiv 2112.13544; docs/hardening.md, "FitAct"): neuron-wise smooth-zero
 * thresholds on every activation layer, initialised from the profile's neuron maxima and trained all at
 * once with the weights frozen: loss = CE + lambda * sum over layers of mean(T^2), Adam, cosine decay.
 *
 * All thresholds are trainable, so there is no frozen front to cache: every step runs the whole
 * network from the images (held in memory, decoded once).
 */
import type { Dataset } from '../data/index.js';
import type { Graph } from '../graph/index.js';
import { Optimizer, checkSeed, deriveSeed } from '../train/index.js';
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
  optimizerFromCheckpoint,
  optimizerToCheckpoint,
  phaseSchedule,
  resolveGranularities,
  runEpochs,
  saveRunCheckpoint,
  seededSubset,
  stepsPerEpoch,
  thresholdsFromArrays,
  thresholdsToArrays,
  type GranularitySpec,
  type ThresholdProgress,
  type ThresholdTrainingOptions,
} from './threshold-train.js';
import { applyThresholds, thresholdsFromProfile } from './thresholds.js';
import type { HardenData, HardenOutcome, LayerThresholds, Profile } from './types.js';

/** FitAct's options; the shared ones are documented in ThresholdTrainingOptions, defaults below. */
export interface FitActOptions extends ThresholdTrainingOptions {
  /** Mini-batch size (default 128). */
  batchSize?: number;
  /** Training images, a seeded subset of `data.train` (default 2048; ref: all 50,000). */
  images?: number;
  /** Epochs after the warm-up (default 5; ref 100-150). */
  epochs?: number;
  /** Epochs at 0.1 x lr (the full lr with `flatWarmup`) before the cosine decay (default 0, as the reference). */
  warmupEpochs?: number;
  /** Adam learning rate (default 1e-2; ref 1e-3). */
  lr?: number;
  /** Coefficient of sum(mean(T^2)) in the loss (default 1e-3; the reference uses 4e-11, see docs/hardening.md). */
  lambda?: number;
  /** Default 'neuron' (FitAct as published); other granularities for ablations. */
  granularity?: GranularitySpec;
}

export const FITACT_DEFAULTS = {
  seed: 0,
  threads: 2,
  batchSize: 128,
  images: 2048,
  epochs: 5,
  warmupEpochs: 0,
  lr: 1e-2,
  lambda: 1e-3,
  k: DEFAULT_SMOOTH_K,
  granularity: 'neuron' as GranularitySpec,
};

const METHOD = 'fitact';

export async function hardenFitAct(graph: Graph, data: HardenData, profile: Profile, opts: FitActOptions = {}): Promise<HardenOutcome> {
  const t0 = performance.now();
  checkProfileMatches(profile, graph, 'fitact: profile');
  const o = resolveOptions(opts, profile.layers.length);
  const train = seededSubset(data.train, o.images, o.seed, 'fitact train');
  if (train.count === 0) throw new ProactError(`fitact: the training data ${data.train.name} is empty; threshold training needs images`);
  const thresholds = profile.layers.map((p, layer) => thresholdsFromProfile(layer, p, 'smooth-zero', o.granularities[layer]!));
  const trained = await trainAllAtOnce(graph, train, thresholds, o, opts, runConfig(o, thresholds, profile, train.name), t0);

  const hardened = applyThresholds(graph, thresholds, METHOD, { k: o.k, guard: true });
  const validationAccuracy = await graphAccuracy(hardened, data.validation, { threads: o.threads, batchSize: Math.max(o.batchSize, 256) });
  return {
    method: METHOD,
    graph: hardened,
    thresholds,
    decisions: [],
    imagesProcessed: trained.imagesProcessed + data.validation.count,
    seconds: trained.secondsBefore + (performance.now() - t0) / 1000,
    validationAccuracy,
  };
}

/**
 * Trains every threshold together (CE + lambda L2, Adam, cosine decay), in place in `thresholds`,
 * checkpointing after each epoch and resuming from a checkpoint of the same configuration.
 */
async function trainAllAtOnce(
  graph: Graph,
  train: Dataset,
  thresholds: LayerThresholds[],
  o: Resolved,
  opts: FitActOptions,
  config: Record<string, unknown>,
  t0: number,
): Promise<{ imagesProcessed: number; secondsBefore: number }> {
  const problem = buildThresholdProblem(graph, thresholds, {
    trainable: thresholds.map((t) => t.layer),
    loss: { crossEntropy: 1, distillation: 0, l2: o.lambda },
    k: o.k,
    cachePrefix: false, // everything is trainable: the cut is the image itself
  });
  const perEpoch = stepsPerEpoch(train.count, o.batchSize);
  const epochs = o.warmupEpochs + o.epochs;
  const optimizer = new Optimizer({ kind: 'adam', lr: o.lr });
  const schedule = phaseSchedule(o.epochs, o.warmupEpochs, perEpoch, o.flatWarmup);
  const resumed = opts.checkpointPath && opts.resume !== false ? resumeFrom(opts.checkpointPath, config, thresholds, optimizer) : undefined;
  const firstEpoch = resumed?.epochsDone ?? 0;
  const imagesBefore = resumed?.imagesProcessed ?? 0;
  const secondsBefore = resumed?.seconds ?? 0;
  const params = new Map(thresholds.map((t) => [t.thresholdName, t.values] as const));

  const saveEpoch = (epoch: number): void => {
    if (!opts.checkpointPath) return;
    const arrays = new Map<string, Float32Array>();
    thresholdsToArrays(thresholds, arrays);
    const optimizerStep = optimizerToCheckpoint(optimizer.state(), arrays);
    const state = { epochsDone: epoch, optimizerStep, imagesProcessed: imagesBefore + (epoch - firstEpoch) * train.count, seconds: secondsBefore + (performance.now() - t0) / 1000 };
    saveRunCheckpoint(opts.checkpointPath, { method: METHOD, config, state, arrays });
  };

  const trainer = await ThresholdTrainer.create(problem, o.threads);
  try {
    const cache = await cacheCutValues(problem, train, { threads: o.threads, batchSize: o.batchSize });
    const done = await runEpochs(
      {
        trainer,
        cache,
        params, // the thresholds' own arrays: updated in place
        optimizer,
        schedule,
        batchSize: o.batchSize,
        epochs,
        seed: deriveSeed(o.seed, 'fitact'),
        ...(opts.signal ? { signal: opts.signal } : {}),
        interruptMessage: `fitact: interrupted${opts.checkpointPath ? `; run again with checkpoint ${opts.checkpointPath} to resume` : ''}`,
        onStep: (epoch, step, steps, loss) => opts.onProgress?.({ method: METHOD, layer: 'all', epoch, epochs, step, steps, loss }),
        onEpoch: saveEpoch,
      },
      firstEpoch,
    );
    return { imagesProcessed: imagesBefore + done.images, secondsBefore };
  } finally {
    await trainer.release();
  }
}

interface Resolved {
  seed: number;
  threads: number;
  batchSize: number;
  images: number;
  epochs: number;
  warmupEpochs: number;
  flatWarmup: boolean;
  lr: number;
  lambda: number;
  k: number;
  granularities: Granularity[];
}

function resolveOptions(opts: FitActOptions, layerCount: number): Resolved {
  const d = FITACT_DEFAULTS;
  const o: Resolved = {
    seed: opts.seed ?? d.seed,
    threads: opts.threads ?? d.threads,
    batchSize: opts.batchSize ?? d.batchSize,
    images: opts.images ?? d.images,
    epochs: opts.epochs ?? d.epochs,
    warmupEpochs: opts.warmupEpochs ?? d.warmupEpochs,
    flatWarmup: opts.flatWarmup ?? false,
    lr: opts.lr ?? d.lr,
    lambda: opts.lambda ?? d.lambda,
    k: opts.k ?? d.k,
    granularities: resolveGranularities(opts.granularity ?? d.granularity, layerCount, 'fitact'),
  };
  checkSeed(o.seed, 'fitact: seed');
  checkInteger(o.threads, 1, 'fitact: threads');
  checkInteger(o.batchSize, 1, 'fitact: batch size');
  checkInteger(o.images, 1, 'fitact: training images');
  checkInteger(o.epochs, 1, 'fitact: epochs');
  checkInteger(o.warmupEpochs, 0, 'fitact: warm-up epochs');
  checkNumber(o.lr, 0, 'fitact: learning rate', true);
  checkNumber(o.lambda, 0, 'fitact: lambda');
  checkNumber(o.k, 0, 'fitact: k', true);
  return o;
}

function runConfig(o: Resolved, thresholds: LayerThresholds[], profile: Profile, train: string): Record<string, unknown> {
  return {
    model: modelFingerprint(thresholds),
    profileImages: profile.images,
    profileLayerMax: profile.layers.map((l) => l.layerMax),
    train,
    seed: o.seed,
    batchSize: o.batchSize,
    images: o.images,
    epochs: o.epochs,
    warmupEpochs: o.warmupEpochs,
    ...(o.flatWarmup ? { flatWarmup: true } : {}),
    lr: o.lr,
    lambda: o.lambda,
    k: o.k,
    granularities: o.granularities.join(','),
  };
}

interface Resumed {
  epochsDone: number;
  imagesProcessed: number;
  seconds: number;
}

/** Restores thresholds and the Adam state from a checkpoint written at the end of an epoch. */
function resumeFrom(path: string, config: Record<string, unknown>, thresholds: LayerThresholds[], optimizer: Optimizer): Resumed | undefined {
  const ck = loadRunCheckpoint(path, METHOD, config);
  if (!ck) return undefined;
  const s = ck.state as { epochsDone?: number; optimizerStep?: number; imagesProcessed?: number; seconds?: number };
  if (!Number.isInteger(s.epochsDone) || !Number.isInteger(s.optimizerStep))
    throw new ProactError(`${path}: the checkpoint lacks the epoch or optimizer step; delete it to start again`);
  thresholdsFromArrays(path, ck, thresholds);
  optimizer.loadState(optimizerFromCheckpoint(ck, 'adam', s.optimizerStep!));
  return { epochsDone: s.epochsDone!, imagesProcessed: s.imagesProcessed ?? 0, seconds: s.seconds ?? 0 };
}
