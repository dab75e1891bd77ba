/**
 * FT-ClipAct on the tiny MNIST CNN with a tiny fault-injection budget: the interval search narrows
 * round by round exactly as the reference's Interval_Search, reuses scores of repeated candidates,
 * stops early when scores are flat, and picks a threshold in [0, layer max] that the model then holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareGraph } from '../../src/graph/index.js';
import { openDataset, splitTrainValidation } from '../../src/data/index.js';
import {
  FTCLIPACT_DEFAULTS,
  FTCLIPACT_REFERENCE,
  evenlySpaced,
  hardenFtClipAct,
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
