/**
 * ProAct: the cached-prefix training step against the full-graph step (ResNet layouts included, where
 * the residual branch crosses the cut), progressive training on a trained tiny CNN (tightening, the
 * tolerance, accept and rollback decisions, last-to-first order), resume after an interruption, and
 * bad input. The tiny CNN has two activation layers: a conv layer (layer-wise under HyReLU) and the
 * last, linear one (neuron-wise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset, subset, type Batch, type Dataset } from '../../src/data/index.js';
import { prepareGraph, readOnnxFile, type Graph } from '../../src/graph/index.js';
import { hardenProAct, withinTolerance, type ProActOptions } from '../../src/harden/proact.js';
import { profileActivations } from '../../src/harden/profile.js';
import {
  ThresholdTrainer,
  buildThresholdProblem,
  phaseSchedule,
  cacheCutValues,
  resolveGranularities,
  teacherProbabilities,
  type ThresholdProgress,
} from '../../src/harden/threshold-train.js';
import { thresholdsFromProfile } from '../../src/harden/thresholds.js';
import type { Decision, LayerThresholds, Profile } from '../../src/harden/types.js';
import { graphAccuracy } from '../../src/harden/accuracy.js';
import { Rng } from '../../src/train/index.js';
import { ProactError } from '../../src/util/errors.js';
import { resnet20 } from '../../src/zoo/index.js';
import { sharedFile } from '../helpers/shared.js';
import { tinySetup } from './threshold-fixtures.js';

const PROACT_LOSS = { crossEntropy: 0.8, distillation: 0.1, l2: 4e-8 };

/** In-memory images with seeded uniform pixels and labels (a dataset for shape-level checks). */
function randomImages(count: number, shape: [number, number, number], seed: number): Dataset {
  const rng = Rng.fromSeed(seed);
  const size = shape[0] * shape[1] * shape[2];
  const pixels = Float32Array.from({ length: count * size }, () => rng.float());
  const labels = Int32Array.from({ length: count }, () => rng.below(10));
  const read = (indices: ArrayLike<number>): Batch => {
    const x = new Float32Array(indices.length * size);
    for (let i = 0; i < indices.length; i++) x.set(pixels.subarray(indices[i]! * size, (indices[i]! + 1) * size), i * size);
    return { x, labels: Int32Array.from({ length: indices.length }, (_, i) => labels[indices[i]!]!), size: indices.length };
  };
  return { name: 'random', path: '-', count, shape, numClasses: 10, read: (s, n) => read(Array.from({ length: n }, (_, i) => s + i)), readIndices: read };
}

/** HyReLU thresholds at the profiled maxima, scaled by `scale` so that some activations are clipped. */
function hyreluThresholds(profile: Profile, scale = 1): LayerThresholds[] {
  const g = resolveGranularities('hyrelu', profile.layers.length, 'test');
  return profile.layers.map((p, l) => {
    const t = thresholdsFromProfile(l, p, 'smooth-zero', g[l]!);
    t.values = t.values.map((v) => v * scale);
    return t;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const tol = rel * Math.max(Math.abs(expected[i]!), scale * 1e-3, 1e-12);
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol.toExponential(2)})`);
  }
}

/**
 * The cached-prefix step and the full-graph step of layer `layer` on the same batch: the loss and the
 * threshold gradient agree to `rel`. Returns the cut of the cached problem.
 */
async function compareCachedAndFull(graph: Graph, thresholds: LayerThresholds[], data: Dataset, layer: number, rel: number): Promise<string[]> {
  const teacher = await teacherProbabilities(graph, data, { threads: 1, batchSize: 16 });
  const indices = Int32Array.from([3, 0, 5, 1, 7, 2]);
  const results = [];
  let cut: string[] = [];
  for (const cachePrefix of [true, false]) {
    const problem = buildThresholdProblem(graph, thresholds, { trainable: [layer], loss: PROACT_LOSS, cachePrefix });
    if (cachePrefix) cut = problem.cut.map((c) => c.name);
    const trainer = await ThresholdTrainer.create(problem, 1);
    const cache = await cacheCutValues(problem, data, { threads: 1, batchSize: 16 });
    cache.teacher = teacher;
    const params = new Map(problem.params.map((p) => [p.name, thresholds[p.layer]!.values] as const));
    results.push(await trainer.step(cache, indices, params));
    await trainer.release();
  }
  const [cached, full] = results as [(typeof results)[0], (typeof results)[0]];
  assertClose([cached.loss], [full.loss], rel, `layer ${layer} loss`);
  const name = `proact.threshold.${layer}`;
  assertClose(cached.grads.get(name)!, full.grads.get(name)!, rel, `layer ${layer} gradient`);
  assert.ok(full.grads.get(name)!.some((v) => Math.abs(v) > 1e-9), `layer ${layer}: the gradient should not vanish (thresholds clip some activations)`);
  return cut;
}

test('cached-prefix step = full-graph step on the tiny CNN (loss and gradient within 1e-5)', async () => {
  const { graph, data, profile } = await tinySetup();
  const images = subset(data.train, [0, 1, 2, 3, 4, 5, 6, 7]);
  const thresholds = hyreluThresholds(profile, 0.5);
  const cut1 = await compareCachedAndFull(graph, thresholds, images, 1, 1e-5);
  assert.equal(cut1.length, 1, `the last layer's cut is its pre-activation alone: ${cut1}`);
  const cut0 = await compareCachedAndFull(graph, thresholds, images, 0, 1e-5);
  assert.equal(cut0.length, 1);
});

test('cached-prefix step = full-graph step on ResNet-20 with option-A shortcuts: the residual branch crosses the cut', async () => {
  const graph = prepareGraph(resnet20({ seed: 3 }));
  const images = randomImages(8, [3, 32, 32], 5);
  const profile = await profileActivations(graph, images, { images: 8 });
  const thresholds = hyreluThresholds(profile, 0.6);
  // Layer 1 is the Relu inside the first block: the block input skips over it to the Add.
  const inside = await compareCachedAndFull(graph, thresholds, images, 1, 1e-5);
  assert.equal(inside.length, 2, `inside a block the cut holds the pre-activation and the block input: ${inside}`);
  // Layer 7 is inside the first block of stage 2, whose shortcut is a strided slice plus zero padding.
  const strided = await compareCachedAndFull(graph, thresholds, images, 7, 1e-5);
  assert.equal(strided.length, 2, `${strided}`);
  // Layer 8 is that block's output Relu: only the sum crosses.
  const output = await compareCachedAndFull(graph, thresholds, images, 8, 1e-5);
  assert.equal(output.length, 1, `${output}`);
});

test('cached-prefix step on the shared ResNet-20 export matches the full graph (layer inside a strided block)', async (t) => {
  const modelPath = sharedFile(t, 'models/resnet20.onnx');
  const dataPath = sharedFile(t, 'data/cifar10-jpeg75/data_batch_1.bin');
  if (!modelPath || !dataPath) return;
  const graph = prepareGraph(readOnnxFile(modelPath));
  const cifar = openDataset(dataPath, { split: 'train' });
  const images = subset(cifar, Array.from({ length: 16 }, (_, i) => i));
  const profile = await profileActivations(graph, subset(cifar, Array.from({ length: 256 }, (_, i) => i)), { images: 256, threads: 2 });
  const thresholds = hyreluThresholds(profile, 0.7);
  const cut = await compareCachedAndFull(graph, thresholds, images, 13, 1e-5);
  assert.equal(cut.length, 2, `the export's option-A shortcut (Slice + Pad) must cross the cut with the pre-activation: ${cut}`);
});

test('the training loss is 0.8 CE + 0.1 KD + 4e-8 mean(T^2), and its gradient matches central differences', async () => {
  const { graph, data, profile } = await tinySetup();
  const images = subset(data.train, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const thresholds = hyreluThresholds(profile, 0.4);
  const problem = buildThresholdProblem(graph, thresholds, { trainable: [0], loss: PROACT_LOSS });
  const trainer = await ThresholdTrainer.create(problem, 1);
  const cache = await cacheCutValues(problem, images, { threads: 1, batchSize: 16 });
  cache.teacher = await teacherProbabilities(graph, images, { threads: 1, batchSize: 16 });
  const indices = Int32Array.from({ length: 12 }, (_, i) => i);
  const at = async (t: number) => (await trainer.step(cache, indices, new Map([['proact.threshold.0', Float32Array.of(t)]]))).loss;

  // The loss written out from the clipped model's logits (the deployed, guarded form).
  const { applyThresholds } = await import('../../src/harden/thresholds.js');
  const { Session } = await import('../../src/runtime/index.js');
  const session = await Session.create(applyThresholds(graph, thresholds, 'proact', { guard: true }));
  const batch = images.read(0, 12);
  const logits = (await session.run({ input: { data: batch.x, dims: [12, 1, 28, 28] } }))['logits']!.data;
  await session.release();
  let ce = 0, kd = 0;
  for (let i = 0; i < 12; i++) {
    const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
    const max = Math.max(...row);
    const logZ = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
    ce -= (row[batch.labels[i]!]! - logZ) / 12;
    for (let c = 0; c < 10; c++) kd -= (cache.teacher[i * 10 + c]! * (row[c]! - logZ)) / 12;
  }
  const t0 = thresholds[0]!.values[0]!;
  const expected = 0.8 * ce + 0.1 * kd + 4e-8 * t0 * t0;
  const step = await trainer.step(cache, indices, new Map([['proact.threshold.0', Float32Array.of(t0)]]));
  assertClose([step.loss], [expected], 1e-5, 'loss');

  // Small h: the loss has kinks (Relu, max-pool switches) that spoil wider differences.
  const h = 3e-4;
  const numeric = ((await at(t0 + h)) - (await at(t0 - h))) / (2 * h);
  const analytic = step.grads.get('proact.threshold.0')![0]!;
  assert.ok(Math.abs(analytic) > 1e-3, `the gradient in T should be clearly non-zero here (${analytic})`);
  assert.ok(Math.abs(numeric - analytic) <= 0.02 * Math.abs(analytic), `d loss / dT: autodiff ${analytic} vs central difference ${numeric}`);
  await trainer.release();
});

/** Small budgets for the tiny CNN: one run is about a second. */
const TINY: ProActOptions = {
  images: 1000,
  batchSize: 64,
  threads: 1,
  weightDecays: [4, 4e-1, 4e-2, 4e-3, 0],
  tolerance: 0.01,
  scalarPhase: { epochs: 2, warmupEpochs: 1, lr: 1e-2 },
  vectorPhase: { epochs: 3, warmupEpochs: 1, lr: 1e-2 },
};

test('ProAct tightens the thresholds, keeps validation accuracy within tolerance and logs decisions last layer first', async () => {
  const { graph, data, profile } = await tinySetup();
  const progress: ThresholdProgress[] = [];
  const seen: Decision[] = [];
  const r = await hardenProAct(graph, data, profile, { ...TINY, onProgress: (p) => progress.push(p), onDecision: (d) => seen.push(d) });

  // acc0: the initial HyReLU thresholds on the validation split.
  const initial = hyreluThresholds(profile);
  const { applyThresholds } = await import('../../src/harden/thresholds.js');
  const acc0 = await graphAccuracy(applyThresholds(graph, initial, 'proact', { guard: true }), data.validation);
  assert.ok(Math.abs(r.validationAccuracy - acc0) <= 0.01 + 1e-9, `validation accuracy ${r.validationAccuracy} drifted beyond 1 point from acc0 ${acc0}`);
  assert.ok(acc0 > 0.8, `the trained tiny CNN should be accurate (acc0 ${acc0})`);

  // Decisions: every trial reported, at least one accepted and one rolled back, layers last to first.
  assert.deepEqual(seen, r.decisions);
  assert.ok(r.decisions.some((d) => d.accepted), 'at least one trial is accepted');
  assert.ok(r.decisions.some((d) => !d.accepted), 'the strongest weight decay (4) must be rolled back');
  const layers = r.decisions.map((d) => d.layer);
  assert.deepEqual(layers, [...layers].sort((a, b) => b - a), `decisions must go from the last layer to the first: ${layers}`);
  assert.equal(layers[0], 1);
  assert.ok(layers.includes(0));
  for (const layer of [0, 1]) assert.ok(r.decisions.filter((d) => d.layer === layer && d.accepted).length <= 1, 'a layer stops at its first accepted trial');
  for (const d of r.decisions) {
    assert.equal(withinTolerance(acc0, d.accuracy, 0.01), d.accepted, `decision ${JSON.stringify(d)} disagrees with |acc0 - acc| <= tolerance`);
    assert.ok(typeof d.setting['weightDecay'] === 'number');
  }
  // Early rollback: the strongest weight decay leaves the tolerance before its last epoch and stops there.
  const first = r.decisions[0]!;
  assert.equal(first.setting['weightDecay'], 4);
  const run = first.setting['epochsRun'] as number;
  assert.ok(run < 4, `wd 4 should stop before its 4th epoch: ${first.note}`);
  assert.ok(first.note!.startsWith(`rolled back after epoch ${run} of 4:`), first.note);
  const progressLayers = progress.map((p) => p.layer as number);
  assert.deepEqual(progressLayers, [...progressLayers].sort((a, b) => b - a), 'training runs layer 1, then layer 0');

  // Tightening: HyReLU shapes, and thresholds below the profiled maxima where training accepted a trial.
  assert.deepEqual(r.thresholds.map((t) => t.granularity), ['layer', 'neuron']);
  assert.deepEqual(r.thresholds.map((t) => t.thresholdName), ['proact.threshold.0', 'proact.threshold.1']);
  for (const t of r.thresholds) {
    const init = initial[t.layer]!.values;
    const accepted = r.decisions.some((d) => d.layer === t.layer && d.accepted);
    let sumInit = 0, sumNow = 0;
    for (let i = 0; i < init.length; i++) {
      sumInit += init[i]!;
      sumNow += t.values[i]!;
      assert.ok(t.values[i]! >= 0, 'thresholds stay >= 0');
    }
    if (accepted) assert.ok(sumNow < sumInit * 0.99, `layer ${t.layer}: accepted thresholds should be tighter than the profile (${sumNow} vs ${sumInit})`);
    else assert.deepEqual(t.values, init, `layer ${t.layer}: no accepted trial keeps the profiled thresholds`);
  }
  assert.ok(r.decisions.filter((d) => d.accepted).length >= 1);

  // The deployed form: guarded smooth-zero with the thresholds as named initializers.
  const meta = JSON.parse(r.graph.metadata['proact.activations']!) as { kind: string; guard: boolean; threshold: string }[];
  assert.ok(meta.every((m) => m.kind === 'smooth-zero' && m.guard === true));
  assert.deepEqual(Array.from(r.graph.initializers.get('proact.threshold.1')!.data as Float32Array), Array.from(r.thresholds[1]!.values));
  assert.equal(r.method, 'proact');
  assert.ok(r.imagesProcessed > 1000 * 3, `images processed ${r.imagesProcessed}`);
});

test('ProAct resumed from its checkpoint after an interruption ends with the same thresholds and decisions', async () => {
  const { graph, data, profile } = await tinySetup();
  const dir = mkdtempSync(join(tmpdir(), 'proact-resume-'));
  try {
    const path = join(dir, 'proact.ckpt.json');
    const full = await hardenProAct(graph, data, profile, TINY);

    // Interrupt during layer 0 (after layer 1 is finished and checkpointed).
    const controller = new AbortController();
    await assert.rejects(
      hardenProAct(graph, data, profile, {
        ...TINY,
        checkpointPath: path,
        onProgress: (p) => {
          if (p.layer === 0 && p.step === 2) controller.abort();
        },
        signal: controller.signal,
      }),
      (e: unknown) => e instanceof ProactError && /interrupted while training layer 0/.test(e.message) && e.message.includes(path),
    );
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { state: { done: number[] } };
    assert.deepEqual(saved.state.done, [1], 'the checkpoint holds the finished last layer only');

    const layersTrained = new Set<number>();
    const resumed = await hardenProAct(graph, data, profile, { ...TINY, checkpointPath: path, onProgress: (p) => layersTrained.add(p.layer as number) });
    assert.deepEqual([...layersTrained], [0], 'the resumed run skips the finished layer');
    assert.deepEqual(resumed.decisions, full.decisions);
    resumed.thresholds.forEach((t, k) => assert.deepEqual(t.values, full.thresholds[k]!.values, `layer ${k} thresholds`));
    assert.equal(resumed.validationAccuracy, full.validationAccuracy);

    // A checkpoint made with other settings is refused, naming the setting.
    await assert.rejects(hardenProAct(graph, data, profile, { ...TINY, tolerance: 0.02, checkpointPath: path }), (e: unknown) => e instanceof ProactError && e.message.includes('tolerance'));
    writeFileSync(path, 'not json');
    await assert.rejects(hardenProAct(graph, data, profile, { ...TINY, checkpointPath: path }), (e: unknown) => e instanceof ProactError && e.message.includes('not JSON'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ProAct with the reference growing set trains the accepted layers again (decisions name the range)', async () => {
  const { graph, data, profile } = await tinySetup();
  const trainedTogether: string[] = [];
  const r = await hardenProAct(graph, data, profile, { ...TINY, weightDecays: [4e-1, 4e-2, 0], referenceGrowingSet: true, onDecision: (d) => trainedTogether.push(String(d.setting['trainable'])) });
  assert.ok(trainedTogether.includes('0..1'), `layer 0 trains layers 0..1 together: ${trainedTogether}`);
  assert.ok(r.decisions.some((d) => d.accepted));
});

test('ProAct without early rollback runs every trial to its end (paper era)', async () => {
  const { graph, data, profile } = await tinySetup();
  const steps: number[] = [];
  const r = await hardenProAct(graph, data, profile, { ...TINY, weightDecays: [4, 4e-2], earlyRollback: false, onProgress: (p) => p.step === p.steps && steps.push(p.step) });
  assert.ok(r.decisions.some((d) => !d.accepted));
  for (const d of r.decisions) assert.equal(d.setting['epochsRun'], Number(d.setting['epochs']) + Number(d.setting['warmupEpochs']), d.note);
  assert.equal(steps.length, r.decisions.length, 'every trial reaches its last step');
});

test('ProAct without the prefix cache (or above maxCacheBytes) reaches the same decisions and thresholds', async () => {
  const { graph, data, profile } = await tinySetup();
  const opts: ProActOptions = { ...TINY, weightDecays: [4e-1, 4e-2, 0] };
  const cached = await hardenProAct(graph, data, profile, opts);
  for (const variant of [{ cachePrefix: false }, { maxCacheBytes: 0 }]) {
    const uncached = await hardenProAct(graph, data, profile, { ...opts, ...variant });
    assert.deepEqual(uncached.decisions.map((d) => [d.layer, d.setting['weightDecay'], d.accepted]), cached.decisions.map((d) => [d.layer, d.setting['weightDecay'], d.accepted]));
    uncached.thresholds.forEach((t, k) => assertClose(t.values, cached.thresholds[k]!.values, 1e-4, `${JSON.stringify(variant)} layer ${k}`));
    // Uncached, the prefix is not run separately: fewer images counted.
    assert.ok(uncached.imagesProcessed < cached.imagesProcessed, `${uncached.imagesProcessed} vs ${cached.imagesProcessed}`);
  }
});

test('ProAct rejects bad options and a profile of another model with one-line errors', async () => {
  const { graph, data, profile } = await tinySetup();
  const bad: [ProActOptions, RegExp][] = [
    [{ tolerance: 1.5 }, /tolerance = 1.5 is a fraction/],
    [{ weightDecays: [] }, /weight-decay list is empty/],
    [{ weightDecays: [0.1, -1] }, /weight decay #2 = -1/],
    [{ granularity: ['layer'] }, /1 granularities given for 2 activation layers/],
    [{ granularity: 'pixel' as never }, /granularity 'pixel' is unknown/],
    [{ images: 0 }, /training images = 0/],
    [{ scalarPhase: { epochs: 0 } }, /scalar phase epochs = 0/],
    [{ vectorPhase: { lr: 0 } }, /vector phase learning rate = 0/],
    [{ threads: 1.5 }, /threads = 1.5/],
  ];
  for (const [opts, message] of bad)
    await assert.rejects(hardenProAct(graph, data, profile, opts), (e: unknown) => e instanceof ProactError && message.test(e.message) && !e.message.includes('\n'), `${JSON.stringify(opts)}`);
  const other: Profile = { images: 1, layers: profile.layers.slice(0, 1) };
  await assert.rejects(hardenProAct(graph, data, other, TINY), (e: unknown) => e instanceof ProactError && /1 layers but the model has 2/.test(e.message));
});

/** The reference's CosineLRwithWarmup(optimizer, W, warmup_lr, D).get_lr() at scheduler step t (rrelu/utils/lr_scheduler.py). */
function referenceLr(t: number, base: number, W: number, warmupLr: number, D: number): number {
  if (t < W) return ((base - warmupLr) * t) / W + warmupLr;
  return 0.5 * base * (1 + Math.cos((Math.PI * (t - W)) / D));
}

test('flat warm-up: a phase schedule is the reference CosineLRwithWarmup (warmup_lr = base lr) step for step', () => {
  for (const [epochs, warmup, perEpoch] of [[5, 5, 16], [100, 5, 3], [2, 1, 7]] as const) {
    const flat = phaseSchedule(epochs, warmup, perEpoch, true);
    const low = phaseSchedule(epochs, warmup, perEpoch, false);
    const W = warmup * perEpoch;
    const D = epochs * perEpoch;
    for (let t = 0; t < W + D; t++) {
      const ref = referenceLr(t, 1e-3, W, 1e-3, D) / 1e-3;
      assert.ok(Math.abs((flat.at(t).lrFactor ?? NaN) - ref) < 1e-12, `step ${t}: ${(flat.at(t).lrFactor ?? NaN)} vs ${ref}`);
      // The warm-up is flat: the full rate at every warm-up step, as at the first decay step.
      if (t < W) {
        assert.equal((flat.at(t).lrFactor ?? NaN), 1);
        assert.equal((low.at(t).lrFactor ?? NaN), 0.1);
      } else assert.equal((low.at(t).lrFactor ?? NaN), (flat.at(t).lrFactor ?? NaN));
    }
  }
});

test('ProAct with a flat warm-up records it, and its early test also runs during the warm-up', async () => {
  const { graph, data, profile } = await tinySetup();
  const r = await hardenProAct(graph, data, profile, { ...TINY, weightDecays: [40, 0], flatWarmup: true, scalarPhase: { epochs: 2, warmupEpochs: 2, lr: 1e-1 } });
  for (const d of r.decisions) assert.equal(d.setting['warmupFactor'], 1);
  // wd 40 at lr 0.1 at full rate collapses the layer-wise threshold within the first warm-up epoch:
  // the flat warm-up's early test catches it there (a 0.1 x lr warm-up is not tested before epoch 3).
  const strong = r.decisions.find((d) => d.setting['weightDecay'] === 40 && d.setting['granularity'] === 'layer')!;
  assert.equal(strong.accepted, false, strong.note);
  assert.equal(strong.setting['epochsRun'], 1, strong.note);
  const low = await hardenProAct(graph, data, profile, { ...TINY, weightDecays: [40, 0], scalarPhase: { epochs: 2, warmupEpochs: 2, lr: 1e-1 } });
  for (const d of low.decisions) assert.equal(d.setting['warmupFactor'], 0.1);
  const lowStrong = low.decisions.find((d) => d.setting['weightDecay'] === 40 && d.setting['granularity'] === 'layer')!;
  assert.ok(Number(lowStrong.setting['epochsRun']) >= 3, lowStrong.note);
});
