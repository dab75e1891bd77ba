/**
 * One trial: write a fault plan into the model, evaluate it on the in-memory evaluation set, and
 * compare with the clean predictions. Used in the main thread and in worker threads alike, so results
 * do not depend on the number of workers.
 */
import { trialImages, type ActivationFault, type FaultPlan, type FloatPolicy } from '../faults/index.js';
import { Session, checkModelContract, runClassifier, type ContractExpectation } from '../runtime/index.js';
import { applyPlanToBytes } from './model.js';
import { runSegments, startBoundaries, type EvalImages, type SegmentFaults, type SegmentedModel } from './segments.js';

/** The evaluation images decoded once per campaign (shareable with workers through SharedArrayBuffer). */
export interface EvalSet extends EvalImages {
  labels: Int32Array;
}

export interface TrialContext {
  bytes: Uint8Array;
  offsets: Record<string, number>;
  evalSet: EvalSet;
  /** Predictions of the clean model (argmax, first maximum). */
  cleanPredictions: Int32Array;
  /** Clean-model outcome, returned as is for trials without faults (they are exactly the clean model). */
  clean: { accuracy: number; due: number };
  batchSize: number;
  threads: number;
  /** Campaign seed: with (BER, trial) it picks a trial's images when it evaluates a subset. */
  seed: number;
  /**
   * The model cut in segments (segments.ts), for activation faults and delayed start; with them, the
   * number format and float policy activation faults are decoded with.
   */
  segments?: SegmentedModel;
  format?: string;
  policy?: FloatPolicy;
}

export interface TrialTask {
  ber: number;
  trial: number;
  faults: FaultPlan['faults'];
  /** Activation faults of the trial (faults/activation.ts), on the trial's images. */
  activations?: readonly ActivationFault[];
  /** Images the trial evaluates: a random subset of this many (trialImages), or the whole set when equal to it. */
  images: number;
}

/** What one trial measured: the record the store keeps (without its provenance fields). */
export interface TrialOutcome {
  ber: number;
  /** Index of the trial at this BER (0-based); it seeds the fault pattern. */
  trial: number;
  accuracy: number;
  /** Inputs the clean model classifies correctly and the faulty one does not (finite logits), over all inputs. */
  sdc: number;
  /** Inputs with Inf or NaN logits, over all inputs. */
  due: number;
  /** Number of bits flipped. */
  faults: number;
  /** Images evaluated (the rates above are over these); undefined in stores of version 1: the whole evaluation set. */
  images?: number;
  seconds: number;
}

export interface ModelOutcome {
  predictions: Int32Array;
  correct: number;
  nonFinite: number;
}

/** What the model must accept and give for `evalSet` (labels 0..max label). */
export function evalSetExpectation(evalSet: EvalSet): ContractExpectation {
  let maxLabel = 0;
  for (let i = 0; i < evalSet.count; i++) maxLabel = Math.max(maxLabel, evalSet.labels[i]!);
  return { imageShape: evalSet.shape, numClasses: maxLabel + 1 };
}

/**
 * Runs `session` over the evaluation set, or over the images `indices` of it (ascending); argmax per
 * input (first maximum, as torch.argmax). Predictions come in the order of the images evaluated.
 */
export async function predictAll(session: Session, evalSet: EvalSet, batchSize: number, indices?: Int32Array): Promise<ModelOutcome> {
  const [c, h, w] = evalSet.shape;
  const size = c * h * w;
  const expect = evalSetExpectation(evalSet);
  const contract = checkModelContract(session, expect);
  const count = indices?.length ?? evalSet.count;
  const predictions = new Int32Array(count);
  let correct = 0;
  let nonFinite = 0;
  // onnxruntime-node rejects views of a SharedArrayBuffer, and a subset must be gathered: such batches
  // are copied into a plain buffer.
  const shared = evalSet.x.buffer instanceof SharedArrayBuffer;
  const staging = shared || indices ? new Float32Array(Math.min(batchSize, count) * size) : undefined;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    let x: Float32Array;
    if (indices) {
      x = staging!.subarray(0, n * size);
      for (let i = 0; i < n; i++) {
        const image = indices[start + i]!;
        x.set(evalSet.x.subarray(image * size, (image + 1) * size), i * size);
      }
    } else {
      x = evalSet.x.subarray(start * size, (start + n) * size);
      if (staging) {
        const copy = staging.subarray(0, n * size);
        copy.set(x);
        x = copy;
      }
    }
    const { logits, classes } = await runClassifier(session, contract, x, n, expect);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestV = -Infinity;
      let finite = true;
      for (let k = 0; k < classes; k++) {
        const v = logits[i * classes + k]!;
        if (v - v !== 0) finite = false; // Inf or NaN
        else if (v > bestV) {
          bestV = v;
          best = k;
        }
      }
      predictions[start + i] = finite ? best : -1;
      if (!finite) nonFinite++;
      else if (best === evalSet.labels[indices ? indices[start + i]! : start + i]) correct++;
    }
  }
  return { predictions, correct, nonFinite };
}

/** The images a trial evaluates: undefined for the whole set, else its random subset (trialImages). */
export function imagesOfTrial(ctx: Pick<TrialContext, 'seed' | 'evalSet'>, task: Pick<TrialTask, 'ber' | 'trial' | 'images'>): Int32Array | undefined {
  return task.images >= ctx.evalSet.count ? undefined : trialImages(ctx.seed, task.ber, task.trial, task.images, ctx.evalSet.count);
}

/** The weight faults that change a stored word (a stuck-at cell holding its stuck value changes nothing). */
export function effectiveFaults(faults: FaultPlan['faults']): FaultPlan['faults'] {
  return faults.filter((f) => !(Object.is(f.before, f.after) || (Number.isNaN(f.before) && Number.isNaN(f.after))));
}

/**
 * The segmented run of a trial (segments.ts), when it has one: activation faults need it, and weight
 * faults whose first faulty segment has cached clean values start there (delayed start). Undefined when
 * the whole model in one session is the way (no segments, or weight faults from the first segment on).
 */
export function segmentPlanOf(ctx: TrialContext, task: TrialTask, indices: Int32Array | undefined): { starts: Map<number, number>; faults: SegmentFaults } | undefined {
  const model = ctx.segments;
  if (model === undefined) return undefined;
  const faults: SegmentFaults = { weights: effectiveFaults(task.faults), activations: task.activations ?? [] };
  if (faults.activations.length === 0 && (faults.weights.length === 0 || model.cache === undefined)) return undefined;
  const images = indices ?? Int32Array.from({ length: ctx.evalSet.count }, (_, i) => i);
  const starts = startBoundaries(model, images, faults, false);
  if (faults.activations.length === 0 && [...starts.values()].every((b) => b === 0)) return undefined;
  return { starts, faults };
}

export async function runTrial(ctx: TrialContext, task: TrialTask): Promise<TrialOutcome> {
  const t0 = performance.now();
  const flips = task.faults.length + (task.activations?.length ?? 0);
  const indices = imagesOfTrial(ctx, task);
  const n = indices?.length ?? ctx.evalSet.count;
  const labels = ctx.evalSet.labels;
  const segmented = segmentPlanOf(ctx, task, indices);
  if (segmented !== undefined) {
    // Images no fault reaches keep their clean prediction; the others run from their start boundary.
    const r = await runSegments({ segments: ctx.segments!, evalSet: ctx.evalSet, batchSize: ctx.batchSize, threads: ctx.threads, format: ctx.format ?? 'float32', policy: ctx.policy ?? 'ieee' }, segmented.starts, segmented.faults);
    let correct = 0;
    let sdc = 0;
    let due = 0;
    for (let i = 0; i < n; i++) {
      const image = indices ? indices[i]! : i;
      const p = r.predictions.get(image) ?? ctx.cleanPredictions[image]!;
      if (p < 0) due++;
      else if (p === labels[image]) correct++;
      else if (ctx.cleanPredictions[image] === labels[image]) sdc++;
    }
    return { ber: task.ber, trial: task.trial, accuracy: correct / n, sdc: sdc / n, due: due / n, faults: flips, images: n, seconds: (performance.now() - t0) / 1000 };
  }
  if (effectiveFaults(task.faults).length === 0) {
    // No bit flipped: the faulty model is the clean model, bit for bit.
    let correct = 0;
    let due = 0;
    for (let i = 0; i < n; i++) {
      const image = indices ? indices[i]! : i;
      if (ctx.cleanPredictions[image]! < 0) due++;
      else if (ctx.cleanPredictions[image] === labels[image]) correct++;
    }
    return { ber: task.ber, trial: task.trial, accuracy: correct / n, sdc: 0, due: due / n, faults: flips, images: n, seconds: (performance.now() - t0) / 1000 };
  }
  const session = await Session.create(applyPlanToBytes(ctx, task.faults), { threads: ctx.threads, name: `the model with the faults of trial ${task.trial} at BER ${task.ber}` });
  try {
    const r = await predictAll(session, ctx.evalSet, ctx.batchSize, indices);
    let sdc = 0;
    for (let i = 0; i < n; i++) {
      const image = indices ? indices[i]! : i;
      const p = r.predictions[i]!;
      if (p >= 0 && ctx.cleanPredictions[image] === labels[image] && p !== labels[image]) sdc++;
    }
    return { ber: task.ber, trial: task.trial, accuracy: r.correct / n, sdc: sdc / n, due: r.nonFinite / n, faults: flips, images: n, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await session.release();
  }
}
