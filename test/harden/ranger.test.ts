/**
 * Ranger: thresholds are the profiled layer maxima, clipping at them changes nothing on the profiled
 * images, the hardened ONNX is an ordinary model for plain onnxruntime-node, and its thresholds are
 * named so campaigns hit them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { prepareGraph, readOnnxFile, writeOnnx, type Graph } from '../../src/graph/index.js';
import { openDataset, splitTrainValidation, type Dataset } from '../../src/data/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import { faultSurface } from '../../src/campaign/index.js';
import { applyThresholds, graphAccuracy, hardenRanger, profileActivations, profilingSubset, thresholdsFromProfile } from '../../src/harden/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-ranger-'));
const data = splitTrainValidation(openDataset('mnist', { split: 'train' }), 100, 5);
const graph = prepareGraph(tinyCnn(2));
const profileImages = 300;
const profile = await profileActivations(graph, data.train, { images: profileImages, seed: 5 });
const profiled = profilingSubset(data.train, profileImages, 5);

async function logits(g: Graph, ds: Dataset, limit = ds.count) {
  const s = await Session.create(g);
  try {
    return await evaluate(s, ds, { keepLogits: true, batchSize: 64, limit });
  } finally {
    await s.release();
  }
}

for (const method of ['ranger', 'ranger-zero'] as const) {
  test(`${method}: thresholds are the layer maxima and change nothing on the profiled images`, async () => {
    const outcome = await hardenRanger(graph, data, profile, { method });
    assert.equal(outcome.method, method);
    assert.equal(outcome.thresholds.length, 2);
    outcome.thresholds.forEach((t, k) => {
      assert.equal(t.kind, method === 'ranger' ? 'clip-sat' : 'clip-zero');
      assert.equal(t.granularity, 'layer');
      assert.deepEqual(t.dims, []);
      assert.equal(t.thresholdName, `proact.threshold.${k}`);
      assert.equal(t.values[0], profile.layers[k]!.layerMax);
      const init = outcome.graph.initializers.get(`proact.threshold.${k}`)!;
      assert.deepEqual(init.dims, []);
      assert.equal((init.data as Float32Array)[0], profile.layers[k]!.layerMax);
    });
    assert.ok(profile.layers.every((l) => l.layerMax > 0));
    assert.equal(outcome.graph.metadata['proact.method'], method);
    assert.equal(outcome.graph.nodes.filter((n) => n.op === 'Where').length, method === 'ranger' ? 4 : 2);
    assert.equal(outcome.imagesProcessed, profileImages + 100);

    const plain = await logits(graph, profiled);
    const clipped = await logits(outcome.graph, profiled);
    assert.deepEqual(clipped.predictions, plain.predictions);
    assert.equal(clipped.accuracy, plain.accuracy);
    let worst = 0;
    for (let i = 0; i < plain.logits!.length; i++) worst = Math.max(worst, Math.abs(plain.logits![i]! - clipped.logits![i]!));
    assert.ok(worst <= 1e-6, `logits differ by ${worst} on the profiled images`);
    assert.equal(outcome.validationAccuracy, await graphAccuracy(outcome.graph, data.validation));

    // Clipping is really in the graph: at half the maxima the same images give other logits.
    const half = applyThresholds(graph, profile.layers.map((p, k) => ({ ...thresholdsFromProfile(k, p, outcome.thresholds[k]!.kind, 'layer'), values: Float32Array.of(p.layerMax / 2) })), method);
    const halved = await logits(half, profiled);
    let changed = 0;
    for (let i = 0; i < plain.logits!.length; i++) if (Math.abs(plain.logits![i]! - halved.logits![i]!) > 1e-3) changed++;
    assert.ok(changed > plain.logits!.length / 10, `${changed} logits changed at half the thresholds`);

    // Campaigns find the thresholds as part of the fault surface.
    const surface = faultSurface(outcome.graph);
    assert.deepEqual(surface.filter((t) => t.kind === 'threshold').map((t) => t.name), ['proact.threshold.0', 'proact.threshold.1']);
  });
}

test('ranger: channel- and neuron-wise maxima have the shapes of thresholdShape', async () => {
  const ch = await hardenRanger(graph, data, profile, { granularity: 'channel' });
  assert.deepEqual(ch.thresholds.map((t) => t.dims), [[4, 1, 1], [16]]);
  assert.deepEqual(Array.from(ch.thresholds[0]!.values), Array.from(profile.layers[0]!.channelMax));
  const ne = await hardenRanger(graph, data, profile, { method: 'ranger-zero', granularity: 'neuron' });
  assert.deepEqual(ne.thresholds.map((t) => t.dims), [[4, 14, 14], [16]]);
  assert.deepEqual(Array.from(ne.thresholds[0]!.values), Array.from(profile.layers[0]!.neuronMax));
  const plain = await logits(graph, profiled);
  for (const o of [ch, ne]) assert.deepEqual((await logits(o.graph, profiled)).predictions, plain.predictions);
  await assert.rejects(hardenRanger(graph, data, profile, { granularity: 'pixel' as 'layer' }), /unknown granularity 'pixel'/);
});

test('ranger: the exported ONNX runs in plain onnxruntime-node with the same logits (1e-5)', async () => {
  for (const granularity of ['layer', 'neuron'] as const) {
    const outcome = await hardenRanger(graph, data, profile, { granularity });
    const path = join(dir, `ranger-${granularity}.onnx`);
    writeFileSync(path, writeOnnx(outcome.graph));
    const plainSession = await ort.InferenceSession.create(path);
    const batch = profiled.read(0, 32);
    const out = await plainSession.run({ [plainSession.inputNames[0]!]: new ort.Tensor('float32', batch.x, [32, 1, 28, 28]) });
    const theirs = out[plainSession.outputNames[0]!]!.data as Float32Array;
    await plainSession.release();
    const ours = (await logits(outcome.graph, profiled, 32)).logits!;
    assert.equal(theirs.length, 32 * 10);
    let worst = 0;
    for (let i = 0; i < theirs.length; i++) worst = Math.max(worst, Math.abs(theirs[i]! - ours[i]!));
    assert.ok(worst <= 1e-5, `plain onnxruntime differs by ${worst}`);
    // Reading the file back gives the same thresholds under the same names.
    const back = readOnnxFile(path);
    assert.deepEqual(back.initializers.get('proact.threshold.1')!.dims, granularity === 'layer' ? [] : [16]);
    assert.equal(back.metadata['proact.method'], 'ranger');
  }
});
