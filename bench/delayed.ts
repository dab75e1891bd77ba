/**
 * `npm run bench -- delayed`: seconds per weight-fault trial on resnet20.onnx at BER 1e-7, 3e-7 and 1e-6
 * with delayed start (trials start from cached clean activations at their first faulty segment,
 * src/campaign/segments.ts) and without (--cache-mb 0: every trial runs the whole model), the same
 * trials in both, their stored results compared bit for bit; next to torch_ref.py campaign's seconds
 * per trial on the same images at 1 and 2 threads. Then the cost of an activation-fault campaign
 * (--surface activation:conv) against a weight-fault campaign of the same trials and images.
 *
 * BENCH_IMAGES (default 1,000 test images), BENCH_TRIALS (default 20 per BER) and the run count
 * (--runs) size it; each run uses its own seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CACHE_MB, openStore, runCampaign, type CampaignOptions, type TrialOutcome } from '../src/campaign/index.js';
import { ProactError } from '../src/util/errors.js';
import { TORCH_THREADS, median, requireShared, runTorchRef } from './common.js';

const BERS = [1e-7, 3e-7, 1e-6];
const ACTIVATION_BERS = [1e-7, 1e-6];

interface Timed {
  /** Mean seconds per trial per BER (every trial, those without faults included). */
  perBer: Map<number, number>;
  /** Mean seconds of the trials with at least one fault, per BER. */
  faultyPerBer: Map<number, number>;
  wallSeconds: number;
  rows: string[];
  cachedBoundaries: number;
  segments: number;
  cacheMiB: number;
}

async function timedCampaign(o: CampaignOptions): Promise<Timed> {
  const outcomes: TrialOutcome[] = [];
  let cachedBoundaries = 0;
  let segments = 0;
  let cacheMiB = 0;
  const t0 = performance.now();
  await runCampaign({
    ...o,
    onTrial: (r) => outcomes.push(r),
    onStart: (i) => {
      cachedBoundaries = i.cache?.boundaries ?? 0;
      segments = i.cache?.segments ?? 0;
      cacheMiB = (i.cache?.bytes ?? 0) / 2 ** 20;
    },
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const perBer = new Map<number, number>();
  const faultyPerBer = new Map<number, number>();
  for (const ber of o.bers!) {
    const at = outcomes.filter((r) => r.ber === ber);
    perBer.set(ber, mean(at.map((r) => r.seconds)));
    faultyPerBer.set(ber, mean(at.filter((r) => r.faults > 0).map((r) => r.seconds)));
  }
  const store = openStore(o.db, { readonly: true });
  let rows: string[];
  try {
    const id = store.listCampaigns()[0]!.id;
    rows = store.trials(id).map((t) => JSON.stringify([t.ber, t.trial, t.accuracy, t.sdc, t.due, t.faults, t.images ?? null])).sort();
  } finally {
    store.close();
  }
  return { perBer, faultyPerBer, wallSeconds, rows, cachedBoundaries, segments, cacheMiB };
}

export async function benchDelayed(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = requireShared('models/resnet20.onnx');
  const data = requireShared('data/cifar10-jpeg75');
  const images = Number(process.env.BENCH_IMAGES ?? 1000);
  const trials = Number(process.env.BENCH_TRIALS ?? 20);
  const dir = mkdtempSync(join(tmpdir(), 'proact-bench-delayed-'));
  const whole = new Map<number, number[]>();
  const delayed = new Map<number, number[]>();
  const wholeFaulty = new Map<number, number[]>();
  const activation = new Map<number, number[]>();
  const weight = new Map<number, number[]>();
  const activationWall: number[] = [];
  const weightWall: number[] = [];
  const torch = new Map<number, number[]>();
  let cache = { boundaries: 0, segments: 0, mib: 0 };
  let sameResults = true;
  let trialsCompared = 0;
  try {
    for (let k = 0; k < opts.runs; k++) {
      const base: Omit<CampaignOptions, 'db'> = { model, data, bers: BERS, trials, evalLimit: images, seed: 500 + k, workers: 1, threads: 2, sampling: 'plain', images: 'all' };
      const w = await timedCampaign({ ...base, cacheMb: 0, db: join(dir, `whole-${k}.sqlite`) });
      const d = await timedCampaign({ ...base, cacheMb: DEFAULT_CACHE_MB, db: join(dir, `delayed-${k}.sqlite`) });
      // Same trials, same results: every stored row (accuracy, SDC, DUE, faults, images) equal.
      if (JSON.stringify(w.rows) !== JSON.stringify(d.rows)) sameResults = false;
      trialsCompared += w.rows.length;
      cache = { boundaries: d.cachedBoundaries, segments: d.segments, mib: d.cacheMiB };
      for (const ber of BERS) {
        (whole.get(ber) ?? whole.set(ber, []).get(ber)!).push(w.perBer.get(ber)!);
        (delayed.get(ber) ?? delayed.set(ber, []).get(ber)!).push(d.perBer.get(ber)!);
        (wholeFaulty.get(ber) ?? wholeFaulty.set(ber, []).get(ber)!).push(w.faultyPerBer.get(ber)!);
      }
      // Activation faults in the Conv outputs against weight faults, the same trials and images.
      const act = await timedCampaign({ ...base, bers: ACTIVATION_BERS, faults: { surface: 'activation:conv' }, db: join(dir, `act-${k}.sqlite`) });
      const wt = await timedCampaign({ ...base, bers: ACTIVATION_BERS, db: join(dir, `weight-${k}.sqlite`) });
      activationWall.push(act.wallSeconds);
      weightWall.push(wt.wallSeconds);
      for (const ber of ACTIVATION_BERS) {
        (activation.get(ber) ?? activation.set(ber, []).get(ber)!).push(act.perBer.get(ber)!);
        (weight.get(ber) ?? weight.set(ber, []).get(ber)!).push(wt.perBer.get(ber)!);
      }
      for (const threads of TORCH_THREADS) {
        const tr = runTorchRef('campaign', ['--model', model, '--ber', '1e-7', '--trials', '3', '--n', String(images), '--seed', String(k)], threads);
        (torch.get(threads) ?? torch.set(threads, []).get(threads)!).push(tr.seconds_per_trial as number);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!sameResults) throw new ProactError('delayed start changed trial results (it must not): this is a bug; please report it with the model and seed');
  const perBer = BERS.map((ber) => {
    const w = median(whole.get(ber)!);
    const d = median(delayed.get(ber)!);
    const full = median(wholeFaulty.get(ber)!);
    return { ber, wholeSecondsPerTrial: w, delayedSecondsPerTrial: d, speedup: w / d, fullForwardSeconds: full, speedupOverFullForward: full / d };
  });
  const activationCost = ACTIVATION_BERS.map((ber) => {
    const a = median(activation.get(ber)!);
    const w = median(weight.get(ber)!);
    return { ber, activationSecondsPerTrial: a, weightSecondsPerTrial: w, ratio: a / w };
  });
  return {
    bench: 'delayed',
    model: 'resnet20.onnx',
    images,
    trialsPerBer: trials,
    runs: opts.runs,
    workers: 1,
    threads: 2,
    cacheMb: DEFAULT_CACHE_MB,
    cachedBoundaries: cache.boundaries,
    segments: cache.segments,
    cacheMiB: cache.mib,
    sameResults,
    trialsCompared,
    perBer,
    activationSurface: 'activation:conv',
    activationCost,
    activationWallSeconds: median(activationWall),
    weightWallSeconds: median(weightWall),
    torch: TORCH_THREADS.map((threads) => ({ threads, secondsPerTrial: median(torch.get(threads)!) })),
    note_fields:
      'wholeSecondsPerTrial / delayedSecondsPerTrial: mean seconds of every trial (those without faults cost ~0 in both); fullForwardSeconds: mean seconds of the whole-model trials with faults (one session + one pass over the images); speedupOverFullForward = fullForwardSeconds / delayedSecondsPerTrial',
  };
}
