/**
 * Profiling: the per-element, per-channel and layer maxima against a brute-force forward pass of the
 * tiny MNIST CNN written out in plain TypeScript (float64), on a seeded subset of real MNIST images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activationLayers, prepareGraph, toNumbers, type Graph } from '../../src/graph/index.js';
import { openDataset } from '../../src/data/index.js';
import {
  checkProfileMatches,
  loadCachedProfile,
  profileActivations,
  profileFromJSON,
  profileToJSON,
  profilingSubset,
  saveProfile,
  type ProfileKey,
} from '../../src/harden/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const train = openDataset('mnist', { split: 'train' });

/** The tiny CNN's two Relu outputs for one 1x28x28 image, computed naively in float64. */
function bruteForce(g: Graph, image: Float32Array): [Float64Array, Float64Array] {
  const w = (name: string) => toNumbers(g.initializers.get(name)!);
  const [w1, b1, w2, b2] = [w('conv1.weight'), w('conv1.bias'), w('fc1.weight'), w('fc1.bias')];
  // conv 3x3, stride 2, pad 1: 28x28 -> 14x14, 4 channels; then Relu.
  const a1 = new Float64Array(4 * 14 * 14);
  for (let c = 0; c < 4; c++)
    for (let y = 0; y < 14; y++)
      for (let x = 0; x < 14; x++) {
        let s = b1[c]!;
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) {
            const iy = 2 * y - 1 + ky, ix = 2 * x - 1 + kx;
            if (iy >= 0 && iy < 28 && ix >= 0 && ix < 28) s += w1[c * 9 + ky * 3 + kx]! * image[iy * 28 + ix]!;
          }
        a1[c * 196 + y * 14 + x] = Math.max(0, s);
      }
  // max-pool 2x2 -> 4x7x7, flatten, fc 196 -> 16, Relu.
  const pooled = new Float64Array(196);
  for (let c = 0; c < 4; c++)
    for (let y = 0; y < 7; y++)
      for (let x = 0; x < 7; x++) {
        let m = -Infinity;
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) m = Math.max(m, a1[c * 196 + (2 * y + dy) * 14 + 2 * x + dx]!);
        pooled[c * 49 + y * 7 + x] = m;
      }
  const a2 = new Float64Array(16);
  for (let o = 0; o < 16; o++) {
    let s = b2[o]!;
    for (let i = 0; i < 196; i++) s += w2[o * 196 + i]! * pooled[i]!;
    a2[o] = Math.max(0, s);
  }
  return [a1, a2];
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs brute force ${expected}`);
}

test('profile: exact per-element, per-channel and layer maxima of the tiny CNN on 45 MNIST images', async () => {
  const g = prepareGraph(tinyCnn(3));
  const images = 45;
  // batch 16 leaves a partial last batch (16 + 16 + 13).
  const profile = await profileActivations(g, train, { images, seed: 7, batchSize: 16 });
  assert.equal(profile.images, images);
  const layers = activationLayers(g);
  assert.deepEqual(profile.layers.map((l) => [l.node, l.dims]), layers.map((l) => [l.node, l.dims]));
  assert.deepEqual(profile.layers[0]!.dims, [4, 14, 14]);
  assert.deepEqual(profile.layers[1]!.dims, [16]);

  const subset = profilingSubset(train, images, 7);
  const expected = [new Float64Array(4 * 196).fill(-Infinity), new Float64Array(16).fill(-Infinity)];
  const batch = subset.read(0, images);
  for (let i = 0; i < images; i++) {
    const acts = bruteForce(g, batch.x.subarray(i * 784, (i + 1) * 784));
    acts.forEach((a, k) => a.forEach((v, e) => (expected[k]![e] = Math.max(expected[k]![e]!, v))));
  }
  let positive = 0;
  profile.layers.forEach((p, k) => {
    const exp = expected[k]!;
    assert.equal(p.neuronMax.length, exp.length);
    exp.forEach((v, e) => close(p.neuronMax[e]!, v, `layer ${k} element ${e}`));
    const channels = p.dims[0]!;
    const per = exp.length / channels;
    for (let c = 0; c < channels; c++) close(p.channelMax[c]!, Math.max(...exp.subarray(c * per, (c + 1) * per)), `layer ${k} channel ${c}`);
    close(p.layerMax, Math.max(...exp), `layer ${k} max`);
    positive += exp.filter((v) => v > 0).length;
  });
  // The check is not vacuous: most maxima are positive, and they differ between elements.
  assert.ok(positive > 0.5 * (4 * 196 + 16), `${positive} positive maxima`);
  assert.ok(new Set(profile.layers[0]!.neuronMax).size > 100);
});

test('profile: the subset is a seeded, sorted choice of distinct training records', () => {
  const a = profilingSubset(train, 50, 1);
  const b = profilingSubset(train, 50, 1);
  const c = profilingSubset(train, 50, 2);
  const labels = (d: typeof a) => Array.from(d.read(0, d.count).labels);
  assert.deepEqual(labels(a), labels(b));
  assert.notDeepEqual(labels(a), labels(c));
  assert.equal(profilingSubset(train, 10 ** 9, 0).count, train.count, 'asking for more images than there are profiles all of them');
  assert.throws(() => profilingSubset(train, 0, 0), /profiling: 0 images/);
});

test('profile: JSON round trip is exact, and the cache is used only for the same key and model', async () => {
  const g = prepareGraph(tinyCnn(3));
  const profile = await profileActivations(g, train, { images: 20, seed: 0 });
  const key: ProfileKey = { modelHash: 'abc', data: 'mnist/train:60000', images: 20, seed: 0 };
  const back = profileFromJSON(profileToJSON(profile, key));
  assert.deepEqual(back.key, key);
  assert.equal(back.profile.images, 20);
  back.profile.layers.forEach((l, k) => {
    const p = profile.layers[k]!;
    assert.deepEqual(Array.from(l.neuronMax), Array.from(p.neuronMax));
    assert.deepEqual(Array.from(l.channelMax), Array.from(p.channelMax));
    assert.equal(l.layerMax, p.layerMax);
  });

  const dir = mkdtempSync(join(tmpdir(), 'proact-profile-'));
  const path = join(dir, 'm.profile.json');
  assert.equal(loadCachedProfile(path, key, g), undefined, 'no file: no cache');
  saveProfile(path, key, profile);
  assert.ok(loadCachedProfile(path, { ...key }, g), 'same key: cached profile');
  assert.equal(loadCachedProfile(path, { ...key, seed: 1 }, g), undefined, 'other seed: miss');
  assert.equal(loadCachedProfile(path, { ...key, images: 21 }, g), undefined, 'other image count: miss');
  const other = prepareGraph(tinyCnn(3));
  other.nodes.find((n) => n.op === 'Relu')!.name = 'renamed';
  assert.equal(loadCachedProfile(path, key, other), undefined, 'another model: miss');
  assert.throws(() => checkProfileMatches(profile, other), /layer 0 is .* but the model's is 'renamed'/);
  writeFileSync(path, '{"format": "proact-profile", "version": 1, "key": {}, "images": 3, "layers": [{"node": "x"}]}');
  assert.equal(loadCachedProfile(path, key, g), undefined, 'a damaged cache is ignored (profiled again)');
  assert.throws(() => profileFromJSON('{"format":"proact-profile","version":1,"key":{},"images":1,"layers":[{"node":"a","dims":[2],"layerMax":1,"neuronMax":"AAAAAA==","channelMax":"AAAAAA=="}]}', 'p.json'), /p\.json: layer 0 neuronMax: holds 4 bytes, expected 8 \(2 float32 values\)/);
});
