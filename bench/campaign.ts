/**
 * `npm run bench -- campaign`: seconds per trial of `proact campaign` on resnet20.onnx at BER 1e-5 over
 * the 10,000 test images, next to torch_ref.py campaign --ber 1e-5 in the same run; the worker x thread
 * splits on 2 cores. The time to +-1 point over the BER grid is `npm run bench -- precision`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, requireShared, runProactJson, runTorchRef } from './common.js';

interface Summary {
  perBer: { ber: number; accuracy: { n: number; mean: number } }[];
}

export async function benchCampaign(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = requireShared('models/resnet20.onnx');
  const data = requireShared('data/cifar10-jpeg75');
  const dir = mkdtempSync(join(tmpdir(), 'proact-bench-'));
  const trials = Number(process.env.BENCH_TRIALS ?? 6);
  const splits = (process.env.BENCH_SPLITS ?? '1x2,2x1').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const ours: Record<string, number[]> = {};
  const marginal: Record<string, number[]> = {};
  const ref: number[] = [];
  let refMean = 0;
  let oursMean = 0;
  try {
    for (let k = 0; k < opts.runs; k++) {
      for (const [w, t] of splits) {
        const db = join(dir, `c-${k}-${w}x${t}.sqlite`);
        const t0 = performance.now();
        const r = runProactJson(['campaign', '--model', model, '--data', data, '--ber', '1e-5', '--trials', String(trials), '--seed', String(100 + k), '--workers', String(w), '--threads', String(t), '--db', db]) as unknown as Summary;
        const seconds = (performance.now() - t0) / 1000;
        (ours[`${w}x${t}`] ??= []).push(seconds / trials);
        oursMean = r.perBer[0]!.accuracy.mean;
        // The same command with one trial per worker: the difference is what the extra trials cost,
        // without the model loading and clean pass every campaign pays once (torch_ref has neither).
        const t1 = performance.now();
        runProactJson(['campaign', '--model', model, '--data', data, '--ber', '1e-5', '--trials', String(w), '--seed', String(100 + k), '--workers', String(w), '--threads', String(t), '--db', join(dir, `short-${k}-${w}x${t}.sqlite`)]);
        const shortSeconds = (performance.now() - t1) / 1000;
        (marginal[`${w}x${t}`] ??= []).push((seconds - shortSeconds) / (trials - w));
      }
      const tr = runTorchRef('campaign', ['--model', model, '--ber', '1e-5', '--trials', String(Math.max(2, Math.min(trials, 3))), '--seed', String(k)]);
      ref.push(tr.seconds_per_trial as number);
      refMean = tr.mean_accuracy as number;
    }
    const best = Object.entries(ours).map(([k, v]) => [k, median(v)] as const).sort((a, b) => a[1] - b[1])[0]!;
    const out: Record<string, unknown> = {
      bench: 'campaign',
      model: 'resnet20.onnx',
      ber: 1e-5,
      images: 10000,
      trialsPerRun: trials,
      runs: opts.runs,
      proactSecondsPerTrial: Object.fromEntries(Object.entries(ours).map(([k, v]) => [k, median(v)])),
      proactMarginalSecondsPerTrial: Object.fromEntries(Object.entries(marginal).map(([k, v]) => [k, median(v)])),
      bestSplit: best[0],
      torchSecondsPerTrial: median(ref),
      ratio: median(ref) / best[1],
      marginalRatio: median(ref) / Math.min(...Object.values(marginal).map(median)),
      proactMeanAccuracy: oursMean,
      torchMeanAccuracy: refMean,
      note: 'proactSecondsPerTrial: wall time of the whole command divided by trials (model load and clean pass included); proactMarginalSecondsPerTrial: (wall(trials) - wall(one trial per worker)) / extra trials, comparable with torch_ref which loads nothing inside its timer',
    };
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
