/**
 * Batched evaluation of a classifier over a dataset: logits, predictions and top-1 accuracy. Data for
 * the next batch is decoded while onnxruntime computes the current one (session.run is asynchronous),
 * so loading does not eat the engine's throughput.
 */
import type { Dataset } from '../data/index.js';
import { ProactError } from '../util/errors.js';
import { checkModelContract, runClassifier } from './contract.js';
import { Session } from './session.js';

export interface EvaluateOptions {
  batchSize?: number;
  /** First record and number of records to evaluate (default: all). */
  offset?: number;
  limit?: number;
  /** Keep all logits (n x classes) in the result. */
  keepLogits?: boolean;
  onBatch?: (done: number, total: number) => void;
}

export interface EvaluateResult {
  count: number;
  correct: number;
  accuracy: number;
  predictions: Int32Array;
  labels: Int32Array;
  /** Inputs whose logits contain Inf or NaN (detected unrecoverable errors in fault campaigns). */
  nonFinite: Uint8Array;
  logits?: Float32Array;
  numClasses: number;
  seconds: number;
}

export async function evaluate(session: Session, ds: Dataset, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
  const batchSize = opts.batchSize ?? 128;
  const offset = opts.offset ?? 0;
  const count = Math.max(0, Math.min(opts.limit ?? ds.count - offset, ds.count - offset));
  if (count === 0) throw new ProactError(`${ds.name}: no images to evaluate (offset ${offset}, ${ds.count} records); give data with images or a --limit >= 1`);
  const expect = { imageShape: ds.shape, numClasses: ds.numClasses };
  const contract = checkModelContract(session, expect);
  const predictions = new Int32Array(count);
  const labels = new Int32Array(count);
  const nonFinite = new Uint8Array(count);
  let logits: Float32Array | undefined;
  let numClasses = 0;
  let correct = 0;
  const t0 = performance.now();
  let next = count > 0 ? ds.read(offset, Math.min(batchSize, count)) : undefined;
  for (let start = 0; start < count && next; ) {
    const batch = next;
    const pending = runClassifier(session, contract, batch.x, batch.size, expect);
    const after = start + batch.size;
    next = after < count ? ds.read(offset + after, Math.min(batchSize, count - after)) : undefined;
    const out = await pending;
    numClasses = out.classes;
    if (opts.keepLogits) {
      logits ??= new Float32Array(count * numClasses);
      logits.set(out.logits, start * numClasses);
    }
    for (let i = 0; i < batch.size; i++) {
      let best = 0;
      let bestV = -Infinity;
      let finite = true;
      for (let k = 0; k < numClasses; k++) {
        const v = out.logits[i * numClasses + k]!;
        if (!Number.isFinite(v)) finite = false;
        if (v > bestV) {
          bestV = v;
          best = k;
        }
      }
      predictions[start + i] = best;
      labels[start + i] = batch.labels[i]!;
      nonFinite[start + i] = finite ? 0 : 1;
      if (finite && best === batch.labels[i]) correct++;
    }
    start = after;
    opts.onBatch?.(start, count);
  }
  const seconds = (performance.now() - t0) / 1000;
  const res: EvaluateResult = { count, correct, accuracy: count ? correct / count : 0, predictions, labels, nonFinite, numClasses, seconds };
  if (logits) res.logits = logits;
  return res;
}
