/**
 * The training loop: mini-batch gradient descent with the gradient graph running in onnxruntime and
 * the optimiser in TypeScript. A run is a pure function of its configuration and seed: the epoch
 * shuffles and the augmentation draw from one seeded generator, whose state is checkpointed with the
 * weights and the optimiser, so a run stopped at any step and resumed from its last checkpoint ends
 * with the same weights, bit for bit, as a run that was never interrupted (on the same machine and
 * thread count: onnxruntime's kernels are deterministic for a fixed thread count).
 */
import { existsSync } from 'node:fs';
import type { Dataset } from '../data/index.js';
import { f32, type Graph } from '../graph/index.js';
import { Session, evaluate, type Feeds } from '../runtime/index.js';
import { ProactError } from '../util/errors.js';
import { augmentBatch, type AugmentOptions } from './augment.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint, type EpochRecord, type EpochStats } from './checkpoint.js';
import { softmaxCrossEntropyTrainingGraph, trainableParameters, type TrainingGraphBuilder } from './gradient.js';
import { Optimizer, type OptimizerOptions } from './optim.js';
import { Rng, checkSeed } from './rng.js';
import { constantSchedule, makeSchedule, type Schedule, type ScheduleSpec } from './schedule.js';

export interface TrainProgress {
  phase: 'step' | 'epoch' | 'checkpoint';
  /** 1-based epoch in progress (or just finished, for 'epoch'). */
  epoch: number;
  epochs: number;
  /** Optimiser steps done in the run, and in all. */
  step: number;
  totalSteps: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  /** Running mean loss and accuracy of the epoch so far. */
  loss: number;
  accuracy: number;
  lr: number;
  /** Seconds since the run started (including time before a resume). */
  seconds: number;
  /** The finished epoch's record ('epoch' phase). */
  record?: EpochRecord;
}

export interface TrainOptions {
  /** The model: one image input, one logits output; its float32 Conv/Gemm weights and biases are trained. */
  graph: Graph;
  dataset: Dataset;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerOptions;
  /** Default constant. A spec is built for the run's total steps. */
  schedule?: ScheduleSpec | Schedule;
  /** Seed of the epoch shuffles and the augmentation. */
  seed: number;
  augment?: AugmentOptions;
  /** Evaluated at the end of each epoch. */
  validation?: Dataset;
  checkpointPath?: string;
  /** Also checkpoint every this many steps (default: only at epoch ends). */
  checkpointEvery?: number;
  /** Continue from `checkpointPath` when it exists (a missing file starts a new run). */
  resume?: boolean;
  /** Stop (without a checkpoint, as if killed) once this many steps of the run are done. */
  stopAfterStep?: number;
  /** onnxruntime intra-op threads (default 1). */
  threads?: number;
  /** Parameter names to train (default: every conv/linear weight and bias). */
  trainable?: string[];
  onProgress?: (p: TrainProgress) => void;
  /** Builds the gradient graph (default: softmax cross-entropy through proact's autodiff). */
  trainingGraph?: TrainingGraphBuilder;
}

export interface TrainResult {
  /** The model with the trained weights (a copy; the input graph is unchanged). */
  graph: Graph;
  params: Map<string, Float32Array>;
  history: EpochRecord[];
  /** Steps done in all (equal to totalSteps when completed). */
  steps: number;
  totalSteps: number;
  completed: boolean;
  /** Step the run resumed from (undefined for a fresh run). */
  resumedFromStep?: number;
  seed: number;
  seconds: number;
}

/** A copy of `model` whose initializers named in `params` hold those values. */
export function withWeights(model: Graph, params: ReadonlyMap<string, Float32Array>): Graph {
  const g = model.clone();
  for (const [name, values] of params) {
    const t = g.initializers.get(name);
    if (!t) throw new ProactError(`parameter '${name}' is not an initializer of model '${model.name}'`);
    g.initializers.set(name, f32([...t.dims], values));
  }
  return g;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  checkOptions(o);
  const ds = o.dataset;
  const stepsPerEpoch = Math.ceil(ds.count / o.batchSize);
  const totalSteps = stepsPerEpoch * o.epochs;
  const schedule = !o.schedule ? constantSchedule() : 'at' in o.schedule ? o.schedule : makeSchedule(o.schedule, totalSteps);
  const trainable = o.trainable ?? trainableParameters(o.graph);
  if (trainable.length === 0) throw new ProactError(`model '${o.graph.name}' has no float32 Conv/Gemm weights to train`);

  const params = new Map<string, Float32Array>();
  const dims = new Map<string, number[]>();
  for (const name of trainable) {
    const t = o.graph.initializers.get(name);
    if (!t || t.dtype !== 'float32') throw new ProactError(`trainable parameter '${name}' is not a float32 initializer of model '${o.graph.name}'`);
    params.set(name, Float32Array.from(t.data as Float32Array));
    dims.set(name, [...t.dims]);
  }
  const optimizer = new Optimizer(o.optimizer);
  const config = runConfig(o, ds, trainable, dims, schedule);

  let rng = Rng.fromSeed(o.seed);
  let step = 0;
  let history: EpochRecord[] = [];
  let stats: EpochStats = { lossSum: 0, correct: 0, count: 0 };
  let epochRngState = rng.state();
  let secondsBefore = 0;
  let resumedFromStep: number | undefined;
  if (o.resume && o.checkpointPath && existsSync(o.checkpointPath)) {
    const ck = loadCheckpoint(o.checkpointPath);
    checkSameConfig(o.checkpointPath, ck.config, config);
    for (const [name, values] of ck.params) {
      const p = params.get(name);
      if (!p || p.length !== values.length) throw new ProactError(`${o.checkpointPath}: parameter '${name}' does not fit the model; the checkpoint belongs to another model`);
      p.set(values);
    }
    optimizer.loadState(ck.optimizer);
    rng = Rng.fromState(ck.rngState);
    epochRngState = ck.epochRngState;
    step = ck.step;
    history = ck.history;
    stats = ck.epochStats;
    secondsBefore = ck.seconds;
    resumedFromStep = step;
  }

  const tg = (o.trainingGraph ?? softmaxCrossEntropyTrainingGraph)(o.graph, trainable);
  const session = await Session.create(tg.graph, { threads: o.threads ?? 1 });
  const outputs = [tg.loss, ...trainable.map((n) => tg.grads.get(n)!), tg.logits];
  const [c, h, w] = ds.shape;
  const t0 = performance.now();
  const elapsed = (): number => secondsBefore + (performance.now() - t0) / 1000;
  let lastLr = optimizer.learningRate(trainable[0]!, schedule.at(Math.min(step, totalSteps - 1)).lrFactor ?? 1);

  // Generator state after the last batch consumed by an optimiser step: what a checkpoint stores
  // (the live generator may already be one prefetched batch ahead).
  let committedRngState = rng.state();
  const checkpoint = (): void => {
    if (!o.checkpointPath) return;
    saveCheckpoint(o.checkpointPath, {
      config,
      step,
      seed: o.seed,
      rngState: committedRngState,
      epochRngState,
      epochStats: stats,
      history,
      seconds: elapsed(),
      params,
      optimizer: optimizer.state(),
    } satisfies Checkpoint);
  };
  const progress = (phase: TrainProgress['phase'], record?: EpochRecord): void => {
    if (!o.onProgress) return;
    // Every phase is reported after a step: the epoch of the step just done.
    const epoch = Math.floor((step - 1) / stepsPerEpoch) + 1;
    o.onProgress({
      phase,
      epoch,
      epochs: o.epochs,
      step,
      totalSteps,
      stepInEpoch: step - (epoch - 1) * stepsPerEpoch,
      stepsPerEpoch,
      loss: stats.count ? stats.lossSum / stats.count : NaN,
      accuracy: stats.count ? stats.correct / stats.count : NaN,
      lr: lastLr,
      seconds: elapsed(),
      ...(record ? { record } : {}),
    });
  };

  try {
    while (step < totalSteps) {
      const epochIndex = Math.floor(step / stepsPerEpoch);
      let within = step - epochIndex * stepsPerEpoch;
      // The epoch's shuffle is its first draw; a run resumed mid-epoch redraws it from the saved state.
      let order: Int32Array;
      if (within === 0) {
        epochRngState = rng.state();
        order = rng.permutation(ds.count);
        stats = { lossSum: 0, correct: 0, count: 0 };
      } else {
        order = Rng.fromState(epochRngState).permutation(ds.count);
      }
      committedRngState = rng.state();

      const prepare = (k: number): PreparedBatch => {
        const batch = ds.readIndices(order.subarray(k * o.batchSize, Math.min((k + 1) * o.batchSize, ds.count)));
        if (o.augment) augmentBatch(batch.x, batch.size, ds.shape, o.augment, rng);
        return { x: batch.x, labels: BigInt64Array.from(batch.labels, (v) => BigInt(v)), size: batch.size, rngState: rng.state() };
      };
      let next: PreparedBatch | undefined = prepare(within);
      for (; within < stepsPerEpoch && next; within++) {
        const cur: PreparedBatch = next;
        const feeds: Feeds = { [tg.input]: { data: cur.x, dims: [cur.size, c, h, w] }, [tg.labels]: { data: cur.labels, dims: [cur.size] } };
        for (const name of trainable) feeds[name] = { data: params.get(name)!, dims: dims.get(name)! };
        const pending = session.run(feeds, outputs);
        // Decode the next batch while onnxruntime computes this one.
        next = within + 1 < stepsPerEpoch ? prepare(within + 1) : undefined;
        const out = await pending;
        const loss = out[tg.loss]!.data[0]!;
        if (!Number.isFinite(loss))
          throw new ProactError(`training diverged at step ${step + 1}: the loss is ${loss}; lower the learning rate (--lr) or use another optimizer`);
        const grads = new Map<string, Float32Array>();
        for (const name of trainable) grads.set(name, out[tg.grads.get(name)!]!.data);
        const settings = schedule.at(step);
        lastLr = optimizer.learningRate(trainable[0]!, settings.lrFactor ?? 1);
        optimizer.step(params, grads, settings);
        step++;
        committedRngState = cur.rngState;
        stats = {
          lossSum: stats.lossSum + loss * cur.size,
          correct: stats.correct + countCorrect(out[tg.logits]!.data, cur.labels),
          count: stats.count + cur.size,
        };
        if (o.stopAfterStep !== undefined && step >= o.stopAfterStep) return finish(false);
        progress('step');
        if (o.checkpointEvery && step % o.checkpointEvery === 0 && within + 1 < stepsPerEpoch) {
          checkpoint();
          progress('checkpoint');
        }
      }
      const record: EpochRecord = {
        epoch: epochIndex + 1,
        loss: stats.lossSum / stats.count,
        accuracy: stats.correct / stats.count,
        lr: lastLr,
        seconds: 0,
      };
      if (o.validation) {
        const v = await Session.create(withWeights(o.graph, params), { threads: o.threads ?? 1 });
        try {
          record.validationAccuracy = (await evaluate(v, o.validation, { batchSize: 256 })).accuracy;
        } finally {
          await v.release();
        }
      }
      record.seconds = elapsed();
      history = [...history, record];
      checkpoint();
      progress('epoch', record);
    }
    return finish(true);
  } finally {
    await session.release();
  }

  function finish(completed: boolean): TrainResult {
    const graph = withWeights(o.graph, params);
    const result: TrainResult = { graph, params, history, steps: step, totalSteps, completed, seed: o.seed, seconds: elapsed() };
    if (resumedFromStep !== undefined) result.resumedFromStep = resumedFromStep;
    return result;
  }
}

/** Number of rows of `logits` whose largest value is at the label. */
interface PreparedBatch {
  x: Float32Array;
  labels: BigInt64Array;
  size: number;
  /** Generator state after drawing this batch's augmentation. */
  rngState: number[];
}

function countCorrect(logits: Float32Array, labels: BigInt64Array): number {
  const n = labels.length;
  const k = logits.length / n;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    if (BigInt(best) === labels[i]) correct++;
  }
  return correct;
}

function checkOptions(o: TrainOptions): void {
  checkSeed(o.seed, 'training seed');
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new ProactError(`epochs ${o.epochs} is invalid: expected a positive integer`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new ProactError(`batch size ${o.batchSize} is invalid: expected a positive integer`);
  if (o.dataset.count < 1) throw new ProactError(`${o.dataset.name}: the training set is empty`);
  if (o.checkpointEvery !== undefined && (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 1))
    throw new ProactError(`checkpoint interval ${o.checkpointEvery} is invalid: expected a positive number of steps`);
  if (o.resume && !o.checkpointPath) throw new ProactError('resume needs a checkpoint file: pass --checkpoint FILE');
  const inputDims = o.graph.dataInputs()[0]?.dims ?? [];
  const shape = o.dataset.shape;
  if (inputDims.length === 4 && inputDims.slice(1).some((d, k) => d > 0 && d !== shape[k]))
    throw new ProactError(
      `model '${o.graph.name}' takes images of [${inputDims.slice(1).join(', ')}] but ${o.dataset.name} holds [${shape.join(', ')}]: pick a model for this dataset`,
    );
}

/** What must not change between a run and its resumption. */
function runConfig(o: TrainOptions, ds: Dataset, trainable: string[], dims: Map<string, number[]>, schedule: Schedule): Record<string, unknown> {
  return {
    model: o.graph.name,
    parameters: trainable.map((n) => `${n}[${dims.get(n)!.join('x')}]`).join(' '),
    dataset: `${ds.name} (${ds.count} records)`,
    epochs: o.epochs,
    batchSize: o.batchSize,
    seed: o.seed,
    optimizer: JSON.stringify(o.optimizer),
    schedule: schedule.description,
    augment: o.augment ? JSON.stringify(o.augment) : 'none',
  };
}

function checkSameConfig(path: string, saved: Record<string, unknown>, current: Record<string, unknown>): void {
  for (const key of Object.keys(current)) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(current[key]))
      throw new ProactError(
        `${path}: the checkpoint was made with ${key} = ${JSON.stringify(saved[key])}, this run has ${JSON.stringify(current[key])}: resume with the same settings or start a new checkpoint file`,
      );
  }
}
