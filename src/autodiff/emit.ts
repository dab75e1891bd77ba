/**
 * A thin node emitter over a Graph: one-output ops, cached constants and the shape plumbing that
 * gradient rules and loss builders share (reductions whose axes moved from attribute to input across
 * opsets, reshaping back to a value's shape with a dynamic batch, summing a gradient over broadcast axes).
 */
import { ProactBug, ProactError } from '../util/errors.js';
import { ints, int, tensor, type Attr, type DType, type Graph, type ValueType } from '../graph/index.js';

/** Largest Slice end that is still exact as a double (Slice clamps ends to the dimension anyway). */
export const SLICE_TO_END = Number.MAX_SAFE_INTEGER;

export class Emitter {
  /** Prefix of the names of the nodes emitted next (one scope per forward node keeps Netron readable). */
  scope = 'grad';
  private readonly constants = new Map<string, string>();
  private readonly shapes = new Map<string, string>();

  constructor(
    readonly g: Graph,
    /** Types of the values that existed before emission started (the forward graph). */
    readonly types: Map<string, ValueType>,
    /** Float type of emitted constants: the dtype of the loss. */
    readonly floatType: DType = 'float32',
  ) {}

  /** Appends a one-output node; returns the output's name. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.g.add(op, inputs, attrs, { name: `${this.scope}/${op}` })[0]!;
  }

  /** Dims of a forward value (-1 for the dynamic batch). */
  dims(name: string): number[] {
    const t = this.types.get(name);
    if (!t) throw new ProactError(`autodiff: the shape of '${name}' is unknown; run prepareGraph(g) so that shapes can be inferred`);
    return t.dims;
  }

  /** A float scalar constant of the loss's type (shared across the graph). */
  scalar(value: number): string {
    return this.cached(`${this.floatType}:${value}`, () => tensor(this.floatType, [], [value]), 'grad.const');
  }

  /** An int64 1-D constant (axes, shapes, pads). */
  int64s(values: readonly number[]): string {
    return this.cached(`int64:[${values.join(',')}]`, () => tensor('int64', [values.length], values), 'grad.ints');
  }

  private cached(key: string, make: () => ReturnType<typeof tensor>, base: string): string {
    let name = this.constants.get(key);
    if (!name) {
      name = this.g.addConstant(base, make());
      this.constants.set(key, name);
    }
    return name;
  }

  /** Shape(x), emitted once per value. */
  shapeOf(x: string): string {
    let s = this.shapes.get(x);
    if (!s) {
      s = this.op('Shape', [x]);
      this.shapes.set(x, s);
    }
    return s;
  }

  /** The shape of `x` as a constant when fully known, else as a Shape node. */
  shapeTensor(x: string): string {
    const d = this.dims(x);
    return d.includes(-1) ? this.shapeOf(x) : this.int64s(d);
  }

  /** Reshapes v to the shape of the forward value `like`. */
  reshapeLike(v: string, like: string): string {
    return this.op('Reshape', [v, this.shapeTensor(like)]);
  }

  where(cond: string, a: string, b: string): string {
    return this.op('Where', [cond, a, b]);
  }

  /** Gradient summation: one name stays as is, several become a Sum node. */
  sum(parts: readonly string[]): string {
    if (parts.length === 0) throw new ProactBug('Emitter.sum: nothing to sum');
    return parts.length === 1 ? parts[0]! : this.op('Sum', [...parts]);
  }

  /** ReduceSum (axes undefined: all axes). Axes are an input from opset 13 on. */
  reduceSum(x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    return this.reduce('ReduceSum', 13, x, axes, keepdims);
  }

  /** ReduceMean (axes undefined: all axes). Axes are an input from opset 18 on. */
  reduceMean(x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    return this.reduce('ReduceMean', 18, x, axes, keepdims);
  }

  private reduce(op: string, axesAsInputFrom: number, x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    const keep = { keepdims: int(keepdims ? 1 : 0) };
    if (!axes) return this.op(op, [x], keep);
    if (this.g.opset >= axesAsInputFrom) return this.op(op, [x, this.int64s(axes)], keep);
    return this.op(op, [x], { ...keep, axes: ints([...axes]) });
  }

  /** Unsqueeze; axes are an input from opset 13 on. */
  unsqueeze(x: string, axes: readonly number[]): string {
    if (this.g.opset >= 13) return this.op('Unsqueeze', [x, this.int64s(axes)]);
    return this.op('Unsqueeze', [x], { axes: ints([...axes]) });
  }

  /**
   * The number of elements of `x` over `axes` (undefined: all) as a float scalar: a constant when the
   * dims are known, else computed from Shape(x) at run time (the dynamic batch).
   */
  countOf(x: string, axes: readonly number[] | undefined): string {
    const d = this.dims(x);
    const ax = axes ? axes.map((a) => (a + d.length) % d.length) : d.map((_, k) => k);
    const known = ax.filter((a) => d[a]! >= 0).reduce((p, a) => p * d[a]!, 1);
    const dynamic = ax.filter((a) => d[a]! < 0);
    let count = this.scalar(known);
    for (const a of dynamic) {
      const size = this.op('Gather', [this.shapeOf(x), this.int64s([a])], { axis: int(0) });
      const asFloat = this.op('Cast', [size], { to: int(this.floatType === 'float64' ? 11 : 1) });
      count = this.op('Mul', [count, this.op('Reshape', [asFloat, this.int64s([])])]);
    }
    return count;
  }

  /**
   * Sums a gradient of dims `gradDims` over the axes along which the forward value `target` was
   * broadcast (leading axes it lacks, and axes where it has size 1), and reshapes it to `target`'s dims.
   */
  unbroadcast(grad: string, gradDims: readonly number[], target: string): string {
    const td = this.dims(target);
    const lead = gradDims.length - td.length;
    const axes: number[] = [];
    for (let k = 0; k < gradDims.length; k++) if (k < lead || (td[k - lead] === 1 && gradDims[k] !== 1)) axes.push(k);
    if (axes.length === 0) return grad;
    const summed = this.reduceSum(grad, axes, true);
    return lead > 0 ? this.reshapeLike(summed, target) : summed;
  }
}
