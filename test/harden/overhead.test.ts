/** Threshold memory overhead per scheme (method.md section 7) on real and zoo architectures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareGraph, readOnnxFile } from '../../src/graph/index.js';
import { buildModel } from '../../src/zoo/index.js';
import { activationSites, applyThresholds, graphOverhead, thresholdOverhead } from '../../src/harden/index.js';
import { sharedFile } from '../helpers/shared.js';
import { tinyCnn } from '../helpers/tinymodel.js';

test('overhead: resnet20.onnx needs 188,416 neuron-wise vs 4,114 HyReLU thresholds', (t) => {
  const path = sharedFile(t, 'models/resnet20.onnx');
  if (!path) return;
  const o = graphOverhead(prepareGraph(readOnnxFile(path)));
  assert.equal(o.layers.length, 19);
  assert.deepEqual(o.layers.at(-1)!.dims, [64, 8, 8]);
  assert.equal(o.schemes.neuron.parameters, 188416);
  assert.equal(o.schemes.hyrelu.parameters, 4114);
  assert.equal(o.schemes.layer.parameters, 19);
  // 7 layers of 16 channels, 6 of 32, 6 of 64.
  assert.equal(o.schemes.channel.parameters, 7 * 16 + 6 * 32 + 6 * 64);
  assert.equal(o.schemes.neuron.bytes, 188416 * 4);
  assert.equal(o.schemes.hyrelu.bytes, 4114 * 4);
  assert.ok(Math.abs(o.ratios.neuronToHyrelu - 45.8) < 0.05, `ratio ${o.ratios.neuronToHyrelu}`);
  assert.equal(o.stored, undefined, 'an unclipped model stores no thresholds');
});

test('overhead: alexnet-cifar.onnx (shared) matches the zoo layout, 66,176 / 4,102', (t) => {
  const path = sharedFile(t, 'models/alexnet-cifar.onnx');
  if (!path) return;
  const o = graphOverhead(prepareGraph(readOnnxFile(path)));
  assert.equal(o.schemes.neuron.parameters, 66176);
  assert.equal(o.schemes.hyrelu.parameters, 4102);
});

test('overhead: zoo AlexNet 66,176 / 4,102 (16.1x) and VGG-16 276,480 / 2,060 (134x)', () => {
  const alex = graphOverhead(buildModel('alexnet-cifar'));
  assert.equal(alex.schemes.neuron.parameters, 66176);
  assert.equal(alex.schemes.hyrelu.parameters, 4102);
  assert.equal(alex.schemes.layer.parameters, 7);
  assert.ok(Math.abs(alex.ratios.neuronToHyrelu - 16.13) < 0.01);
  const vgg = graphOverhead(buildModel('vgg16-cifar'));
  assert.equal(vgg.schemes.neuron.parameters, 276480);
  assert.equal(vgg.schemes.hyrelu.parameters, 2060);
  assert.ok(Math.abs(vgg.ratios.neuronToHyrelu - 134.2) < 0.05);
});

test('overhead: hand-made dims, a [N] layer after a linear one, and bad dims', () => {
  const o = thresholdOverhead([[2, 3, 3], [5]], ['a', 'b']);
  assert.deepEqual(o.schemes, {
    neuron: { parameters: 23, bytes: 92 },
    channel: { parameters: 7, bytes: 28 },
    layer: { parameters: 2, bytes: 8 },
    hyrelu: { parameters: 6, bytes: 24 },
  });
  assert.equal(o.ratios.neuronToLayer, 11.5);
  assert.throws(() => thresholdOverhead([]), /no activation layers/);
  assert.throws(() => thresholdOverhead([[3, -1, 2]]), /activation layer 0 has unknown dims \[3,-1,2\]/);
});

test('overhead: a hardened model counts each clipped layer once and reports the thresholds it stores', () => {
  const g = prepareGraph(tinyCnn(1));
  const plain = graphOverhead(g);
  const relus = g.nodes.filter((n) => n.op === 'Relu').map((n) => n.name);
  // Layer 0 clip-zero (has a Relu inside its form), layer 1 neuron-wise guarded smooth-zero (has one too).
  const hardened = applyThresholds(
    g,
    [
      { layer: 0, node: relus[0]!, kind: 'clip-zero', granularity: 'layer', thresholdName: 'proact.threshold.0', dims: [], values: Float32Array.of(1) },
      { layer: 1, node: relus[1]!, kind: 'smooth-zero', granularity: 'neuron', thresholdName: 'proact.threshold.1', dims: [16], values: new Float32Array(16).fill(2) },
    ],
    'hyrelu',
  );
  assert.ok(hardened.nodes.filter((n) => n.op === 'Relu').length >= 2);
  assert.deepEqual(activationSites(hardened), activationSites(g));
  const o = graphOverhead(hardened);
  assert.deepEqual(o.schemes, plain.schemes);
  assert.deepEqual(o.stored, { parameters: 17, bytes: 68 });
  assert.equal(o.schemes.hyrelu.parameters, 17, 'this model is HyReLU: layer-wise, then neuron-wise in the last layer');
});
