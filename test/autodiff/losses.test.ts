/** The loss builders: values against float64 TypeScript, gradients against closed forms and central differences. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, f32 } from '../../src/graph/index.js';
import { addDistillation, addL2, addSoftmaxCrossEntropy, addWeightedSum, buildGradientGraph, gradName } from '../../src/autodiff/index.js';
import { Session } from '../../src/runtime/index.js';
import { isProactError } from '../../src/util/errors.js';
import { checkGradients, rng, uniform } from './fdcheck.js';

const rand = rng(5);
const CLASSES = 5;

/** logits = Identity(z) with z a [batch, 5] input (batch dynamic), and a [3] threshold-like initializer T. */
function logitsGraph(): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'z', dtype: 'float32', dims: [-1, CLASSES] }];
  g.add('Identity', ['z'], {}, { outputs: ['logits'] });
  g.initializers.set('T', f32([3], [0.5, -1.5, 2]));
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, CLASSES] }];
  return g;
}

function softmaxRows(z: Float32Array, batch: number): number[][] {
  return Array.from({ length: batch }, (_, b) => {
    const row = Array.from(z.subarray(b * CLASSES, (b + 1) * CLASSES));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((p, q) => p + q, 0);
    return e.map((v) => v / s);
  });
}

async function runAll(g: Graph, loss: string, wrt: string[], feeds: Parameters<Session['run']>[0]) {
  const s = await Session.create(buildGradientGraph(g, { loss, wrt }));
  const out = await s.run(feeds);
  await s.release();
  return out;
}

for (const batch of [3, 7]) {
  test(`cross-entropy (batch ${batch} through a dynamic batch dim): value and gradient (softmax - onehot) / batch`, async () => {
    const g = logitsGraph();
    const loss = addSoftmaxCrossEntropy(g, 'logits', 'labels');
    const z = uniform(rand, batch * CLASSES, -3, 3);
    const labels = BigInt64Array.from({ length: batch }, (_, b) => BigInt((b * 3) % CLASSES));
    const out = await runAll(g, loss, ['z'], { z: { data: z, dims: [batch, CLASSES] }, labels: { data: labels, dims: [batch] } });
    const p = softmaxRows(z, batch);
    const want = -p.reduce((s, row, b) => s + Math.log(row[Number(labels[b])]!), 0) / batch;
    assert.ok(Math.abs(out[loss]!.data[0]! - want) < 1e-6, `loss ${out[loss]!.data[0]} vs ${want}`);
    const grad = out[gradName('z')]!.data;
    for (let b = 0; b < batch; b++)
      for (let c = 0; c < CLASSES; c++) {
        const exact = (p[b]![c]! - (c === Number(labels[b]) ? 1 : 0)) / batch;
        assert.ok(Math.abs(grad[b * CLASSES + c]! - exact) < 1e-6, `grad[${b},${c}] ${grad[b * CLASSES + c]} vs ${exact}`);
      }
  });
}

test('distillation: value and gradient (softmax(student) - p_teacher) / batch', async () => {
  const batch = 4;
  const g = logitsGraph();
  const loss = addDistillation(g, 'logits', 'teacher');
  const z = uniform(rand, batch * CLASSES, -3, 3);
  const teacher = Float32Array.from(softmaxRows(uniform(rand, batch * CLASSES, -2, 2), batch).flat());
  const out = await runAll(g, loss, ['z'], { z: { data: z, dims: [batch, CLASSES] }, teacher: { data: teacher, dims: [batch, CLASSES] } });
  const p = softmaxRows(z, batch);
  let want = 0;
  for (let b = 0; b < batch; b++) for (let c = 0; c < CLASSES; c++) want -= teacher[b * CLASSES + c]! * Math.log(p[b]![c]!);
  want /= batch;
  assert.ok(Math.abs(out[loss]!.data[0]! - want) < 1e-6, `loss ${out[loss]!.data[0]} vs ${want}`);
  const grad = out[gradName('z')]!.data;
  for (let i = 0; i < batch * CLASSES; i++) {
    const exact = (p[Math.floor(i / CLASSES)]![i % CLASSES]! - teacher[i]!) / batch;
    assert.ok(Math.abs(grad[i]! - exact) < 1e-6, `grad[${i}] ${grad[i]} vs ${exact}`);
  }
});

test('L2: coeff * sum of mean(T^2), gradient coeff * 2 T / numel', async () => {
  const g = logitsGraph();
  g.initializers.set('S', f32([], [3]));
  const loss = addL2(g, ['T', 'S'], 0.25);
  // The gradient graph keeps the forward graph's inputs (here z, unused by this loss) so its interface is stable.
  const out = await runAll(g, loss, ['T', 'S'], { z: { data: new Float32Array(CLASSES), dims: [1, CLASSES] }, T: { data: Float32Array.of(0.5, -1.5, 2), dims: [3] }, S: { data: Float32Array.of(3), dims: [] } });
  const want = 0.25 * ((0.25 + 2.25 + 4) / 3 + 9);
  assert.ok(Math.abs(out[loss]!.data[0]! - want) < 1e-6);
  assert.deepEqual(Array.from(out[gradName('T')]!.data), [0.5, -1.5, 2].map((v) => Math.fround((0.25 * 2 * v) / 3)));
  assert.deepEqual(Array.from(out[gradName('S')]!.data), [1.5]);
});

test('weighted sum 0.8 CE + 0.1 KD + 0.3 L2 (the ProAct loss shape) passes central differences w.r.t. logits and T', async () => {
  const batch = 3;
  const g = logitsGraph();
  // Make the logits depend on T too, so both gradients flow through the cross-entropy terms.
  g.nodes[0]!.op = 'Add';
  g.nodes[0]!.inputs = ['z', 'Tb'];
  g.initializers.set('Tb', f32([CLASSES], [0.1, -0.2, 0.3, 0, 0.5]));
  const ce = addSoftmaxCrossEntropy(g, 'logits', 'labels');
  const kd = addDistillation(g, 'logits', 'teacher');
  const l2 = addL2(g, ['T', 'Tb'], 1);
  const total = addWeightedSum(g, [[ce, 0.8], [kd, 0.1], [l2, 0.3]]);
  g.outputs = [{ name: total, dtype: 'float32', dims: [] }];
  const z = uniform(rand, batch * CLASSES, -2, 2);
  const teacher = Float32Array.from(softmaxRows(uniform(rand, batch * CLASSES, -2, 2), batch).flat());
  const feeds = {
    z: { data: z, dims: [batch, CLASSES] },
    labels: { data: BigInt64Array.of(0n, 4n, 2n), dims: [batch] },
    teacher: { data: teacher, dims: [batch, CLASSES] },
  };
  const r = await checkGradients(g, { feeds, wrt: ['z', 'T', 'Tb'], eps: 1e-2 });
  assert.ok(r.worst < 1e-3, r.details.join('\n'));
  // The L2 part alone gives grad T = 0.3 * 2 T / 3.
  assert.deepEqual(Array.from(r.grads['T']!), [0.5, -1.5, 2].map((v) => Math.fround((0.3 * 2 * v) / 3)));
});

test('loss builders reject bad inputs with one-line errors', () => {
  assert.throws(() => addSoftmaxCrossEntropy(logitsGraph(), 'nope', 'labels'), /no value named 'nope'/);
  const g3 = logitsGraph();
  g3.inputs.push({ name: 'labels', dtype: 'float32', dims: [-1] });
  assert.throws(() => addSoftmaxCrossEntropy(g3, 'logits', 'labels'), /expected int64/);
  assert.throws(() => addSoftmaxCrossEntropy(logitsGraph(), 'logits', 'T'), /already a value/);
  assert.throws(() => addL2(logitsGraph(), [], 1), /no tensor names/);
  assert.throws(() => addL2(logitsGraph(), ['missing'], 1), /not a float tensor/);
  assert.throws(() => addWeightedSum(logitsGraph(), [['logits', 1]]), /not a scalar/);
  assert.throws(() => addWeightedSum(logitsGraph(), []), isProactError);
});
