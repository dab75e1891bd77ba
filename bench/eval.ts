/** `npm run bench -- eval`: images/s of `proact eval` on resnet20.onnx (10,000 test images) vs torch_ref.py eval. */
import { median, requireShared, runProactJson, runTorchRef } from './common.js';

export async function benchEval(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = requireShared('models/resnet20.onnx');
  const data = requireShared('data/cifar10-jpeg75');
  const ours: number[] = [];
  const ref: number[] = [];
  let accuracy = 0;
  let refAccuracy = 0;
  for (let k = 0; k < opts.runs; k++) {
    const o = runProactJson(['eval', '--model', model, '--data', data, '--threads', '2', '--batch', '128']);
    ours.push(o.imagesPerSecond as number);
    accuracy = o.accuracy as number;
    const r = runTorchRef('eval', ['--model', model]);
    ref.push(r.images_per_s as number);
    refAccuracy = r.accuracy as number;
  }
  return {
    bench: 'eval',
    model: 'resnet20.onnx',
    images: 10000,
    runs: opts.runs,
    proactImagesPerSecond: median(ours),
    torchImagesPerSecond: median(ref),
    ratio: median(ours) / median(ref),
    proactAll: ours,
    torchAll: ref,
    accuracy,
    torchAccuracy: refAccuracy,
  };
}
