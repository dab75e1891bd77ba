/**
 * One trial: write a fault plan into the model, evaluate it on the in-memory evaluation set, and
 * compare with the clean predictions. Used in the main thread and in worker threads alike, so results
 * do not depend on the number of workers.
 */
import type { FaultPlan } from '../faults/index.js';
import { Session, checkModelContract, runClassifier, type ContractExpectation } from '../runtime/index.js';
import { applyPlanToBytes } from './model.js';

/** The evaluation images decoded once per campaign (shareable with workers through SharedArrayBuffer). */
export interface EvalSet {
  x: Float32Array;
  labels: Int32Array;
  count: number;
  shape: readonly [number, number, number];
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
}

export interface TrialTask {
  ber: number;
  trial: number;
  faults: FaultPlan['faults'];
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

/** Runs `session` over the evaluation set; argmax per input (first maximum, as torch.argmax). */
export async function predictAll(session: Session, evalSet: EvalSet, batchSize: number): Promise<ModelOutcome> {
  const [c, h, w] = evalSet.shape;
  const size = c * h * w;
  const expect = evalSetExpectation(evalSet);
  const contract = checkModelContract(session, expect);
  const predictions = new Int32Array(evalSet.count);
  let correct = 0;
  let nonFinite = 0;
  // onnxruntime-node rejects views of a SharedArrayBuffer: each batch is copied into a plain buffer.
  const shared = evalSet.x.buffer instanceof SharedArrayBuffer;
  const staging = shared ? new Float32Array(Math.min(batchSize, evalSet.count) * size) : undefined;
  for (let start = 0; start < evalSet.count; start += batchSize) {
    const n = Math.min(batchSize, evalSet.count - start);
    const view = evalSet.x.subarray(start * size, (start + n) * size);
    let x = view;
    if (staging) {
      x = staging.subarray(0, n * size);
      x.set(view);
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
      else if (best === evalSet.labels[start + i]) correct++;
    }
  }
  return { predictions, correct, nonFinite };
}

export async function runTrial(ctx: TrialContext, task: TrialTask): Promise<TrialOutcome> {
  const t0 = performance.now();
  const flips = task.faults.length;
  if (flips === 0) {
    // No bit flipped: the faulty model is the clean model, bit for bit.
    return { ber: task.ber, trial: task.trial, accuracy: ctx.clean.accuracy, sdc: 0, due: ctx.clean.due, faults: 0, seconds: (performance.now() - t0) / 1000 };
  }
  const session = await Session.create(applyPlanToBytes(ctx, task.faults), { threads: ctx.threads, name: `the model with the faults of trial ${task.trial} at BER ${task.ber}` });
  try {
    const r = await predictAll(session, ctx.evalSet, ctx.batchSize);
    let sdc = 0;
    const labels = ctx.evalSet.labels;
    for (let i = 0; i < ctx.evalSet.count; i++) {
      const p = r.predictions[i]!;
      if (p >= 0 && ctx.cleanPredictions[i] === labels[i] && p !== labels[i]) sdc++;
    }
    const n = ctx.evalSet.count;
    return { ber: task.ber, trial: task.trial, accuracy: r.correct / n, sdc: sdc / n, due: r.nonFinite / n, faults: flips, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await session.release();
  }
}
