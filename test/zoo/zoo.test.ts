/**
 * Model zoo: layouts (activation-layer sizes from method.md section 7), output shapes through
 * onnxruntime, and seeded PyTorch-default initialisation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationLayers, numel, prepareGraph, readOnnxFile, type Graph } from '../../src/graph/index.js';
import { Session } from '../../src/runtime/index.js';
import { ARCHS, archInfo, buildModel, lenet5, resnet20, resnet50Cifar } from '../../src/zoo/index.js';
import { Rng } from '../../src/train/index.js';
import { sharedFile } from '../helpers/shared.js';

function activationSizes(g: Graph): number[] {
  return activationLayers(g).map((l) => numel(l.dims));
}
const sum = (v: number[]): number => v.reduce((a, b) => a + b, 0);

/** Each architecture built once (seed 0) and shared by the tests: the big ones take a moment. */
const built = new Map<string, Graph>();
function model(arch: string): Graph {
  let g = built.get(arch);
  if (!g) built.set(arch, (g = buildModel(arch)));
  return g;
}

test('alexnet-cifar: 7 activation layers, 66,176 neuron-wise thresholds, last layer 4096 (HyReLU 4,102)', () => {
  const sizes = activationSizes(model('alexnet-cifar'));
  assert.equal(sizes.length, 7);
  assert.equal(sum(sizes), 66176);
  assert.equal(sizes.at(-1), 4096);
  assert.equal(sizes.length - 1 + sizes.at(-1)!, 4102);
});

test('vgg16-cifar: 13 activation layers, 276,480 neuron-wise thresholds, HyReLU 2,060', () => {
  const g = model('vgg16-cifar');
  const sizes = activationSizes(g);
  assert.equal(sizes.length, 13);
  assert.equal(sum(sizes), 276480);
  // The last activation layer is the 512x2x2 map before the fifth max-pool; the Linear then sees 512 features.
  assert.equal(sizes.at(-1), 2048);
  assert.deepEqual(g.initializers.get('classifier.weight')?.dims, [10, 512]);
  assert.equal(sizes.length - 1 + sizes.at(-1)!, 2060);
  assert.ok(Math.abs(sum(sizes) / 2060 - 134) < 0.5); // the 134x of method.md section 7
});

test('resnet20: 19 activation layers, 188,416 thresholds neuron-wise, 46x HyReLU', () => {
  const sizes = activationSizes(model('resnet20'));
  assert.equal(sizes.length, 19);
  assert.equal(sum(sizes), 188416);
  assert.equal(Math.round(sum(sizes) / (18 + sizes.at(-1)!)), 46);
});

test('mobilenetv2-cifar: 35 ReLU6 layers (Clip 0..6), 17 depthwise convs, 2,219,626 parameters, 73.2x neuron-wise / HyReLU', () => {
  const g = model('mobilenetv2-cifar');
  const layers = activationLayers(g);
  assert.equal(layers.length, 35);
  assert.ok(layers.every((l) => l.fn === 'relu6' && g.nodes.find((n) => n.name === l.node)?.op === 'Clip'));
  assert.deepEqual(layers.at(-1)!.dims, [1280, 4, 4]);
  assert.equal(g.nodes.filter((n) => n.op === 'Conv' && n.attrs['group']?.value !== 1).length, 17);
  let params = 0;
  for (const [name, t] of g.initializers) if (!name.startsWith('relu6.')) params += numel(t.dims);
  assert.equal(params, 2219626);
  const sizes = activationSizes(g);
  assert.equal(sum(sizes), 1502208);
  assert.equal(sizes.length - 1 + sizes.at(-1)!, 20514);
  assert.equal(archInfo('mobilenetv2').name, 'mobilenetv2-cifar');
});

test('layouts match the shared PyTorch exports of the same architectures', (t) => {
  for (const [arch, file] of [['alexnet-cifar', 'models/alexnet-cifar.onnx'], ['resnet20', 'models/resnet20.onnx']] as const) {
    const path = sharedFile(t, file);
    if (!path) return;
    const reference = prepareGraph(readOnnxFile(path));
    const ref = activationLayers(reference).map((l) => l.dims);
    assert.deepEqual(activationLayers(model(arch)).map((l) => l.dims), ref, arch);
    const refParams = [...reference.initializers.values()].filter((p) => p.dtype === 'float32' && p.dims.length > 1).map((p) => p.dims);
    const ours = [...model(arch).initializers.values()].filter((p) => p.dtype === 'float32' && p.dims.length > 1).map((p) => p.dims);
    // The ResNet export also holds its input normalisation constants, [1, 3, 1, 1]: not layer weights.
    assert.deepEqual(ours.sort(), refParams.filter((d) => d[0] !== 1).sort(), `${arch} weight shapes`);
  }
});

test('every architecture runs in onnxruntime: input [batch,C,H,W] -> logits [batch,10]', async () => {
  for (const info of Object.values(ARCHS)) {
    const g = model(info.name);
    assert.equal(g.dataInputs()[0]!.name, 'input');
    assert.equal(g.outputs[0]!.name, 'logits');
    const session = await Session.create(g, { threads: 1 });
    const [c, h, w] = info.inputShape;
    const rng = Rng.fromSeed(2);
    const x = new Float32Array(3 * c * h * w).map(() => rng.float());
    const out = (await session.run({ input: { data: x, dims: [3, c, h, w] } }, ['logits']))['logits']!;
    await session.release();
    assert.deepEqual(out.dims, [3, 10], info.name);
    assert.ok(out.data.every(Number.isFinite), info.name);
    // The input still matters at the logits after initialisation (the signal has not died out in depth).
    const spread = Math.max(...Array.from({ length: 10 }, (_, k) => Math.abs(out.data[k]! - out.data[10 + k]!)));
    const scale = Math.max(...Array.from(out.data.subarray(0, 10), Math.abs));
    assert.ok(spread > 1e-3 * scale, `${info.name}: logits of different inputs differ by ${spread}, at scale ${scale}`);
  }
});

test('LeNet-5 has 61,706 parameters and adapts to other input shapes and class counts', async () => {
  const g = lenet5();
  assert.equal(sum([...g.initializers.values()].map((p) => numel(p.dims))), 61706);
  const cifar = lenet5({ inputShape: [3, 32, 32], numClasses: 100 });
  assert.deepEqual(cifar.initializers.get('fc1.weight')?.dims, [120, 16 * 6 * 6]);
  const s = await Session.create(cifar);
  const out = (await s.run({ input: { data: new Float32Array(2 * 3 * 32 * 32), dims: [2, 3, 32, 32] } }))['logits']!;
  await s.release();
  assert.deepEqual(out.dims, [2, 100]);
  assert.throws(() => lenet5({ inputShape: [1, 8, 8] }), /too small/);
});

test('initialisation is seeded, and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch defaults', () => {
  const a = resnet20({ seed: 3 });
  const b = resnet20({ seed: 3 });
  const c = resnet20({ seed: 4 });
  for (const [name, t] of a.initializers) assert.deepEqual(b.initializers.get(name)!.data, t.data, name);
  assert.notDeepEqual(c.initializers.get('conv1.weight')!.data, a.initializers.get('conv1.weight')!.data);
  // layer3.0.conv2: fan_in = 64 * 9 = 576, bound 1/24; a uniform's standard deviation is bound / sqrt(3).
  const w = a.initializers.get('layer3.0.conv2.weight')!.data as Float32Array;
  const bound = 1 / 24;
  let sq = 0;
  let mean = 0;
  for (const v of w) {
    assert.ok(Math.abs(v) <= bound);
    sq += v * v;
    mean += v;
  }
  mean /= w.length;
  const std = Math.sqrt(sq / w.length - mean * mean);
  // 36,864 values: the sample std of a uniform is within 1% of bound/sqrt(3) with overwhelming probability.
  assert.ok(Math.abs(std / (bound / Math.sqrt(3)) - 1) < 0.01, `std ${std}`);
  assert.ok(Math.abs(mean) < 5 * (bound / Math.sqrt(3)) / Math.sqrt(w.length), `mean ${mean}`);
  const bias = a.initializers.get('linear.bias')!.data as Float32Array;
  assert.ok(bias.every((v) => Math.abs(v) <= 1 / 8) && bias.some((v) => Math.abs(v) > 1 / 32)); // fan_in 64
});

test("vgg16-cifar defaults to He-uniform weights and zero biases; init 'torch' gives PyTorch's defaults", () => {
  const he = model('vgg16-cifar');
  const w = he.initializers.get('features.2.weight')!; // 64 -> 64 channels, fan_in 576
  const bound = Math.sqrt(6 / 576);
  const data = w.data as Float32Array;
  assert.ok(data.every((v) => Math.abs(v) <= bound) && data.some((v) => Math.abs(v) > 0.9 * bound));
  assert.ok((he.initializers.get('features.2.bias')!.data as Float32Array).every((v) => v === 0));
  assert.equal(he.metadata['proact.init'], 'kaiming');
  const torch = buildModel('vgg16-cifar', { seed: 1, init: 'torch' });
  assert.ok((torch.initializers.get('features.2.weight')!.data as Float32Array).every((v) => Math.abs(v) <= 1 / 24));
  assert.ok((torch.initializers.get('features.2.bias')!.data as Float32Array).some((v) => v !== 0));
});

test('architecture names and aliases', () => {
  assert.equal(archInfo('lenet').name, 'lenet5');
  assert.equal(archInfo('resnet20').name, 'resnet20');
  assert.throws(() => archInfo('resnet18'), /architecture 'resnet18' is unknown: use one of lenet5, alexnet-cifar/);
});

test('resnet50-cifar (shape-only): 49 activation layers, 2,940,928 elements, last 2048x4x4, 23.5 M parameters; classes change only the Linear', () => {
  const g = resnet50Cifar();
  const layers = activationLayers(g);
  assert.equal(layers.length, 49);
  assert.equal(sum(layers.map((l) => numel(l.dims))), 2940928);
  assert.deepEqual(layers.at(-1)!.dims, [2048, 4, 4]);
  assert.deepEqual(layers[0]!.dims, [64, 32, 32]);
  let params = 0;
  for (const t of g.initializers.values()) params += t.data.length;
  // torch's CIFAR ResNet50 has 23,520,842 (with BatchNorm weight and bias); a folded layout keeps one bias per BN channel instead: 26,560 fewer.
  assert.equal(params, 23520842 - 26560);
  assert.deepEqual(g.initializers.get('linear.weight')!.dims, [10, 2048]);
  const g100 = resnet50Cifar({ numClasses: 100 });
  assert.deepEqual(activationSizes(g100), activationSizes(g));
  assert.ok(!(Object.keys(ARCHS) as string[]).includes('resnet50-cifar'), 'shape-only: not a training architecture');
});
