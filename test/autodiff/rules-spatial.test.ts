/** Finite-difference checks of the conv, pooling and shape rules, and MaxPool's tie and padding cases. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { int, ints, numel, type Attr } from '../../src/graph/index.js';
import { buildGradientGraph, gradName } from '../../src/autodiff/index.js';
import { Session } from '../../src/runtime/index.js';
import { checkGradients, opGraph, rng, uniform, type TensorSpec } from './fdcheck.js';

const rand = rng(77);
const t = (dims: number[], init = false, lo = -1, hi = 1): TensorSpec => ({ dims, data: uniform(rand, numel(dims), lo, hi), init });
const i64 = (...v: number[]): TensorSpec => ({ dims: [v.length], data: BigInt64Array.from(v.map(BigInt)), init: true });

/** Distinct values on a 0.03 grid in random order: no two within 2 * eps * |v| of each other (max-pool windows never swap). */
function distinct(dims: number[]): TensorSpec {
  const n = numel(dims);
  const order = Array.from({ length: n }, (_, k) => k);
  for (let k = n - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [order[k], order[j]] = [order[j]!, order[k]!];
  }
  return { dims, data: Float32Array.from(order, (k) => (k - n / 2) * 0.03), init: false };
}

function opCase(name: string, op: string, inputs: Record<string, TensorSpec | ''>, wrt: string[], attrs: Record<string, Attr> = {}, eps = 1e-2): void {
  test(`${op}: ${name}`, async () => {
    const g = opGraph(op, inputs, attrs);
    const feeds: Record<string, TensorSpec> = {};
    for (const [k, s] of Object.entries(inputs)) if (s && !s.init) feeds[k] = s;
    const r = await checkGradients(g, { feeds, wrt, eps });
    assert.ok(r.worst < 1e-3, r.details.join('\n'));
    for (const w of wrt) assert.ok(r.grads[w]!.some((v) => v !== 0), `gradient w.r.t. ${w} is all zeros: the check would be vacuous`);
  });
}

const conv = (x: number[], w: number[], attrs: Record<string, Attr>, name: string, bias = true) =>
  opCase(name, 'Conv', { x: t(x), w: t(w, true), b: bias ? t([w[0]!], true) : '' }, bias ? ['x', 'w', 'b'] : ['x', 'w'], attrs);
conv([2, 3, 6, 6], [4, 3, 3, 3], { pads: ints([1, 1, 1, 1]) }, '3x3 stride 1 pad 1');
conv([2, 3, 8, 8], [4, 3, 3, 3], { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, '3x3 stride 2 pad 1 on 8x8 (the stride does not divide: output_padding)');
conv([2, 3, 7, 7], [4, 3, 3, 3], { strides: ints([2, 2]) }, '3x3 stride 2 no pad on 7x7 (divides)');
conv([2, 2, 6, 5], [3, 2, 2, 3], { strides: ints([2, 1]), pads: ints([0, 1, 1, 0]) }, '2x3 kernel, strides [2,1], asymmetric pads');
conv([2, 4, 6, 6], [2, 4, 1, 1], { strides: ints([2, 2]) }, '1x1 stride 2, no bias', false);
// Depthwise (group = channels, MobileNet's 3x3 layers): grouped transposed conv for x, a grouped conv over the batch for w.
conv([2, 4, 6, 6], [4, 1, 3, 3], { pads: ints([1, 1, 1, 1]), group: int(4) }, 'depthwise 3x3 stride 1 pad 1');
conv([3, 4, 8, 8], [4, 1, 3, 3], { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), group: int(4) }, 'depthwise 3x3 stride 2 pad 1 on 8x8 (output_padding)');
// A constant kernel (not a wrt tensor) is flipped once in TypeScript for the stride-1 input gradient.
opCase('constant 3x3 kernel, stride 1, asymmetric pads [0,2,1,1]: input gradient only', 'Conv', { x: t([2, 3, 5, 5]), w: t([4, 3, 3, 3], true) }, ['x'], { pads: ints([0, 2, 1, 1]) });
opCase('constant 2x2 kernel, stride 1, pads 2 > k-1 (ConvTranspose fallback)', 'Conv', { x: t([1, 2, 4, 4]), w: t([3, 2, 2, 2], true) }, ['x'], { pads: ints([2, 2, 2, 2]) });

opCase('2x2 stride 2 (disjoint windows)', 'MaxPool', { x: distinct([2, 3, 6, 6]) }, ['x'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, 1e-3);
opCase('3x3 stride 2 pad 1 (overlapping windows)', 'MaxPool', { x: distinct([2, 2, 7, 7]) }, ['x'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, 1e-3);
opCase('2x2 stride 2 ceil_mode on 5x5', 'MaxPool', { x: distinct([1, 2, 5, 5]) }, ['x'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) }, 1e-3);
opCase('3x3 stride 2 pad 1, count excludes padding', 'AveragePool', { x: t([2, 2, 7, 7]) }, ['x'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) });
opCase('3x3 stride 2 pad 1, count_include_pad', 'AveragePool', { x: t([2, 2, 8, 8]) }, ['x'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1) });
opCase('2x2 stride 2', 'AveragePool', { x: t([2, 3, 4, 4]) }, ['x'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) });
opCase('', 'GlobalAveragePool', { x: t([2, 3, 4, 5]) }, ['x']);

opCase('axis 1', 'Flatten', { x: t([2, 3, 2, 2]) }, ['x'], { axis: int(1) });
opCase('[2,12] -> [2,3,4]', 'Reshape', { x: t([2, 12]), shape: i64(2, 3, -1) }, ['x']);
opCase('perm [0,2,3,1]', 'Transpose', { x: t([2, 3, 4, 5]) }, ['x'], { perm: ints([0, 2, 3, 1]) });
opCase('', 'Identity', { x: t([3, 2]) }, ['x']);
opCase('channel pads as the ResNet option-A shortcut', 'Pad', { x: t([2, 4, 3, 3]), pads: i64(0, 2, 0, 0, 0, 2, 0, 0) }, ['x'], { mode: { type: 'string', value: 'constant' } });
opCase('spatial pads, one negative (a crop)', 'Pad', { x: t([2, 2, 5, 5]), pads: i64(0, 0, 1, -1, 0, 0, 2, 1) }, ['x']);
opCase('step 2 on H and W as the ResNet option-A shortcut', 'Slice', { x: t([2, 3, 8, 8]), starts: i64(0, 0), ends: i64(2 ** 40, 2 ** 40), axes: i64(2, 3), steps: i64(2, 2) }, ['x']);
opCase('start 1 step 3 on 8, start -4 end -1 on 7', 'Slice', { x: t([2, 3, 8, 7]), starts: i64(1, -4), ends: i64(8, -1), axes: i64(2, 3), steps: i64(3, 1) }, ['x']);
opCase('channel range 1..3, no axes input', 'Slice', { x: t([2, 4, 3]), starts: i64(0, 1), ends: i64(2, 3) }, ['x']);
opCase('three inputs on axis 1', 'Concat', { a: t([2, 1, 3]), b: t([2, 4, 3]), c: t([2, 2, 3], true) }, ['a', 'b', 'c'], { axis: int(1) });

/** Gradient of sum(R * MaxPool(x)) w.r.t. x for given values, from our gradient graph. */
async function maxPoolGrad(x: Float32Array, dims: number[], attrs: Record<string, Attr>): Promise<{ grad: Float32Array; r: Float32Array; yDims: readonly number[] }> {
  const g = opGraph('MaxPool', { x: { dims, data: x } }, attrs);
  const yDims = g.outputs[0]!.dims;
  const r = Float32Array.from({ length: numel(yDims) }, (_, k) => k + 1);
  const rName = g.addConstant('r', { dtype: 'float32', dims: yDims, data: r });
  const [prod] = g.add('Mul', ['y', rName]);
  const [loss] = g.add('ReduceSum', [prod!], { keepdims: int(0) });
  const s = await Session.create(buildGradientGraph(g, { loss: loss!, wrt: ['x'] }));
  const out = await s.run({ x: { data: x, dims } });
  await s.release();
  return { grad: out[gradName('x')]!.data, r, yDims };
}

test('MaxPool: ties send the gradient to the first maximum, all-negative windows to their maximum, never to padding', async () => {
  // 4x4, 2x2 windows: a window of equal values, an all-negative window, and two ordinary ones.
  const x = Float32Array.of(5, 5, -3, -1, 5, 5, -2, -1, 0, 1, 7, 2, 3, 2, 7, 7);
  const { grad } = await maxPoolGrad(x, [1, 1, 4, 4], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) });
  // Window (0,0): all 5 -> first element. Window (0,1): -3 -1 / -2 -1 -> first -1 at index 3. Window (1,0): 0 1 / 3 2 -> 3 at index 12.
  // Window (1,1): 7 2 / 7 7 -> first 7 at index 10. R = 1, 2, 3, 4.
  const expected = new Float32Array(16);
  expected[0] = 1;
  expected[3] = 2;
  expected[12] = 3;
  expected[10] = 4;
  assert.deepEqual(Array.from(grad), Array.from(expected));

  // 3x3 stride 1 pad 1 over an all-negative 3x3 map: padding (-inf) is never selected; overlapping
  // windows that share their maximum add up (ScatterElements with reduction='add').
  const neg = Float32Array.of(-9, -8, -7, -6, -1, -5, -4, -3, -2);
  const res = await maxPoolGrad(neg, [1, 1, 3, 3], { kernel_shape: ints([3, 3]), strides: ints([1, 1]), pads: ints([1, 1, 1, 1]) });
  // Every window contains the centre (-1), so the centre gets sum(R) = 45 and all else 0.
  assert.deepEqual(Array.from(res.grad), [0, 0, 0, 0, 45, 0, 0, 0, 0]);
});

test('MaxPool: overlapping windows raise the gradient graph to opset 16, disjoint ones keep 13', () => {
  const build = (attrs: Record<string, Attr>) => {
    const g = opGraph('MaxPool', { x: t([1, 1, 6, 6]) }, attrs);
    const [loss] = g.add('ReduceSum', ['y'], { keepdims: int(0) });
    return buildGradientGraph(g, { loss: loss!, wrt: ['x'] });
  };
  assert.equal(build({ kernel_shape: ints([2, 2]), strides: ints([2, 2]) }).opset, 13);
  assert.equal(build({ kernel_shape: ints([3, 3]), strides: ints([2, 2]) }).opset, 16);
});
