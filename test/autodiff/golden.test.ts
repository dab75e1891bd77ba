/**
 * The PyTorch golden (../shared/models/resnet20.thrgrad128.json, made by bench/make_thrgrad_golden.py):
 * ResNet-20 with every Relu replaced by the plain smooth-zero clip, scalar T_i = 2.0 + 0.25 i, mean
 * cross-entropy over the first 128 test records; the loss and its gradient w.r.t. the 19 thresholds.
 * GOLDEN_VERBOSE=1 prints the comparison (docs/autodiff.md quotes it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { activationLayers, prepareGraph, readOnnxFile, scalarF32 } from '../../src/graph/index.js';
import { hardenGraph } from '../../src/harden/activations.js';
import { addSoftmaxCrossEntropy, buildGradientGraph, gradName } from '../../src/autodiff/index.js';
import { Session } from '../../src/runtime/index.js';
import { sharedFile } from '../helpers/shared.js';
import { readCifarRecords } from '../helpers/golden.js';

interface Golden {
  relus: string[];
  thresholds: number[];
  loss_value: number;
  grad: number[];
}

test('ResNet-20 smooth-zero threshold gradients match PyTorch (loss within 1e-4, gradients within 1e-3 relative)', async (t) => {
  // One skip message, naming the first missing file.
  const model = sharedFile(t, 'models/resnet20.onnx');
  const goldenPath = model && sharedFile(t, 'models/resnet20.thrgrad128.json');
  const data = goldenPath && sharedFile(t, 'data/cifar10-jpeg75/test_batch.bin');
  if (!model || !goldenPath || !data) return;
  const golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden;
  const g = prepareGraph(readOnnxFile(model));
  const layers = activationLayers(g);
  // The golden names each Relu by its output; our layers must be the same 19, in the same order.
  assert.deepEqual(layers.map((l) => l.output), golden.relus);
  const names = layers.map((_, i) => `T${i}`);
  hardenGraph(g, layers.map((l, i) => ({ node: l.node, kind: 'smooth-zero' as const, threshold: scalarF32(golden.thresholds[i]!), thresholdName: names[i]! })));
  const loss = addSoftmaxCrossEntropy(g, g.outputs[0]!.name, 'labels');
  const gg = buildGradientGraph(g, { loss, wrt: names });
  const { x, labels } = readCifarRecords(data, 128);
  const session = await Session.create(gg, { threads: 2 });
  const feeds: Parameters<Session['run']>[0] = {
    [g.inputs[0]!.name]: { data: x, dims: [128, 3, 32, 32] },
    labels: { data: BigInt64Array.from(labels, (v) => BigInt(v)), dims: [128] },
  };
  names.forEach((name, i) => (feeds[name] = { data: Float32Array.of(golden.thresholds[i]!), dims: [] }));
  const out = await session.run(feeds);
  await session.release();
  const lossValue = out[loss]!.data[0]!;
  assert.ok(Math.abs(lossValue - golden.loss_value) < 1e-4, `loss ${lossValue} vs PyTorch ${golden.loss_value}`);
  const report: string[] = [];
  let failures = 0;
  names.forEach((name, i) => {
    const ours = out[gradName(name)]!.data[0]!;
    const ref = golden.grad[i]!;
    // "Non-negligible": above 1e-6 in magnitude; exact zeros (no activation near T) must stay within 1e-6.
    const ok = Math.abs(ref) > 1e-6 ? Math.abs(ours - ref) <= 1e-3 * Math.abs(ref) : Math.abs(ours - ref) <= 1e-6;
    if (!ok) failures++;
    report.push(`T${i}: ours ${ours.toExponential(6)} torch ${ref.toExponential(6)}${ok ? '' : '  <-- off'}`);
  });
  if (process.env.GOLDEN_VERBOSE) console.log(`loss ${lossValue} vs ${golden.loss_value}\n${report.join('\n')}`);
  assert.equal(failures, 0, report.join('\n'));
});
