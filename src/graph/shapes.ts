/**
 * Shape inference for the ops proact supports. Dims use -1 for the dynamic batch. An op outside the
 * supported set is reported with the node's name, which is how "unsupported op" errors reach the user.
 */
import { ProactError } from '../util/errors.js';
import { attrInt, attrInts, type Graph, type Node } from './ir.js';
import { reshapeDims, sliceParams, squeezeDims } from './consteval.js';
import { toNumbers, type DType, type Tensor } from './tensor.js';

export interface ValueType {
  dtype: DType;
  dims: number[];
}

export const SUPPORTED_OPS = new Set([
  'Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Relu', 'Clip', 'Sigmoid', 'Max', 'Min', 'Where',
  'Greater', 'Less', 'Equal', 'BatchNormalization', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape',
  'Transpose', 'Pad', 'Slice', 'Concat', 'Constant', 'Shape', 'Gather', 'Cast', 'ConstantOfShape', 'Softmax', 'LogSoftmax',
  'ReduceSum', 'ReduceMean', 'ReduceMax', 'Identity', 'Unsqueeze', 'Squeeze', 'Neg', 'Exp', 'Log', 'Abs', 'Sqrt', 'Pow',
  'Tanh', 'Not', 'And', 'Or', 'IsInf', 'IsNaN', 'ScatterElements', 'GatherElements', 'Expand', 'Range', 'ArgMax',
  'Dropout', 'Sign', 'Floor', 'Ceil', 'Reciprocal', 'OneHot', 'GreaterOrEqual', 'LessOrEqual', 'Tile', 'Sum', 'Mean',
  // Activations beyond ReLU (patterns.ts): clippable ones and the unbounded ones hardening names as unclippable.
  'LeakyRelu', 'PRelu', 'Erf', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Celu', 'Softplus', 'ThresholdedRelu',
]);

const ELEMENTWISE_UNARY = new Set(['Relu', 'Sigmoid', 'Neg', 'Exp', 'Log', 'Abs', 'Sqrt', 'Tanh', 'Identity', 'Dropout', 'Sign', 'Floor', 'Ceil', 'Reciprocal', 'Softmax', 'LogSoftmax', 'Clip', 'Not',
  'LeakyRelu', 'Erf', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Celu', 'Softplus', 'ThresholdedRelu']);
const BROADCAST_BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'Sum', 'Mean', 'PRelu']);
const COMPARISON = new Set(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or']);

export function broadcastDims(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    const x = a[a.length - rank + k] ?? 1, y = b[b.length - rank + k] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === -1 ? y : x);
  }
  return out;
}

function poolOut(inDims: number[], n: Node, kernel: number[], channelsOut: number): number[] {
  const rank = kernel.length;
  const strides = attrInts(n, 'strides', undefined) ?? kernel.map(() => 1);
  const pads = attrInts(n, 'pads', undefined) ?? new Array<number>(2 * rank).fill(0);
  const dil = attrInts(n, 'dilations', undefined) ?? kernel.map(() => 1);
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const autoPad = n.attrs['auto_pad'];
  if (autoPad?.type === 'string' && autoPad.value !== 'NOTSET' && autoPad.value !== 'VALID')
    throw new ProactError(`node '${n.name}' (${n.op}): auto_pad=${autoPad.value} is not supported; export with explicit pads`);
  const spatial = kernel.map((k, i) => {
    const d = inDims[2 + i]!;
    if (d < 0) return -1;
    const eff = (k - 1) * dil[i]! + 1;
    const span = d + pads[i]! + pads[i + rank]! - eff;
    return (ceil ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1;
  });
  return [inDims[0]!, channelsOut, ...spatial];
}

/**
 * Infers the dtype and dims of every value. `constants` gives the values of constant tensors (the
 * initializers, plus anything already folded) so that Reshape/Slice/Pad with constant operands resolve.
 */
export function inferShapes(g: Graph): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  const consts = new Map<string, Tensor>(g.initializers);
  for (const [k, t] of g.initializers) types.set(k, { dtype: t.dtype, dims: [...t.dims] });
  for (const v of g.inputs) types.set(v.name, { dtype: v.dtype, dims: [...v.dims] });
  for (const n of g.nodes) {
    if (n.op === 'Constant') {
      const a = n.attrs['value'];
      if (a?.type === 'tensor') consts.set(n.outputs[0]!, a.value);
    }
    const outs = inferNode(n, n.inputs.map((i) => (i ? types.get(i) : undefined)), n.inputs.map((i) => (i ? consts.get(i) : undefined)), g.opset);
    outs.forEach((t, k) => {
      const name = n.outputs[k];
      if (name) types.set(name, t);
    });
  }
  return types;
}

/**
 * The dtype and dims of a node's outputs. A malformed node (attributes or operand shapes that make no
 * sense, as only a damaged or hand-made file holds) gives a one-line ProactError naming the node, as
 * do output dims that are not sizes (integers >= 0, or -1 for the dynamic batch).
 */
export function inferNode(n: Node, ins: (ValueType | undefined)[], consts: (Tensor | undefined)[], opset: number): ValueType[] {
  let outs: ValueType[];
  try {
    outs = inferUnchecked(n, ins, consts, opset);
  } catch (e) {
    if (e instanceof ProactError) throw e;
    throw new ProactError(`node '${n.name}' (${n.op}): malformed attributes or operands (${e instanceof Error ? e.message : String(e)}); the model is malformed`);
  }
  for (const t of outs)
    if (!t.dims.every((d) => Number.isSafeInteger(d) && d >= -1))
      throw new ProactError(`node '${n.name}' (${n.op}): its attributes and operands give output dims [${t.dims.map(String)}], which are not sizes; the model is malformed`);
  return outs;
}

function inferUnchecked(n: Node, ins: (ValueType | undefined)[], consts: (Tensor | undefined)[], opset: number): ValueType[] {
  if (!SUPPORTED_OPS.has(n.op) || (n.domain && n.domain !== 'ai.onnx'))
    throw new ProactError(`unsupported op '${n.op}'${n.domain ? ` (domain ${n.domain})` : ''} in node '${n.name}'; proact supports ${[...SUPPORTED_OPS].slice(0, 12).join(', ')}, ...`);
  const x = ins[0];
  const need = (k: number): ValueType => {
    const t = ins[k];
    if (!t) throw new ProactError(`node '${n.name}' (${n.op}): the type of input ${k} ('${n.inputs[k]}') is unknown`);
    return t;
  };
  const constOf = (k: number, what: string): number[] => {
    const c = consts[k];
    if (!c) throw new ProactError(`node '${n.name}' (${n.op}): ${what} must be constant (run constant folding first)`);
    return toNumbers(c);
  };
  if (ELEMENTWISE_UNARY.has(n.op)) return [{ ...need(0) }];
  if (BROADCAST_BINARY.has(n.op)) {
    let dims = need(0).dims;
    for (let k = 1; k < ins.length; k++) if (n.inputs[k]) dims = broadcastDims(dims, need(k).dims);
    return [{ dtype: need(0).dtype, dims }];
  }
  if (COMPARISON.has(n.op)) return [{ dtype: 'bool', dims: broadcastDims(need(0).dims, need(1).dims) }];
  switch (n.op) {
    case 'IsInf':
    case 'IsNaN':
      return [{ dtype: 'bool', dims: [...need(0).dims] }];
    case 'Where':
      return [{ dtype: need(1).dtype, dims: broadcastDims(broadcastDims(need(0).dims, need(1).dims), need(2).dims) }];
    case 'Constant': {
      const a = n.attrs['value'];
      if (a?.type === 'tensor') return [{ dtype: a.value.dtype, dims: [...a.value.dims] }];
      if (n.attrs['value_float']) return [{ dtype: 'float32', dims: [] }];
      if (n.attrs['value_int']) return [{ dtype: 'int64', dims: [] }];
      const fs = n.attrs['value_floats'], is = n.attrs['value_ints'];
      if (fs?.type === 'floats') return [{ dtype: 'float32', dims: [fs.value.length] }];
      if (is?.type === 'ints') return [{ dtype: 'int64', dims: [is.value.length] }];
      throw new ProactError(`node '${n.name}' (Constant): unsupported value attribute`);
    }
    case 'Conv': {
      const w = need(1).dims;
      const kernel = attrInts(n, 'kernel_shape', undefined) ?? w.slice(2);
      return [{ dtype: need(0).dtype, dims: poolOut(need(0).dims, n, kernel, w[0]!) }];
    }
    case 'ConvTranspose': {
      const w = need(1).dims;
      const xd = need(0).dims;
      const kernel = attrInts(n, 'kernel_shape', undefined) ?? w.slice(2);
      const group = attrInt(n, 'group', 1);
      const strides = attrInts(n, 'strides', undefined) ?? kernel.map(() => 1);
      const pads = attrInts(n, 'pads', undefined) ?? new Array<number>(2 * kernel.length).fill(0);
      const outPad = attrInts(n, 'output_padding', undefined) ?? kernel.map(() => 0);
      const outShape = attrInts(n, 'output_shape', undefined);
      const spatial = kernel.map((k, i) =>
        outShape ? outShape[i]! : xd[2 + i]! < 0 ? -1 : strides[i]! * (xd[2 + i]! - 1) + outPad[i]! + k - pads[i]! - pads[i + kernel.length]!,
      );
      return [{ dtype: need(0).dtype, dims: [xd[0]!, w[1]! * group, ...spatial] }];
    }
    case 'MaxPool':
    case 'AveragePool': {
      const kernel = attrInts(n, 'kernel_shape', undefined);
      if (!kernel) throw new ProactError(`node '${n.name}' (${n.op}): kernel_shape is required`);
      const out = { dtype: need(0).dtype, dims: poolOut(need(0).dims, n, kernel, need(0).dims[1]!) };
      return n.outputs.length > 1 ? [out, { dtype: 'int64', dims: [...out.dims] }] : [out];
    }
    case 'GlobalAveragePool': {
      const d = need(0).dims;
      return [{ dtype: need(0).dtype, dims: [d[0]!, d[1]!, ...d.slice(2).map(() => 1)] }];
    }
    case 'BatchNormalization':
      return [{ ...need(0) }];
    case 'Gemm': {
      const a = need(0).dims, b = need(1).dims;
      const m = attrInt(n, 'transA', 0) ? a[1]! : a[0]!;
      const nn = attrInt(n, 'transB', 0) ? b[0]! : b[1]!;
      return [{ dtype: need(0).dtype, dims: [m, nn] }];
    }
    case 'MatMul': {
      const a = need(0).dims, b = need(1).dims;
      if (a.length < 2 || b.length < 2) throw new ProactError(`node '${n.name}' (MatMul): 1-D operands are not supported`);
      const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
      return [{ dtype: need(0).dtype, dims: [...batch, a[a.length - 2]!, b[b.length - 1]!] }];
    }
    case 'Flatten': {
      const d = need(0).dims;
      const axis = (attrInt(n, 'axis', 1) + d.length) % (d.length || 1);
      const prod = (v: number[]) => (v.includes(-1) ? -1 : v.reduce((p, q) => p * q, 1));
      return [{ dtype: need(0).dtype, dims: [prod(d.slice(0, axis)), prod(d.slice(axis))] }];
    }
    case 'Reshape':
      return [{ dtype: need(0).dtype, dims: reshapeDims(need(0).dims, constOf(1, 'the target shape'), n) }];
    case 'Transpose': {
      const d = need(0).dims;
      const perm = attrInts(n, 'perm', undefined) ?? d.map((_, k) => d.length - 1 - k);
      return [{ dtype: need(0).dtype, dims: perm.map((p) => d[p]!) }];
    }
    case 'Pad': {
      const d = need(0).dims;
      const pads = opset >= 11 ? constOf(1, 'pads') : attrInts(n, 'pads', [])!;
      return [{ dtype: need(0).dtype, dims: d.map((v, k) => (v < 0 ? -1 : v + pads[k]! + pads[k + d.length]!)) }];
    }
    case 'Slice': {
      const d = need(0).dims;
      const rest = consts.slice(1);
      for (let k = 1; k < n.inputs.length; k++) if (n.inputs[k] && !consts[k]) constOf(k, 'starts/ends/axes/steps');
      // A dynamic batch dim is only allowed when that axis is not sliced.
      const axes = rest[2] ? toNumbers(rest[2]) : (rest[0] ? toNumbers(rest[0]) : []).map((_, k) => k);
      const sliced = new Set(axes.map((a) => (a + d.length) % d.length));
      const concrete = d.map((v, k) => (v < 0 && !sliced.has(k) ? 1 : v));
      const out = sliceParams(concrete, rest, n).dims.map((v, k) => (d[k]! < 0 && !sliced.has(k) ? -1 : v));
      return [{ dtype: need(0).dtype, dims: out }];
    }
    case 'Concat': {
      const ts = ins.filter((t): t is ValueType => !!t);
      const rank = ts[0]!.dims.length;
      const axis = (attrInt(n, 'axis', 0) + rank) % rank;
      const dims = [...ts[0]!.dims];
      dims[axis] = ts.some((t) => t.dims[axis]! < 0) ? -1 : ts.reduce((s, t) => s + t.dims[axis]!, 0);
      return [{ dtype: ts[0]!.dtype, dims }];
    }
    case 'Shape':
      return [{ dtype: 'int64', dims: [need(0).dims.length] }];
    case 'Gather': {
      const d = need(0).dims, idx = need(1).dims;
      const axis = (attrInt(n, 'axis', 0) + d.length) % d.length;
      return [{ dtype: need(0).dtype, dims: [...d.slice(0, axis), ...idx, ...d.slice(axis + 1)] }];
    }
    case 'GatherElements':
    case 'ScatterElements':
      return [{ dtype: need(0).dtype, dims: [...(n.op === 'GatherElements' ? need(1).dims : need(0).dims)] }];
    case 'Cast': {
      const code = attrInt(n, 'to', 1);
      const map: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };
      const dt = map[code];
      if (!dt) throw new ProactError(`node '${n.name}' (Cast): unsupported target type ${code}`);
      return [{ dtype: dt, dims: [...need(0).dims] }];
    }
    case 'ConstantOfShape': {
      const v = n.attrs['value'];
      return [{ dtype: v?.type === 'tensor' ? v.value.dtype : 'float32', dims: constOf(0, 'the shape') }];
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const axes = opset >= 13 ? (n.inputs[1] ? constOf(1, 'axes') : undefined) : attrInts(n, 'axes', undefined);
      return [{ dtype: need(0).dtype, dims: squeezeDims(n.op, need(0).dims, axes) }];
    }
    case 'ReduceSum':
    case 'ReduceMean':
    case 'ReduceMax': {
      const d = need(0).dims;
      const fromInput = n.op === 'ReduceSum' ? opset >= 13 : opset >= 18;
      const axes = fromInput ? (n.inputs[1] ? constOf(1, 'axes') : undefined) : attrInts(n, 'axes', undefined);
      const keep = attrInt(n, 'keepdims', 1) === 1;
      const ax = new Set((axes ?? d.map((_, k) => k)).map((a) => (a + d.length) % d.length));
      if (axes && axes.length === 0 && attrInt(n, 'noop_with_empty_axes', 0)) return [{ ...need(0) }];
      const dims = keep ? d.map((v, k) => (ax.has(k) ? 1 : v)) : d.filter((_, k) => !ax.has(k));
      return [{ dtype: need(0).dtype, dims }];
    }
    case 'ArgMax': {
      const d = need(0).dims;
      const axis = (attrInt(n, 'axis', 0) + d.length) % d.length;
      const keep = attrInt(n, 'keepdims', 1) === 1;
      return [{ dtype: 'int64', dims: keep ? d.map((v, k) => (k === axis ? 1 : v)) : d.filter((_, k) => k !== axis) }];
    }
    case 'Expand':
      return [{ dtype: need(0).dtype, dims: broadcastDims(need(0).dims, constOf(1, 'the shape')) }];
    case 'Tile': {
      const reps = constOf(1, 'repeats');
      return [{ dtype: need(0).dtype, dims: need(0).dims.map((v, k) => (v < 0 ? -1 : v * reps[k]!)) }];
    }
    case 'Range':
      return [{ dtype: need(0).dtype, dims: [-1] }];
    case 'OneHot': {
      const depth = constOf(1, 'depth')[0]!;
      return [{ dtype: need(2).dtype, dims: [...need(0).dims, depth] }];
    }
  }
  void x;
  throw new ProactError(`unsupported op '${n.op}' in node '${n.name}'`);
}
