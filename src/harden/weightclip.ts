/**
 * Weight-range clipping: every stored conv/linear weight and bias tensor is read through a clip to
 * its own clean range, so a bit flip that turns 0.0074 into 2.5e36 in memory gives the tensor's
 * largest clean value instead. Nothing else changes: activations stay as they are (or as another
 * method clipped them), and on clean weights the clip is the identity, so the hardened model
 * evaluates bit-identically to the unhardened one.
 *
 * The bounds are ordinary initializers named `proact.bound.<tensor>.min` / `.max` (WEIGHT_BOUND_PREFIX)
 * computed from the prepared graph, i.e. after BatchNorm folding (the values an accelerator stores).
 * A tensor-wise bound is a scalar pair read by a standard `Clip(W, min, max)`; a channel-wise bound
 * holds one pair per output channel, which ONNX Clip cannot take (its bounds are scalars), so it is
 * `Max(Min(W, max), min)` with broadcasting. Biases are always bounded tensor-wise: a per-channel range
 * of a bias is the bias itself.
 *
 * The bounds are stored values too: campaigns find them (surface kind `bound`) and hit them. A bound
 * flipped outwards switches the protection off for its tensor (or channel); one flipped inwards (an
 * upper bound whose sign or a set exponent bit flips) clamps every weight of its tensor (or channel).
 * That is why the default is tensor-wise: channel-wise bounds are tighter but 18x more values on
 * ResNet-20 (1,436 vs 80), hit 18x as often, and measured worse under faults (docs/hardening.md).
 */
import { ProactError } from '../util/errors.js';
import { WEIGHT_BOUND_PREFIX, attrInt, f32, isWeightBoundName, parameterLayers, type Graph, type Node } from '../graph/index.js';
import { graphAccuracy } from './accuracy.js';
import type { HardenData, HardenOutcome } from './types.js';

export const WEIGHT_CLIP_GRANULARITIES = ['tensor', 'channel'] as const;
export type WeightClipGranularity = (typeof WEIGHT_CLIP_GRANULARITIES)[number];

export interface WeightClipOptions {
  /** Weights: one range per tensor (default) or per output channel. Biases are always per tensor. */
  granularity?: WeightClipGranularity;
  /** Widens each range by margin x max(|min|, |max|) on both sides (default 0: the clean range exactly). */
  margin?: number;
}

/** The bounds of one stored tensor. */
export interface WeightBound {
  /** The stored weight or bias initializer. */
  tensor: string;
  kind: 'weight' | 'bias';
  granularity: WeightClipGranularity;
  /** Initializer names of the lower and upper bound. */
  min: string;
  max: string;
  /** Dims of each bound tensor: [] per tensor, 1 everywhere but the channel axis per channel. */
  dims: number[];
}

/** ONNX metadata key recording the weight clipping of a hardened model. */
export const WEIGHT_CLIP_METADATA = 'proact.weight-clip';

/**
 * The output-channel axis of a layer's weight: Conv [Cout, Cin/g, k...] 0; ConvTranspose
 * [Cin, Cout/g, k...] 1; Gemm 0 with transB (weight [N, K]) else 1; MatMul the last axis.
 */
export function outputChannelAxis(node: Node, rank: number): number {
  if (rank < 2) return 0;
  switch (node.op) {
    case 'ConvTranspose':
      return 1;
    case 'Gemm':
      return attrInt(node, 'transB', 0) === 1 ? 0 : 1;
    case 'MatMul':
      return rank - 1;
    default:
      return 0;
  }
}

/** Per-group [min, max] of `values` along `axis` of `dims` (one group for axis -1), widened by `margin`. */
function ranges(values: Float32Array, dims: readonly number[], axis: number, margin: number): { lo: Float32Array; hi: Float32Array } {
  const groups = axis < 0 ? 1 : dims[axis]!;
  const inner = axis < 0 ? values.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const lo = new Float32Array(groups).fill(Infinity);
  const hi = new Float32Array(groups).fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const c = axis < 0 ? 0 : Math.floor(i / inner) % groups;
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new ProactError(`weight clipping: a stored value of the model is ${v}; bounds come from clean finite weights, so check the model file`);
    if (v < lo[c]!) lo[c] = v;
    if (v > hi[c]!) hi[c] = v;
  }
  if (margin > 0) {
    for (let c = 0; c < groups; c++) {
      const widen = margin * Math.max(Math.abs(lo[c]!), Math.abs(hi[c]!));
      lo[c] = lo[c]! - widen;
      hi[c] = hi[c]! + widen;
    }
  }
  return { lo, hi };
}

/** `margin`, checked: a finite fraction >= 0. */
export function checkWeightMargin(margin: number): number {
  if (!(Number.isFinite(margin) && margin >= 0)) throw new ProactError(`--weight-margin ${margin}: expected a number >= 0 (a fraction of each range's largest magnitude, e.g. 0.1)`);
  return margin;
}

/**
 * A copy of `graph` (prepared: constants and BatchNorm folded) whose conv/linear weights and biases are
 * read through bounds at their clean ranges. A tensor read by several layers is bounded once.
 */
export function addWeightBounds(graph: Graph, opts: WeightClipOptions = {}): { graph: Graph; bounds: WeightBound[] } {
  const granularity = opts.granularity ?? 'tensor';
  if (!WEIGHT_CLIP_GRANULARITIES.includes(granularity)) throw new ProactError(`weight clipping: unknown granularity '${String(granularity)}'; use ${WEIGHT_CLIP_GRANULARITIES.join(' or ')}`);
  const margin = checkWeightMargin(opts.margin ?? 0);
  if ([...graph.initializers.keys()].some(isWeightBoundName)) throw new ProactError('weight clipping: the model already has weight bounds (proact.bound.*); harden the unbounded model');
  const g = graph.clone();
  const bounds: WeightBound[] = [];
  const clipped = new Map<string, string>();
  const bound = (node: Node, input: 1 | 2, kind: 'weight' | 'bias'): void => {
    const name = node.inputs[input]!;
    let out = clipped.get(name);
    if (out === undefined) {
      const t = g.initializers.get(name)!;
      if (t.dtype !== 'float32') throw new ProactError(`weight clipping: tensor '${name}' is ${t.dtype}; bounds (and fault injection) need float32 parameters in the ONNX file`);
      const perChannel = kind === 'weight' && granularity === 'channel' && t.dims.length >= 2;
      const axis = perChannel ? outputChannelAxis(node, t.dims.length) : -1;
      const { lo, hi } = ranges(t.data as Float32Array, t.dims, axis, margin);
      const dims = perChannel ? t.dims.map((d, k) => (k === axis ? d : 1)) : [];
      const min = g.addConstant(`${WEIGHT_BOUND_PREFIX}${name}.min`, f32(dims, lo));
      const max = g.addConstant(`${WEIGHT_BOUND_PREFIX}${name}.max`, f32(dims, hi));
      const base = `${name}/bound`;
      if (!perChannel && g.opset >= 11) out = g.add('Clip', [name, min, max], {}, { name: base })[0]!;
      else {
        const [upper] = g.add('Min', [name, max], {}, { name: `${base}_max` });
        out = g.add('Max', [upper!, min], {}, { name: `${base}_min` })[0]!;
      }
      clipped.set(name, out);
      bounds.push({ tensor: name, kind, granularity: perChannel ? 'channel' : 'tensor', min, max, dims });
    }
    node.inputs[input] = out;
  };
  const layers = parameterLayers(g);
  if (layers.length === 0) throw new ProactError('weight clipping: the model has no conv/linear layer with stored weights to bound');
  for (const l of layers) {
    bound(l.node, 1, 'weight');
    if (l.bias) bound(l.node, 2, 'bias');
  }
  g.topoSort();
  const values = bounds.reduce((s, b) => s + 2 * b.dims.reduce((a, d) => a * d, 1), 0);
  g.metadata[WEIGHT_CLIP_METADATA] = JSON.stringify({ granularity, margin, tensors: bounds.length, values });
  return { graph: g, bounds };
}

/** `proact harden --method weight-clip`: weight bounds only (no profiling, no training). */
export async function hardenWeightClip(graph: Graph, data: HardenData, opts: WeightClipOptions & { threads?: number; batchSize?: number } = {}): Promise<HardenOutcome> {
  const t0 = performance.now();
  const { graph: hardened } = addWeightBounds(graph, opts);
  hardened.metadata['proact.method'] = 'weight-clip';
  const accuracyOptions = { ...(opts.threads !== undefined ? { threads: opts.threads } : {}), ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}) };
  const validationAccuracy = await graphAccuracy(hardened, data.validation, accuracyOptions);
  return { method: 'weight-clip', graph: hardened, thresholds: [], decisions: [], imagesProcessed: data.validation.count, seconds: (performance.now() - t0) / 1000, validationAccuracy };
}
