import { prepareGraph, readOnnxFile } from '../../src/graph/index.js';
import { openDataset, splitTrainValidation } from '../../src/data/index.js';
import { profileActivations } from '../../src/harden/profile.js';
import { hardenProAct, type ProActOptions } from '../../src/harden/proact.js';
import { hardenFitAct } from '../../src/harden/fitact.js';
import { graphAccuracy } from '../../src/harden/accuracy.js';
const g = prepareGraph(readOnnxFile('../shared/models/resnet20.onnx'));
const ds = openDataset('../shared/data/cifar10-jpeg75/data_batch_1.bin', { split: 'train' });
const split = splitTrainValidation(ds, 1000, 0);
const t0 = performance.now(); const c0 = process.cpuUsage();
const stamp = () => `[wall ${((performance.now() - t0) / 1000).toFixed(1)} s, cpu ${((process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6).toFixed(1)} s]`;
const profile = await profileActivations(g, split.train, { images: 1024, threads: 2 });
console.log('profiled', stamp(), 'clean acc', await graphAccuracy(g, split.validation, { threads: 2 }));
const extra = JSON.parse(process.argv[3] ?? '{}') as ProActOptions;
if (process.argv[2] === 'fitact') {
  let last = 0;
  const r = await hardenFitAct(g, split, profile, { ...extra, onProgress: (p) => { if (p.step - last >= 16) { last = p.step; console.log(p.epoch, p.step, p.loss.toFixed(4), stamp()); } } });
  console.log('fitact', r.validationAccuracy, r.seconds, r.imagesProcessed, stamp());
  const l2 = (v: Float32Array[]) => v.reduce((a, x) => a + x.reduce((p, y) => p + y * y, 0) / x.length, 0);
  console.log('L2', l2(profile.layers.map((l) => l.neuronMax)), '->', l2(r.thresholds.map((t) => t.values)));
} else {
  const r = await hardenProAct(g, split, profile, { ...extra, onDecision: (d) => console.log(d.layer, d.setting['weightDecay'], d.accepted, (d.accuracy * 100).toFixed(2), stamp()) });
  console.log('proact', r.validationAccuracy, r.seconds, r.imagesProcessed, stamp());
  for (const t of r.thresholds) console.log(t.layer, t.granularity, t.values.length === 1 ? `${profile.layers[t.layer]!.layerMax.toFixed(3)} -> ${t.values[0]!.toFixed(3)}` : `mean ${(profile.layers[t.layer]!.neuronMax.reduce((a, b) => a + b, 0) / t.values.length).toFixed(3)} -> ${(t.values.reduce((a, b) => a + b, 0) / t.values.length).toFixed(3)}`);
}
