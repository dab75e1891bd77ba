/**
 * One backward rule per op, micrograd style: given the gradient `dy` of the node's (first) output, a
 * rule emits ONNX nodes for the gradients of the inputs that need one (`c.needs(k)`).
 *
 * A rule returns one entry per input: a value name (the gradient, same dims as the input), `null`
 * when the input has no gradient by definition (a Where condition, a shape, pads), or `undefined` when
 * it was not asked for. An input that was asked for and comes back `undefined` is reported as
 * unsupported, so a missing case can never silently become a zero gradient.
 */
import { ProactError } from '../util/errors.js';
import { attrFloat, attrInt, attrInts, attrString, float, int, ints, numel, tensor, toNumbers, tensorAttr, type Node, type Tensor } from '../graph/index.js';
// sliceParams is not re-exported by src/graph/index.ts; it is the same normalisation shape inference uses.
import { sliceParams } from '../graph/index.js';
import { SLICE_TO_END, type Emitter } from './emit.js';

export interface RuleContext {
  node: Node;
  e: Emitter;
  /** Whether input k depends on a wrt tensor (its gradient is wanted). */
  needs(k: number): boolean;
  /** Dims of a forward value. */
  dims(name: string): number[];
  /** The value of a constant input (an initializer), or an error naming the node. */
  constant(name: string, what: string): Tensor;
  /** The value of `name` if it is a constant (not a wrt tensor), else undefined. */
  constantOrUndefined(name: string): Tensor | undefined;
  /** Raises the opset of the gradient graph (e.g. 16 for ScatterElements with reduction='add'). */
  requireOpset(opset: number): void;
}

export type Grad = string | null | undefined;
export type Rule = (c: RuleContext, dy: string) => Grad[];

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
const filled = (n: number, v: number): number[] => new Array<number>(n).fill(v);
const want = (c: RuleContext, k: number, make: () => string): Grad => (c.needs(k) ? make() : undefined);

function unsupported(n: Node, what: string): never {
  throw new ProactError(`autodiff: node '${n.name}' (${n.op}): ${what} is not supported by the gradient rules`);
}

/** Strides, pads and the input rows no window reaches (when the stride does not divide) of a conv/pool. */
function windowGeometry(n: Node, kernel: number[], xDims: number[], yDims: number[]) {
  const rank = kernel.length;
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') unsupported(n, `auto_pad=${autoPad}`);
  if ((attrInts(n, 'dilations', undefined) ?? []).some((d) => d !== 1)) unsupported(n, 'dilation other than 1');
  const strides = attrInts(n, 'strides', undefined) ?? filled(rank, 1);
  const pads = attrInts(n, 'pads', undefined) ?? filled(2 * rank, 0);
  if ([...xDims.slice(2), ...yDims.slice(2)].some((d) => d < 0)) unsupported(n, 'a dynamic spatial size');
  const unused = kernel.map((k, i) => xDims[2 + i]! + pads[i]! + pads[i + rank]! - ((yDims[2 + i]! - 1) * strides[i]! + k));
  if (unused.some((u) => u < 0)) unsupported(n, 'ceil_mode windows that run past the padded input');
  return { rank, strides, pads, unused };
}

/** Elementwise binary ops: the gradient of input k summed over the axes it was broadcast along. */
function binary(c: RuleContext, k: number, grad: () => string): Grad {
  return want(c, k, () => c.e.unbroadcast(grad(), c.dims(c.node.outputs[0]!), c.node.inputs[k]!));
}

/** Reduce ops: the axes (normalised) from the input or the attribute, depending on the opset. */
function reduceAxes(c: RuleContext, axesFromInput: boolean): number[] {
  const n = c.node;
  const rank = c.dims(n.inputs[0]!).length;
  const axes = axesFromInput ? (n.inputs[1] ? toNumbers(c.constant(n.inputs[1], 'axes')) : undefined) : attrInts(n, 'axes', undefined);
  if ((!axes || axes.length === 0) && attrInt(n, 'noop_with_empty_axes', 0) === 1) return [];
  return (axes && axes.length ? axes : range(0, rank)).map((a) => (a + rank) % rank);
}

/** The gradient of a reduction: dy brought back to the input's shape (before any scaling). */
function expandReduced(c: RuleContext, dy: string, axes: number[]): string {
  const x = c.node.inputs[0]!;
  const rank = c.dims(x).length;
  // A scalar (every axis reduced, keepdims 0) broadcasts as it is; otherwise the reduced axes come back as 1s.
  const kept = attrInt(c.node, 'keepdims', 1) === 1 || axes.length === 0 || axes.length === rank ? dy : c.e.unsqueeze(dy, axes);
  return c.e.op('Expand', [kept, c.e.shapeTensor(x)]);
}

const reshapeBack: Rule = (c, dy) => [c.e.reshapeLike(dy, c.node.inputs[0]!), null];
const passThrough: Rule = (_c, dy) => [dy, null, null];

export const RULES: Record<string, Rule> = {
  Identity: passThrough,
  Dropout: passThrough, // inference mode: identity
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,

  Transpose: (c, dy) => {
    const rank = c.dims(c.node.inputs[0]!).length;
    const perm = attrInts(c.node, 'perm', undefined) ?? range(0, rank).reverse();
    const inverse = perm.map((_, k) => perm.indexOf(k));
    return [c.e.op('Transpose', [dy], { perm: ints(inverse) })];
  },

  Add: (c, dy) => [binary(c, 0, () => dy), binary(c, 1, () => dy)],
  Sub: (c, dy) => [binary(c, 0, () => dy), binary(c, 1, () => c.e.op('Neg', [dy]))],
  Mul: (c, dy) => {
    const [a, b] = c.node.inputs as [string, string];
    return [binary(c, 0, () => c.e.op('Mul', [dy, b])), binary(c, 1, () => c.e.op('Mul', [dy, a]))];
  },
  Div: (c, dy) => {
    const b = c.node.inputs[1]!;
    const y = c.node.outputs[0]!;
    // d(a/b)/db = -a/b^2 = -y/b
    return [binary(c, 0, () => c.e.op('Div', [dy, b])), binary(c, 1, () => c.e.op('Neg', [c.e.op('Div', [c.e.op('Mul', [dy, y]), b])]))];
  },
  Sum: (c, dy) => c.node.inputs.map((_, k) => binary(c, k, () => dy)),

  Neg: (c, dy) => [c.e.op('Neg', [dy])],
  Exp: (c, dy) => [c.e.op('Mul', [dy, c.node.outputs[0]!])],
  Log: (c, dy) => [c.e.op('Div', [dy, c.node.inputs[0]!])],
  Sqrt: (c, dy) => [c.e.op('Div', [dy, c.e.op('Mul', [c.node.outputs[0]!, c.e.scalar(2)])])],
  Sigmoid: (c, dy) => {
    const y = c.node.outputs[0]!;
    return [c.e.op('Mul', [dy, c.e.op('Mul', [y, c.e.op('Sub', [c.e.scalar(1), y])])])];
  },
  Tanh: (c, dy) => {
    const y = c.node.outputs[0]!;
    return [c.e.op('Mul', [dy, c.e.op('Sub', [c.e.scalar(1), c.e.op('Mul', [y, y])])])];
  },

  Relu: (c, dy) => [c.e.where(c.e.op('Greater', [c.node.inputs[0]!, c.e.scalar(0)]), dy, c.e.scalar(0))],

  // Activations beyond ReLU (src/graph/patterns.ts). At x = 0 the kinks take the x > 0 side's
  // derivative only for x > 0 (as Relu): PyTorch's choice for LeakyReLU/PReLU too.
  LeakyRelu: (c, dy) => {
    const x = c.node.inputs[0]!;
    return [c.e.where(c.e.op('Greater', [x, c.e.scalar(0)]), dy, c.e.op('Mul', [dy, c.e.scalar(attrFloat(c.node, 'alpha', 0.01))]))];
  },
  // y = x (x > 0) or slope * x; the slope broadcasts against x (one per channel, [C,1,1]).
  PRelu: (c, dy) => {
    const [x, slope] = c.node.inputs as [string, string];
    const positive = () => c.e.op('Greater', [x, c.e.scalar(0)]);
    return [
      want(c, 0, () => c.e.unbroadcast(c.e.where(positive(), dy, c.e.op('Mul', [dy, slope])), c.dims(c.node.outputs[0]!), x)),
      binary(c, 1, () => c.e.where(positive(), c.e.scalar(0), c.e.op('Mul', [dy, x]))),
    ];
  },
  // d erf(x)/dx = 2/sqrt(pi) exp(-x^2)
  Erf: (c, dy) => {
    const x = c.node.inputs[0]!;
    const g = c.e.op('Exp', [c.e.op('Neg', [c.e.op('Mul', [x, x])])]);
    return [c.e.op('Mul', [dy, c.e.op('Mul', [g, c.e.scalar(2 / Math.sqrt(Math.PI))])])];
  },
  // y = max(0, min(1, alpha x + beta)): slope alpha strictly inside (0, 1), 0 on the flat parts.
  HardSigmoid: (c, dy) => {
    const n = c.node;
    const alpha = attrFloat(n, 'alpha', 0.2);
    const u = c.e.op('Add', [c.e.op('Mul', [n.inputs[0]!, c.e.scalar(alpha)]), c.e.scalar(attrFloat(n, 'beta', 0.5))]);
    const inside = c.e.op('And', [c.e.op('Greater', [u, c.e.scalar(0)]), c.e.op('Less', [u, c.e.scalar(1)])]);
    return [c.e.where(inside, c.e.op('Mul', [dy, c.e.scalar(alpha)]), c.e.scalar(0))];
  },
  // y = x * max(0, min(1, x/6 + 1/2)): 0 below -3, x/3 + 1/2 inside, 1 above 3.
  HardSwish: (c, dy) => {
    const x = c.node.inputs[0]!;
    const inner = c.e.op('Add', [c.e.op('Mul', [x, c.e.scalar(1 / 3)]), c.e.scalar(0.5)]);
    const slope = c.e.where(c.e.op('Less', [x, c.e.scalar(-3)]), c.e.scalar(0), c.e.where(c.e.op('Greater', [x, c.e.scalar(3)]), c.e.scalar(1), inner));
    return [c.e.op('Mul', [dy, slope])];
  },

  // Ties go to the first input (PyTorch splits them; at a tie the function is not differentiable).
  Max: (c, dy) => minMax(c, dy, 'GreaterOrEqual'),
  Min: (c, dy) => minMax(c, dy, 'LessOrEqual'),

  Where: (c, dy) => {
    const cond = c.node.inputs[0]!;
    const zero = c.e.scalar(0);
    return [null, binary(c, 1, () => c.e.where(cond, dy, zero)), binary(c, 2, () => c.e.where(cond, zero, dy))];
  },

  // Passes dy where min <= x <= max (inclusive, as PyTorch); min/max get the gradient of the clipped entries.
  Clip: (c, dy) => {
    const n = c.node;
    const x = n.inputs[0]!;
    const lo = n.inputs[1] || (n.attrs['min'] ? c.e.scalar(attrFloat(n, 'min', 0)) : '');
    const hi = n.inputs[2] || (n.attrs['max'] ? c.e.scalar(attrFloat(n, 'max', 0)) : '');
    const zero = c.e.scalar(0);
    const below = lo ? c.e.op('Less', [x, lo]) : '';
    const above = hi ? c.e.op('Greater', [x, hi]) : '';
    const clippedSum = (mask: string) => c.e.reduceSum(c.e.where(mask, dy, zero), undefined, false);
    return [
      want(c, 0, () => {
        let pass = dy;
        if (below) pass = c.e.where(below, zero, pass);
        if (above) pass = c.e.where(above, zero, pass);
        return pass;
      }),
      want(c, 1, () => c.e.reshapeLike(clippedSum(below), lo)),
      want(c, 2, () => c.e.reshapeLike(clippedSum(above), hi)),
    ];
  },

  Softmax: (c, dy) => {
    const y = c.node.outputs[0]!;
    const axis = softmaxAxis(c);
    const dot = c.e.reduceSum(c.e.op('Mul', [dy, y]), [axis], true);
    return [c.e.op('Mul', [y, c.e.op('Sub', [dy, dot])])];
  },
  LogSoftmax: (c, dy) => {
    const y = c.node.outputs[0]!;
    const axis = softmaxAxis(c);
    const total = c.e.reduceSum(dy, [axis], true);
    return [c.e.op('Sub', [dy, c.e.op('Mul', [c.e.op('Exp', [y]), total])])];
  },

  ReduceSum: (c, dy) => [expandReduced(c, dy, reduceAxes(c, c.e.g.opset >= 13)), null],
  ReduceMean: (c, dy) => {
    const axes = reduceAxes(c, c.e.g.opset >= 18);
    const spread = expandReduced(c, dy, axes);
    return [axes.length === 0 ? spread : c.e.op('Div', [spread, c.e.countOf(c.node.inputs[0]!, axes)]), null];
  },

  Gemm: (c, dy) => {
    const n = c.node;
    const [a, b, bias] = n.inputs as [string, string, string | undefined];
    const alpha = attrFloat(n, 'alpha', 1), beta = attrFloat(n, 'beta', 1);
    const tA = attrInt(n, 'transA', 0), tB = attrInt(n, 'transB', 0);
    const gemm = (p: string, q: string, ta: number, tb: number) => c.e.op('Gemm', [p, q], { alpha: float(alpha), transA: int(ta), transB: int(tb) });
    return [
      // Y = alpha A' B' + beta C with A' = transA ? A^T : A: dA' = alpha dY B'^T, dB' = alpha A'^T dY.
      want(c, 0, () => (tA ? gemm(b, dy, tB, 1) : gemm(dy, b, 0, 1 - tB))),
      want(c, 1, () => (tB ? gemm(dy, a, 1, tA) : gemm(a, dy, 1 - tA, 0))),
      bias ? binary(c, 2, () => (beta === 1 ? dy : c.e.op('Mul', [dy, c.e.scalar(beta)]))) : undefined,
    ];
  },

  MatMul: (c, dy) => {
    const [a, b] = c.node.inputs as [string, string];
    const ad = c.dims(a), bd = c.dims(b), yd = c.dims(c.node.outputs[0]!);
    if (ad.length < 2 || bd.length < 2) unsupported(c.node, '1-D operands');
    const swapLast = (v: string, rank: number) => c.e.op('Transpose', [v], { perm: ints([...range(0, rank - 2), rank - 1, rank - 2]) });
    const batch = yd.slice(0, -2);
    return [
      want(c, 0, () => c.e.unbroadcast(c.e.op('MatMul', [dy, swapLast(b, bd.length)]), [...batch, ...ad.slice(-2)], a)),
      want(c, 1, () => c.e.unbroadcast(c.e.op('MatMul', [swapLast(a, ad.length), dy]), [...batch, ...bd.slice(-2)], b)),
    ];
  },

  Conv: (c, dy) => {
    const n = c.node;
    const [x, w, bias] = n.inputs as [string, string, string | undefined];
    const group = attrInt(n, 'group', 1);
    const kernel = c.dims(w).slice(2);
    const { rank, strides, pads, unused } = windowGeometry(n, kernel, c.dims(x), c.dims(n.outputs[0]!));
    if (group !== 1) return depthwiseConv(c, dy, group, kernel, rank, strides, pads, unused);
    const swap = ints([1, 0, ...range(2, rank + 2)]);
    // With stride 1, dx is a plain conv of dy with the flipped, transposed kernel and pads k-1-p: it
    // runs on onnxruntime's pre-packed conv kernels, several times faster than ConvTranspose.
    const flippedPads = pads.map((p, i) => kernel[i % rank]! - 1 - p);
    const plainConv = strides.every((s) => s === 1) && flippedPads.every((p) => p >= 0);
    return [
      want(c, 0, () =>
        plainConv
          ? c.e.op('Conv', [dy, flippedKernel(c, w, rank)], { kernel_shape: ints(kernel), pads: ints(flippedPads) })
          : // The transposed conv; output_padding restores the input rows that no window reached.
            c.e.op('ConvTranspose', [dy, w], { kernel_shape: ints(kernel), strides: ints(strides), pads: ints(pads), output_padding: ints(unused) }),
      ),
      // dw[m,c] = sum_n x[n,c] (*) dy[n,m]: a conv over the batch with batch and channel axes swapped,
      // dilated by the stride; its window is `unused` wider than the kernel, so the tail is cut.
      want(c, 1, () => {
        const xT = c.e.op('Transpose', [x], { perm: swap });
        const dyT = c.e.op('Transpose', [dy], { perm: swap });
        let full = c.e.op('Conv', [xT, dyT], { pads: ints(pads), dilations: ints(strides), strides: ints(filled(rank, 1)) });
        if (unused.some((u) => u > 0)) full = c.e.op('Slice', [full, c.e.int64s(filled(rank, 0)), c.e.int64s(kernel), c.e.int64s(range(2, rank + 2))]);
        return c.e.op('Transpose', [full], { perm: swap });
      }),
      bias ? want(c, 2, () => c.e.reduceSum(dy, [0, ...range(2, rank + 2)], false)) : undefined,
    ];
  },

  // Inference form: y = (x - mean) / sqrt(var + eps) * scale + bias, per channel (axis 1).
  BatchNormalization: (c, dy) => {
    const n = c.node;
    if (n.outputs.filter(Boolean).length > 1 || attrInt(n, 'training_mode', 0) === 1) unsupported(n, 'training-mode BatchNormalization');
    const [x, scale, , mean, variance] = n.inputs as [string, string, string, string, string];
    const xd = c.dims(x);
    const axes = [0, ...range(2, xd.length)];
    const toChannels = (v: string) => c.e.op('Reshape', [v, c.e.int64s([xd[1]!, ...filled(xd.length - 2, 1)])]);
    const invStd = c.e.op('Reciprocal', [c.e.op('Sqrt', [c.e.op('Add', [variance, c.e.scalar(attrFloat(n, 'epsilon', 1e-5))])])]);
    const gain = c.e.op('Mul', [scale, invStd]);
    const centred = () => c.e.op('Sub', [x, toChannels(mean)]);
    const dBias = () => c.e.reduceSum(dy, axes, false);
    return [
      want(c, 0, () => c.e.op('Mul', [dy, toChannels(gain)])),
      want(c, 1, () => c.e.reduceSum(c.e.op('Mul', [dy, c.e.op('Mul', [centred(), toChannels(invStd)])]), axes, false)),
      want(c, 2, dBias),
      want(c, 3, () => c.e.op('Neg', [c.e.op('Mul', [dBias(), gain])])),
      // d/dvar = (x - mean) * scale * (-1/2) (var + eps)^(-3/2)
      want(c, 4, () => {
        const factor = c.e.op('Mul', [gain, c.e.op('Mul', [c.e.op('Mul', [invStd, invStd]), c.e.scalar(-0.5)])]);
        return c.e.op('Mul', [c.e.reduceSum(c.e.op('Mul', [dy, centred()]), axes, false), factor]);
      }),
    ];
  },

  // Each output's gradient goes to the input element its Indices output names (the first maximum, as
  // PyTorch; padding is never selected, so all-negative windows work). Overlapping windows can pick the
  // same element, which needs ScatterElements' reduction='add' (opset 16).
  MaxPool: (c, dy) => {
    const n = c.node;
    const x = n.inputs[0]!;
    if (attrInt(n, 'storage_order', 0) !== 0) unsupported(n, 'storage_order=1');
    if (!n.outputs[1]) n.outputs[1] = c.e.g.uniqueName(`${n.outputs[0]}.indices`);
    const kernel = attrInts(n, 'kernel_shape', undefined) ?? unsupported(n, 'a missing kernel_shape');
    const strides = attrInts(n, 'strides', undefined) ?? filled(kernel.length, 1);
    const dilations = attrInts(n, 'dilations', undefined) ?? filled(kernel.length, 1);
    const overlap = kernel.some((k, i) => (k - 1) * dilations[i]! + 1 > strides[i]!);
    if (overlap) c.requireOpset(16);
    const flat = (v: string) => c.e.op('Reshape', [v, c.e.int64s([-1])]);
    const zeros = c.e.op('ConstantOfShape', [c.e.shapeTensor(x)], { value: tensorAttr(tensor(c.e.floatType, [1], [0])) });
    const scattered = c.e.op('ScatterElements', [flat(zeros), flat(n.outputs[1]), flat(dy)], overlap ? { axis: int(0), reduction: { type: 'string', value: 'add' } } : { axis: int(0) });
    return [c.e.reshapeLike(scattered, x)];
  },

  // Each input element receives dy / count from every window that covers it: a depthwise transposed
  // conv with a kernel of ones, after dividing dy by each window's count (which excludes padding
  // unless count_include_pad=1).
  AveragePool: (c, dy) => {
    const n = c.node;
    const x = n.inputs[0]!;
    const xd = c.dims(x), yd = c.dims(n.outputs[0]!);
    const kernel = attrInts(n, 'kernel_shape', undefined) ?? unsupported(n, 'a missing kernel_shape');
    const { strides, pads, unused } = windowGeometry(n, kernel, xd, yd);
    if (xd[1]! < 0) unsupported(n, 'a dynamic channel count');
    const includePad = attrInt(n, 'count_include_pad', 0) === 1 || pads.every((p) => p === 0);
    const scaled = includePad
      ? c.e.op('Mul', [dy, c.e.scalar(1 / numel(kernel))])
      : c.e.op('Mul', [dy, c.e.g.addConstant('grad.avgpool_inv_count', windowInverseCounts(xd.slice(2), yd.slice(2), kernel, strides, pads, c.e.floatType))]);
    const ones = c.e.g.addConstant('grad.avgpool_ones', tensor(c.e.floatType, [xd[1]!, 1, ...kernel], filled(xd[1]! * numel(kernel), 1)));
    return [c.e.op('ConvTranspose', [scaled, ones], { group: int(xd[1]!), kernel_shape: ints(kernel), strides: ints(strides), pads: ints(pads), output_padding: ints(unused) })];
  },

  GlobalAveragePool: (c, dy) => {
    const x = c.node.inputs[0]!;
    const spatial = c.dims(x).slice(2);
    if (spatial.some((d) => d < 0)) unsupported(c.node, 'a dynamic spatial size');
    return [c.e.op('Expand', [c.e.op('Mul', [dy, c.e.scalar(1 / numel(spatial))]), c.e.shapeTensor(x)])];
  },

  // The inverse of a constant Pad is a Slice (and of a negative pad, a zero pad): one Pad with the negated pads does both.
  Pad: (c, dy) => {
    const n = c.node;
    if (attrString(n, 'mode', 'constant') !== 'constant') unsupported(n, `mode=${attrString(n, 'mode', 'constant')}`);
    if (n.inputs[3]) unsupported(n, 'the axes input');
    const pads = c.e.g.opset >= 11 ? toNumbers(c.constant(n.inputs[1]!, 'pads')) : (attrInts(n, 'pads', undefined) ?? []);
    return [cropOrPad(c, dy, pads.map((p) => -p)), null, null];
  },

  // The inverse of a Slice: put the kept elements back in place, zeros elsewhere. On the last two axes
  // that is a MatMul with a constant 0/1 placement matrix (fast, and it also applies the offset);
  // elsewhere the elements are spread (step - 1 zeros after each) and the result padded.
  Slice: (c, dy) => {
    const n = c.node;
    const x = n.inputs[0]!;
    const xd = c.dims(x);
    const rank = xd.length;
    const rest = n.inputs.slice(1).map((name, k) => (name ? c.constant(name, ['starts', 'ends', 'axes', 'steps'][k]!) : undefined));
    const axes = rest[2] ? toNumbers(rest[2]) : (rest[0] ? toNumbers(rest[0]) : []).map((_, k) => k);
    const sliced = new Set(axes.map((a) => (a + rank) % rank));
    const concrete = xd.map((d, k) => (d < 0 && !sliced.has(k) ? 1 : d));
    const { starts, steps, dims } = sliceParams(concrete, rest, n);
    let cur = dy;
    const curDims = c.dims(n.outputs[0]!).slice();
    const pads = filled(2 * rank, 0);
    for (const a of sliced) {
      if (steps[a]! < 0) unsupported(n, 'a negative step');
      if (a >= rank - 2 && rank >= 2) {
        cur = placeAlong(c, cur, a === rank - 1, starts[a]!, steps[a]!, dims[a]!, xd[a]!);
        curDims[a] = xd[a]!;
        continue;
      }
      if (steps[a]! > 1 && dims[a]! > 0) {
        cur = spread(c, cur, curDims, a, steps[a]!);
        curDims[a] = dims[a]! * steps[a]!;
      }
      pads[a] = starts[a]!;
      pads[a + rank] = xd[a]! - starts[a]! - curDims[a]!;
    }
    return [cropOrPad(c, cur, pads), null, null, null, null];
  },

  Concat: (c, dy) => {
    const n = c.node;
    const rank = c.dims(n.inputs[0]!).length;
    const axis = (attrInt(n, 'axis', 0) + rank) % rank;
    let offset = 0;
    return n.inputs.map((input, k) => {
      const size = c.dims(input)[axis]!;
      if (size < 0) unsupported(n, 'concatenation along a dynamic axis');
      const from = offset;
      offset += size;
      return want(c, k, () => c.e.op('Slice', [dy, c.e.int64s([from]), c.e.int64s([from + size]), c.e.int64s([axis])]));
    });
  },
};

/**
 * Backward of a depthwise convolution (group = input channels = output channels, MobileNet's 3x3
 * layers); other grouped convolutions are refused. dx is the grouped transposed conv with the same
 * kernel; dw[c] = sum_n x[n,c] (*) dy[n,c] is one grouped conv: the batch moves into the channels
 * (x as [1, C*N, H, W]) and dy becomes a kernel of C groups of N channels ([C, N, H', W']), dilated by
 * the stride like the dense case.
 */
function depthwiseConv(c: RuleContext, dy: string, group: number, kernel: number[], rank: number, strides: number[], pads: number[], unused: number[]): Grad[] {
  const n = c.node;
  const [x, w, bias] = n.inputs as [string, string, string | undefined];
  const xd = c.dims(x);
  const wd = c.dims(w);
  if (rank !== 2 || xd[1] !== group || wd[0] !== group || wd[1] !== 1) unsupported(n, `grouped convolution other than 2-D depthwise (group ${group}, weight [${wd}], input channels ${xd[1]})`);
  const swap = ints([1, 0, 2, 3]);
  return [
    want(c, 0, () =>
      c.e.op('ConvTranspose', [dy, w], { kernel_shape: ints(kernel), strides: ints(strides), pads: ints(pads), output_padding: ints(unused), group: int(group) }),
    ),
    want(c, 1, () => {
      const xs = c.e.op('Reshape', [c.e.op('Transpose', [x], { perm: swap }), c.e.int64s([1, -1, xd[2]!, xd[3]!])]);
      const dyT = c.e.op('Transpose', [dy], { perm: swap });
      let full = c.e.op('Conv', [xs, dyT], { pads: ints(pads), dilations: ints(strides), strides: ints([1, 1]), group: int(group) });
      if (unused.some((u) => u > 0)) full = c.e.op('Slice', [full, c.e.int64s([0, 0]), c.e.int64s(kernel), c.e.int64s([2, 3])]);
      return c.e.op('Reshape', [full, c.e.int64s([group, 1, kernel[0]!, kernel[1]!])]);
    }),
    bias ? want(c, 2, () => c.e.reduceSum(dy, [0, 2, 3], false)) : undefined,
  ];
}

/** W [M, C, k...] -> W' [C, M, k...] with every spatial axis reversed: a constant when W is one. */
function flippedKernel(c: RuleContext, w: string, rank: number): string {
  const t = c.constantOrUndefined(w);
  if (!t || t.dtype !== c.e.floatType) {
    const swapped = c.e.op('Transpose', [w], { perm: ints([1, 0, ...range(2, rank + 2)]) });
    const axes = range(2, rank + 2);
    return c.e.op('Slice', [swapped, c.e.int64s(filled(rank, -1)), c.e.int64s(filled(rank, -SLICE_TO_END)), c.e.int64s(axes), c.e.int64s(filled(rank, -1))]);
  }
  const [m, ch] = t.dims as [number, number];
  const spatial = numel(t.dims.slice(2));
  const out = tensor(t.dtype, [ch, m, ...t.dims.slice(2)]);
  // Reversing every spatial axis of a row-major block reverses its flattened order.
  for (let i = 0; i < m; i++)
    for (let j = 0; j < ch; j++)
      for (let s = 0; s < spatial; s++) out.data[(j * m + i) * spatial + s] = t.data[(i * ch + j) * spatial + (spatial - 1 - s)]!;
  return c.e.g.addConstant(`${w}.flipped`, out);
}

function minMax(c: RuleContext, dy: string, firstWins: 'GreaterOrEqual' | 'LessOrEqual'): Grad[] {
  const [a, b] = c.node.inputs as [string, string | undefined];
  if (c.node.inputs.length > 2) unsupported(c.node, 'more than two inputs');
  if (!b) return [dy];
  const first = c.e.op(firstWins, [a, b]);
  const zero = c.e.scalar(0);
  return [binary(c, 0, () => c.e.where(first, dy, zero)), binary(c, 1, () => c.e.where(first, zero, dy))];
}

function softmaxAxis(c: RuleContext): number {
  const rank = c.dims(c.node.inputs[0]!).length;
  const axis = (attrInt(c.node, 'axis', c.e.g.opset >= 13 ? -1 : 1) + rank) % rank;
  // Before opset 13 the op flattens to 2-D around the axis; that equals the per-axis form only on the last axis.
  if (c.e.g.opset < 13 && axis !== rank - 1) unsupported(c.node, 'a softmax axis other than the last before opset 13');
  return axis;
}

/** Pads (positive entries) and crops (negative entries) v; pads in ONNX order [begins..., ends...]. */
function cropOrPad(c: RuleContext, v: string, pads: number[]): string {
  const rank = pads.length / 2;
  let out = v;
  const crop = range(0, rank).filter((a) => pads[a]! < 0 || pads[a + rank]! < 0);
  if (crop.length) {
    const starts = crop.map((a) => Math.max(0, -pads[a]!));
    const ends = crop.map((a) => (pads[a + rank]! < 0 ? pads[a + rank]! : SLICE_TO_END));
    out = c.e.op('Slice', [out, c.e.int64s(starts), c.e.int64s(ends), c.e.int64s(crop)]);
  }
  if (pads.some((p) => p > 0)) out = c.e.op('Pad', [out, c.e.int64s(pads.map((p) => Math.max(0, p)))], { mode: { type: 'string', value: 'constant' } });
  return out;
}

/**
 * Places the `count` entries of v's last (or second-to-last) axis at positions start, start + step, ...
 * of an axis of length `size`, zeros elsewhere: v @ P with P[j, start + j step] = 1 (or P^T @ v).
 */
function placeAlong(c: RuleContext, v: string, last: boolean, start: number, step: number, count: number, size: number): string {
  const values = new Array<number>(count * size).fill(0);
  for (let j = 0; j < count; j++) values[last ? j * size + start + j * step : (start + j * step) * count + j] = 1;
  const p = c.e.g.addConstant('grad.slice_placement', tensor(c.e.floatType, last ? [count, size] : [size, count], values));
  return c.e.op('MatMul', last ? [v, p] : [p, v]);
}

/** [.., n, ..] -> [.., n * step, ..] along `axis` with each element followed by step - 1 zeros. */
function spread(c: RuleContext, v: string, dims: number[], axis: number, step: number): string {
  const rank = dims.length;
  const withSlot = c.e.unsqueeze(v, [axis + 1]);
  const pads = filled(2 * (rank + 1), 0);
  pads[rank + 1 + axis + 1] = step - 1;
  const padded = c.e.op('Pad', [withSlot, c.e.int64s(pads)], { mode: { type: 'string', value: 'constant' } });
  // Reshape target: 0 copies a leading dim (the dynamic batch), the later dims are known.
  const target = dims.map((d, k) => {
    if (k < axis) return 0;
    if (k === axis) return dims[axis]! * step;
    if (d < 0) unsupported(c.node, 'a strided slice before a dynamic axis');
    return d;
  });
  return c.e.op('Reshape', [padded, c.e.int64s(target)]);
}

/** 1 / (number of non-padding elements) of each pooling window, as [1, 1, ...outSpatial]. */
function windowInverseCounts(inSpatial: number[], outSpatial: number[], kernel: number[], strides: number[], pads: number[], dtype: 'float32' | 'float64' | string): Tensor {
  const rank = kernel.length;
  const perAxis = range(0, rank).map((i) =>
    range(0, outSpatial[i]!).map((o) => {
      const start = o * strides[i]! - pads[i]!;
      return Math.min(start + kernel[i]!, inSpatial[i]!) - Math.max(start, 0);
    }),
  );
  const values: number[] = [];
  const visit = (i: number, count: number): void => {
    if (i === rank) {
      values.push(1 / count);
      return;
    }
    for (const k of perAxis[i]!) visit(i + 1, count * k);
  };
  visit(0, 1);
  return tensor(dtype === 'float64' ? 'float64' : 'float32', [1, 1, ...outSpatial], values);
}
