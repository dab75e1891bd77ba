/**
 * Clipped activations as IR rewrites. Each form is built from standard ONNX ops (opset 13), so a
 * hardened model runs in plain onnxruntime and shows its thresholds as named initializers in Netron.
 *
 * Forms (x = pre-activation, T = threshold; docs/hardening.md, "Activation forms"):
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
 *
 * These are the forms of the ReLU family (Relu, and ReLU6 = Clip(x, 0, 6), whose fixed 6 the threshold
 * replaces). LeakyReLU, PReLU, SiLU, HardSwish and GELU get the same three forms on their output
 * a = f(x), bounding only the positive side (GENERIC_FORMS below; docs/hardening.md says why per kind).
 */
import { ProactError } from '../util/errors.js';
import { activationLayers, broadcastDims, float, scalarF32, unclippableActivations, type ActivationFunction, type ActivationLayer, type Graph, type Node, type Tensor } from '../graph/index.js';

export type ActivationKind = 'relu' | 'clip-zero' | 'clip-sat' | 'smooth-zero';
export const ACTIVATION_KINDS: readonly ActivationKind[] = ['relu', 'clip-zero', 'clip-sat', 'smooth-zero'];
export type Granularity = 'layer' | 'channel' | 'neuron';
export const GRANULARITIES: readonly Granularity[] = ['layer', 'channel', 'neuron'];

/** Steepness of smooth-zero (the reference's k). */
export const DEFAULT_SMOOTH_K = 20;

/** Inputs below this are raised to it before SiLU, GELU and HardSwish (see emitFunction). */
export const NEGATIVE_FLOOR = -100;

/** Margin beyond T where the guarded smooth-zero switches to the hard clip (see the file comment). */
export function smoothGuardMargin(k: number): number {
  return 200 / k;
}

export interface ReplaceReluOptions {
  kind: ActivationKind;
  /** The threshold, shaped for its granularity (see `thresholdShape`); float32. Not used by `relu`. */
  threshold?: Tensor;
  /** Initializer name of the threshold (default `<layer node name>.threshold`). */
  thresholdName?: string;
  /** Steepness of smooth-zero (default 20). */
  k?: number;
  /** smooth-zero only: the inference form that sends values beyond T + margin (Inf, NaN included) to 0. */
  guard?: boolean;
  /** smooth-zero with guard: the margin (default 200 / k). */
  margin?: number;
}

export interface HardenedActivation {
  /** Name of the replaced activation layer (its last node). */
  node: string;
  kind: ActivationKind;
  /** Initializer holding the threshold; undefined for `relu`. */
  thresholdName: string | undefined;
  /** The activation's output value (the layer's original output name, so consumers are unchanged). */
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
 * Emits f(v) for an activation function other than the ReLU family, with v = x clamped below at
 * `NEGATIVE_FLOOR` where f(-Inf) would be NaN (SiLU: -Inf * sigmoid(-Inf) = -Inf * 0; GELU and HardSwish
 * alike). Below the floor these functions are 0 in float32 (SiLU: |f| < 4e-42), so the clamp changes no
 * finite result but sends -Inf to ~0 instead of NaN. LeakyReLU and PReLU keep -Inf (their negative side
 * keeps its shape, unbounded; docs/hardening.md). Returns the value name of f(v).
 */
function emitFunction(g: Graph, layer: ActivationLayerInfo, x: string, name: string): string {
  const c = (base: string, v: number) => scalarConstant(g, base, v);
  const floored = () => {
    const floor = c(`proact.floor${NEGATIVE_FLOOR}`, NEGATIVE_FLOOR);
    const [below] = g.add('Less', [x, floor], {}, { name: `${name}/lt_floor` });
    return g.add('Where', [below!, floor, x], {}, { name: `${name}/floor` })[0]!;
  };
  switch (layer.fn) {
    case 'leaky-relu':
      return g.add('LeakyRelu', [x], { alpha: float(layer.alpha ?? 0.01) }, { name: `${name}/leaky_relu` })[0]!;
    case 'prelu':
      if (!layer.slope) throw new ProactError(`replaceActivation: PReLU layer '${layer.node}' has no constant slope; only PReLU with stored slopes can be clipped`);
      return g.add('PRelu', [x, layer.slope], {}, { name: `${name}/prelu` })[0]!;
    case 'silu': {
      const v = floored();
      const [s] = g.add('Sigmoid', [v], {}, { name: `${name}/sigmoid_x` });
      return g.add('Mul', [v, s!], {}, { name: `${name}/silu` })[0]!;
    }
    case 'hardswish': {
      // HardSigmoid (opset 6) rather than HardSwish (opset 14): hardened files stay opset 13.
      const v = floored();
      const [s] = g.add('HardSigmoid', [v], { alpha: float(1 / 6), beta: float(0.5) }, { name: `${name}/hard_sigmoid` });
      return g.add('Mul', [v, s!], {}, { name: `${name}/hardswish` })[0]!;
    }
    case 'gelu-erf': {
      const v = floored();
      const [scaled] = g.add('Mul', [v, c('proact.sqrt_half', Math.SQRT1_2)], {}, { name: `${name}/x_sqrt_half` });
      const [erf] = g.add('Erf', [scaled!], {}, { name: `${name}/erf` });
      const [one] = g.add('Add', [erf!, c('proact.one', 1)], {}, { name: `${name}/erf_plus_1` });
      const [half] = g.add('Mul', [v, c('proact.half', 0.5)], {}, { name: `${name}/half_x` });
      return g.add('Mul', [half!, one!], {}, { name: `${name}/gelu` })[0]!;
    }
    case 'gelu-tanh': {
      const v = floored();
      const [sq] = g.add('Mul', [v, v], {}, { name: `${name}/x2` });
      const [cube] = g.add('Mul', [sq!, v], {}, { name: `${name}/x3` });
      const [kc] = g.add('Mul', [cube!, c('proact.gelu_kappa', 0.044715)], {}, { name: `${name}/kappa_x3` });
      const [inner] = g.add('Add', [v, kc!], {}, { name: `${name}/inner` });
      const [scaled] = g.add('Mul', [inner!, c('proact.gelu_beta', Math.sqrt(2 / Math.PI))], {}, { name: `${name}/beta_inner` });
      const [th] = g.add('Tanh', [scaled!], {}, { name: `${name}/tanh` });
      const [one] = g.add('Add', [th!, c('proact.one', 1)], {}, { name: `${name}/tanh_plus_1` });
      const [half] = g.add('Mul', [v, c('proact.half', 0.5)], {}, { name: `${name}/half_x` });
      return g.add('Mul', [half!, one!], {}, { name: `${name}/gelu` })[0]!;
    }
    default:
      throw new ProactError(`replaceActivation: '${layer.fn}' is in the ReLU family, which uses the ReLU forms`);
  }
}

/**
 * The clipped forms of a non-ReLU activation a = f(x), bounding its positive side (docs/hardening.md):
 * - clip-zero:   Where(a <= T, a, 0)
 * - clip-sat:    Where(a > T, T, Where(a <= T, a, 0))
 * - smooth-zero: a * Sigmoid(k (T - a)) for a > 0, a otherwise, written Min(a, 0) + Relu(a) * Sigmoid(k (T - a));
 *                guarded: Where(a <= T + m, ..., 0)
 * The bound is on the output a, so a threshold profiled from the outputs (as for ReLU) clips nothing on
 * the profiled images; a <= 0 (the negative side) passes unchanged in every form. NaN (every comparison
 * false) becomes 0, +Inf becomes 0 (T for clip-sat); -Inf becomes ~0 (SiLU, GELU, HardSwish, see
 * emitFunction) or stays -Inf (LeakyReLU, PReLU).
 */
const GENERIC_FORMS: Record<Exclude<ActivationKind, 'relu'>, FormBuilder> = {
  'clip-zero': (g, a, t, y, name) => {
    const zero = scalarConstant(g, 'proact.zero', 0);
    const [inRange] = g.add('LessOrEqual', [a, t], {}, { name: `${name}/le_T` });
    g.add('Where', [inRange!, a, zero], {}, { name: `${name}/clip_zero`, outputs: [y] });
  },
  'clip-sat': (g, a, t, y, name) => {
    const zero = scalarConstant(g, 'proact.zero', 0);
    const [above] = g.add('Greater', [a, t], {}, { name: `${name}/gt_T` });
    const [inRange] = g.add('LessOrEqual', [a, t], {}, { name: `${name}/le_T` });
    const [kept] = g.add('Where', [inRange!, a, zero], {}, { name: `${name}/finite` });
    g.add('Where', [above!, t, kept!], {}, { name: `${name}/clip_sat`, outputs: [y] });
  },
  'smooth-zero': (g, a, t, y, name, opts) => {
    const k = opts.k ?? DEFAULT_SMOOTH_K;
    const kName = scalarConstant(g, `proact.k${k}`, k);
    const zero = scalarConstant(g, 'proact.zero', 0);
    // min(a, 0) + relu(a) * gate rather than Where(a > 0, ...): the same function, but every value that
    // depends on x alone is float, so threshold training can cache it (its cut carries float32 only).
    const [negative] = g.add('Min', [a, zero], {}, { name: `${name}/negative_side` });
    const [positive] = g.add('Relu', [a], {}, { name: `${name}/relu` });
    const [gap] = g.add('Sub', [t, a], {}, { name: `${name}/T_minus_a` });
    const [scaled] = g.add('Mul', [gap!, kName], {}, { name: `${name}/times_k` });
    const [gate] = g.add('Sigmoid', [scaled!], {}, { name: `${name}/sigmoid` });
    const [gated] = g.add('Mul', [positive!, gate!], {}, { name: `${name}/a_gate` });
    if (!opts.guard) {
      g.add('Add', [negative!, gated!], {}, { name: `${name}/smooth_zero`, outputs: [y] });
      return;
    }
    const margin = opts.margin ?? smoothGuardMargin(k);
    const marginName = scalarConstant(g, `proact.margin${margin}`, margin);
    const [smooth] = g.add('Add', [negative!, gated!], {}, { name: `${name}/both_sides` });
    const [limit] = g.add('Add', [t, marginName], {}, { name: `${name}/T_plus_margin` });
    const [inRange] = g.add('LessOrEqual', [a, limit!], {}, { name: `${name}/le_limit` });
    g.add('Where', [inRange!, smooth!, zero], {}, { name: `${name}/smooth_zero_guarded`, outputs: [y] });
  },
};

/** What replacing an activation needs to know about it (an `ActivationLayer` has all of it). */
export type ActivationLayerInfo = Pick<ActivationLayer, 'node' | 'fn' | 'nodes' | 'input' | 'output'> & Partial<Pick<ActivationLayer, 'alpha' | 'slope' | 'cap' | 'dims'>>;

/** The ReLU family: ReLU, and Clip(0, c) (ReLU6), whose cap the threshold replaces. */
export const isReluFamily = (fn: ActivationFunction): boolean => fn === 'relu' || fn === 'relu6' || fn === 'clipped-relu';

/**
 * Replaces the activation layer whose last node is `nodeName` by the clipped form `opts.kind`, in
 * place. The layer's nodes (one Relu, Clip or LeakyRelu; the Sigmoid and Mul of a SiLU; ...) are
 * removed and the form takes the position of the last one and its output name, so everything
 * downstream is unchanged. The ReLU family (Relu, ReLU6 = Clip(0, 6)) gets the ReLU forms on x, with
 * T in place of ReLU6's 6; other functions get the forms of GENERIC_FORMS on a = f(x). The threshold
 * becomes an initializer named `opts.thresholdName`. `activationDims` (one sample's dims) is checked
 * against the threshold's dims when given. `layer` saves looking the layer up (hardenGraph passes it).
 */
export function replaceActivation(g: Graph, nodeName: string, opts: ReplaceReluOptions, activationDims?: readonly number[], layer?: ActivationLayerInfo): HardenedActivation {
  const at = g.nodes.findIndex((n) => n.name === nodeName);
  const root: Node | undefined = g.nodes[at];
  if (!root) throw new ProactError(`replaceActivation: no node named '${nodeName}' in the graph; list the activation layers with activationLayers(g)`);
  const info = layer ?? activationLayers(g).find((l) => l.node === nodeName);
  if (!info || info.node !== nodeName)
    throw new ProactError(`replaceActivation: node '${nodeName}' is a ${root.op}, not an activation layer; list the activation layers with activationLayers(g)`);
  if (!ACTIVATION_KINDS.includes(opts.kind))
    throw new ProactError(`replaceActivation: unknown activation kind '${String(opts.kind)}'; use one of ${ACTIVATION_KINDS.join(', ')}`);
  const x = info.input, y = info.output;
  if (opts.kind === 'relu') return { node: nodeName, kind: 'relu', thresholdName: undefined, output: y, input: x };

  const t = opts.threshold;
  if (!t) throw new ProactError(`replaceActivation: '${opts.kind}' on node '${nodeName}' needs a threshold tensor (see thresholdShape)`);
  if (t.dtype !== 'float32') throw new ProactError(`replaceActivation: the threshold for node '${nodeName}' is ${t.dtype}; give a float32 tensor`);
  if (activationDims) checkThresholdDims(activationDims, t.dims, `replaceActivation: node '${nodeName}'`);
  else if (t.dims.length > 4) throw new ProactError(`replaceActivation: the threshold for node '${nodeName}' has rank ${t.dims.length}; expected at most [C,H,W]`);
  const k = opts.k ?? DEFAULT_SMOOTH_K;
  if (!(k > 0) || !Number.isFinite(k)) throw new ProactError(`replaceActivation: k = ${k} for node '${nodeName}'; the smooth clip needs a finite k > 0`);
  if (opts.margin !== undefined && !(opts.margin > 0)) throw new ProactError(`replaceActivation: margin = ${opts.margin} for node '${nodeName}'; give a margin > 0`);

  const thresholdName = opts.thresholdName ?? `${nodeName}.threshold`;
  const taken = g.initializers.has(thresholdName) || g.inputs.some((v) => v.name === thresholdName) || g.nodes.some((n) => n.outputs.includes(thresholdName));
  if (taken) throw new ProactError(`replaceActivation: the name '${thresholdName}' is already used in the graph; give each threshold its own thresholdName`);
  g.uniqueName(thresholdName); // reserve it
  g.initializers.set(thresholdName, t);

  const before = g.nodes.length;
  if (isReluFamily(info.fn)) FORMS[opts.kind](g, x, thresholdName, y, nodeName, opts);
  else GENERIC_FORMS[opts.kind](g, emitFunction(g, info, x, nodeName), thresholdName, y, nodeName, opts);
  const added = g.nodes.splice(before);
  // The pattern's other nodes only feed the pattern (patterns.ts checks it), so they can go.
  const drop = new Set(info.nodes.filter((n) => n !== nodeName));
  g.nodes.splice(at, 1, ...added);
  if (drop.size) g.nodes = g.nodes.filter((n) => !drop.has(n.name) || added.includes(n));
  return { node: nodeName, kind: opts.kind, thresholdName, output: y, input: x };
}

export interface HardenStep {
  /** The activation layer to replace (its last node, `ActivationLayer.node`). */
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
 * Applies a hardening plan in place (one entry per activation layer to replace) and records it in the model's
 * metadata (`proact.activations`), so a report can say which form was deployed.
 */
export function hardenGraph(g: Graph, plan: readonly HardenStep[]): HardenedActivation[] {
  const seen = new Set<string>();
  for (const step of plan) {
    if (seen.has(step.node)) throw new ProactError(`hardenGraph: the plan lists node '${step.node}' twice; give one entry per activation layer`);
    seen.add(step.node);
  }
  const layers = new Map(activationLayers(g).map((l) => [l.node, l]));
  const done = plan.map(({ node, ...opts }) => {
    const layer = layers.get(node);
    return replaceActivation(g, node, opts, layer?.dims, layer);
  });
  const record = done.map((d, i) => ({ node: d.node, kind: d.kind, activation: layers.get(d.node)?.fn ?? 'relu', threshold: d.thresholdName ?? null, guard: plan[i]!.kind === 'smooth-zero' ? !!plan[i]!.guard : undefined, k: plan[i]!.kind === 'smooth-zero' ? (plan[i]!.k ?? DEFAULT_SMOOTH_K) : undefined }));
  g.metadata['proact.activations'] = JSON.stringify(record);
  return done;
}

/**
 * The activations of `g` that proact recognises but cannot clip (Elu, Selu, Celu, Softplus,
 * ThresholdedRelu on computed tensors). Without `skipUnsupported` the first is a one-line error that
 * names it; with it they are returned, to be reported, and stay unclipped (they are not activation
 * layers, so no method touches them).
 */
export function checkClippable(g: Graph, skipUnsupported: boolean): { node: string; op: string }[] {
  const bad = unclippableActivations(g);
  if (bad.length && !skipUnsupported) {
    const more = bad.length > 1 ? ` (and ${bad.length - 1} more)` : '';
    throw new ProactError(
      `activation node '${bad[0]!.node}' is ${bad[0]!.op}, which proact cannot clip${more}; pass --skip-unsupported to leave it unclipped (clipped forms exist for ReLU, ReLU6, LeakyReLU, PReLU, SiLU, HardSwish, GELU)`,
    );
  }
  return bad;
}
