/** buildGradientGraph as an API: interface, pruning, a whole small network, and its errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, f32, int, ints, i64, numel, writeOnnx } from '../../src/graph/index.js';
import { replaceActivation } from '../../src/harden/activations.js';
import { addSoftmaxCrossEntropy, buildGradientGraph, gradName } from '../../src/autodiff/index.js';
import { Session } from '../../src/runtime/index.js';
import { checkGradients, rng, uniform } from './fdcheck.js';

const rand = rng(11);
const param = (g: Graph, name: string, dims: number[], scale = 0.5) => {
  g.initializers.set(name, f32(dims, uniform(rand, numel(dims), -scale, scale)));
  return name;
};

/**
 * A ResNet-like net with a dynamic batch: conv -> smooth-zero(T1) -> maxpool -> conv(stride 2) ->
 * relu, plus an option-A shortcut (Slice step 2, Pad channels) added back, -> smooth-zero(T2) ->
 * global average pool -> flatten -> gemm -> cross-entropy.
 */
function smallResNet(): { g: Graph; loss: string } {
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 2, 6, 6] }];
  const [c1] = g.add('Conv', ['input', param(g, 'w1', [4, 2, 3, 3]), param(g, 'b1', [4])], { pads: ints([1, 1, 1, 1]) }, { name: 'conv1' });
  g.add('Relu', [c1!], {}, { name: 'act1', outputs: ['a1'] });
  const [p1] = g.add('MaxPool', ['a1'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, { name: 'pool' });
  const [c2] = g.add('Conv', [p1!, param(g, 'w2', [8, 4, 3, 3])], { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }, { name: 'conv2' });
  const [r2] = g.add('Relu', [c2!], {}, { name: 'relu2' });
  const starts = g.addConstant('starts', i64([0, 0])), ends = g.addConstant('ends', i64([1000, 1000]));
  const axes = g.addConstant('axes', i64([2, 3])), steps = g.addConstant('steps', i64([2, 2]));
  const [sliced] = g.add('Slice', [p1!, starts, ends, axes, steps], {}, { name: 'shortcut_slice' });
  const [padded] = g.add('Pad', [sliced!, g.addConstant('pads', i64([0, 2, 0, 0, 0, 2, 0, 0]))], { mode: { type: 'string', value: 'constant' } }, { name: 'shortcut_pad' });
  const [sum] = g.add('Add', [r2!, padded!], {}, { name: 'residual' });
  g.add('Relu', [sum!], {}, { name: 'act2', outputs: ['a2'] });
  const [gap] = g.add('GlobalAveragePool', ['a2'], {}, { name: 'gap' });
  const [flat] = g.add('Flatten', [gap!], { axis: int(1) }, { name: 'flatten' });
  g.add('Gemm', [flat!, param(g, 'fc_w', [3, 8]), param(g, 'fc_b', [3])], { transB: int(1) }, { name: 'fc', outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 3] }];
  // k = 5 keeps k (T - x) above -15, where onnxruntime's Sigmoid is no longer accurate (its error is
  // ~6e-8 absolute, not relative), so the check's central differences stay clean.
  replaceActivation(g, 'act1', { kind: 'smooth-zero', k: 5, threshold: f32([4, 1, 1], [0.3, 0.5, 0.7, 0.9]), thresholdName: 'T1' });
  replaceActivation(g, 'act2', { kind: 'smooth-zero', k: 5, threshold: f32([], [0.6]), thresholdName: 'T2' });
  const loss = addSoftmaxCrossEntropy(g, 'logits', 'labels');
  g.outputs = [{ name: loss, dtype: 'float32', dims: [] }];
  return { g, loss };
}

const batch = 2;
const feeds = {
  input: { dims: [batch, 2, 6, 6], data: uniform(rand, batch * 72, 0, 1) },
  labels: { dims: [batch], data: BigInt64Array.of(0n, 2n) },
};

test('a small ResNet-like net with a dynamic batch: every weight and threshold gradient passes central differences', async () => {
  const { g } = smallResNet();
  // The check's own loss, sum(R * logits) summed in float64, is far less noisy than a float32 scalar
  // loss; the cross-entropy's gradient is checked in losses.test.ts.
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 3] }];
  // Directions perturb 3 random entries at a time (a sampled set), so that few kinks (Relu at 0,
  // max-pool argmax) lie within a step; the check skips directions that cross one anyway.
  const wrt = ['w1', 'b1', 'T1', 'w2', 'T2', 'fc_w', 'fc_b', 'input'];
  // The steps left between kinks are small (down to 6e-5), where float32 rounding of the 6 logits
  // limits the differences to ~1e-3; the tolerance is 5e-3 here (a plumbing error is O(1)), while
  // every rule alone holds 1e-3 in rules-*.test.ts.
  const r = await checkGradients(g, { feeds, wrt, eps: 1e-3, directions: 3, sparse: 3, kinkAware: true, outputDims: [batch, 3] });
  assert.ok(r.worst < 5e-3, r.details.join('\n'));
});

test('the gradient graph: input untouched, wrt initializers become inputs, outputs are loss then grad:<name> with dims', () => {
  const { g, loss } = smallResNet();
  const before = writeOnnx(g);
  const gg = buildGradientGraph(g, { loss, wrt: ['T1', 'T2', 'w2'], extraOutputs: ['logits'] });
  assert.deepEqual(writeOnnx(g), before, 'the input graph must not change');
  assert.deepEqual(gg.outputs.map((o) => [o.name, o.dims]), [
    [loss, []],
    ['grad:T1', [4, 1, 1]],
    ['grad:T2', []],
    ['grad:w2', [8, 4, 3, 3]],
    ['logits', [-1, 3]],
  ]);
  for (const w of ['T1', 'T2', 'w2']) {
    assert.ok(!gg.initializers.has(w), `${w} is no longer an initializer`);
    assert.ok(gg.inputs.some((v) => v.name === w), `${w} is a graph input`);
  }
  for (const w of ['w1', 'b1', 'fc_w', 'fc_b']) assert.ok(gg.initializers.has(w), `${w} stays a constant initializer`);
});

test('pruning: gradients w.r.t. thresholds only emit no weight-gradient convs and no input gradient of the first conv', () => {
  const { g, loss } = smallResNet();
  const count = (gr: Graph, op: string) => gr.nodes.filter((n) => n.op === op).length;
  const onlyT = buildGradientGraph(g, { loss, wrt: ['T1', 'T2'] });
  assert.equal(count(onlyT, 'Conv'), 2, 'only the two forward convs');
  assert.equal(count(onlyT, 'ConvTranspose'), 1, 'conv2 needs dx (T1 lies before it); conv1 does not');
  assert.ok(!onlyT.nodes.some((n) => n.name.startsWith('grad/fc/') && n.op === 'Gemm' && n.inputs.includes('flatten_out0')), 'no fc weight gradient');
  const withW = buildGradientGraph(g, { loss, wrt: ['T1', 'w1'] });
  assert.equal(count(withW, 'Conv'), 3, 'one extra Conv for the w1 gradient');
  const onlyLast = buildGradientGraph(g, { loss, wrt: ['T2'] });
  assert.equal(count(onlyLast, 'ConvTranspose'), 0, 'nothing before T2 needs a gradient');
  assert.equal(count(onlyLast, 'ScatterElements'), 0);
});

test('a wrt tensor the loss does not depend on gets a zero gradient of its dims', async () => {
  const { g, loss } = smallResNet();
  g.initializers.set('unused', f32([2, 3], [1, 2, 3, 4, 5, 6]));
  const s = await Session.create(buildGradientGraph(g, { loss, wrt: ['unused', 'T2'] }));
  const out = await s.run({ ...feeds, unused: { data: new Float32Array(6), dims: [2, 3] }, T2: { data: Float32Array.of(0.6), dims: [] } });
  await s.release();
  assert.deepEqual(Array.from(out[gradName('unused')]!.data), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(out[gradName('unused')]!.dims, [2, 3]);
  assert.ok(out[gradName('T2')]!.data[0] !== 0);
});

test('buildGradientGraph rejects bad requests with one-line errors', () => {
  const { g, loss } = smallResNet();
  assert.throws(() => buildGradientGraph(g, { loss: 'nope', wrt: ['T1'] }), /no value named 'nope'/);
  assert.throws(() => buildGradientGraph(g, { loss: 'logits', wrt: ['T1'] }), /must be a scalar/);
  assert.throws(() => buildGradientGraph(g, { loss, wrt: [] }), /wrt is empty/);
  assert.throws(() => buildGradientGraph(g, { loss, wrt: ['T1', 'T1'] }), /twice/);
  assert.throws(() => buildGradientGraph(g, { loss, wrt: ['missing'] }), /not a value of the graph/);
  assert.throws(() => buildGradientGraph(g, { loss, wrt: ['labels'] }), /int64/);
  assert.throws(() => buildGradientGraph(g, { loss, wrt: ['T1'], extraOutputs: ['x'] }), /extraOutputs/);
  // An op without a rule on the path names itself and its node.
  const h = smallResNet();
  h.g.nodes.find((n) => n.name === 'flatten')!.op = 'Abs';
  h.g.nodes.find((n) => n.name === 'flatten')!.attrs = {};
  h.g.nodes.find((n) => n.op === 'Abs')!.op = 'Floor';
  assert.throws(() => buildGradientGraph(h.g, { loss: h.loss, wrt: ['T1'] }), /no gradient rule for op 'Floor' \(node 'flatten'\)/);
  // Grouped and dilated convolutions are refused, not differentiated wrongly.
  const grouped = smallResNet();
  const conv2 = grouped.g.nodes.find((n) => n.name === 'conv2')!;
  conv2.attrs['dilations'] = ints([2, 2]);
  conv2.attrs['pads'] = ints([2, 2, 2, 2]);
  assert.throws(() => buildGradientGraph(grouped.g, { loss: grouped.loss, wrt: ['T1'] }), /dilation other than 1 is not supported/);
});
