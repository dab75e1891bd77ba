/**
 * Finite-difference checks of gradient graphs (test-only). The forward graph runs in onnxruntime in
 * float32; the loss is sum(R * y) with fixed random weights R, summed in float64 in TypeScript, so its
 * only noise is the float32 rounding of y. Each wrt tensor is perturbed along random directions v:
 * with p+ = f32(theta + eps v) and p- = f32(theta - eps v) (the perturbation actually fed, after
 * rounding), central differences give L(p+) - L(p-), compared with <grad, p+ - p-> in float64.
 * With `kinkAware`, directions whose perturbation changes the piecewise region (a comparison or a max-pool argmax in
 * the gradient graph) are retried with smaller steps or replaced, since no step size makes central
 * differences valid across a kink.
 * The relative error is taken against max(|fd|, |an|, 0.1 sqrt(sum_i (grad_i d_i)^2)), d = p+ - p-:
 * the last term is the size <grad, d> has when its terms do not cancel, so the floor only matters
 * when a random projection happens to cancel.
 * FD_VERBOSE=1 prints each check's worst error, FD_VERBOSE=2 every direction.
 */
import { Graph, f32, inferShapes, numel, tensor, type Tensor } from '../../src/graph/index.js';
import { buildGradientGraph, gradName } from '../../src/autodiff/index.js';
import { Session, type Feeds } from '../../src/runtime/index.js';
import { mulberry32 as rng } from '../../src/data/index.js';
export { rng };


export function normals(rand: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** n values uniform in [lo, hi), at least `gap` away from every point in `avoid` (kinks such as 0 or T). */
export function uniform(rand: () => number, n: number, lo: number, hi: number, avoid: number[] = [], gap = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = lo + (hi - lo) * rand();
    while (avoid.some((a) => Math.abs(v - a) < gap));
    out[i] = v;
  }
  return out;
}

const COMPARISONS = new Set(['Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Equal']);

export interface TensorSpec {
  dims: number[];
  data: Float32Array | BigInt64Array;
  /** Stored as an initializer instead of a graph input. */
  init?: boolean;
}

/** A one-node graph `op(inputs)` with output `y`; inputs are graph inputs or initializers by spec. */
export function opGraph(op: string, inputs: Record<string, TensorSpec | ''>, attrs: Graph['nodes'][number]['attrs'] = {}, opset = 13): Graph {
  const g = new Graph();
  g.opset = opset;
  for (const [name, spec] of Object.entries(inputs)) {
    if (!spec) continue;
    const dtype = spec.data instanceof BigInt64Array ? 'int64' : 'float32';
    if (spec.init) g.initializers.set(name, tensor(dtype, spec.dims, spec.data));
    else g.inputs.push({ name, dtype, dims: spec.dims });
  }
  g.add(op, Object.entries(inputs).map(([name, spec]) => (spec ? name : '')), attrs, { outputs: ['y'] });
  const t = inferShapes(g).get('y')!;
  g.outputs = [{ name: 'y', dtype: t.dtype, dims: t.dims }];
  return g;
}

export interface CheckOptions {
  /** Values of the graph's data inputs (initializers come from the graph). */
  feeds: Record<string, TensorSpec>;
  wrt: string[];
  /** Step size: one for all, or per wrt name (default 1e-3). */
  eps?: number | Record<string, number>;
  directions?: number;
  seed?: number;
  /**
   * Skip directions that cross a kink (see the file comment). For composite graphs; single-op checks
   * place their inputs away from kinks instead (a Relu mask can also flip where onnxruntime's Sigmoid
   * rounds a tiny gate to exactly 0, which is harmless but would shrink the steps needlessly).
   */
  kinkAware?: boolean;
  /** Perturb only this many randomly chosen entries per direction (default: all). */
  sparse?: number;
  /** Concrete dims of a dynamic-batch output (the weights R get these dims; the graph stays dynamic). */
  outputDims?: number[];
}

export interface CheckResult {
  worst: number;
  /** Per wrt: the analytic gradient. */
  grads: Record<string, Float32Array>;
  details: string[];
}

export async function checkGradients(g: Graph, opts: CheckOptions): Promise<CheckResult> {
  const rand = rng(opts.seed ?? 1234);
  const lossGraph = g.clone();
  const y = g.outputs[0]!.name;
  const yDims = opts.outputDims ?? inferShapes(g).get(y)!.dims;
  let weights: Float32Array | undefined;
  let loss = y;
  if (numel(yDims) !== 1 || yDims.includes(-1)) {
    if (yDims.includes(-1)) throw new Error('checkGradients: a dynamic output needs outputDims');
    weights = Float32Array.from(normals(rand, numel(yDims)));
    const r = lossGraph.addConstant('fd.weights', f32(yDims, weights));
    const [prod] = lossGraph.add('Mul', [y, r]);
    [loss] = lossGraph.add('ReduceSum', [prod!], { keepdims: { type: 'int', value: 0 } });
  }
  const gg = buildGradientGraph(lossGraph, { loss: loss!, wrt: opts.wrt, extraOutputs: weights ? [y] : [] });
  // The piecewise region of the point: every comparison (Relu masks, Where conditions, clips) and
  // every MaxPool argmax. A perturbation that changes any of them crossed a kink, where central
  // differences mean nothing: it is retried with a smaller step, then with another direction.
  // (Flattened to 1-D outputs, because shapes in a gradient graph with a dynamic batch are not inferable.)
  const flatShape = gg.addConstant('fd.flat', tensor('int64', [1], [-1]));
  const region = (opts.kinkAware ? gg.nodes : [])
    .flatMap((n): [string, 'bool' | 'int64'][] => (COMPARISONS.has(n.op) ? [[n.outputs[0]!, 'bool']] : n.op === 'MaxPool' && n.outputs[1] ? [[n.outputs[1], 'int64']] : []))
    .map(([name, dtype], k) => {
      const [flat] = gg.add('Reshape', [name, flatShape], {}, { outputs: [`fd.region${k}`] });
      gg.outputs.push({ name: flat!, dtype, dims: [-1], dimNames: [`region${k}`] });
      return flat!;
    });
  const session = await Session.create(gg, { threads: 1 });
  const base: Feeds = {};
  for (const [name, spec] of Object.entries(opts.feeds)) base[name] = { data: spec.data, dims: spec.dims };
  for (const w of opts.wrt) {
    const t: Tensor | undefined = g.initializers.get(w);
    if (t) base[w] = { data: t.data as Float32Array, dims: t.dims };
  }
  const evaluate = async (feeds: Feeds): Promise<{ loss: number; region: ArrayLike<unknown>[] }> => {
    const out = await session.run(feeds, [weights ? y : loss!, ...region]);
    const regionValues = region.map((name) => out[name]!.data as ArrayLike<unknown>);
    if (!weights) return { loss: out[loss!]!.data[0]!, region: regionValues };
    const yv = out[y]!.data;
    let s = 0;
    for (let i = 0; i < yv.length; i++) s += weights[i]! * yv[i]!;
    return { loss: s, region: regionValues };
  };
  const sameRegion = (a: ArrayLike<unknown>[], b: ArrayLike<unknown>[]) => a.every((va, k) => Array.prototype.every.call(va, (v: unknown, i: number) => v === b[k]![i]));
  const out = await session.run(base);
  const result: CheckResult = { worst: 0, grads: {}, details: [] };
  for (const w of opts.wrt) {
    const grad = out[gradName(w)]!.data;
    result.grads[w] = grad;
    const theta = base[w]!.data as Float32Array;
    const n = theta.length;
    const eps = typeof opts.eps === 'number' ? opts.eps : (opts.eps?.[w] ?? 1e-3);
    let valid = 0;
    for (let attempt = 0; valid < (opts.directions ?? 3) && attempt < 20; attempt++) {
      const v = normals(rand, n);
      if (opts.sparse !== undefined && opts.sparse < n) {
        const keep = new Set<number>();
        while (keep.size < opts.sparse) keep.add(Math.floor(rand() * n));
        for (let i = 0; i < n; i++) if (!keep.has(i)) v[i] = 0;
      }
      for (let step = eps; step >= eps / 16; step /= 2) {
        const plus = new Float32Array(n), minus = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          plus[i] = theta[i]! + step * v[i]!;
          minus[i] = theta[i]! - step * v[i]!;
        }
        const p = await evaluate({ ...base, [w]: { data: plus, dims: base[w]!.dims } });
        const m = await evaluate({ ...base, [w]: { data: minus, dims: base[w]!.dims } });
        if (!sameRegion(p.region, m.region)) continue;
        const fd = p.loss - m.loss;
        let an = 0, spread = 0;
        for (let i = 0; i < n; i++) {
          const d = plus[i]! - minus[i]!;
          an += grad[i]! * d;
          spread += (grad[i]! * d) ** 2;
        }
        const scale = Math.max(Math.abs(fd), Math.abs(an), 0.1 * Math.sqrt(spread));
        const err = scale === 0 ? 0 : Math.abs(fd - an) / scale;
        result.details.push(`${w}[${valid}] eps ${step.toExponential(1)}: fd ${fd.toExponential(4)} analytic ${an.toExponential(4)} rel ${err.toExponential(2)}`);
        result.worst = Math.max(result.worst, err);
        valid++;
        break;
      }
    }
    if (valid < (opts.directions ?? 3)) {
      result.details.push(`${w}: only ${valid} directions avoided every kink`);
      result.worst = Infinity;
    }
  }
  await session.release();
  if (process.env.FD_VERBOSE) console.log(`worst ${result.worst.toExponential(2)}` + (process.env.FD_VERBOSE === '2' ? '\n' + result.details.join('\n') : ''));
  return result;
}
