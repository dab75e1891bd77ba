/**
 * Shared machinery of the threshold-training methods (FitAct, ProAct): the training problem (the
 * clipped model plus its loss, differentiated with respect to the trainable thresholds only), the cut
 * that lets a step skip the frozen front of the network, the per-image caches, the epoch loop, and the
 * resumable checkpoint.
 *
 * The cut. When only the thresholds of layers >= l are trained, every value that depends on the image
 * but on no trainable threshold is the same in every step. Such values are computed once per image (the
 * *prefix*) and cached; a training step runs only the *suffix*, which reads the cached values instead of
 * the image. The cut is not a single tensor: it is every prefix value that a suffix node reads. In a
 * ResNet, training the Relu inside a block needs the block's pre-activation *and* its input (the
 * residual branch skips over the Relu); the partition below finds all such values by dependency, so the
 * suffix depends only on cached tensors, whatever the topology.
 *
 * Prefix nodes: nodes that read the image (transitively), no trainable threshold, and whose outputs are
 * batched ([batch, ...]): a Shape node, for example, stays in the suffix and runs on a cached tensor, so
 * values that depend on the batch size are never cached.
 *
 * Thresholds being trained are tiny graph inputs, fed every step; weights and frozen thresholds stay
 * initializers so onnxruntime can pre-pack them. One session per problem serves every epoch and trial.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/files.js';
import { addDistillation, addL2, addSoftmaxCrossEntropy, addWeightedSum, buildGradientGraph, gradName } from '../autodiff/index.js';
import { seededPermutation, subset, type Dataset } from '../data/index.js';
import { inferShapes, numel, removeDeadNodes, type Graph, type Node, type ValueInfo } from '../graph/index.js';
import { Session, type Feeds } from '../runtime/index.js';
import { Optimizer, Rng, classifierIO, deriveSeed, warmupCosineSchedule, type OptimizerState, type Schedule } from '../train/index.js';
import { ProactBug, ProactError } from '../util/errors.js';
import { DEFAULT_SMOOTH_K, GRANULARITIES, type Granularity } from './activations.js';
import { applyThresholds } from './thresholds.js';
import type { LayerThresholds } from './types.js';

// ---------------------------------------------------------------------------------------------------
// Options shared by FitAct and ProAct

/**
 * Threshold granularity per activation layer: one for all layers, `hyrelu` (layer-wise everywhere,
 * neuron-wise in the last activation layer executed), or one entry per layer.
 */
export type GranularitySpec = Granularity | 'hyrelu' | readonly Granularity[];

/** Weights of the loss terms: CE(student, labels), KD(teacher, student) at temperature 1, sum of mean(T^2). */
export interface LossWeights {
  crossEntropy: number;
  distillation: number;
  l2: number;
}

/** One optimiser step of threshold training, for progress bars and logs. */
export interface ThresholdProgress {
  method: string;
  /** Activation layer whose thresholds are being trained (ProAct), or 'all' (FitAct). */
  layer: number | 'all';
  /** Weight decay of the trial in progress (ProAct). */
  weightDecay?: number;
  /** 1-based epoch and its total in this phase (warm-up included). */
  epoch: number;
  epochs: number;
  /** 1-based step and total steps of this phase. */
  step: number;
  steps: number;
  /** Loss of this step's batch. */
  loss: number;
}

/**
 * Options every threshold-training method (FitAct, ProAct) takes; each method documents its own
 * defaults for them next to its own options.
 */
export interface ThresholdTrainingOptions {
  /** Seed of the image subsets and the epoch shuffles (default 0). */
  seed?: number;
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Mini-batch size. */
  batchSize?: number;
  /** Training images, a seeded subset of `data.train` (ref: all 50,000). */
  images?: number;
  /** Steepness of smooth-zero (default 20). */
  k?: number;
  /** Threshold shape per activation layer. */
  granularity?: GranularitySpec;
  onProgress?: (p: ThresholdProgress) => void;
  /** Saved as the run goes; an existing file for the same configuration is resumed. */
  checkpointPath?: string;
  /** Resume from `checkpointPath` when it exists (default true); false starts again and overwrites it. */
  resume?: boolean;
  /** Stops the run between steps (the checkpoint keeps the finished work). */
  signal?: AbortSignal;
  /**
   * Warm-up at the full learning rate (default false: 0.1 x lr). The reference's CosineLRwithWarmup is
   * built with warmup_lr = base lr, so its warm-up ramps from the base lr to the base lr: flat.
   */
  flatWarmup?: boolean;
}

/** Learning-rate factor of the warm-up: ours (the thresholds barely move), or the reference's flat one. */
export function warmupFactor(flat: boolean): number {
  return flat ? 1 : 0.1;
}

/**
 * The schedule of one training phase: `warmupEpochs` epochs at a constant factor (0.1, or 1 when
 * flat), then cosine decay to 0 over `epochs` epochs, stepped once per batch. With the flat warm-up it
 * is the reference's CosineLRwithWarmup(warmup_steps = W, warmup_lr = lr, decay_steps = D) step for step.
 */
export function phaseSchedule(epochs: number, warmupEpochs: number, perEpoch: number, flat: boolean): Schedule {
  return warmupCosineSchedule({ totalSteps: (warmupEpochs + epochs) * perEpoch, warmupSteps: warmupEpochs * perEpoch, warmupFactor: warmupFactor(flat) });
}

/** Per-layer granularities for `spec`, checked. */
export function resolveGranularities(spec: GranularitySpec, layerCount: number, who: string): Granularity[] {
  if (spec === 'hyrelu') return Array.from({ length: layerCount }, (_, k) => (k === layerCount - 1 ? 'neuron' : 'layer'));
  if (typeof spec === 'string') {
    if (!GRANULARITIES.includes(spec)) throw new ProactError(`${who}: granularity '${spec}' is unknown; use hyrelu, ${GRANULARITIES.join(', ')} or one per layer`);
    return new Array<Granularity>(layerCount).fill(spec);
  }
  if (!Array.isArray(spec) || spec.length !== layerCount)
    throw new ProactError(`${who}: ${Array.isArray(spec) ? spec.length : 'no'} granularities given for ${layerCount} activation layers; give one per layer, or hyrelu/layer/channel/neuron`);
  spec.forEach((g, k) => {
    if (!GRANULARITIES.includes(g)) throw new ProactError(`${who}: granularity '${String(g)}' of layer ${k} is unknown; use ${GRANULARITIES.join(', ')}`);
  });
  return [...spec];
}

/** Throws unless `v` is an integer >= min. */
export function checkInteger(v: number, min: number, what: string): void {
  if (!Number.isInteger(v) || v < min) throw new ProactError(`${what} = ${v} is invalid; give an integer >= ${min}`);
}

/** Throws unless `v` is a finite number >= min (> min when `open`). */
export function checkNumber(v: number, min: number, what: string, open = false): void {
  if (!Number.isFinite(v) || v < min || (open && v === min)) throw new ProactError(`${what} = ${v} is invalid; give a finite number ${open ? '>' : '>='} ${min}`);
}

// ---------------------------------------------------------------------------------------------------
// The training problem

export interface ThresholdProblemOptions {
  /** Indices of the activation layers whose thresholds are trained. */
  trainable: readonly number[];
  loss: LossWeights;
  /** Steepness of smooth-zero (default 20). */
  k?: number;
  /** Cut off and cache the frozen front of the network (default true); false: every step runs from the image. */
  cachePrefix?: boolean;
}

/** A value crossing the cut: cached per image, fed to the suffix. */
export interface CutValue {
  name: string;
  /** One image's dims (batch removed). */
  sampleDims: number[];
  /** Values per image. */
  sampleSize: number;
}

export interface ThresholdProblem {
  /** Inputs: the cut values, labels, teacher probabilities (when distilling), trainable thresholds. Outputs: loss, then `grad:<threshold>` each. */
  gradient: Graph;
  /** Inputs: the cut values and trainable thresholds. Output: the logits. */
  forward: Graph;
  /** Inputs: the image. Outputs: the cut values that are not the image. Undefined when the cut is the image itself. */
  prefix: Graph | undefined;
  cut: CutValue[];
  /** Image input of the model. */
  image: string;
  labels: string;
  /** Teacher-probabilities input; undefined without distillation. */
  teacher: string | undefined;
  loss: string;
  logits: string;
  /** Names and dims of the trainable thresholds, in `trainable` order. */
  params: { name: string; layer: number; dims: number[] }[];
  /** Bytes the cut takes per cached image. */
  bytesPerImage: number;
}

/**
 * Builds the threshold-training problem for `graph` (prepared, unclipped) clipped with `thresholds`
 * (smooth-zero, the unguarded training form). Thresholds of layers not in `trainable` are frozen at
 * their given values.
 */
export function buildThresholdProblem(graph: Graph, thresholds: readonly LayerThresholds[], opts: ThresholdProblemOptions): ThresholdProblem {
  const { input: image, logits } = classifierIO(graph);
  const dataDims = graph.dataInputs()[0]!.dims;
  if (dataDims[0] !== -1)
    throw new ProactError(`threshold training: the model's input '${image}' has a fixed batch size ${dataDims[0]}; export it with a dynamic batch axis`);
  if (opts.trainable.length === 0) throw new ProactError('threshold training: no trainable layer given');
  const params = opts.trainable.map((layer) => {
    const t = thresholds.find((x) => x.layer === layer);
    if (!t) throw new ProactError(`threshold training: layer ${layer} has no threshold to train; the model has layers ${thresholds.map((x) => x.layer).join(', ')}`);
    return { name: t.thresholdName, layer, dims: [...t.dims] };
  });
  const clipped = applyThresholds(graph, thresholds, 'training', { k: opts.k ?? DEFAULT_SMOOTH_K, guard: false });
  const withLoss = clipped.clone();
  const { loss, labels, teacher } = addThresholdLoss(withLoss, logits, params.map((p) => p.name), opts.loss);

  const trainableNames = new Set(params.map((p) => p.name));
  const types = inferShapes(withLoss);
  const front = opts.cachePrefix === false ? new Set<Node>() : prefixNodes(withLoss, image, trainableNames, types);
  const cutNames = cutValues(withLoss, front, image, [loss, logits]);
  const cut = cutNames.map((name): CutValue => {
    const t = types.get(name);
    const sampleDims = t ? t.dims.slice(1) : [];
    if (!t || t.dtype !== 'float32' || t.dims[0] !== -1 || sampleDims.some((d) => !(d >= 1)))
      throw new ProactError(`threshold training: value '${name}' crosses the cut with type ${t?.dtype} [${t?.dims}]; expected float32 [batch, known dims]`);
    return { name, sampleDims, sampleSize: numel(sampleDims) };
  });

  const suffix = suffixGraph(withLoss, front, cut, image);
  const gradient = buildGradientGraph(suffix, { loss, wrt: params.map((p) => p.name) });
  pruneUnusedInputs(gradient);

  const forward = suffix.clone();
  for (const p of params) {
    forward.initializers.delete(p.name);
    forward.inputs.push({ name: p.name, dtype: 'float32', dims: [...p.dims] });
  }
  forward.outputs = [{ name: logits, dtype: 'float32', dims: types.get(logits)?.dims ?? [-1, -1] }];
  removeDeadNodes(forward);
  pruneUnusedInputs(forward);

  const cachedFromPrefix = cut.filter((c) => c.name !== image);
  let prefix: Graph | undefined;
  if (cachedFromPrefix.length) {
    prefix = clipped.clone();
    prefix.outputs = cachedFromPrefix.map((c) => ({ name: c.name, dtype: 'float32', dims: [-1, ...c.sampleDims] }));
    removeDeadNodes(prefix);
  }
  const bytesPerImage = cut.reduce((s, c) => s + 4 * c.sampleSize, 0);
  return { gradient, forward, prefix, cut, image, labels, teacher, loss, logits, params, bytesPerImage };
}

/** Appends the weighted loss (terms with weight 0 are left out); returns its name and the inputs it added. */
function addThresholdLoss(g: Graph, logits: string, thresholdNames: string[], w: LossWeights): { loss: string; labels: string; teacher: string | undefined } {
  for (const [key, v] of Object.entries(w)) checkNumber(v, 0, `loss weight ${key}`);
  const terms: [string, number][] = [];
  const labels = g.uniqueName('proact.labels');
  if (w.crossEntropy > 0) terms.push([addSoftmaxCrossEntropy(g, logits, labels), w.crossEntropy]);
  let teacher: string | undefined;
  if (w.distillation > 0) {
    teacher = g.uniqueName('proact.teacher_probs');
    terms.push([addDistillation(g, logits, teacher), w.distillation]);
  }
  if (w.l2 > 0) terms.push([addL2(g, thresholdNames, 1), w.l2]);
  if (terms.length === 0 || (w.crossEntropy === 0 && w.distillation === 0))
    throw new ProactError('threshold training: the loss needs a cross-entropy or distillation term with a weight > 0');
  if (w.crossEntropy === 0) {
    // Keep the labels input (batches always carry labels) by declaring it; it is pruned if unused.
    g.inputs.push({ name: labels, dtype: 'int64', dims: [-1] });
  }
  return { loss: addWeightedSum(g, terms), labels, teacher };
}

/** Nodes that depend on the image, on no trainable threshold, and produce only batched values. */
function prefixNodes(g: Graph, image: string, trainable: ReadonlySet<string>, types: Map<string, { dims: number[] }>): Set<Node> {
  const fromImage = new Set([image]);
  const fromTrainable = new Set(trainable);
  const front = new Set<Node>();
  for (const n of g.nodes) {
    const readsImage = n.inputs.some((i) => fromImage.has(i));
    const readsTrainable = n.inputs.some((i) => fromTrainable.has(i));
    for (const o of n.outputs) {
      if (readsImage) fromImage.add(o);
      if (readsTrainable) fromTrainable.add(o);
    }
    const batched = n.outputs.every((o) => !o || types.get(o)?.dims[0] === -1);
    if (readsImage && !readsTrainable && batched) front.add(n);
  }
  return front;
}

/** Values produced by the front (or the image itself) that the rest of the graph needs to compute `targets`. */
function cutValues(g: Graph, front: ReadonlySet<Node>, image: string, targets: readonly string[]): string[] {
  const producedByFront = new Set<string>([image]);
  for (const n of front) for (const o of n.outputs) if (o) producedByFront.add(o);
  const needed = new Set(targets);
  const cut: string[] = [];
  const addCut = (name: string) => {
    if (!cut.includes(name)) cut.push(name);
  };
  for (const t of targets) if (producedByFront.has(t)) addCut(t);
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k]!;
    if (front.has(n) || !n.outputs.some((o) => needed.has(o))) continue;
    for (const i of n.inputs) {
      if (!i) continue;
      if (producedByFront.has(i)) addCut(i);
      else needed.add(i);
    }
  }
  return cut;
}

/** The graph without the front, reading the cut values as inputs. */
function suffixGraph(g: Graph, front: ReadonlySet<Node>, cut: readonly CutValue[], image: string): Graph {
  const frontNames = new Set([...front].map((n) => n.name));
  const s = g.clone();
  s.nodes = s.nodes.filter((n) => !frontNames.has(n.name));
  const cutInputs: ValueInfo[] = cut.filter((c) => c.name !== image).map((c) => ({ name: c.name, dtype: 'float32', dims: [-1, ...c.sampleDims] }));
  s.inputs = [...s.inputs, ...cutInputs];
  return s;
}

/** Drops graph inputs that no node reads and no output names (onnxruntime would demand feeds for them). */
function pruneUnusedInputs(g: Graph): void {
  const used = new Set<string>(g.outputs.map((o) => o.name));
  for (const n of g.nodes) for (const i of n.inputs) if (i) used.add(i);
  g.inputs = g.inputs.filter((v) => used.has(v.name));
}

// ---------------------------------------------------------------------------------------------------
// Data: image subsets, teacher probabilities, cached cut values

/** `n` records of `ds` chosen by a seeded shuffle (all when it has fewer), sorted for sequential reads. */
export function seededSubset(ds: Dataset, n: number, seed: number, label: string): Dataset {
  if (n >= ds.count) return ds;
  const chosen = seededPermutation(ds.count, deriveSeed(seed, label) % 2 ** 31).slice(0, n).sort();
  return subset(ds, chosen, `${ds.name}[${label} ${n}, seed ${seed}]`);
}

/** Per-image cached inputs of a suffix: the cut values, labels and (optionally) teacher probabilities. */
export interface ActivationCache {
  count: number;
  /** Cached cut values, one Float32Array of count * sampleSize each, in `problem.cut` order. */
  values: Float32Array[];
  labels: BigInt64Array;
  /** count * classes softmax probabilities of the teacher, when distilling. */
  teacher?: Float32Array;
}

export interface RunOptions {
  threads: number;
  batchSize: number;
}

/** Softmax probabilities of the unclipped `graph` (the teacher) on every record of `ds`, computed once. */
export async function teacherProbabilities(graph: Graph, ds: Dataset, o: RunOptions): Promise<Float32Array> {
  const { input, logits } = classifierIO(graph);
  const session = await Session.create(graph, { threads: o.threads });
  const [c, h, w] = ds.shape;
  let probs: Float32Array | undefined;
  try {
    for (let start = 0; start < ds.count; start += o.batchSize) {
      const batch = ds.read(start, Math.min(o.batchSize, ds.count - start));
      const out = (await session.run({ [input]: { data: batch.x, dims: [batch.size, c, h, w] } }, [logits]))[logits]!;
      const classes = out.data.length / batch.size;
      probs ??= new Float32Array(ds.count * classes);
      for (let i = 0; i < batch.size; i++) softmaxInto(out.data, i * classes, classes, probs, (start + i) * classes);
    }
  } finally {
    await session.release();
  }
  return probs ?? new Float32Array(0);
}

function softmaxInto(logits: Float32Array, from: number, n: number, out: Float32Array, to: number): void {
  let max = -Infinity;
  for (let k = 0; k < n; k++) max = Math.max(max, logits[from + k]!);
  let sum = 0;
  for (let k = 0; k < n; k++) sum += Math.exp(logits[from + k]! - max);
  for (let k = 0; k < n; k++) out[to + k] = Math.exp(logits[from + k]! - max) / sum;
}

/**
 * Evaluates the problem's prefix once on every record of `ds` and keeps the cut values (or the images
 * themselves when the cut is the image), with the labels. Returns the cache.
 */
export async function cacheCutValues(problem: ThresholdProblem, ds: Dataset, o: RunOptions): Promise<ActivationCache> {
  const count = ds.count;
  const values = problem.cut.map((c) => new Float32Array(count * c.sampleSize));
  const labels = new BigInt64Array(count);
  const session = problem.prefix ? await Session.create(problem.prefix, { threads: o.threads }) : undefined;
  const fromPrefix = problem.cut.map((c) => c.name).filter((n) => n !== problem.image);
  const [c, h, w] = ds.shape;
  try {
    for (let start = 0; start < count; start += o.batchSize) {
      const batch = ds.read(start, Math.min(o.batchSize, count - start));
      for (let i = 0; i < batch.size; i++) labels[start + i] = BigInt(batch.labels[i]!);
      const out = session ? await session.run({ [problem.image]: { data: batch.x, dims: [batch.size, c, h, w] } }, fromPrefix) : {};
      problem.cut.forEach((cv, k) => {
        const data = cv.name === problem.image ? batch.x : out[cv.name]!.data;
        values[k]!.set(data.subarray(0, batch.size * cv.sampleSize), start * cv.sampleSize);
      });
    }
  } finally {
    await session?.release();
  }
  return { count, values, labels };
}

// ---------------------------------------------------------------------------------------------------
// Sessions over a problem: one gradient step, accuracy

export interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
}

/** onnxruntime sessions for one problem, reused across epochs and trials. */
export class ThresholdTrainer {
  private forwardSession: Session | undefined;
  private readonly buffers = new Map<string, Float32Array>();

  /** Whether the gradient graph reads the labels (not when the loss has no cross-entropy term). */
  private readonly feedsLabels: boolean;

  private constructor(
    readonly problem: ThresholdProblem,
    private readonly gradientSession: Session,
    private readonly threads: number,
  ) {
    this.feedsLabels = problem.gradient.inputs.some((v) => v.name === problem.labels);
  }

  static async create(problem: ThresholdProblem, threads: number): Promise<ThresholdTrainer> {
    return new ThresholdTrainer(problem, await Session.create(problem.gradient, { threads }), threads);
  }

  /** Loss and threshold gradients on the cached images at `indices`, with thresholds `params`. */
  async step(cache: ActivationCache, indices: ArrayLike<number>, params: ReadonlyMap<string, Float32Array>): Promise<StepResult> {
    const p = this.problem;
    const feeds = this.cutFeeds(cache, indices, 'step');
    const n = indices.length;
    if (this.feedsLabels) {
      const labels = new BigInt64Array(n);
      for (let i = 0; i < n; i++) labels[i] = cache.labels[indices[i]!]!;
      feeds[p.labels] = { data: labels, dims: [n] };
    }
    if (p.teacher) {
      if (!cache.teacher) throw new ProactBug('ThresholdTrainer.step: the problem distils but the cache holds no teacher probabilities');
      const classes = cache.teacher.length / cache.count;
      const t = new Float32Array(n * classes);
      for (let i = 0; i < n; i++) t.set(cache.teacher.subarray(indices[i]! * classes, (indices[i]! + 1) * classes), i * classes);
      feeds[p.teacher] = { data: t, dims: [n, classes] };
    }
    for (const q of p.params) feeds[q.name] = { data: params.get(q.name)!, dims: q.dims };
    const outputs = [p.loss, ...p.params.map((q) => gradName(q.name))];
    const out = await this.gradientSession.run(feeds, outputs);
    const grads = new Map(p.params.map((q) => [q.name, out[gradName(q.name)]!.data] as const));
    return { loss: out[p.loss]!.data[0]!, grads };
  }

  /** Top-1 accuracy on every cached image with thresholds `params` (non-finite logits count as wrong). */
  async accuracy(cache: ActivationCache, params: ReadonlyMap<string, Float32Array>, batchSize: number): Promise<number> {
    this.forwardSession ??= await Session.create(this.problem.forward, { threads: this.threads });
    let correct = 0;
    for (let start = 0; start < cache.count; start += batchSize) {
      const n = Math.min(batchSize, cache.count - start);
      const indices = Int32Array.from({ length: n }, (_, i) => start + i);
      const feeds = this.cutFeeds(cache, indices, 'eval');
      for (const q of this.problem.params) feeds[q.name] = { data: params.get(q.name)!, dims: q.dims };
      const logits = (await this.forwardSession.run(feeds, [this.problem.logits]))[this.problem.logits]!.data;
      correct += countCorrect(logits, cache.labels, start, n);
    }
    return cache.count ? correct / cache.count : NaN;
  }

  /** The cut values of the images at `indices`, gathered into reusable batch buffers. */
  private cutFeeds(cache: ActivationCache, indices: ArrayLike<number>, purpose: string): Feeds {
    const feeds: Feeds = {};
    const n = indices.length;
    this.problem.cut.forEach((c, k) => {
      const key = `${purpose}:${c.name}:${n}`;
      let buf = this.buffers.get(key);
      if (!buf) {
        buf = new Float32Array(n * c.sampleSize);
        this.buffers.set(key, buf);
      }
      const src = cache.values[k]!;
      const s = c.sampleSize;
      for (let i = 0; i < n; i++) buf.set(src.subarray(indices[i]! * s, (indices[i]! + 1) * s), i * s);
      feeds[c.name] = { data: buf, dims: [n, ...c.sampleDims] };
    });
    return feeds;
  }

  async release(): Promise<void> {
    await this.gradientSession.release();
    await this.forwardSession?.release();
  }
}

function countCorrect(logits: Float32Array, labels: BigInt64Array, start: number, n: number): number {
  const classes = logits.length / n;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let finite = true;
    for (let k = 0; k < classes; k++) {
      const v = logits[i * classes + k]!;
      if (!Number.isFinite(v)) finite = false;
      if (v > logits[i * classes + best]!) best = k;
    }
    if (finite && BigInt(best) === labels[start + i]) correct++;
  }
  return correct;
}

// ---------------------------------------------------------------------------------------------------
// The epoch loop

export interface EpochLoop {
  trainer: ThresholdTrainer;
  cache: ActivationCache;
  /** Trainable thresholds by initializer name, updated in place. */
  params: Map<string, Float32Array>;
  optimizer: Optimizer;
  schedule: Schedule;
  batchSize: number;
  /** Total epochs of the phase (warm-up included). */
  epochs: number;
  /** Seed of the epoch shuffles; epoch e draws its order from deriveSeed(seed, `epoch <e>`). */
  seed: number;
  onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  /** Called after each epoch (1-based), e.g. to checkpoint; returning 'stop' ends the phase there. */
  onEpoch?: (epoch: number) => void | 'stop' | Promise<void | 'stop'>;
  signal?: AbortSignal;
  /** What to say when interrupted. */
  interruptMessage: string;
}

/** Steps per epoch for `count` images at `batchSize` (the last batch may be smaller). */
export function stepsPerEpoch(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

export interface EpochsDone {
  /** Images through the network (one per image per step). */
  images: number;
  /** The last epoch run (1-based); below `loop.epochs` when `onEpoch` stopped the phase. */
  lastEpoch: number;
}

/**
 * Runs epochs `firstEpoch` .. `loop.epochs - 1` (0-based) of mini-batch training. Each epoch's order
 * depends only on the seed and the epoch number, so a run resumed at an epoch boundary (with the
 * optimiser state restored) continues exactly as the uninterrupted run.
 */
export async function runEpochs(loop: EpochLoop, firstEpoch = 0): Promise<EpochsDone> {
  const perEpoch = stepsPerEpoch(loop.cache.count, loop.batchSize);
  const total = perEpoch * loop.epochs;
  let images = 0;
  for (let epoch = firstEpoch; epoch < loop.epochs; epoch++) {
    const order = Rng.fromSeed(deriveSeed(loop.seed, `epoch ${epoch}`)).permutation(loop.cache.count);
    for (let s = 0; s < perEpoch; s++) {
      if (loop.signal?.aborted) throw new ProactError(loop.interruptMessage);
      const indices = order.subarray(s * loop.batchSize, Math.min((s + 1) * loop.batchSize, order.length));
      const { loss, grads } = await loop.trainer.step(loop.cache, indices, loop.params);
      if (!Number.isFinite(loss))
        throw new ProactError(`threshold training diverged: the loss is ${loss} at epoch ${epoch + 1}; lower the learning rate`);
      const step = epoch * perEpoch + s;
      loop.optimizer.step(loop.params, grads, loop.schedule.at(step));
      clampNonNegative(loop.params);
      images += indices.length;
      loop.onStep?.(epoch + 1, step + 1, total, loss);
    }
    if ((await loop.onEpoch?.(epoch + 1)) === 'stop') return { images, lastEpoch: epoch + 1 };
  }
  return { images, lastEpoch: loop.epochs };
}

/** A threshold below 0 would clip every activation; keep thresholds >= 0 (a projection after each step). */
function clampNonNegative(params: Map<string, Float32Array>): void {
  for (const p of params.values()) for (let i = 0; i < p.length; i++) if (!(p[i]! >= 0)) p[i] = 0;
}

// ---------------------------------------------------------------------------------------------------
// Resumable runs: a JSON checkpoint written atomically

/** What a method saves to resume: its configuration (checked on resume), scalar state and float arrays. */
export interface RunCheckpoint {
  method: string;
  config: Record<string, unknown>;
  state: Record<string, unknown>;
  arrays: Map<string, Float32Array>;
}

interface CheckpointFile {
  format: 'proact-threshold-checkpoint';
  version: 1;
  method: string;
  config: Record<string, unknown>;
  state: Record<string, unknown>;
  arrays: Record<string, string>;
}

/** Writes `ck` to `path` atomically: a temporary file in the same folder, flushed, then renamed over it. */
export function saveRunCheckpoint(path: string, ck: RunCheckpoint): void {
  const file: CheckpointFile = {
    format: 'proact-threshold-checkpoint',
    version: 1,
    method: ck.method,
    config: ck.config,
    state: ck.state,
    arrays: Object.fromEntries([...ck.arrays].map(([k, a]) => [k, Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')])),
  };
  writeFileAtomic(path, [JSON.stringify(file)], 'the checkpoint');
}

/**
 * The checkpoint at `path` for `method` with configuration `config`, or undefined when there is no
 * file. A file for another method or configuration is refused with a message naming the difference.
 */
export function loadRunCheckpoint(path: string, method: string, config: Record<string, unknown>): RunCheckpoint | undefined {
  if (!existsSync(path)) return undefined;
  const bad = (why: string) => new ProactError(`${path}: not a usable ${method} checkpoint (${why}); delete it or give another checkpoint path`);
  let file: CheckpointFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as CheckpointFile;
  } catch {
    throw bad('not JSON');
  }
  if (!file || file.format !== 'proact-threshold-checkpoint' || file.version !== 1) throw bad('unknown format');
  if (file.method !== method) throw bad(`it was written by ${String(file.method)}`);
  if (!file.config || typeof file.config !== 'object' || !file.state || typeof file.state !== 'object' || !file.arrays) throw bad('fields missing');
  for (const key of new Set([...Object.keys(config), ...Object.keys(file.config)])) {
    if (JSON.stringify(file.config[key]) !== JSON.stringify(config[key]))
      throw new ProactError(
        `${path}: the checkpoint was made with ${key} = ${JSON.stringify(file.config[key])}, this run has ${JSON.stringify(config[key])}; resume with the same settings, or delete the checkpoint to start again`,
      );
  }
  const arrays = new Map<string, Float32Array>();
  for (const [k, s] of Object.entries(file.arrays)) {
    const bytes = Buffer.from(s, 'base64');
    if (bytes.length % 4) throw bad(`array '${k}' is cut short`);
    const a = new Float32Array(bytes.length / 4);
    new Uint8Array(a.buffer).set(bytes);
    arrays.set(k, a);
  }
  return { method, config: file.config, state: file.state, arrays };
}

/** Optimiser state as checkpoint arrays (`opt:<buffer>`) plus its step count. */
export function optimizerToCheckpoint(state: OptimizerState, arrays: Map<string, Float32Array>): number {
  for (const [k, b] of state.buffers) arrays.set(`opt:${k}`, b);
  return state.step;
}

export function optimizerFromCheckpoint(ck: RunCheckpoint, kind: OptimizerState['kind'], step: number): OptimizerState {
  const buffers = new Map<string, Float32Array>();
  for (const [k, a] of ck.arrays) if (k.startsWith('opt:')) buffers.set(k.slice(4), a);
  return { kind, step, buffers };
}

/** Threshold values as checkpoint arrays (`T:<layer>`). */
export function thresholdsToArrays(thresholds: readonly LayerThresholds[], arrays: Map<string, Float32Array>): void {
  for (const t of thresholds) arrays.set(`T:${t.layer}`, t.values);
}

/** Restores threshold values from a checkpoint into `thresholds` (in place), checking sizes. */
export function thresholdsFromArrays(path: string, ck: RunCheckpoint, thresholds: LayerThresholds[]): void {
  for (const t of thresholds) {
    const a = ck.arrays.get(`T:${t.layer}`);
    if (!a || a.length !== t.values.length)
      throw new ProactError(`${path}: the thresholds of layer ${t.layer} are missing or of the wrong size; delete the checkpoint to start again`);
    t.values = a.slice();
  }
}

/** A short fingerprint of the model (activation layers and their dims), stored in checkpoints. */
export function modelFingerprint(thresholds: readonly LayerThresholds[]): string {
  return thresholds.map((t) => `${t.node}[${t.dims.join('x')}]`).join(' ');
}
