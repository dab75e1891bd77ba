/**
 * `npm run bench -- delayed`: seconds per weight-fault trial on resnet20.onnx at BER 1e-7, 3e-7 and 1e-6
 * with delayed start (trials start from cached clean activations at their first faulty segment,
 * src/campaign/segments.ts) and without (one session of the whole model per trial, as --cache-mb 0),
 * next to torch_ref.py campaign's seconds per trial on the same images at 1 and 2 threads; then the
 * cost of activation-fault trials (--surface activation:conv) against weight-fault trials of the same
 * trial numbers and images.
 *
 * Each trial runs in both modes back to back, in alternating order, through the campaign's own trial
 * runner (runTrial on the campaign's planned tasks): on a machine shared with other work the load
 * drifts over minutes, and interleaving exposes both modes to the same load. Both modes' outcomes
 * (accuracy, SDC, DUE, faults) must be identical, trial by trial, or the benchmark fails.
 *
 * BENCH_IMAGES (default 1,000 test images), BENCH_TRIALS (default 20 per BER) and the run count
 * (--runs) size it; each run uses its own seed.
 */
import { DEFAULT_CACHE_MB, prepareCampaign, releaseSegmentSessions, runTrial, trialContext, trialTask, type CampaignOptions, type PreparedCampaign, type TrialContext, type TrialOutcome } from '../src/campaign/index.js';
import { resolveFaultModel } from '../src/faults/index.js';
import { ProactBug } from '../src/util/errors.js';
import { TORCH_THREADS, median, requireShared, runTorchRef } from './common.js';

const BERS = [1e-7, 3e-7, 1e-6];
const ACTIVATION_BERS = [1e-7, 1e-6];
const THREADS = 2;

const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const outcomeKey = (r: TrialOutcome): string => JSON.stringify([r.ber, r.trial, r.accuracy, r.sdc, r.due, r.faults, r.images]);

/** Runs `a` and `b` on one trial in alternating order; returns their outcomes. */
async function pair(k: number, a: () => Promise<TrialOutcome>, b: () => Promise<TrialOutcome>): Promise<[TrialOutcome, TrialOutcome]> {
  if (k % 2 === 0) {
    const x = await a();
    return [x, await b()];
  }
  const y = await b();
  return [await a(), y];
}

function contexts(p: PreparedCampaign, o: CampaignOptions): { segmented: TrialContext; whole: TrialContext } {
  const faults = resolveFaultModel(o.faults);
  return {
    segmented: trialContext(p, p.clean, p.batchSize, THREADS, p.seed, { segments: p.segments, format: faults.format, policy: faults.policy }),
    whole: trialContext(p, p.clean, p.batchSize, THREADS, p.seed),
  };
}

export async function benchDelayed(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = requireShared('models/resnet20.onnx');
  const data = requireShared('data/cifar10-jpeg75');
  const images = Number(process.env.BENCH_IMAGES ?? 1000);
  const trials = Number(process.env.BENCH_TRIALS ?? 20);
  const whole = new Map<number, number[]>();
  const delayed = new Map<number, number[]>();
  const fullForward = new Map<number, number[]>();
  const activation = new Map<number, number[]>();
  const weight = new Map<number, number[]>();
  const torch = new Map<number, number[]>();
  const push = (m: Map<number, number[]>, ber: number, v: number) => (m.get(ber) ?? m.set(ber, []).get(ber)!).push(v);
  let cache = { boundaries: 0, segments: 0, mib: 0 };
  let compared = 0;
  let activationBitsPerImage = 0;
  for (let run = 0; run < opts.runs; run++) {
    const base: CampaignOptions = { model, data, bers: BERS, trials, evalLimit: images, seed: 500 + run, workers: 1, threads: THREADS, sampling: 'plain', images: 'all', db: ':unused:' };
    const weightOptions: CampaignOptions = { ...base, cacheMb: DEFAULT_CACHE_MB };
    const actOptions: CampaignOptions = { ...base, bers: ACTIVATION_BERS, faults: { surface: 'activation:conv' } };
    const weights = await prepareCampaign(weightOptions, THREADS);
    const acts = await prepareCampaign(actOptions, THREADS);
    try {
      const c = weights.segments?.cache;
      cache = { boundaries: c?.boundaries.length ?? 0, segments: weights.segments?.segments.length ?? 0, mib: (c?.bytes ?? 0) / 2 ** 20 };
      activationBitsPerImage = acts.activationPlanner?.bitsPerImage ?? 0;
      const w = contexts(weights, weightOptions);
      for (const ber of BERS) {
        const times = { whole: [] as number[], delayed: [] as number[], faulty: [] as number[] };
        for (let t = 0; t < trials; t++) {
          const task = trialTask(weights, w.segmented, ber, t, images);
          const [a, b] = await pair(t, () => runTrial(w.whole, task), () => runTrial(w.segmented, task));
          if (outcomeKey(a) !== outcomeKey(b)) throw new ProactBug(`delayed start changed trial ${t} at BER ${ber} (${outcomeKey(a)} vs ${outcomeKey(b)})`);
          compared++;
          times.whole.push(a.seconds);
          times.delayed.push(b.seconds);
          if (a.faults > 0) times.faulty.push(a.seconds);
        }
        push(whole, ber, mean(times.whole));
        push(delayed, ber, mean(times.delayed));
        push(fullForward, ber, mean(times.faulty));
      }
      const a = contexts(acts, actOptions);
      for (const ber of ACTIVATION_BERS) {
        const times = { activation: [] as number[], weight: [] as number[] };
        for (let t = 0; t < trials; t++) {
          const actTask = trialTask(acts, a.segmented, ber, t, images);
          const weightTask = trialTask(weights, w.segmented, ber, t, images);
          const [x, y] = await pair(t, () => runTrial(a.segmented, actTask), () => runTrial(w.segmented, weightTask));
          times.activation.push(x.seconds);
          times.weight.push(y.seconds);
        }
        push(activation, ber, mean(times.activation));
        push(weight, ber, mean(times.weight));
      }
    } finally {
      if (weights.segments) await releaseSegmentSessions(weights.segments);
      if (acts.segments) await releaseSegmentSessions(acts.segments);
    }
    for (const threads of TORCH_THREADS) {
      const tr = runTorchRef('campaign', ['--model', model, '--ber', '1e-7', '--trials', '3', '--n', String(images), '--seed', String(run)], threads);
      push(torch, threads, tr.seconds_per_trial as number);
    }
  }
  return {
    bench: 'delayed',
    model: 'resnet20.onnx',
    images,
    trialsPerBer: trials,
    runs: opts.runs,
    workers: 1,
    threads: THREADS,
    cacheMb: DEFAULT_CACHE_MB,
    cachedBoundaries: cache.boundaries,
    segments: cache.segments,
    cacheMiB: cache.mib,
    sameResults: true,
    trialsCompared: compared,
    perBer: BERS.map((ber) => {
      const w = median(whole.get(ber)!);
      const d = median(delayed.get(ber)!);
      const full = median(fullForward.get(ber)!);
      return { ber, wholeSecondsPerTrial: w, delayedSecondsPerTrial: d, speedup: w / d, fullForwardSeconds: full, speedupOverFullForward: full / d };
    }),
    activationSurface: 'activation:conv',
    activationBitsPerImage,
    activationCost: ACTIVATION_BERS.map((ber) => {
      const x = median(activation.get(ber)!);
      const y = median(weight.get(ber)!);
      return { ber, activationSecondsPerTrial: x, weightSecondsPerTrial: y, ratio: x / y };
    }),
    torch: TORCH_THREADS.map((threads) => ({ threads, secondsPerTrial: median(torch.get(threads)!) })),
    note_fields:
      'each trial timed in both modes back to back (alternating order) through runTrial; wholeSecondsPerTrial / delayedSecondsPerTrial: mean seconds of every trial (those without faults cost ~0 in both); fullForwardSeconds: mean seconds of the whole-model trials holding a fault (one session + one pass over the images); speedupOverFullForward = fullForwardSeconds / delayedSecondsPerTrial; the activation rows compare trials of the same numbers and images, weight faults with delayed start',
  };
}
