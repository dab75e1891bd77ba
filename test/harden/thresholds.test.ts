/** Threshold files: exact round trip, strict one-line validation, and applying them to a model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareGraph } from '../../src/graph/index.js';
import { ProactError } from '../../src/util/errors.js';
import { applyThresholds, thresholdsFromJSON, thresholdsToJSON, type LayerThresholds } from '../../src/harden/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const graph = prepareGraph(tinyCnn(1));
const sample: LayerThresholds[] = [
  { layer: 0, node: graph.nodes.find((n) => n.op === 'Relu')!.name, kind: 'clip-zero', granularity: 'channel', thresholdName: 'proact.threshold.0', dims: [4, 1, 1], values: Float32Array.of(0.1, 1 / 3, 2.5e-7, 7) },
  { layer: 1, node: graph.nodes.filter((n) => n.op === 'Relu')[1]!.name, kind: 'smooth-zero', granularity: 'neuron', thresholdName: 'proact.threshold.1', dims: [16], values: Float32Array.from({ length: 16 }, (_, i) => Math.fround(Math.PI * i)) },
];

test('thresholds JSON: round trip keeps every float32 bit, method, k and guard', () => {
  const text = thresholdsToJSON({ method: 'proact', thresholds: sample, k: 20, guard: true });
  const back = thresholdsFromJSON(text);
  assert.equal(back.method, 'proact');
  assert.equal(back.k, 20);
  assert.equal(back.guard, true);
  assert.equal(back.thresholds.length, 2);
  back.thresholds.forEach((t, k) => {
    const s = sample[k]!;
    assert.deepEqual({ ...t, values: Array.from(t.values) }, { ...s, values: Array.from(s.values) });
    assert.ok(t.values instanceof Float32Array);
  });
});

test('thresholds JSON: each kind of bad input gives a one-line ProactError naming the field', () => {
  const good = JSON.parse(thresholdsToJSON({ method: 'ranger', thresholds: sample })) as Record<string, unknown> & { layers: Record<string, unknown>[] };
  const withLayer = (patch: Record<string, unknown>) => JSON.stringify({ ...good, layers: [{ ...good.layers[0], ...patch }] });
  const cases: [string, RegExp][] = [
    ['{"format": "proact-thresholds",', /f\.json: not valid JSON/],
    ['[1, 2]', /f\.json: expected a JSON object/],
    [JSON.stringify({ ...good, format: 'other' }), /format is "other", expected "proact-thresholds"/],
    [JSON.stringify({ ...good, version: 2 }), /version 2 is not supported/],
    [JSON.stringify({ ...good, method: '' }), /'method' must be a non-empty string/],
    [JSON.stringify({ ...good, layers: [] }), /'layers' must be a non-empty array/],
    [JSON.stringify({ ...good, k: -1 }), /'k' must be a finite number > 0/],
    [withLayer({ layer: -1 }), /layers\[0\]\.layer must be an integer >= 0/],
    [withLayer({ node: 3 }), /layers\[0\]\.node must be/],
    [withLayer({ kind: 'relu' }), /layers\[0\]\.kind "relu" is not a clipped activation/],
    [withLayer({ granularity: 'pixel' }), /layers\[0\]\.granularity "pixel" is unknown/],
    [withLayer({ thresholdName: 'conv1.threshold' }), /thresholdName "conv1\.threshold" must be "proact\.threshold\.0"/],
    [withLayer({ dims: [4, 0, 1] }), /layers\[0\]\.dims must be an array of positive integers/],
    [withLayer({ values: [1, 2, 3] }), /layers\[0\]\.values must be an array of 4 numbers \(dims \[4,1,1\]\)/],
    [withLayer({ values: [1, 2, -3, 4] }), /layers\[0\]\.values\[2\] = -3: thresholds must be finite float32 numbers >= 0/],
    [withLayer({ values: [1, 2, 1e39, 4] }), /layers\[0\]\.values\[2\] = 1e\+39: thresholds must be finite float32 numbers >= 0/],
    [withLayer({ values: [1, 2, '3', 4] }), /layers\[0\]\.values\[2\] = "3"/],
    [withLayer({ granularity: 'layer' }), /layer-wise thresholds have dims \[\], not \[4,1,1\]/],
    [JSON.stringify({ ...good, layers: [good.layers[0], good.layers[0]] }), /layers\[1\]\.layer 0 appears twice/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => thresholdsFromJSON(text, 'f.json'),
      (e: unknown) => e instanceof ProactError && pattern.test(e.message) && !e.message.includes('\n') && e.message.startsWith('f.json'),
      `${text} should fail with ${pattern}`,
    );
  }
});

test('applyThresholds: builds the clipped forms, and refuses thresholds of another model', () => {
  const hardened = applyThresholds(graph, sample, 'test');
  assert.deepEqual(hardened.initializers.get('proact.threshold.0')!.dims, [4, 1, 1]);
  assert.ok(hardened.nodes.some((n) => n.op === 'Sigmoid'), 'smooth-zero is built');
  assert.ok(!graph.initializers.has('proact.threshold.0'), 'the input graph is not changed');
  const activations = JSON.parse(hardened.metadata['proact.activations']!) as { guard?: boolean }[];
  assert.equal(activations[1]!.guard, true, 'smooth-zero is deployed guarded by default');
  assert.throws(() => applyThresholds(graph, [{ ...sample[0]!, layer: 5 }], 'x'), /layer 5 does not exist; the model has 2 activation layers/);
  assert.throws(() => applyThresholds(graph, [{ ...sample[0]!, node: 'other' }], 'x'), /is node '.*' in the model, not 'other'/);
  assert.throws(() => applyThresholds(graph, [{ ...sample[0]!, dims: [4, 14, 1], values: new Float32Array(56) }], 'x'), /channel thresholds of dims \[4,14,1\], expected \[4,1,1\]/);
});
