import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readOnnxFile, writeOnnx, readOnnx, prepareGraph, activationLayers, summarizeGraph, type Graph } from '../../src/graph/index.js';
import { Session } from '../../src/runtime/index.js';
import { sharedFile } from '../helpers/shared.js';
import { readGoldenNpy, readCifarRecords } from '../helpers/golden.js';

const MODELS = ['resnet20', 'resnet20-bn', 'resnet20-akamaster', 'resnet56-akamaster', 'alexnet-cifar'];

async function logitsOf(g: Graph, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await Session.create(g, { threads: 2 });
  const out = await s.run({ [s.inputNames[0]!]: { data: x, dims: [n, 3, 32, 32] } });
  await s.release();
  return out[s.outputNames[0]!]!.data;
}

function compare(got: Float32Array, gold: Float32Array, classes: number): { maxAbs: number; argmaxDiff: number } {
  let maxAbs = 0, argmaxDiff = 0;
  for (let i = 0; i < gold.length / classes; i++) {
    let a = 0, b = 0;
    for (let k = 0; k < classes; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(got[i * classes + k]! - gold[i * classes + k]!));
      if (got[i * classes + k]! > got[i * classes + a]!) a = k;
      if (gold[i * classes + k]! > gold[i * classes + b]!) b = k;
    }
    if (a !== b) argmaxDiff++;
  }
  return { maxAbs, argmaxDiff };
}

for (const name of MODELS) {
  test(`${name}: logits match the PyTorch golden (raw, and after fold + BN fold + export + re-import)`, async (t) => {
    const model = sharedFile(t, `models/${name}.onnx`);
    const goldenPath = sharedFile(t, `models/${name}.golden256.npy`);
    const data = sharedFile(t, 'data/cifar10-jpeg75/test_batch.bin');
    if (!model || !goldenPath || !data) return;
    const gold = readGoldenNpy(goldenPath);
    const { x } = readCifarRecords(data, 256);
    const raw = readOnnxFile(model);
    const r1 = compare(await logitsOf(raw, x, 256), gold.data, 10);
    assert.ok(r1.maxAbs < 1e-4, `raw max abs diff ${r1.maxAbs}`);
    assert.equal(r1.argmaxDiff, 0);

    const prepared = prepareGraph(readOnnxFile(model));
    const reread = readOnnx(writeOnnx(prepared));
    const ops = new Set(reread.nodes.map((n) => n.op));
    for (const op of ['BatchNormalization', 'Shape', 'Gather', 'ConstantOfShape', 'Concat', 'Reshape', 'Transpose', 'Cast', 'Constant'])
      assert.ok(!ops.has(op), `${op} left after folding: ${[...ops].join(',')}`);
    const r2 = compare(await logitsOf(reread, x, 256), gold.data, 10);
    assert.ok(r2.maxAbs < 1e-4, `prepared max abs diff ${r2.maxAbs}`);
    assert.equal(r2.argmaxDiff, 0);
    const layers = activationLayers(reread);
    assert.equal(layers.length, summarizeGraph(reread).activationLayers);
    if (name.startsWith('resnet20')) {
      assert.equal(layers.length, 19);
      assert.deepEqual(layers[18]!.dims, [64, 8, 8]);
    }
  });
}
