import { prepareGraph, readOnnxFile } from '../../src/graph/index.js';
import { openDataset, splitTrainValidation, subset } from '../../src/data/index.js';
import { profileActivations } from '../../src/harden/profile.js';
import { buildThresholdProblem, cacheCutValues, ThresholdTrainer, teacherProbabilities, runEpochs, stepsPerEpoch } from '../../src/harden/threshold-train.js';
import { thresholdsFromProfile, applyThresholds } from '../../src/harden/thresholds.js';
import { graphAccuracy } from '../../src/harden/accuracy.js';
import { Optimizer, warmupCosineSchedule } from '../../src/train/index.js';
const g = prepareGraph(readOnnxFile('../shared/models/resnet20.onnx'));
const ds = openDataset('../shared/data/cifar10-jpeg75/data_batch_1.bin', { split: 'train' });
const split = splitTrainValidation(ds, 1000, 0);
const train = subset(split.train, Array.from({ length: 1024 }, (_, i) => i * 3));
const val = subset(split.validation, Array.from({ length: 500 }, (_, i) => i));
const T = 1;
const cpu0 = process.cpuUsage(); const cpu = () => ((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6).toFixed(1);
const profile = await profileActivations(g, split.train, { images: 1024, threads: T });
const th = profile.layers.map((p, l) => thresholdsFromProfile(l, p, 'smooth-zero', l === 18 ? 'neuron' : 'layer'));
const acc0 = await graphAccuracy(applyThresholds(g, th, 'x', {}), val, { threads: T });
const teacher = await teacherProbabilities(g, train, { threads: T, batchSize: 128 });
console.log('acc0', acc0, 'cpu', cpu());
const layers = (process.argv[2] ?? '18,12,7,0').split(',').map(Number);
for (const layer of layers) {
  const c1 = process.cpuUsage();
  const p = buildThresholdProblem(g, th, { trainable: [layer], loss: { crossEntropy: 0.8, distillation: 0.1, l2: 4e-8 } });
  const tr = await ThresholdTrainer.create(p, T);
  const cache = await cacheCutValues(p, train, { threads: T, batchSize: 128 }); cache.teacher = teacher;
  const vcache = await cacheCutValues(p, val, { threads: T, batchSize: 256 });
  console.log(`layer ${layer}: setup cpu ${(process.cpuUsage(c1).user / 1e6).toFixed(2)} s`);
  const vector = layer === 18;
  for (const lr of vector ? [1e-3, 1e-2] : [5e-2, 1e-1]) for (const wd of [4, 0.4, 0.04, 0]) {
    const params = new Map([[p.params[0]!.name, th[layer]!.values.slice()]]);
    const epochs = vector ? 5 : 3, warm = 1;
    const per = stepsPerEpoch(cache.count, 128);
    const c2 = process.cpuUsage();
    await runEpochs({ trainer: tr, cache, params, optimizer: new Optimizer({ kind: 'adamw', lr, weightDecay: wd }), schedule: warmupCosineSchedule({ totalSteps: epochs * per, warmupSteps: warm * per }), batchSize: 128, epochs, seed: 1, interruptMessage: '' });
    const stepCpu = (process.cpuUsage(c2).user / 1e6) / (epochs * per);
    const acc = await tr.accuracy(vcache, params, 256);
    const v = params.values().next().value!; const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const m0 = th[layer]!.values.reduce((a, b) => a + b, 0) / v.length;
    console.log(`  lr ${lr} wd ${wd}: T ${m0.toFixed(3)} -> ${mean.toFixed(3)} acc ${(acc * 100).toFixed(1)} (acc0 ${(acc0 * 100).toFixed(1)}) step cpu ${(stepCpu * 1000).toFixed(0)} ms`);
  }
  await tr.release();
}
