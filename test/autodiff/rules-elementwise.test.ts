/** Finite-difference checks of the elementwise, broadcasting, reduction and softmax rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float, int, numel, type Attr } from '../../src/graph/index.js';
import { checkGradients, opGraph, rng, uniform, type TensorSpec } from './fdcheck.js';

const rand = rng(20240607);
/** A float32 tensor spec with values uniform in [lo, hi), `gap` away from the `avoid` points. */
const t = (dims: number[], o: { lo?: number; hi?: number; init?: boolean; avoid?: number[]; gap?: number } = {}): TensorSpec => ({
  dims,
  data: uniform(rand, numel(dims), o.lo ?? -1, o.hi ?? 1, o.avoid ?? [], o.gap ?? 0),
  init: o.init ?? false,
});

/**
 * Checks op(inputs) against central differences for every name in wrt; relative error < 1e-3.
 * eps 1e-2 for smooth ops (truncation error ~eps^2, float32 noise ~1/eps); 1e-3 for piecewise-linear
 * ops, whose inputs keep a gap of 0.05 from every kink so that no perturbation crosses one.
 */
function opCase(name: string, op: string, inputs: Record<string, TensorSpec | ''>, wrt: string[], attrs: Record<string, Attr> = {}, eps = 1e-2, opset = 13): void {
  test(`${op}: ${name}`, async () => {
    const g = opGraph(op, inputs, attrs, opset);
    const feeds: Record<string, TensorSpec> = {};
    for (const [k, s] of Object.entries(inputs)) if (s && !s.init) feeds[k] = s;
    const r = await checkGradients(g, { feeds, wrt, eps });
    assert.ok(r.worst < 1e-3, r.details.join('\n'));
    for (const w of wrt) assert.ok(r.grads[w]!.some((v) => v !== 0), `gradient w.r.t. ${w} is all zeros: the check would be vacuous`);
  });
}

opCase('broadcast [2,3,4,5] + [3,1,1] initializer', 'Add', { a: t([2, 3, 4, 5]), b: t([3, 1, 1], { init: true }) }, ['a', 'b']);
opCase('broadcast [2,3] + [] scalar', 'Add', { a: t([2, 3]), b: t([], { init: true }) }, ['a', 'b']);
opCase('broadcast [2,3] - [1,3]', 'Sub', { a: t([2, 3]), b: t([1, 3]) }, ['a', 'b']);
opCase('broadcast [4] - [2,3,4] (first operand broadcast)', 'Sub', { a: t([4]), b: t([2, 3, 4]) }, ['a', 'b']);
opCase('broadcast [2,3,4] * [4]', 'Mul', { a: t([2, 3, 4]), b: t([4], { init: true }) }, ['a', 'b']);
opCase('same shape [3,5] * [3,5]', 'Mul', { a: t([3, 5]), b: t([3, 5]) }, ['a', 'b']);
opCase('broadcast [2,3] / [2,1], divisor in [0.5, 2)', 'Div', { a: t([2, 3]), b: t([2, 1], { lo: 0.5, hi: 2 }) }, ['a', 'b']);
opCase('variadic with broadcast', 'Sum', { a: t([2, 3]), b: t([3]), c: t([2, 1]) }, ['a', 'b', 'c']);

opCase('away from the kink', 'Relu', { x: t([2, 3, 4, 4], { avoid: [0], gap: 0.05 }) }, ['x'], {}, 1e-3);
opCase('[2,3,4] against a scalar constant', 'Max', { x: t([2, 3, 4], { avoid: [0.2], gap: 0.05 }), c: { dims: [], data: Float32Array.of(0.2), init: true } }, ['x', 'c'], {}, 1e-3);
opCase('[2,3] against [3]', 'Min', { x: t([2, 3], { avoid: [-0.5, 0.1, 0.6], gap: 0.05 }), c: { dims: [3], data: Float32Array.of(-0.5, 0.1, 0.6), init: true } }, ['x', 'c'], {}, 1e-3);
opCase('', 'Sigmoid', { x: t([3, 4], { lo: -4, hi: 4 }) }, ['x']);
opCase('', 'Tanh', { x: t([3, 4], { lo: -2, hi: 2 }) }, ['x']);
opCase('', 'Neg', { x: t([5]) }, ['x']);
opCase('', 'Exp', { x: t([3, 4]) }, ['x']);
opCase('positive inputs', 'Log', { x: t([3, 4], { lo: 0.2, hi: 3 }) }, ['x']);
opCase('positive inputs', 'Sqrt', { x: t([3, 4], { lo: 0.2, hi: 3 }) }, ['x']);
opCase('min and max inputs, x away from both', 'Clip', {
  x: t([2, 3, 4], { lo: -2, hi: 2, avoid: [-0.5, 0.7], gap: 0.05 }),
  min: { dims: [], data: Float32Array.of(-0.5), init: true },
  max: { dims: [], data: Float32Array.of(0.7), init: true },
}, ['x', 'min', 'max'], {}, 1e-3);
opCase('max only', 'Clip', { x: t([2, 5], { lo: -2, hi: 2, avoid: [0.7], gap: 0.05 }), min: '', max: { dims: [], data: Float32Array.of(0.7), init: true } }, ['x', 'max'], {}, 1e-3);

opCase('axis 1', 'Softmax', { x: t([3, 5], { lo: -2, hi: 2 }) }, ['x'], { axis: int(1) });
opCase('last axis of rank 3', 'Softmax', { x: t([2, 3, 4], { lo: -2, hi: 2 }) }, ['x'], { axis: int(-1) });
opCase('axis 1', 'LogSoftmax', { x: t([3, 5], { lo: -2, hi: 2 }) }, ['x'], { axis: int(1) });
opCase('axes [1] keepdims 0', 'ReduceSum', { x: t([2, 3, 4]), axes: { dims: [1], data: BigInt64Array.of(1n), init: true } }, ['x'], { keepdims: int(0) });
opCase('axes [0, 2] keepdims 1', 'ReduceSum', { x: t([2, 3, 4]), axes: { dims: [2], data: BigInt64Array.of(0n, 2n), init: true } }, ['x'], { keepdims: int(1) });
opCase('all axes keepdims 0', 'ReduceMean', { x: t([2, 3, 4]) }, ['x'], { keepdims: int(0) });
opCase('axes [-1] keepdims 1', 'ReduceMean', { x: t([2, 3, 4]) }, ['x'], { axes: { type: 'ints', value: [-1] }, keepdims: int(1) });

opCase('transA transB alpha beta, C [N]', 'Gemm', { a: t([4, 3]), b: t([5, 4]), c: t([5], { init: true }) }, ['a', 'b', 'c'], {
  transA: int(1),
  transB: int(1),
  alpha: float(0.7),
  beta: float(1.3),
});
opCase('plain, C [M,N]', 'Gemm', { a: t([3, 4]), b: t([4, 5], { init: true }), c: t([3, 5]) }, ['a', 'b', 'c']);
opCase('transA only, C [1,N]', 'Gemm', { a: t([4, 3]), b: t([4, 5]), c: t([1, 5]) }, ['a', 'b', 'c'], { transA: int(1) });
opCase('transB only, no C', 'Gemm', { a: t([3, 4]), b: t([5, 4]) }, ['a', 'b'], { transB: int(1) });
opCase('2-D', 'MatMul', { a: t([3, 4]), b: t([4, 5]) }, ['a', 'b']);
opCase('batched [2,3,4] x broadcast [4,5]', 'MatMul', { a: t([2, 3, 4]), b: t([4, 5], { init: true }) }, ['a', 'b']);

opCase('inference form, every input', 'BatchNormalization', {
  x: t([2, 3, 4, 4]),
  scale: t([3], { lo: 0.5, hi: 1.5, init: true }),
  bias: t([3], { init: true }),
  mean: t([3], { init: true }),
  variance: t([3], { lo: 0.5, hi: 2, init: true }),
}, ['x', 'scale', 'bias', 'mean', 'variance'], { epsilon: float(1e-3) });

// Where needs a real boolean condition: replace the placeholder with a Greater node on a constant.
test('Where: the condition comes from a comparison and gets no gradient', async () => {
  const g = opGraph('Add', { p: t([2, 3], { init: true }), zero: { dims: [], data: Float32Array.of(0), init: true } });
  g.nodes[0]!.op = 'Greater';
  g.nodes[0]!.outputs = ['cond'];
  g.inputs.push({ name: 'a', dtype: 'float32', dims: [2, 3] }, { name: 'b', dtype: 'float32', dims: [3] });
  g.add('Where', ['cond', 'a', 'b'], {}, { outputs: ['y'] });
  g.outputs = [{ name: 'y', dtype: 'float32', dims: [2, 3] }];
  const a = t([2, 3]), b = t([3]);
  const r = await checkGradients(g, { feeds: { a, b }, wrt: ['a', 'b', 'p'] });
  assert.ok(r.worst < 1e-3, r.details.join('\n'));
  assert.ok(r.grads['p']!.every((v) => v === 0), 'the condition input must get a zero gradient');
  const cond = Array.from(g.initializers.get('p')!.data as Float32Array, (v) => v > 0);
  // grad a is R where cond, 0 elsewhere; grad b sums R over rows where !cond: check the zero pattern.
  r.grads['a']!.forEach((v, i) => assert.equal(v === 0, !cond[i], `grad a[${i}]`));
});

// Activations beyond ReLU (src/graph/patterns.ts): the ops their clipped forms and exports use.
opCase('alpha 0.1, away from the kink', 'LeakyRelu', { x: t([2, 3, 4], { lo: -2, hi: 2, avoid: [0], gap: 0.05 }) }, ['x'], { alpha: float(0.1) }, 1e-3);
opCase('per-channel slope [3,1,1], away from the kink', 'PRelu', {
  x: t([2, 3, 4, 4], { lo: -2, hi: 2, avoid: [0], gap: 0.05 }),
  slope: t([3, 1, 1], { lo: 0.05, hi: 0.4, init: true }),
}, ['x', 'slope'], {}, 1e-3);
opCase('', 'Erf', { x: t([3, 4], { lo: -2, hi: 2 }) }, ['x']);
opCase('alpha 1/6 beta 0.5, away from both kinks', 'HardSigmoid', { x: t([3, 8], { lo: -5, hi: 5, avoid: [-3, 3], gap: 0.05 }) }, ['x'], { alpha: float(1 / 6), beta: float(0.5) }, 1e-3);
opCase('opset 14, away from the kinks', 'HardSwish', { x: t([3, 8], { lo: -5, hi: 5, avoid: [-3, 3], gap: 0.05 }) }, ['x'], {}, 1e-3, 14);
