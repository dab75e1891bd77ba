/**
 * A small evaluator for the constant sub-graphs that exporters emit (shape arithmetic: Shape, Gather,
 * ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast, Unsqueeze, ...). It works on small tensors
 * in plain JS; real compute always runs in onnxruntime.
 */
import { ProactError } from '../util/errors.js';
import { attrInt, attrInts, type Node } from './ir.js';
import { allocate, numel, toNumbers, type DType, type Tensor } from './tensor.js';

const ONNX_TO_DTYPE: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };

/**
 * Largest tensor constant folding creates (16 Mi elements). Exporters' shape arithmetic is tiny; a
 * larger result means a malformed model (e.g. ConstantOfShape of [1e6, 1e6]) and is refused before any
 * memory is allocated.
 */
export const MAX_FOLDED_ELEMENTS = 1 << 24;

/** Element count of a folded result of `dims`, refusing invalid dims and sizes above the limit. */
function foldedSize(dims: readonly number[]): number {
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new ProactError(`constant folding gives invalid dims [${dims}]; the model is malformed`);
  const n = numel(dims);
  if (n > MAX_FOLDED_ELEMENTS)
    throw new ProactError(`constant folding would create ${n} elements (dims [${dims}]), above the limit of ${MAX_FOLDED_ELEMENTS}; the model is malformed`);
  return n;
}

/** Ops this evaluator can fold when all inputs are constant. */
export const FOLDABLE_OPS = new Set([
  'Constant', 'Identity', 'Shape', 'Gather', 'ConstantOfShape', 'Concat', 'Reshape', 'Slice', 'Transpose', 'Cast',
  'Unsqueeze', 'Squeeze', 'Add', 'Sub', 'Mul', 'Div', 'Equal', 'Where', 'Range', 'Flatten', 'Neg', 'Sqrt', 'Max', 'Min',
]);

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= dims[k]!;
  }
  return s;
}

function make(dtype: DType, dims: number[], values: ArrayLike<number>): Tensor {
  const data = allocate(dtype, foldedSize(dims));
  if (data instanceof BigInt64Array) for (let i = 0; i < data.length; i++) data[i] = BigInt(Math.trunc(values[i]!));
  else for (let i = 0; i < data.length; i++) data[i] = values[i]!;
  return { dtype, dims, data };
}

/** Gathers elements of `t` by a mapping from output flat index to input flat index. */
function remap(t: Tensor, dims: number[], srcIndex: (outFlat: number[]) => number): Tensor {
  const n = foldedSize(dims);
  const src = toNumbers(t);
  const out = new Array<number>(n);
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < n; i++) {
    out[i] = src[srcIndex(idx)]!;
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
  return make(t.dtype, dims, out);
}

function broadcast(a: Tensor, b: Tensor, f: (x: number, y: number) => number, outType?: DType): Tensor {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pa = [...new Array(rank - a.dims.length).fill(1), ...a.dims];
  const pb = [...new Array(rank - b.dims.length).fill(1), ...b.dims];
  const dims = pa.map((d, k) => (d === 1 ? pb[k]! : d));
  const sa = strides(pa), sb = strides(pb);
  const n = foldedSize(dims);
  const va = toNumbers(a), vb = toNumbers(b);
  const out = new Array<number>(n);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let ia = 0, ib = 0;
    for (let k = 0; k < rank; k++) {
      if (pa[k] !== 1) ia += idx[k]! * sa[k]!;
      if (pb[k] !== 1) ib += idx[k]! * sb[k]!;
    }
    out[i] = f(va[ia]!, vb[ib]!);
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
  return make(outType ?? a.dtype, dims, out);
}

const isInt = (d: DType) => d !== 'float32' && d !== 'float64' && d !== 'float16';

/**
 * Evaluates one node on constant inputs. A malformed node (operands or attributes that make no sense,
 * which only a damaged or hand-made file holds) gives a one-line ProactError naming the node.
 */
export function evalConstNode(n: Node, inputs: (Tensor | undefined)[], opset: number): Tensor {
  try {
    const t = evalUnchecked(n, inputs, opset);
    // Reshape and friends reuse the input's data under new dims: they must still describe it.
    if (foldedSize(t.dims) !== t.data.length) throw new ProactError(`gives dims [${t.dims}] for ${t.data.length} values; the model is malformed`);
    return t;
  } catch (e) {
    if (e instanceof ProactError) throw e.message.startsWith('node ') ? e : new ProactError(`node '${n.name}' (${n.op}): ${e.message}`);
    throw new ProactError(`node '${n.name}' (${n.op}): cannot fold its constant operands (${e instanceof Error ? e.message : String(e)}); the model is malformed`);
  }
}

function evalUnchecked(n: Node, inputs: (Tensor | undefined)[], opset: number): Tensor {
  const x = inputs[0];
  const need = (t: Tensor | undefined, k: number): Tensor => {
    if (!t) throw new ProactError(`node '${n.name}' (${n.op}): input ${k} is missing`);
    return t;
  };
  switch (n.op) {
    case 'Constant': {
      const a = n.attrs['value'];
      if (a?.type === 'tensor') return a.value;
      const vf = n.attrs['value_float'], vi = n.attrs['value_int'], vfs = n.attrs['value_floats'], vis = n.attrs['value_ints'];
      if (vf?.type === 'float') return make('float32', [], [vf.value]);
      if (vi?.type === 'int') return make('int64', [], [vi.value]);
      if (vfs?.type === 'floats') return make('float32', [vfs.value.length], vfs.value);
      if (vis?.type === 'ints') return make('int64', [vis.value.length], vis.value);
      throw new ProactError(`node '${n.name}' (Constant): unsupported value attribute`);
    }
    case 'Identity':
      return need(x, 0);
    case 'Cast': {
      const to = ONNX_TO_DTYPE[attrInt(n, 'to', 1)];
      if (!to) throw new ProactError(`node '${n.name}' (Cast): unsupported target type ${attrInt(n, 'to', 1)}`);
      const v = toNumbers(need(x, 0));
      return make(to, [...x!.dims], isInt(to) ? v.map(Math.trunc) : v);
    }
    case 'Gather': {
      const data = need(x, 0), ind = need(inputs[1], 1);
      const axis = (attrInt(n, 'axis', 0) + data.dims.length) % data.dims.length;
      const idx = toNumbers(ind).map((i) => (i < 0 ? i + data.dims[axis]! : i));
      const outOfRange = idx.find((i) => !(i >= 0 && i < data.dims[axis]!));
      if (outOfRange !== undefined) throw new ProactError(`node '${n.name}' (Gather): index ${outOfRange} is outside 0..${data.dims[axis]! - 1}`);
      foldedSize([...data.dims.slice(0, axis), ...ind.dims, ...data.dims.slice(axis + 1)]);
      const dims = [...data.dims.slice(0, axis), ...ind.dims, ...data.dims.slice(axis + 1)];
      const inner = numel(data.dims.slice(axis + 1)), outer = numel(data.dims.slice(0, axis));
      const src = toNumbers(data), out: number[] = [];
      for (let o = 0; o < outer; o++) for (const i of idx) for (let k = 0; k < inner; k++) out.push(src[(o * data.dims[axis]! + i) * inner + k]!);
      return make(data.dtype, dims, out);
    }
    case 'ConstantOfShape': {
      const dims = toNumbers(need(x, 0));
      const v = n.attrs['value'];
      const fill = v?.type === 'tensor' ? v.value : make('float32', [1], [0]);
      return make(fill.dtype, dims, new Array<number>(foldedSize(dims)).fill(Number(fill.data[0] ?? 0)));
    }
    case 'Concat': {
      const ts = inputs.filter((t): t is Tensor => !!t);
      const rank = ts[0]!.dims.length;
      const axis = (attrInt(n, 'axis', 0) + rank) % rank;
      const outer = numel(ts[0]!.dims.slice(0, axis));
      const out: number[] = [];
      const vals = ts.map(toNumbers);
      for (let o = 0; o < outer; o++)
        ts.forEach((t, j) => {
          const block = numel(t.dims.slice(axis));
          for (let k = 0; k < block; k++) out.push(vals[j]![o * block + k]!);
        });
      const dims = [...ts[0]!.dims];
      dims[axis] = ts.reduce((s, t) => s + t.dims[axis]!, 0);
      return make(ts[0]!.dtype, dims, out);
    }
    case 'Reshape': {
      const data = need(x, 0);
      const dims = reshapeDims(data.dims, toNumbers(need(inputs[1], 1)), n);
      return { dtype: data.dtype, dims, data: data.data };
    }
    case 'Flatten': {
      const data = need(x, 0);
      const axis = (attrInt(n, 'axis', 1) + data.dims.length) % (data.dims.length || 1);
      return { dtype: data.dtype, dims: [numel(data.dims.slice(0, axis)), numel(data.dims.slice(axis))], data: data.data };
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const data = need(x, 0);
      const axes = opset >= 13 ? (inputs[1] ? toNumbers(inputs[1]) : undefined) : attrInts(n, 'axes', undefined);
      return { dtype: data.dtype, dims: squeezeDims(n.op, data.dims, axes), data: data.data };
    }
    case 'Transpose': {
      const data = need(x, 0);
      const perm = attrInts(n, 'perm', undefined) ?? data.dims.map((_, k) => data.dims.length - 1 - k);
      const dims = perm.map((p) => data.dims[p]!);
      const s = strides(data.dims);
      return remap(data, dims, (idx) => idx.reduce((acc, v, k) => acc + v * s[perm[k]!]!, 0));
    }
    case 'Slice': {
      const data = need(x, 0);
      const { starts, steps, dims } = sliceParams(data.dims, inputs.slice(1), n);
      const s = strides(data.dims);
      return remap(data, dims, (idx) => idx.reduce((acc, v, k) => acc + (starts[k]! + v * steps[k]!) * s[k]!, 0));
    }
    case 'Shape': {
      const data = need(x, 0);
      return make('int64', [data.dims.length], data.dims);
    }
    case 'Range': {
      const [s, l, d] = [0, 1, 2].map((k) => toNumbers(need(inputs[k], k))[0]!) as [number, number, number];
      const count = Math.max(0, Math.ceil((l - s) / d));
      if (d === 0 || !Number.isFinite(count)) throw new ProactError(`node '${n.name}' (Range): start ${s}, limit ${l}, delta ${d} do not give a finite range`);
      return make(x!.dtype, [count], Array.from({ length: foldedSize([count]) }, (_, i) => s + i * d));
    }
    case 'Neg':
      return make(need(x, 0).dtype, [...x!.dims], toNumbers(x!).map((v) => -v));
    case 'Sqrt':
      return make(need(x, 0).dtype, [...x!.dims], toNumbers(x!).map(Math.sqrt));
    case 'Add':
      return broadcast(need(x, 0), need(inputs[1], 1), (a, b) => a + b);
    case 'Sub':
      return broadcast(need(x, 0), need(inputs[1], 1), (a, b) => a - b);
    case 'Mul':
      return broadcast(need(x, 0), need(inputs[1], 1), (a, b) => a * b);
    case 'Max':
      return broadcast(need(x, 0), need(inputs[1], 1), Math.max);
    case 'Min':
      return broadcast(need(x, 0), need(inputs[1], 1), Math.min);
    case 'Div': {
      const int = isInt(need(x, 0).dtype);
      return broadcast(x!, need(inputs[1], 1), (a, b) => (int ? Math.trunc(a / b) : a / b));
    }
    case 'Equal':
      return broadcast(need(x, 0), need(inputs[1], 1), (a, b) => (a === b ? 1 : 0), 'bool');
    case 'Where': {
      const c = toNumbers(need(x, 0));
      const ab = broadcast(need(inputs[1], 1), need(inputs[2], 2), (a) => a); // shape of the result (assumes cond broadcasts)
      const va = broadcast(inputs[1]!, ab, (a) => a), vb = broadcast(inputs[2]!, ab, (a) => a);
      const cc = broadcast(make('float64', x!.dims, c), ab, (a) => a);
      const A = toNumbers(va), B = toNumbers(vb), C = toNumbers(cc);
      return make(inputs[1]!.dtype, ab.dims, A.map((v, i) => (C[i] ? v : B[i]!)));
    }
  }
  throw new ProactError(`node '${n.name}': constant folding does not support op ${n.op}`);
}

/** Output dims of a Reshape (0 copies the input dim, -1 is inferred). */
export function reshapeDims(inDims: readonly number[], spec: number[], n: Node): number[] {
  const dims = spec.map((s, k) => (s === 0 ? inDims[k]! : s));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = inDims.includes(-1) ? -1 : numel(inDims);
  const holes = dims.filter((d) => d === -1).length;
  if (holes > 1) throw new ProactError(`node '${n.name}' (Reshape): more than one -1 in the target shape`);
  if (holes === 1) {
    if (total === -1) return dims; // dynamic batch: keep -1
    return dims.map((d) => (d === -1 ? total / known : d));
  }
  return dims;
}

export function squeezeDims(op: string, dims: readonly number[], axes: number[] | undefined): number[] {
  if (op === 'Squeeze') {
    const ax = (axes ?? dims.map((d, k) => (d === 1 ? k : -1)).filter((k) => k >= 0)).map((a) => (a + dims.length) % dims.length);
    return dims.filter((_, k) => !ax.includes(k));
  }
  const rank = dims.length + (axes?.length ?? 0);
  const ax = (axes ?? []).map((a) => (a + rank) % rank);
  const out: number[] = [];
  let j = 0;
  for (let k = 0; k < rank; k++) out.push(ax.includes(k) ? 1 : dims[j++]!);
  return out;
}

/** Normalised per-axis starts/steps and output dims of a Slice (opset >= 10 form, inputs as tensors). */
export function sliceParams(inDims: readonly number[], rest: (Tensor | undefined)[], n: Node): { starts: number[]; steps: number[]; dims: number[] } {
  const st = rest[0] ? toNumbers(rest[0]) : [];
  const en = rest[1] ? toNumbers(rest[1]) : [];
  const axes = rest[2] ? toNumbers(rest[2]) : st.map((_, k) => k);
  const stp = rest[3] ? toNumbers(rest[3]) : st.map(() => 1);
  const starts = inDims.map(() => 0);
  const steps = inDims.map(() => 1);
  const dims = [...inDims];
  axes.forEach((a0, j) => {
    const a = (a0 + inDims.length) % inDims.length;
    const d = inDims[a]!;
    const step = stp[j]!;
    if (step === 0) throw new ProactError(`node '${n.name}' (Slice): step 0`);
    if (d < 0) throw new ProactError(`node '${n.name}' (Slice): slicing a dynamic dimension is not supported`);
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let s = st[j]!, e = en[j]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) {
      s = clamp(s, 0, d);
      e = clamp(e, 0, d);
    } else {
      s = clamp(s, 0, d - 1);
      e = clamp(e, -1, d - 1);
    }
    starts[a] = s;
    steps[a] = step;
    dims[a] = Math.max(0, Math.ceil((e - s) / step));
  });
  return { starts, steps, dims };
}
