import { prepareGraph, readOnnxFile } from '../../src/graph/index.js';
import { openDataset, splitTrainValidation } from '../../src/data/index.js';
import { profileActivations } from '../../src/harden/profile.js';
import { buildThresholdProblem, cacheCutValues, ThresholdTrainer, teacherProbabilities } from '../../src/harden/threshold-train.js';
import { thresholdsFromProfile } from '../../src/harden/thresholds.js';
const g = prepareGraph(readOnnxFile('../shared/models/resnet20.onnx'));
const ds = openDataset('../shared/data/cifar10-jpeg75/data_batch_1.bin', { split: 'train' });
const split = splitTrainValidation(ds, 1000, 0);
let t = performance.now();
const lap = (what: string) => { const n = performance.now(); console.log(what, ((n - t) / 1000).toFixed(2), 's'); t = n; };
const profile = await profileActivations(g, split.train, { images: 1024, threads: 2 });
lap('profile 1024');
const th = profile.layers.map((p, l) => thresholdsFromProfile(l, p, 'smooth-zero', l === profile.layers.length - 1 ? 'neuron' : 'layer'));
console.log(profile.layers.map((l) => l.layerMax.toFixed(2)).join(' '));
const { subset } = await import('../../src/data/index.js');
const train = subset(split.train, Array.from({ length: 512 }, (_, i) => i));
const teacher = await teacherProbabilities(g, train, { threads: 2, batchSize: 128 });
lap('teacher 512');
for (const layer of [18, 12, 6, 1, 0]) {
  for (const cachePrefix of [true, false]) {
    const p = buildThresholdProblem(g, th, { trainable: [layer], loss: { crossEntropy: 0.8, distillation: 0.1, l2: 4e-8 }, cachePrefix });
    lap(`build layer ${layer} cache ${cachePrefix}: cut ${p.cut.map((c) => c.name + '[' + c.sampleDims + ']').join(', ')}`);
    const tr = await ThresholdTrainer.create(p, 2);
    const cache = await cacheCutValues(p, train, { threads: 2, batchSize: 128 });
    cache.teacher = teacher;
    lap('  session + cache 512');
    const params = new Map(p.params.map((q) => [q.name, th[q.layer]!.values.slice()] as const));
    const idx = Int32Array.from({ length: 128 }, (_, i) => i);
    let r = await tr.step(cache, idx, params);
    lap('  first step');
    for (let i = 0; i < 4; i++) r = await tr.step(cache, idx, params);
    lap('  4 steps of 128');
    console.log('  loss', r.loss, 'grad', Array.from(r.grads.values())[0]!.slice(0, 3));
    const acc = await tr.accuracy(cache, params, 256);
    lap(`  accuracy ${acc}`);
    await tr.release();
  }
}
