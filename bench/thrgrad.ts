/**
 * One threshold-training step on resnet20.onnx, as `torch_ref.py thrgrad` does it: every Relu replaced
 * by the plain smooth-zero clip with one scalar threshold (T = 6), mean cross-entropy over a batch of
 * 128 training images, the gradient w.r.t. the 19 thresholds only, and an Adam update (lr 1e-2) of the
 * 19 floats in TypeScript. Reports the median seconds per step (the first step, which pays for
 * onnxruntime's first-run allocations, is excluded), and when asked for torch_ref's figure with
 * OMP_NUM_THREADS=1 and 2, run after each of the `runs` blocks of steps so both see the same load.
 *
 * Speed comes from the gradient graph, not from the step loop: only nodes between a threshold and the
 * loss get backward nodes, and of those only the input gradients (ConvTranspose for each conv after
 * the first activation, masks for the activations), never a weight gradient; the weights stay
 * constant initializers that onnxruntime pre-packs.
 */
import { readFileSync } from 'node:fs';
import { activationLayers, prepareGraph, readOnnxFile, scalarF32 } from '../src/graph/index.js';
import { hardenGraph } from '../src/harden/activations.js';
import { addSoftmaxCrossEntropy, buildGradientGraph, gradName } from '../src/autodiff/index.js';
import { Session, type Feeds } from '../src/runtime/index.js';
import { median, requireShared, runTorchRef, TORCH_THREADS } from './common.js';

export interface ThrgradOptions {
  /** Timed steps after the warm-up step (default 10). */
  steps?: number;
  /** Images per step (default 128). */
  batch?: number;
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Also run torch_ref.py thrgrad (steps + 1 steps, 1 and 2 threads) after each run and report the ratios. */
  torch?: boolean;
  /** Repetitions for the `npm run bench` driver: each adds `steps` timed steps (and reference runs). */
  runs?: number;
}

// A type alias (not an interface) so that it is assignable to bench/main.ts's Record<string, unknown>.
export type ThrgradResult = {
  bench: 'thrgrad';
  model: string;
  batch: number;
  threads: number;
  steps: number;
  /** Median over the timed steps: feed, forward + backward in onnxruntime, Adam update. */
  secondsPerStep: number;
  /** Seconds to build the gradient graph and create the session (once per training run). */
  setupSeconds: number;
  forwardNodes: number;
  gradientGraphNodes: number;
  /** Loss of the first and of the last step (different batches: a check that the values are plausible). */
  firstLoss: number;
  lastLoss: number;
  runs: number;
  torchVersion?: string;
  /** Per reference thread count: the median over runs of its seconds per step, and proact's speed-up. */
  torch?: { threads: number; secondsPerStep: number; all: number[]; ratio: number }[];
};

/** Minimal Adam (PyTorch's defaults: betas 0.9/0.999, eps 1e-8) over small Float32Arrays. */
class Adam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;
  constructor(private readonly params: Float32Array[], private readonly lr: number) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }
  step(grads: Float32Array[]): void {
    this.t++;
    const c1 = 1 - 0.9 ** this.t, c2 = 1 - 0.999 ** this.t;
    this.params.forEach((p, k) => {
      const g = grads[k]!, m = this.m[k]!, v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
        p[i] = p[i]! - (this.lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
      }
    });
  }
}

/** The first n records of a CIFAR-10 binary file as float32 NCHW in [0, 1] and int64 labels. */
function readRecords(path: string, n: number): { x: Float32Array; labels: BigInt64Array } {
  const buf = readFileSync(path);
  const x = new Float32Array(n * 3072);
  const labels = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = BigInt(buf[i * 3073]!);
    for (let k = 0; k < 3072; k++) x[i * 3072 + k] = buf[i * 3073 + 1 + k]! / 255;
  }
  return { x, labels };
}

export async function benchThrgrad(opts: ThrgradOptions = {}): Promise<ThrgradResult> {
  const runs = opts.runs ?? 1;
  const stepsPerRun = opts.steps ?? 10;
  const steps = stepsPerRun * runs;
  const batch = opts.batch ?? 128;
  const threads = opts.threads ?? 2;
  const modelPath = requireShared('models/resnet20.onnx');
  const data = readRecords(requireShared('data/cifar10-jpeg75/data_batch_1.bin'), Math.min(10000, (steps + 1) * batch));

  const t0 = performance.now();
  const g = prepareGraph(readOnnxFile(modelPath));
  const forwardNodes = g.nodes.length;
  const layers = activationLayers(g);
  const names = layers.map((_, i) => `threshold${i}`);
  hardenGraph(g, layers.map((l, i) => ({ node: l.node, kind: 'smooth-zero' as const, threshold: scalarF32(6), thresholdName: names[i]! })));
  const loss = addSoftmaxCrossEntropy(g, g.outputs[0]!.name, 'labels');
  const gg = buildGradientGraph(g, { loss, wrt: names });
  const session = await Session.create(gg, { threads });
  const setupSeconds = (performance.now() - t0) / 1000;

  const thresholds = names.map(() => Float32Array.of(6));
  const adam = new Adam(thresholds, 1e-2);
  const input = g.dataInputs().find((v) => v.name !== 'labels')!.name;
  const fullBatches = Math.floor(data.labels.length / batch);
  const times: number[] = [];
  let firstLoss = NaN, lastLoss = NaN;
  const ref = new Map<number, number[]>(TORCH_THREADS.map((t) => [t, []]));
  let torchVersion: string | undefined;
  for (let k = 0; k <= steps; k++) {
    const start = (k % fullBatches) * batch;
    const t = performance.now();
    const feeds: Feeds = {
      [input]: { data: data.x.subarray(start * 3072, (start + batch) * 3072), dims: [batch, 3, 32, 32] },
      labels: { data: data.labels.subarray(start, start + batch), dims: [batch] },
    };
    names.forEach((name, i) => (feeds[name] = { data: thresholds[i]!, dims: [] }));
    const out = await session.run(feeds);
    adam.step(names.map((name) => out[gradName(name)]!.data));
    if (k > 0) times.push((performance.now() - t) / 1000);
    lastLoss = out[loss]!.data[0]!;
    if (k === 0) firstLoss = lastLoss;
    if (opts.torch && k > 0 && k % stepsPerRun === 0) {
      for (const threads of TORCH_THREADS) {
        const r = runTorchRef('thrgrad', ['--model', modelPath, '--steps', String(stepsPerRun + 1), '--batch', String(batch)], threads);
        ref.get(threads)!.push(r.seconds_per_step as number);
        torchVersion = r.torch as string;
      }
    }
  }
  await session.release();

  const result: ThrgradResult = {
    bench: 'thrgrad',
    model: 'resnet20.onnx',
    batch,
    threads,
    steps,
    secondsPerStep: median(times),
    setupSeconds,
    forwardNodes,
    gradientGraphNodes: gg.nodes.length,
    firstLoss,
    lastLoss,
    runs,
  };
  if (opts.torch) {
    result.torchVersion = torchVersion;
    result.torch = TORCH_THREADS.map((threads) => {
      const all = ref.get(threads)!;
      return { threads, secondsPerStep: median(all), all, ratio: median(all) / result.secondsPerStep };
    });
  }
  return result;
}

// `node dist/bench/thrgrad.js [steps]`: a quick run without the PyTorch reference.
if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchThrgrad({ steps: Number(process.argv[2] ?? 5) });
  process.stdout.write(JSON.stringify(result) + '\n');
}
