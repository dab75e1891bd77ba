/**
 * Memory overhead of clipping thresholds (docs/hardening.md, "Memory overhead"): the extra stored parameters each
 * threshold granularity adds, as float32 values, and the ratios between schemes.
 *
 * - neuron-wise: sum over activation layers of the elements of one sample's activation map;
 * - channel-wise: sum of the channels (first axis) of each activation map;
 * - layer-wise: one value per activation layer;
 * - HyReLU: layer-wise everywhere except the last activation layer executed, which is neuron-wise:
 *   (layers - 1) + elements of the last activation map.
 *
 * ResNet-20 (CIFAR-10): 19 activation layers, the last 64x8x8: neuron 188,416 vs HyReLU 4,114 (45.8x).
 *
 * Weight bounds (weight clipping, weightclip.ts) are listed beside them: 2 values per weight and bias
 * tensor (tensor-wise), or 2 per output channel of each weight plus 2 per bias (channel-wise).
 */
import { ProactError } from '../util/errors.js';
import { activationLayers, inferShapes, isThresholdName, isWeightBoundName, numel, parameterLayers, type Graph } from '../graph/index.js';
import { WEIGHT_CLIP_GRANULARITIES, outputChannelAxis, type WeightClipGranularity } from './weightclip.js';

export type OverheadScheme = 'neuron' | 'channel' | 'layer' | 'hyrelu';
export const OVERHEAD_SCHEMES: readonly OverheadScheme[] = ['neuron', 'channel', 'layer', 'hyrelu'];

/** Bytes of one stored threshold (float32). */
export const THRESHOLD_BYTES = 4;

export interface OverheadLayer {
  index: number;
  node: string;
  /** One sample's activation dims. */
  dims: number[];
  elements: number;
  channels: number;
  /** The function the layer computes ('relu', 'relu6', 'silu', ...; src/graph/patterns.ts), when known. */
  activation?: string;
}

export interface SchemeOverhead {
  parameters: number;
  bytes: number;
}

export interface Overhead {
  layers: OverheadLayer[];
  schemes: Record<OverheadScheme, SchemeOverhead>;
  ratios: {
    /** neuron-wise / HyReLU: the paper's memory argument (10.5x to 134x on its models). */
    neuronToHyrelu: number;
    neuronToChannel: number;
    neuronToLayer: number;
    hyreluToLayer: number;
  };
  /** Threshold values actually stored in the model (initializers named proact.threshold.*), if any. */
  stored?: SchemeOverhead;
  /** Weight bounds of each weight-clipping granularity, and those stored in the model (proact.bound.*), if any. */
  weightBounds?: WeightBoundOverhead;
}

export interface WeightBoundOverhead {
  schemes: Record<WeightClipGranularity, SchemeOverhead>;
  /** Bounded tensors (weights and biases) of the conv/linear layers. */
  tensors: number;
  stored?: SchemeOverhead;
}

/** The bound values weight clipping adds at each granularity (biases per tensor in both). */
export function weightBoundOverhead(g: Graph): WeightBoundOverhead {
  const seen = new Set<string>();
  let tensors = 0;
  let channels = 0;
  for (const l of parameterLayers(g)) {
    if (!seen.has(l.weight)) {
      seen.add(l.weight);
      tensors++;
      const dims = g.initializers.get(l.weight)!.dims;
      channels += dims.length >= 2 ? dims[outputChannelAxis(l.node, dims.length)]! : 1;
    }
    if (l.bias && !seen.has(l.bias)) {
      seen.add(l.bias);
      tensors++;
      channels++;
    }
  }
  const counts: Record<WeightClipGranularity, number> = { tensor: 2 * tensors, channel: 2 * channels };
  const schemes = Object.fromEntries(WEIGHT_CLIP_GRANULARITIES.map((k) => [k, scheme(counts[k])])) as Record<WeightClipGranularity, SchemeOverhead>;
  let stored = 0;
  for (const [name, t] of g.initializers) if (isWeightBoundName(name)) stored += numel(t.dims);
  return { schemes, tensors, ...(stored > 0 ? { stored: scheme(stored) } : {}) };
}

const scheme = (parameters: number): SchemeOverhead => ({ parameters, bytes: parameters * THRESHOLD_BYTES });

/** Overhead of each scheme for activation layers of the given one-sample dims, in execution order. */
export function thresholdOverhead(layerDims: readonly (readonly number[])[], nodes?: readonly string[], activations?: readonly (string | undefined)[]): Overhead {
  if (layerDims.length === 0) throw new ProactError('overhead: the model has no activation layers (Relu, ReLU6, LeakyReLU, PReLU, SiLU, HardSwish, GELU), so clipping adds no thresholds');
  const layers = layerDims.map((dims, index): OverheadLayer => {
    if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1))
      throw new ProactError(`overhead: activation layer ${index} has unknown dims [${dims}]; the model needs fixed image dims (only the batch may be dynamic)`);
    const activation = activations?.[index];
    return { index, node: nodes?.[index] ?? `layer ${index}`, dims: [...dims], elements: numel(dims), channels: dims[0]!, ...(activation ? { activation } : {}) };
  });
  const neuron = layers.reduce((s, l) => s + l.elements, 0);
  const channel = layers.reduce((s, l) => s + l.channels, 0);
  const layer = layers.length;
  const hyrelu = layers.length - 1 + layers[layers.length - 1]!.elements;
  return {
    layers,
    schemes: { neuron: scheme(neuron), channel: scheme(channel), layer: scheme(layer), hyrelu: scheme(hyrelu) },
    ratios: { neuronToHyrelu: neuron / hyrelu, neuronToChannel: neuron / channel, neuronToLayer: neuron / layer, hyreluToLayer: hyrelu / layer },
  };
}

/** One record of the `proact.activations` metadata that `hardenGraph` writes. */
interface HardenedRecord {
  node: string;
  /** The function of the replaced layer (absent in files written before ReLU6, SiLU, ... were layers). */
  activation?: string;
}

/** Names of the nodes that end each clipped form (see activations.ts), given the replaced layer's name. */
const FORM_ENDS = ['clip_zero', 'clip_sat', 'smooth_zero', 'smooth_zero_guarded'];

/**
 * The activation layers of a graph, plain or hardened by proact: in a hardened graph each clipped
 * form counts once (its final node), at the position of the layer it replaced, and the nodes inside
 * the forms (all named `<layer>/...`: a Relu, the Sigmoid and Mul of a SiLU's f(x)) are not counted again.
 */
export function activationSites(g: Graph): { node: string; dims: number[]; activation: string }[] {
  const meta = g.metadata['proact.activations'];
  if (!meta) return activationLayers(g).map((l) => ({ node: l.node, dims: l.dims, activation: l.fn }));
  let records: HardenedRecord[];
  let parsed: unknown;
  try {
    parsed = JSON.parse(meta);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed)) throw new ProactError(`overhead: the model's 'proact.activations' metadata is not a JSON list; re-export the hardened model with proact harden`);
  records = parsed as HardenedRecord[];
  const ends = new Map<string, HardenedRecord>();
  const prefixes = records.map((r) => `${r.node}/`);
  for (const r of records) for (const e of FORM_ENDS) ends.set(`${r.node}/${e}`, r);
  const types = inferShapes(g);
  const plain = new Map(activationLayers(g, types).filter((l) => !prefixes.some((p) => l.node.startsWith(p))).map((l) => [l.node, l.fn]));
  const out: { node: string; dims: number[]; activation: string }[] = [];
  for (const n of g.nodes) {
    const replaced = ends.get(n.name);
    const fn = plain.get(n.name);
    if (replaced === undefined && fn === undefined) continue;
    const t = types.get(n.outputs[0]!);
    out.push({ node: replaced?.node ?? n.name, dims: t ? t.dims.slice(1) : [], activation: replaced ? (replaced.activation ?? 'relu') : fn! });
  }
  return out;
}

/** Overhead of each scheme for `g` (plain or hardened), plus the thresholds it stores if hardened. */
export function graphOverhead(g: Graph): Overhead {
  const sites = activationSites(g);
  const o = thresholdOverhead(
    sites.map((s) => s.dims),
    sites.map((s) => s.node),
    sites.map((s) => s.activation),
  );
  let stored = 0;
  for (const [name, t] of g.initializers) if (isThresholdName(name)) stored += numel(t.dims);
  if (stored > 0) o.stored = scheme(stored);
  o.weightBounds = weightBoundOverhead(g);
  return o;
}
