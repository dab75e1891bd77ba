/**
 * `npm run bench -- precision`: the default BER grid to a +-1 point interval (95%, betting confidence
 * sequence; strata and automatic image counts, the defaults of --precision), on resnet20.onnx and on its
 * ProAct model (results-run/resnet20-proact.onnx, hardened first when missing), next to the reference
 * protocol of the PyTorch toolbox: 100 trials x 10,000 images per BER, its seconds per trial measured by
 * torch_ref.py in the same run (BER 1e-5, OMP_NUM_THREADS=1 and 2) and scaled. Also reports the trials
 * and images each BER used and the half-width the reference protocol would reach (Student t over 100
 * full-set trials, estimated from the per-trial spread this campaign measured).
 *
 * Environment: PRECISION_MODELS (comma list of 'unprotected', 'proact'), PRECISION_BERS (default grid),
 * PRECISION_WORKERS (2), PRECISION_REF_TRIALS (3).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DEFAULT_BERS, openStore, studentTCritical } from '../src/campaign/index.js';
import { CLI, TORCH_THREADS, median, requireShared, runProactJson, runTorchRef } from './common.js';

interface BerRow {
  ber: number;
  accuracy: { n: number; mean: number; std: number; ciLow: number; ciHigh: number; ciHalfWidth: number; interval: string };
}

export async function benchPrecision(opts: { runs: number }): Promise<Record<string, unknown>> {
  const model = relative(process.cwd(), requireShared('models/resnet20.onnx'));
  const data = relative(process.cwd(), requireShared('data/cifar10-jpeg75'));
  const workers = process.env.PRECISION_WORKERS ?? '2';
  const bers = process.env.PRECISION_BERS ?? DEFAULT_BERS.join(',');
  const berCount = bers.split(',').length;
  const wanted = (process.env.PRECISION_MODELS ?? 'unprotected,proact').split(',');
  const refTrials = process.env.PRECISION_REF_TRIALS ?? '3';

  // The reference's seconds per trial (10,000 images), both thread counts, medians of `runs`.
  const torch = TORCH_THREADS.map((threads) => {
    const times: number[] = [];
    for (let k = 0; k < opts.runs; k++) {
      const r = runTorchRef('campaign', ['--model', model, '--ber', '1e-5', '--trials', refTrials, '--seed', String(k)], threads);
      times.push(r.seconds_per_trial as number);
    }
    return { threads, secondsPerTrial: median(times), protocolSeconds: median(times) * 100 * berCount };
  });

  const models: [string, string][] = [];
  if (wanted.includes('unprotected')) models.push(['unprotected', model]);
  if (wanted.includes('proact')) {
    mkdirSync('results-run', { recursive: true });
    const hardened = join('results-run', 'resnet20-proact.onnx');
    if (!existsSync(hardened)) {
      const h = spawnSync(process.execPath, [CLI, 'harden', '--method', 'proact', '--model', model, '--data', data, '--out', hardened], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (h.status !== 0) throw new Error(`hardening ${model} with proact failed (${h.status})`);
    }
    models.push(['proact', hardened]);
  }

  const dir = mkdtempSync(join(tmpdir(), 'proact-precision-'));
  const results: Record<string, unknown>[] = [];
  try {
    for (const [name, m] of models) {
      const db = join(dir, `${name}.sqlite`);
      const t0 = performance.now();
      const r = runProactJson(['campaign', '--model', m, '--data', data, '--ber', bers, '--precision', '0.01', '--workers', workers, '--threads', '1', '--seed', '0', '--db', db]) as unknown as { perBer: BerRow[] };
      const seconds = (performance.now() - t0) / 1000;
      const store = openStore(db, { readonly: true });
      const images = new Map<number, number>();
      try {
        const id = store.listCampaigns()[0]!.id;
        for (const t of store.trials(id)) images.set(t.ber, (images.get(t.ber) ?? 0) + (t.images ?? 10000));
      } finally {
        store.close();
      }
      const t100 = studentTCritical(0.95, 99) / 10;
      results.push({
        model: name,
        seconds,
        // Time of the reference protocol over this run's time, per reference thread count.
        speedup: torch.map((t) => ({ threads: t.threads, ratio: t.protocolSeconds / seconds })),
        perBer: r.perBer.map((b) => ({
          ber: b.ber,
          trials: b.accuracy.n,
          images: images.get(b.ber),
          mean: b.accuracy.mean,
          low: b.accuracy.ciLow,
          high: b.accuracy.ciHigh,
          halfWidth: b.accuracy.ciHalfWidth,
          interval: b.accuracy.interval,
          // What 100 full-set trials with a t-interval would report (the per-trial spread here includes image sampling: an upper estimate).
          referenceHalfWidthEstimate: t100 * b.accuracy.std,
        })),
      });
      process.stderr.write(`precision ${name}: ${seconds.toFixed(0)} s\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { bench: 'precision', bers, workers: Number(workers), torch, runs: opts.runs, results };
}
