/**
 * Rewrite passes over the IR: constant folding of exporter shape arithmetic, BatchNorm folding into
 * the preceding Conv, dead-node removal, and the listing of activation layers.
 */
import { attrFloat, isStoredGuardName, isWeightBoundName, type Graph, type Node } from './ir.js';
import { FOLDABLE_OPS, evalConstNode } from './consteval.js';
import { inferNode, inferShapes, type ValueType } from './shapes.js';
import { f32, numel, toNumbers, type Tensor } from './tensor.js';
import { matchActivations, type ActivationFunction } from './patterns.js';

/**
 * Folds every node whose inputs are constants (including Shape of a known shape). Returns nodes removed.
 * Nodes that read a stored guard (a threshold or a weight bound) are never folded: a threshold is stored
 * once and may be used twice (guarded smooth-zero reads T in its gate and T + margin in its guard), a
 * weight bound clips a stored weight, and fault injection patches the stored values, so a folded copy
 * (T + margin, or the clipped weight) would silently stay fault-free.
 */
export function foldConstants(g: Graph): number {
  g.topoSort();
  const consts = new Map<string, Tensor>(g.initializers);
  const types = new Map<string, ValueType>();
  for (const [k, t] of g.initializers) types.set(k, { dtype: t.dtype, dims: [...t.dims] });
  for (const v of g.inputs) types.set(v.name, { dtype: v.dtype, dims: [...v.dims] });
  const producers = g.producers();
  const kept: Node[] = [];
  let removed = 0;
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => (i ? consts.get(i) : undefined));
    let folded: Tensor | undefined;
    const allConst = n.inputs.every((i, k) => !i || ins[k]) && !n.inputs.some((i) => isStoredGuardName(i));
    if (n.outputs.length === 1 && FOLDABLE_OPS.has(n.op)) {
      if (n.op === 'Shape') {
        const t = types.get(n.inputs[0]!);
        if (t && !t.dims.includes(-1)) folded = evalConstNode(n, [{ dtype: 'float32', dims: t.dims, data: new Float32Array(0) }], g.opset);
      } else if (n.op === 'Gather' && ins[1] && !ins[0]) {
        // Shape -> Gather of a known dimension, even when another dimension (the batch) is dynamic.
        const p = producers.get(n.inputs[0]!);
        const t = p?.op === 'Shape' ? types.get(p.inputs[0]!) : undefined;
        if (t) {
          const idx = toNumbers(ins[1]).map((i) => (i < 0 ? i + t.dims.length : i));
          if (idx.every((i) => t.dims[i]! >= 0)) {
            const shapeT: Tensor = { dtype: 'int64', dims: [t.dims.length], data: BigInt64Array.from(t.dims.map((d) => BigInt(Math.max(d, 0)))) };
            folded = evalConstNode(n, [shapeT, ins[1]], g.opset);
          }
        }
      } else if (allConst && ins.every((t) => !t || numel(t.dims) <= 1 << 20)) {
        folded = evalConstNode(n, ins, g.opset);
      }
    }
    if (folded) {
      consts.set(n.outputs[0]!, folded);
      types.set(n.outputs[0]!, { dtype: folded.dtype, dims: [...folded.dims] });
      g.initializers.set(n.outputs[0]!, folded);
      removed++;
      continue;
    }
    inferNode(n, n.inputs.map((i) => (i ? types.get(i) : undefined)), ins, g.opset).forEach((t, k) => {
      if (n.outputs[k]) types.set(n.outputs[k]!, t);
    });
    kept.push(n);
  }
  g.nodes = kept;
  removeDeadNodes(g);
  return removed;
}

/** Removes nodes and initializers that no graph output depends on. */
export function removeDeadNodes(g: Graph): number {
  const live = new Set(g.outputs.map((o) => o.name));
  const kept: Node[] = [];
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k]!;
    if (n.outputs.some((o) => live.has(o))) {
      kept.push(n);
      for (const i of n.inputs) if (i) live.add(i);
    }
  }
  const removed = g.nodes.length - kept.length;
  g.nodes = kept.reverse();
  for (const name of [...g.initializers.keys()]) if (!live.has(name)) g.initializers.delete(name);
  return removed;
}

/**
 * Folds BatchNormalization (inference form) into the Conv that feeds it, as an inference accelerator
 * stores it: W' = W * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta.
 */
export function foldBatchNorm(g: Graph): number {
  const producers = g.producers();
  const consumers = g.consumers();
  let folded = 0;
  const drop = new Set<Node>();
  for (const bn of g.nodes) {
    if (bn.op !== 'BatchNormalization' || bn.outputs.filter(Boolean).length !== 1) continue;
    const conv = producers.get(bn.inputs[0]!);
    if (!conv || conv.op !== 'Conv' || (consumers.get(conv.outputs[0]!) ?? []).length !== 1) continue;
    if (g.outputs.some((o) => o.name === conv.outputs[0])) continue;
    const [scale, bias, mean, variance] = bn.inputs.slice(1, 5).map((i) => g.initializers.get(i));
    const w = g.initializers.get(conv.inputs[1]!);
    if (!scale || !bias || !mean || !variance || !w) continue;
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const cout = w.dims[0]!;
    const per = numel(w.dims) / cout;
    const wOld = Float32Array.from(toNumbers(w));
    const b0 = conv.inputs[2] ? g.initializers.get(conv.inputs[2]) : undefined;
    const bOld = b0 ? toNumbers(b0) : new Array<number>(cout).fill(0);
    const [s, be, m, v] = [scale, bias, mean, variance].map(toNumbers) as [number[], number[], number[], number[]];
    const wNew = new Float32Array(wOld.length);
    const bNew = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      // float64 arithmetic, rounded once to float32, to stay within 1e-6 of PyTorch's fused conv.
      const f = s[c]! / Math.sqrt(v[c]! + eps);
      for (let k = 0; k < per; k++) wNew[c * per + k] = wOld[c * per + k]! * f;
      bNew[c] = (bOld[c]! - m[c]!) * f + be[c]!;
    }
    const wName = g.addConstant(`${conv.name}.weight_bnfolded`, f32([...w.dims], wNew));
    const bName = g.addConstant(`${conv.name}.bias_bnfolded`, f32([cout], bNew));
    conv.inputs = [conv.inputs[0]!, wName, bName];
    conv.outputs = [bn.outputs[0]!];
    drop.add(bn);
    folded++;
  }
  g.nodes = g.nodes.filter((n) => !drop.has(n));
  removeDeadNodes(g);
  return folded;
}

export interface ActivationLayer {
  /** Position among activation layers, in execution order. */
  index: number;
  /** The name of the layer's last node (the Relu, the Clip of a ReLU6, the final Mul of a SiLU or GELU). */
  node: string;
  /** The function it computes (patterns.ts). */
  fn: ActivationFunction;
  /** Names of every node of the pattern (the last one is `node`). */
  nodes: string[];
  input: string;
  output: string;
  /** Dims of one sample's activation map (batch dim removed): [C,H,W] after a conv, [N] after a linear layer. */
  dims: number[];
  /** leaky-relu: negative slope; prelu: the slope initializer; relu6/clipped-relu: the original upper bound. */
  alpha?: number;
  slope?: string;
  cap?: number;
}

/**
 * The activation layers of a graph in execution order, each with its function and the shape of one
 * sample's activation map: Relu, Clip(0, c) on a computed tensor, LeakyRelu, PRelu, SiLU, HardSwish and
 * GELU in the forms exporters write (matchActivations in patterns.ts).
 */
export function activationLayers(g: Graph, types: Map<string, ValueType> = inferShapes(g)): ActivationLayer[] {
  return matchActivations(g).map((m, index) => {
    const output = m.root.outputs[0]!;
    const t = types.get(output);
    const layer: ActivationLayer = { index, node: m.root.name, fn: m.fn, nodes: m.nodes.map((n) => n.name), input: m.input, output, dims: t ? t.dims.slice(1) : [] };
    if (m.alpha !== undefined) layer.alpha = m.alpha;
    if (m.slope !== undefined) layer.slope = m.slope;
    if (m.cap !== undefined) layer.cap = m.cap;
    return layer;
  });
}

/** Standard preparation of an imported model: fold constants, fold BatchNorm, drop dead nodes, check ops. */
export function prepareGraph(g: Graph, opts: { foldBatchNorm?: boolean } = {}): Graph {
  foldConstants(g);
  if (opts.foldBatchNorm ?? true) foldBatchNorm(g);
  removeDeadNodes(g);
  inferShapes(g); // throws a one-line error naming an unsupported op and its node
  return g;
}

export interface GraphSummary {
  nodes: number;
  ops: Record<string, number>;
  parameters: number;
  activationLayers: number;
  /** Activation layers per function, e.g. { relu6: 35 }. */
  activationKinds: Partial<Record<ActivationFunction, number>>;
  inputs: { name: string; dims: number[] }[];
  outputs: { name: string; dims: number[] }[];
}

export function summarizeGraph(g: Graph): GraphSummary {
  const ops: Record<string, number> = {};
  for (const n of g.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
  let parameters = 0;
  for (const t of g.initializers.values()) if (t.dtype === 'float32' && t.dims.length >= 1) parameters += numel(t.dims);
  const types = inferShapes(g);
  const layers = activationLayers(g, types);
  const activationKinds: Partial<Record<ActivationFunction, number>> = {};
  for (const l of layers) activationKinds[l.fn] = (activationKinds[l.fn] ?? 0) + 1;
  return {
    nodes: g.nodes.length,
    ops,
    parameters,
    activationLayers: layers.length,
    activationKinds,
    inputs: g.dataInputs().map((v) => ({ name: v.name, dims: v.dims })),
    outputs: g.outputs.map((v) => ({ name: v.name, dims: types.get(v.name)?.dims ?? v.dims })),
  };
}

/** A layer holding faultable parameters: its stored weight and bias, and the bounds applied to them. */
export interface ParameterLayer {
  node: Node;
  /** The stored weight initializer (read directly, or through its bounds). */
  weight: string;
  bias?: string;
  /** Weight-bound initializers between the stored weight/bias and the layer (see WEIGHT_BOUND_PREFIX). */
  bounds?: string[];
}

/**
 * The stored initializer behind value `name`: `name` itself if it is an initializer, or the tensor a
 * chain of bound nodes (Clip/Min/Max whose other inputs are weight bounds) reads, with those bounds.
 */
function storedThroughBounds(g: Graph, producers: Map<string, Node>, name: string): { stored: string; bounds: string[] } | undefined {
  const bounds: string[] = [];
  let value = name;
  for (;;) {
    if (g.initializers.has(value)) return { stored: value, bounds };
    const p = producers.get(value);
    if (!p || (p.op !== 'Clip' && p.op !== 'Min' && p.op !== 'Max') || p.inputs.length < 2) return undefined;
    const rest = p.inputs.slice(1).filter(Boolean);
    if (!rest.every((i) => isWeightBoundName(i) && g.initializers.has(i))) return undefined;
    bounds.unshift(...rest);
    value = p.inputs[0]!;
  }
}

/**
 * Conv/Gemm/MatMul nodes whose weight is an initializer, read directly or through weight bounds: the
 * layers that hold faultable parameters.
 */
export function parameterLayers(g: Graph): ParameterLayer[] {
  const out: ParameterLayer[] = [];
  const producers = g.producers();
  for (const n of g.nodes) {
    if (n.op !== 'Conv' && n.op !== 'Gemm' && n.op !== 'MatMul' && n.op !== 'ConvTranspose') continue;
    const w = n.inputs[1] ? storedThroughBounds(g, producers, n.inputs[1]) : undefined;
    if (!w) continue;
    const b = n.inputs[2] ? storedThroughBounds(g, producers, n.inputs[2]) : undefined;
    const bounds = [...w.bounds, ...(b?.bounds ?? [])];
    out.push({ node: n, weight: w.stored, ...(b ? { bias: b.stored } : {}), ...(bounds.length > 0 ? { bounds } : {}) });
  }
  return out;
}
