/**
 * Clipped activations as IR rewrites. Each form is built from standard ONNX ops (opset 13), so a
 * hardened model runs in plain onnxruntime and shows its thresholds as named initializers in Netron.
 *
 * Forms (x = pre-activation, T = threshold; docs/method.md section 2):
 * - `relu`         max(0, x)                       the unprotected baseline (the Relu node is kept)
 * - `clip-zero`    x if 0 < x <= T else 0          Where(x <= T, Relu(x), 0)
 * - `clip-sat`     min(max(x, 0), T)               Where(x > T, T, Where(x > 0, x, 0))
 * - `smooth-zero`  max(0, x * sigmoid(k (T - x)))  Relu(x * Sigmoid((T - x) * k)); guarded: Where(x <= T + m, ..., 0)
 *
 * Why these exact forms: a bit flip can make an activation Inf or NaN, and any comparison with NaN is
 * false. The hard forms therefore send NaN and +Inf to 0 (clip-zero) or to 0 and T (clip-sat: NaN -> 0,
 * +Inf -> T), and -Inf to 0. They never call Relu or Min on a NaN (onnxruntime's Relu returns NaN for
 * NaN). A NaN *threshold* (a faulty T) makes every `x <= T` false: clip-zero and guarded smooth-zero
 * then output 0 for the whole layer, clip-sat passes max(x, 0) through unclipped.
 *
 * The plain smooth form turns +Inf into Inf * sigmoid(-Inf) = Inf * 0 = NaN, so for inference there is
 * a guarded form that equals the hard clip beyond T + margin. The default margin is 200 / k (10 for
 * k = 20): there x * sigmoid(k (T - x)) <= x * e^-200 ~ x * 1.4e-87, which is below 1e-30 for every
 * finite float32 x (< 3.4e38), i.e. the guard only replaces values that are zero in float32 anyway.
 * (onnxruntime's Sigmoid already returns exactly 0 for arguments below about -17, so for finite inputs
 * the guarded and plain forms give identical float32 results; the guard only changes Inf and NaN.)
 * Training uses the plain form: its gradient in T is k x s (1 - s), s = sigmoid(k (T - x)).
 */
import { ProactError } from '../util/errors.js';
import { activationLayers, broadcastDims, scalarF32, type Graph, type Node, type Tensor } from '../graph/index.js';

export type ActivationKind = 'relu' | 'clip-zero' | 'clip-sat' | 'smooth-zero';
export const ACTIVATION_KINDS: readonly ActivationKind[] = ['relu', 'clip-zero', 'clip-sat', 'smooth-zero'];
export type Granularity = 'layer' | 'channel' | 'neuron';
export const GRANULARITIES: readonly Granularity[] = ['layer', 'channel', 'neuron'];

/** Steepness of smooth-zero (the reference's k). */
export const DEFAULT_SMOOTH_K = 20;

/** Margin beyond T where the guarded smooth-zero switches to the hard clip (see the file comment). */
export function smoothGuardMargin(k: number): number {
  return 200 / k;
}

export interface ReplaceReluOptions {
  kind: ActivationKind;
  /** The threshold, shaped for its granularity (see `thresholdShape`); float32. Not used by `relu`. */
  threshold?: Tensor;
  /** Initializer name of the threshold (default `<relu node name>.threshold`). */
  thresholdName?: string;
  /** Steepness of smooth-zero (default 20). */
  k?: number;
  /** smooth-zero only: the inference form that sends values beyond T + margin (Inf, NaN included) to 0. */
  guard?: boolean;
  /** smooth-zero with guard: the margin (default 200 / k). */
  margin?: number;
}

export interface HardenedActivation {
  /** Name of the replaced Relu node. */
  node: string;
  kind: ActivationKind;
  /** Initializer holding the threshold; undefined for `relu`. */
  thresholdName: string | undefined;
  /** The activation's output value (the Relu's original output name, so consumers are unchanged). */
  output: string;
  /** The pre-activation value x. */
  input: string;
}

/**
 * Threshold dims for a granularity, given one sample's activation dims (batch removed): layer -> [],
 * channel -> [C, 1, 1] ([N] after a linear layer), neuron -> [C, H, W] ([N]). Each broadcasts against
 * [batch, ...layerDims].
 */
export function thresholdShape(layerDims: readonly number[], granularity: Granularity): number[] {
  if (layerDims.some((d) => !Number.isInteger(d) || d < 1))
    throw new ProactError(`thresholdShape: activation dims [${layerDims}] must be known positive sizes (one sample, batch removed)`);
  switch (granularity) {
    case 'layer':
      return [];
    case 'channel':
      return layerDims.length <= 1 ? [...layerDims] : [layerDims[0]!, ...layerDims.slice(1).map(() => 1)];
    case 'neuron':
      return [...layerDims];
    default:
      throw new ProactError(`thresholdShape: unknown granularity '${String(granularity)}'; use one of ${GRANULARITIES.join(', ')}`);
  }
}

/** Throws unless a threshold of `tDims` broadcasts against [batch, ...layerDims] without growing it. */
export function checkThresholdDims(layerDims: readonly number[], tDims: readonly number[], where: string): void {
  const full = [-1, ...layerDims];
  const fits = tDims.length <= full.length && tDims.every((d, k) => d === 1 || d === full[full.length - tDims.length + k]);
  if (!fits || broadcastDims(full, tDims).length !== full.length)
    throw new ProactError(
      `${where}: a threshold of dims [${tDims}] does not broadcast against the activation [batch, ${layerDims}]; use thresholdShape(dims, 'layer' | 'channel' | 'neuron')`,
    );
}

/** A float32 scalar initializer, reused when the graph already holds one of that name and value. */
function scalarConstant(g: Graph, base: string, value: number): string {
  const t = g.initializers.get(base);
  if (t && t.dtype === 'float32' && t.dims.length === 0 && t.data[0] === value) return base;
  const name = t ? g.uniqueName(base) : base;
  g.initializers.set(name, scalarF32(value));
  return name;
}

/** The nodes of each form, appended to `g`, ending in the value `y`. */
type FormBuilder = (g: Graph, x: string, t: string, y: string, name: string, opts: ReplaceReluOptions) => void;

const FORMS: Record<Exclude<ActivationKind, 'relu'>, FormBuilder> = {
  'clip-zero': (g, x, t, y, name) => {
    const zero = scalarConstant(g, 'proact.zero', 0);
    const [inRange] = g.add('LessOrEqual', [x, t], {}, { name: `${name}/le_T` });
    const [relu] = g.add('Relu', [x], {}, { name: `${name}/relu` });
    g.add('Where', [inRange!, relu!, zero], {}, { name: `${name}/clip_zero`, outputs: [y] });
  },
  'clip-sat': (g, x, t, y, name) => {
    const zero = scalarConstant(g, 'proact.zero', 0);
    const [above] = g.add('Greater', [x, t], {}, { name: `${name}/gt_T` });
    const [positive] = g.add('Greater', [x, zero], {}, { name: `${name}/gt_0` });
    const [relu] = g.add('Where', [positive!, x, zero], {}, { name: `${name}/relu` });
    g.add('Where', [above!, t, relu!], {}, { name: `${name}/clip_sat`, outputs: [y] });
  },
  'smooth-zero': (g, x, t, y, name, opts) => {
    const k = opts.k ?? DEFAULT_SMOOTH_K;
    const kName = scalarConstant(g, `proact.k${k}`, k);
    const [gap] = g.add('Sub', [t, x], {}, { name: `${name}/T_minus_x` });
    const [scaled] = g.add('Mul', [gap!, kName], {}, { name: `${name}/times_k` });
    const [gate] = g.add('Sigmoid', [scaled!], {}, { name: `${name}/sigmoid` });
    const [gated] = g.add('Mul', [x, gate!], {}, { name: `${name}/x_gate` });
    if (!opts.guard) {
      g.add('Relu', [gated!], {}, { name: `${name}/smooth_zero`, outputs: [y] });
      return;
    }
    const margin = opts.margin ?? smoothGuardMargin(k);
    const marginName = scalarConstant(g, `proact.margin${margin}`, margin);
    const zero = scalarConstant(g, 'proact.zero', 0);
    const [relu] = g.add('Relu', [gated!], {}, { name: `${name}/relu` });
    const [limit] = g.add('Add', [t, marginName], {}, { name: `${name}/T_plus_margin` });
    const [inRange] = g.add('LessOrEqual', [x, limit!], {}, { name: `${name}/le_limit` });
    g.add('Where', [inRange!, relu!, zero], {}, { name: `${name}/smooth_zero_guarded`, outputs: [y] });
  },
};

/**
 * Replaces the Relu node `reluNodeName` by the clipped form `opts.kind`, in place. The new nodes take
 * the Relu's position and its output name, so everything downstream is unchanged. The threshold becomes
 * an initializer named `opts.thresholdName`. `activationDims` (one sample's dims) is checked against the
 * threshold's dims when given.
 */
export function replaceRelu(g: Graph, reluNodeName: string, opts: ReplaceReluOptions, activationDims?: readonly number[]): HardenedActivation {
  const at = g.nodes.findIndex((n) => n.name === reluNodeName);
  const relu: Node | undefined = g.nodes[at];
  if (!relu) throw new ProactError(`replaceRelu: no node named '${reluNodeName}' in the graph; list the activation layers with activationLayers(g)`);
  if (relu.op !== 'Relu') throw new ProactError(`replaceRelu: node '${reluNodeName}' is a ${relu.op}, not a Relu; only Relu activations can be replaced`);
  if (!ACTIVATION_KINDS.includes(opts.kind))
    throw new ProactError(`replaceRelu: unknown activation kind '${String(opts.kind)}'; use one of ${ACTIVATION_KINDS.join(', ')}`);
  const x = relu.inputs[0]!, y = relu.outputs[0]!;
  if (opts.kind === 'relu') return { node: reluNodeName, kind: 'relu', thresholdName: undefined, output: y, input: x };

  const t = opts.threshold;
  if (!t) throw new ProactError(`replaceRelu: '${opts.kind}' on node '${reluNodeName}' needs a threshold tensor (see thresholdShape)`);
  if (t.dtype !== 'float32') throw new ProactError(`replaceRelu: the threshold for node '${reluNodeName}' is ${t.dtype}; give a float32 tensor`);
  if (activationDims) checkThresholdDims(activationDims, t.dims, `replaceRelu: node '${reluNodeName}'`);
  else if (t.dims.length > 4) throw new ProactError(`replaceRelu: the threshold for node '${reluNodeName}' has rank ${t.dims.length}; expected at most [C,H,W]`);
  const k = opts.k ?? DEFAULT_SMOOTH_K;
  if (!(k > 0) || !Number.isFinite(k)) throw new ProactError(`replaceRelu: k = ${k} for node '${reluNodeName}'; the smooth clip needs a finite k > 0`);
  if (opts.margin !== undefined && !(opts.margin > 0)) throw new ProactError(`replaceRelu: margin = ${opts.margin} for node '${reluNodeName}'; give a margin > 0`);

  const thresholdName = opts.thresholdName ?? `${reluNodeName}.threshold`;
  const taken = g.initializers.has(thresholdName) || g.inputs.some((v) => v.name === thresholdName) || g.nodes.some((n) => n.outputs.includes(thresholdName));
  if (taken) throw new ProactError(`replaceRelu: the name '${thresholdName}' is already used in the graph; give each threshold its own thresholdName`);
  g.uniqueName(thresholdName); // reserve it
  g.initializers.set(thresholdName, t);

  const before = g.nodes.length;
  FORMS[opts.kind](g, x, thresholdName, y, reluNodeName, opts);
  const added = g.nodes.splice(before);
  g.nodes.splice(at, 1, ...added);
  return { node: reluNodeName, kind: opts.kind, thresholdName, output: y, input: x };
}

export interface HardenStep {
  /** The Relu node to replace. */
  node: string;
  kind: ActivationKind;
  /** Threshold shaped for its granularity; not needed for `relu`. */
  threshold?: Tensor;
  thresholdName?: string;
  k?: number;
  guard?: boolean;
  margin?: number;
}

/**
 * Applies a hardening plan in place (one entry per Relu to replace) and records it in the model's
 * metadata (`proact.activations`), so a report can say which form was deployed.
 */
export function hardenGraph(g: Graph, plan: readonly HardenStep[]): HardenedActivation[] {
  const seen = new Set<string>();
  for (const step of plan) {
    if (seen.has(step.node)) throw new ProactError(`hardenGraph: the plan lists node '${step.node}' twice; give one entry per Relu`);
    seen.add(step.node);
  }
  const dims = new Map(activationLayers(g).map((l) => [l.node, l.dims]));
  const done = plan.map(({ node, ...opts }) => replaceRelu(g, node, opts, dims.get(node)));
  const record = done.map((d, i) => ({ node: d.node, kind: d.kind, threshold: d.thresholdName ?? null, guard: plan[i]!.kind === 'smooth-zero' ? !!plan[i]!.guard : undefined, k: plan[i]!.kind === 'smooth-zero' ? (plan[i]!.k ?? DEFAULT_SMOOTH_K) : undefined }));
  g.metadata['proact.activations'] = JSON.stringify(record);
  return done;
}
