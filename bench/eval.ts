/**
 * `npm run bench -- eval`: images/s of `proact eval` on resnet20.onnx (10,000 test images, 2 threads)
 * vs torch_ref.py eval with OMP_NUM_THREADS=1 and 2, interleaved run by run so that both see the same
 * load.
 */
import { median, requireShared, runProactJson, runTorchRef, TORCH_THREADS } from './common.js';

export async function benchEval(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = requireShared('models/resnet20.onnx');
  const data = requireShared('data/cifar10-jpeg75');
  const ours: number[] = [];
  const ref = new Map<number, number[]>(TORCH_THREADS.map((t) => [t, []]));
  let accuracy = 0;
  let refAccuracy = 0;
  let torchVersion = '';
  for (let k = 0; k < opts.runs; k++) {
    const o = runProactJson(['eval', '--model', model, '--data', data, '--threads', '2', '--batch', '128']);
    ours.push(o.imagesPerSecond as number);
    accuracy = o.accuracy as number;
    for (const threads of TORCH_THREADS) {
      const r = runTorchRef('eval', ['--model', model], threads);
      ref.get(threads)!.push(r.images_per_s as number);
      refAccuracy = r.accuracy as number;
      torchVersion = r.torch as string;
    }
  }
  return {
    bench: 'eval',
    model: 'resnet20.onnx',
    images: 10000,
    runs: opts.runs,
    proactThreads: 2,
    proactImagesPerSecond: median(ours),
    proactAll: ours,
    torchVersion,
    torch: TORCH_THREADS.map((threads) => {
      const all = ref.get(threads)!;
      return { threads, imagesPerSecond: median(all), all, ratio: median(ours) / median(all) };
    }),
    accuracy,
    torchAccuracy: refAccuracy,
  };
}
