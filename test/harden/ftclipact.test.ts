/**
 * FT-ClipAct on the tiny MNIST CNN with a tiny fault-injection budget: the interval search narrows
 * round by round exactly as the reference's Interval_Search, reuses scores of repeated candidates,
 * stops early when scores are flat, and picks a threshold in [0, layer max] that the model then holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationLayers, prepareGraph } from '../../src/graph/index.js';
import { makeFaultable } from '../../src/campaign/index.js';
import { resnet20 } from '../../src/zoo/index.js';
import { openDataset, splitTrainValidation } from '../../src/data/index.js';
import {
  FTCLIPACT_DEFAULTS,
  FTCLIPACT_REFERENCE,
  applyThresholds,
  candidateModel,
  evenlySpaced,
  graphAccuracy,
  hardenFtClipAct,
  layersFeedingActivations,
  profilingSubset,
  thresholdName,
  narrowInterval,
  profileActivations,
  uniformAuc,
  type Decision,
  type FtClipActOptions,
} from '../../src/harden/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const data = splitTrainValidation(openDataset('mnist', { split: 'train' }), 50, 3);
const graph = prepareGraph(tinyCnn(4));
const profile = await profileActivations(graph, data.train, { images: 200, seed: 3 });
// ~3,400 stored values x 32 bits: about 3.6 and 11 flips per trial at these BERs.
const budget: FtClipActOptions = { bers: [3e-5, 1e-4], repetitions: 3, images: 48, candidates: 4, rounds: 3, minRounds: 3, seed: 11 };

test('ftclipact helpers: uniform-axis AUC, evenly spaced candidates, interval narrowing', () => {
  assert.equal(uniformAuc([0.9]), 0.9);
  assert.ok(Math.abs(uniformAuc([1, 0.5, 0]) - 0.5) < 1e-15);
  // The reference's np.trapz over x = [0.2, ..., 1] divided by its width 0.8 is the same mean height.
  const accs = [0.9, 0.85, 0.6, 0.3, 0.12];
  const trapz = accs.slice(1).reduce((s, a, i) => s + (0.2 * (a + accs[i]!)) / 2, 0);
  assert.ok(Math.abs(uniformAuc(accs) - trapz / 0.8) < 1e-12);
  assert.deepEqual(evenlySpaced(0, 3, 4), [0, 1, 2, 3]);
  assert.deepEqual(evenlySpaced(1, 1, 4), [1, 1, 1, 1]);
  const c = [0, 1, 2, 3];
  assert.deepEqual(narrowInterval(c, 0), [0, 1]);
  assert.deepEqual(narrowInterval(c, 1), [0, 2]);
  assert.deepEqual(narrowInterval(c, 2), [1, 3]);
  assert.deepEqual(narrowInterval(c, 3), [2, 3]);
  assert.equal(FTCLIPACT_REFERENCE.repetitions, 20);
  assert.deepEqual(FTCLIPACT_DEFAULTS.bers, [1e-7, 1e-6, 3e-6, 1e-5, 3e-5]);
});

test('ftclipact: the search narrows round by round and picks a threshold in [0, max]', async () => {
  const outcome = await hardenFtClipAct(graph, data, profile, budget);
  assert.equal(outcome.method, 'ftclipact');
  assert.equal(outcome.thresholds.length, 2);
  for (const layer of [0, 1]) {
    const max = profile.layers[layer]!.layerMax;
    const mine = outcome.decisions.filter((d) => d.layer === layer);
    const rounds = new Map<number, Decision[]>();
    for (const d of mine) rounds.set(d.setting.round as number, [...(rounds.get(d.setting.round as number) ?? []), d]);
    assert.equal(rounds.size, 3, 'three rounds (no early stop before minRounds)');
    const first = rounds.get(1)!.map((d) => d.setting.threshold as number);
    assert.deepEqual(first, evenlySpaced(0, max, 4), 'round 1 spans [0, layer max]');
    let width = max;
    for (let r = 2; r <= 3; r++) {
      const prev = rounds.get(r - 1)!;
      const scores = prev.map((d) => d.accuracy);
      const best = scores.indexOf(Math.max(...scores));
      const [lo, hi] = narrowInterval(prev.map((d) => d.setting.threshold as number), best);
      const now = rounds.get(r)!;
      assert.deepEqual(now.map((d) => d.setting.threshold), evenlySpaced(lo, hi, 4), `round ${r} spans the neighbours of round ${r - 1}'s best`);
      assert.ok(hi - lo <= (2 / 3) * width * (1 + 1e-6), `round ${r} interval ${hi - lo} narrower than ${width}`);
      width = hi - lo;
      // Candidates seen before keep their score (same fault patterns), and say so.
      for (const d of now) {
        const earlier = mine.find((e) => (e.setting.round as number) < r && e.setting.threshold === d.setting.threshold);
        if (earlier) {
          assert.equal(d.accuracy, earlier.accuracy);
          assert.match(d.note ?? '', /reused/);
        }
      }
    }
    const accepted = mine.filter((d) => d.accepted);
    assert.equal(accepted.length, 1, 'one accepted candidate per layer');
    const chosen = accepted[0]!.setting.threshold as number;
    assert.equal(accepted[0]!.setting.round, 3, 'the best of the last round');
    assert.ok(chosen >= 0 && chosen <= max, `threshold ${chosen} in [0, ${max}]`);
    const t = outcome.thresholds[layer]!;
    assert.equal(t.kind, 'clip-zero');
    assert.equal(t.granularity, 'layer');
    assert.equal(t.values[0], chosen);
    assert.equal((outcome.graph.initializers.get(`proact.threshold.${layer}`)!.data as Float32Array)[0], chosen);
    for (const d of mine) {
      assert.ok(d.accuracy >= 0 && d.accuracy <= 1);
      assert.equal(typeof d.setting['accuracy@3e-5'], 'number');
    }
  }
  assert.ok(outcome.imagesProcessed > 200 + 50, 'profiling, trials and validation are counted');
  assert.ok(outcome.validationAccuracy >= 0 && outcome.validationAccuracy <= 1);
});

test('ftclipact: flat scores stop the search after minRounds; same seed, same result', async () => {
  const flat = { ...budget, tolerance: 1, minRounds: 1, layers: [1] };
  const a = await hardenFtClipAct(graph, data, profile, flat);
  assert.equal(a.decisions.length, 4, 'one round of 4 candidates, then the early stop');
  assert.ok(a.decisions.every((d) => d.layer === 1));
  assert.equal(a.thresholds[0]!.values[0], Math.fround(profile.layers[0]!.layerMax), 'unsearched layers stay at their maximum');
  const b = await hardenFtClipAct(graph, data, profile, flat);
  assert.deepEqual(b.decisions, a.decisions);
});

test('ftclipact: bad budgets are one-line errors', async () => {
  await assert.rejects(hardenFtClipAct(graph, data, profile, { ...budget, candidates: 2 }), /candidates = 2; expected an integer >= 3/);
  await assert.rejects(hardenFtClipAct(graph, data, profile, { ...budget, bers: [2] }), /BER 2 is outside \(0, 1\)/);
  await assert.rejects(hardenFtClipAct(graph, data, profile, { ...budget, layers: [2] }), /layer 2 does not exist; the model has 2 activation layers/);
  await assert.rejects(hardenFtClipAct(graph, data, profile, { ...budget, tolerance: -1 }), /tolerance = -1/);
});

test("ftclipact paper mode: the layers feeding each activation (a ResNet block's second ReLU gets its second conv only)", () => {
  assert.deepEqual(layersFeedingActivations(graph), [['conv1.weight', 'conv1.bias'], ['fc1.weight', 'fc1.bias']]);
  const r = prepareGraph(resnet20());
  const feeding = layersFeedingActivations(r);
  const acts = activationLayers(r);
  assert.equal(feeding.length, 19);
  const names = (l: number) => feeding[l]!.filter((n) => n.endsWith('.weight'));
  assert.deepEqual(names(0), ['conv1.weight']);
  const relu2 = acts.findIndex((a) => a.node.includes('layer2.0.relu2'));
  const relu1 = acts.findIndex((a) => a.node.includes('layer2.0.relu1'));
  assert.deepEqual(names(relu2), ['layer2.0.conv2.weight'], 'the shortcut carries an earlier activation, not a layer of this one');
  assert.deepEqual(names(relu1), ['layer2.0.conv1.weight']);
  // Every conv and the classifier but the last Linear feed exactly one activation.
  assert.equal(new Set(feeding.flat()).size, feeding.flat().length);
});

test('ftclipact paper mode: a candidate clips only layer i and its faults can hit only layer i', () => {
  const feeding = layersFeedingActivations(graph);
  const current = profile.layers.map((p) => p.layerMax);
  for (const layer of [0, 1]) {
    const c = candidateModel(graph, profile, 'paper', current, layer, 0.5, feeding);
    const thresholds = [...c.graph.initializers.keys()].filter((n) => n.startsWith('proact.threshold.'));
    assert.deepEqual(thresholds, [thresholdName(layer)], 'one clipped layer');
    assert.equal(c.graph.initializers.get(thresholdName(layer))!.data[0], 0.5);
    assert.equal(c.graph.nodes.filter((n) => n.op === 'Relu').length >= 1, true, 'the other layer stays a plain ReLU');
    assert.deepEqual([...c.faulted!].sort(), [...feeding[layer]!, thresholdName(layer)].sort());
    const surface = makeFaultable(c.graph, { kinds: ['weight', 'bias', 'threshold'] }).surface.filter((t) => c.faulted!.has(t.name));
    assert.deepEqual(surface.map((t) => t.name).sort(), [...feeding[layer]!, thresholdName(layer)].sort());
    // toolbox: every layer clipped (the searched one at the candidate), faults anywhere.
    const t = candidateModel(graph, profile, 'toolbox', current, layer, 0.5, feeding);
    assert.equal([...t.graph.initializers.keys()].filter((n) => n.startsWith('proact.threshold.')).length, 2);
    assert.equal(t.faulted, undefined);
  }
});

test('ftclipact paper mode: each layer is scored with only itself clipped and faulted; the result clips every layer', async () => {
  const outcome = await hardenFtClipAct(graph, data, profile, { ...budget, rounds: 1, minRounds: 1, mode: 'paper' });
  const feeding = layersFeedingActivations(graph);
  const evalSet = profilingSubset(data.train, budget.images!, budget.seed!);
  for (const d of outcome.decisions) {
    assert.equal(d.setting['mode'], 'paper');
    assert.equal(d.setting['faulted'], [...feeding[d.layer]!, thresholdName(d.layer)].join(','));
    // The clean accuracy of the scored model is that of the unprotected model with only this layer clipped.
    const only = applyThresholds(graph, [{ layer: d.layer, node: profile.layers[d.layer]!.node, kind: 'clip-zero', granularity: 'layer', thresholdName: thresholdName(d.layer), dims: [], values: Float32Array.of(d.setting['threshold'] as number) }], 'x');
    assert.equal(d.setting['clean'], await graphAccuracy(only, evalSet, { threads: 1 }));
  }
  assert.equal(outcome.thresholds.length, 2);
  const chosen = outcome.decisions.filter((d) => d.accepted).map((d) => d.setting['threshold']);
  assert.deepEqual(outcome.thresholds.map((t) => t.values[0]), chosen);
  await assert.rejects(hardenFtClipAct(graph, data, profile, { ...budget, mode: 'paper', faults: { surface: ['threshold'], referenceSurface: true } }), /--fi-mode paper: activation layer 0 .* has no conv\/linear weights feeding it/);
});
