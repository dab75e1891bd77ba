/**
 * Hardening under a fixed-point format: every method runs on the model with its weights and biases
 * quantised (as the reference quantises before replacing the ReLUs), thresholds stay float32, and
 * under the reference surface a campaign keeps scalar thresholds unquantised.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset, splitTrainValidation } from '../../src/data/index.js';
import { prepareGraph, readOnnxFile } from '../../src/graph/index.js';
import { faultSurface } from '../../src/campaign/index.js';
import { quantize } from '../../src/faults/index.js';
import { applyThresholds, profileActivations, quantisedModel, thresholdName } from '../../src/harden/index.js';
import { thresholdsFromJSON } from '../../src/harden/index.js';
import { runCli } from '../helpers/cli.js';
import { tinyCnn, writeTinyCnn } from '../helpers/tinymodel.js';

const isQ16 = (v: number) => Number.isInteger(v * 65536);

test('quantisedModel: weights and biases as stored in Q15.16 (truncated toward zero), nothing else changed; float32 is the model itself', () => {
  const g = prepareGraph(tinyCnn(3));
  assert.equal(quantisedModel(g, 'float32'), g);
  const q = quantisedModel(g, 'q15.16');
  for (const name of ['conv1.weight', 'conv1.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']) {
    const original = g.initializers.get(name)!.data as Float32Array;
    const stored = q.initializers.get(name)!.data as Float32Array;
    assert.deepEqual(Array.from(stored), Array.from(quantize(original, 'q15.16')));
    assert.ok(Array.from(stored).every(isQ16));
    assert.ok(Array.from(original).some((v, i) => v !== stored[i]), `${name} changed`);
    assert.ok(Array.from(original).every((v, i) => Math.abs(stored[i]!) <= Math.abs(v)), 'truncation toward zero');
  }
  assert.equal(q.metadata['proact.format'], 'q15.16');
  assert.ok(!Array.from(g.initializers.get('conv1.weight')!.data as Float32Array).every(isQ16), 'the input graph is not modified');
});

test('a campaign surface under Q15.16 quantises thresholds, except scalar ones on the reference surface', () => {
  const g = prepareGraph(tinyCnn(3));
  const t = Math.fround(1.2345678);
  const clipped = applyThresholds(g, [{ layer: 0, node: g.nodes.find((n) => n.op === 'Relu')!.name, kind: 'clip-zero', granularity: 'layer', thresholdName: thresholdName(0), dims: [], values: Float32Array.of(t) }], 'x');
  const ours = faultSurface(clipped, { format: 'q15.16' }).find((s) => s.name === thresholdName(0))!;
  assert.equal(ours.values[0], quantize(Float32Array.of(t), 'q15.16')[0]);
  assert.notEqual(ours.values[0], t);
  const reference = faultSurface(clipped, { format: 'q15.16', referenceSurface: true });
  assert.equal(reference.find((s) => s.name === thresholdName(0))!.values[0], t, 'unquantised');
  // Weights are quantised either way.
  assert.deepEqual(reference.find((s) => s.name === 'conv1.weight')!.values, faultSurface(clipped, { format: 'q15.16' }).find((s) => s.name === 'conv1.weight')!.values);
});

test('harden --format q15.16: profiling and hardening see the quantised weights; thresholds stay float32', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-harden-q-'));
  const model = writeTinyCnn(join(dir, 'tiny.onnx'), 5);
  const args = ['--data', 'mnist', '--profile-images', '300', '--validation', '100', '--seed', '4', '--json'];
  const q = runCli(['harden', '--method', 'ranger', '--model', model, '--out', join(dir, 'q.onnx'), '--format', 'q15.16', ...args]);
  assert.equal(q.code, 0, q.stderr);
  const f = runCli(['harden', '--method', 'ranger', '--model', model, '--out', join(dir, 'f.onnx'), ...args]);
  assert.equal(f.code, 0, f.stderr);
  // The written model holds the quantised weights it was hardened on.
  const written = readOnnxFile(join(dir, 'q.onnx'));
  const original = prepareGraph(readOnnxFile(model));
  for (const name of ['conv1.weight', 'fc1.weight', 'fc2.bias'])
    assert.deepEqual(Array.from(written.initializers.get(name)!.data as Float32Array), Array.from(quantize(original.initializers.get(name)!.data as Float32Array, 'q15.16')));
  // Ranger's thresholds are the activation maxima of the quantised model, not of the float32 one.
  const data = splitTrainValidation(openDataset('mnist', { split: 'train' }), 100, 4);
  const expected = await profileActivations(quantisedModel(original, 'q15.16'), data.train, { images: 300, seed: 4 });
  const floatProfile = await profileActivations(original, data.train, { images: 300, seed: 4 });
  const qThresholds = thresholdsFromJSON(readFileSync(join(dir, 'q.thresholds.json'), 'utf8')).thresholds.map((t) => t.values[0]);
  const fThresholds = thresholdsFromJSON(readFileSync(join(dir, 'f.thresholds.json'), 'utf8')).thresholds.map((t) => t.values[0]);
  assert.deepEqual(qThresholds, expected.layers.map((l) => Math.fround(l.layerMax)));
  assert.deepEqual(fThresholds, floatProfile.layers.map((l) => Math.fround(l.layerMax)));
  assert.notDeepEqual(qThresholds, fThresholds);
  assert.ok(qThresholds.some((t) => !isQ16(t!)), 'thresholds are not quantised');
  // The profile cache is keyed by the format: the float32 run did not reuse the Q15.16 profile.
  assert.equal((JSON.parse(readFileSync(join(dir, 'q.profile.json'), 'utf8')) as { key: { format?: string } }).key.format, 'q15.16');
});
