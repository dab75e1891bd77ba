/**
 * `npm run bench -- campaign`: seconds per fault-injection trial of `proact campaign` on resnet20.onnx at
 * BER 1e-5, next to `torch_ref.py campaign --ber 1e-5` with OMP_NUM_THREADS=1 and 2 in the same run, for
 * each worker x thread split on 2 cores. The time to +-1 point over the BER grid is `npm run bench --
 * precision`.
 *
 * torch_ref times its trials only (no model loading, no clean pass), so proact's figure is the marginal
 * one: the wall time of the campaign minus that of the same command with one trial per worker, over the
 * extra trials. Knobs: BENCH_TRIALS (trials per campaign, default 6), BENCH_IMAGES (test images per
 * trial, default 10,000; both sides evaluate the same first N), BENCH_SPLITS (default `1x2,2x1`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProactError } from '../src/util/errors.js';
import { median, requireShared, runProactJson, runTorchRef, TORCH_THREADS } from './common.js';

interface Summary {
  perBer: { ber: number; accuracy: { n: number; mean: number } }[];
}

const BER = 1e-5;

export async function benchCampaign(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = requireShared('models/resnet20.onnx');
  const data = requireShared('data/cifar10-jpeg75');
  const dir = mkdtempSync(join(tmpdir(), 'proact-bench-'));
  const trials = Number(process.env.BENCH_TRIALS ?? 6);
  const images = Number(process.env.BENCH_IMAGES ?? 10000);
  const splits = (process.env.BENCH_SPLITS ?? '1x2,2x1').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  if (splits.some(([w]) => !(trials > w))) throw new ProactError(`BENCH_TRIALS ${trials}: needs more trials than workers in every split (${process.env.BENCH_SPLITS ?? '1x2,2x1'})`);
  const wall: Record<string, number[]> = {};
  const marginal: Record<string, number[]> = {};
  const ref = new Map<number, number[]>(TORCH_THREADS.map((t) => [t, []]));
  const refTrials = Math.max(2, Math.min(trials, 3));
  let refMean = 0;
  let oursMean = 0;
  let torchVersion = '';
  try {
    for (let k = 0; k < opts.runs; k++) {
      for (const [w, t] of splits) {
        const common = ['--model', model, '--data', data, '--ber', String(BER), '--eval-limit', String(images), '--seed', String(100 + k), '--workers', String(w), '--threads', String(t)];
        const t0 = performance.now();
        const r = runProactJson(['campaign', ...common, '--trials', String(trials), '--db', join(dir, `c-${k}-${w}x${t}.sqlite`)]) as unknown as Summary;
        const seconds = (performance.now() - t0) / 1000;
        (wall[`${w}x${t}`] ??= []).push(seconds / trials);
        oursMean = r.perBer[0]!.accuracy.mean;
        // One trial per worker: the difference is what the extra trials cost, without the model loading
        // and clean pass every campaign pays once (torch_ref has neither inside its timer).
        const t1 = performance.now();
        runProactJson(['campaign', ...common, '--trials', String(w), '--db', join(dir, `short-${k}-${w}x${t}.sqlite`)]);
        const shortSeconds = (performance.now() - t1) / 1000;
        (marginal[`${w}x${t}`] ??= []).push((seconds - shortSeconds) / (trials - w));
      }
      for (const threads of TORCH_THREADS) {
        const tr = runTorchRef('campaign', ['--model', model, '--ber', String(BER), '--n', String(images), '--trials', String(refTrials), '--seed', String(k)], threads);
        ref.get(threads)!.push(tr.seconds_per_trial as number);
        refMean = tr.mean_accuracy as number;
        torchVersion = tr.torch as string;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const medians = (m: Record<string, number[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
  const [bestSplit, best] = Object.entries(medians(marginal)).sort((a, b) => a[1] - b[1])[0]!;
  return {
    bench: 'campaign',
    model: 'resnet20.onnx',
    ber: BER,
    images,
    trialsPerRun: trials,
    runs: opts.runs,
    bestSplit,
    proactSecondsPerTrial: best,
    proactMarginalSecondsPerTrial: medians(marginal),
    proactWallSecondsPerTrial: medians(wall),
    proactMarginalAll: marginal,
    torchVersion,
    torchTrialsPerRun: refTrials,
    torch: TORCH_THREADS.map((threads) => {
      const all = ref.get(threads)!;
      return { threads, secondsPerTrial: median(all), all, ratio: median(all) / best };
    }),
    proactMeanAccuracy: oursMean,
    torchMeanAccuracy: refMean,
    measures:
      'proactSecondsPerTrial: the best split\'s marginal seconds per trial, (wall(trials) - wall(one trial per worker)) / extra trials, comparable with torch_ref, which loads nothing inside its timer; proactWallSecondsPerTrial: the whole command\'s wall time over its trials (model loading and clean pass included)',
  };
}
