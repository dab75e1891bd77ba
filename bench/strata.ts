/**
 * `npm run bench -- strata`: what stratification on critical flips buys. For each (model, BER) case the
 * same number of trials runs twice, with plain sampling and with strata (same seed, same images per
 * trial), and the variance *per trial* of each estimate of the mean accuracy is compared:
 * plain s^2 against n x sum_h w_h^2 s_h^2 / n_h (the allocation proact chose, which minimises the
 * predicted interval width), and against (sum_h w_h s_h)^2 (Neyman allocation, minimum variance, from the
 * same strata's spreads). A ratio of 5 means plain sampling needs 5x the trials for the same variance.
 *
 * Environment: STRATA_TRIALS (200 per campaign), STRATA_IMAGES (500 per trial), STRATA_CASES
 * ('unprotected:1e-6,unprotected:3e-6,proact:3e-5'; the ProAct model is results-run/resnet20-proact.onnx).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { openStore } from '../src/campaign/index.js';
import { STRATUM_STRIDE, strataWeights } from '../src/faults/index.js';
import { ProactError } from '../src/util/errors.js';
import { requireShared, runProactJson } from './common.js';

/**
 * Per-stratum weights and spreads of a stratified campaign's one BER, and the variance per trial of the
 * stratified mean under Neyman allocation (n_h proportional to w_h s_h): (sum_h w_h s_h)^2.
 */
function strataOf(db: string): { strata: { weight: number; trials: number; mean: number; std: number }[]; neymanVariancePerTrial: number } {
  const store = openStore(db, { readonly: true });
  try {
    const c = store.listCampaigns()[0]!;
    const trials = store.trials(c.id);
    const weights = strataWeights(c.options.criticalBits as number, trials[0]!.ber);
    const strata = weights.map((weight, h) => {
      const values = trials.filter((t) => Math.floor(t.trial / STRATUM_STRIDE) === h).map((t) => t.accuracy);
      const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
      const std = values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
      return { weight, trials: values.length, mean, std };
    });
    return { strata, neymanVariancePerTrial: strata.reduce((a, s) => a + s.weight * s.std, 0) ** 2 };
  } finally {
    store.close();
  }
}

interface Row {
  accuracy: { n: number; mean: number; std: number; meanVariance: number; ciLow: number; ciHigh: number };
}

export async function benchStrata(): Promise<Record<string, unknown>> {
  const data = relative(process.cwd(), requireShared('data/cifar10-jpeg75'));
  const models: Record<string, string> = { unprotected: relative(process.cwd(), requireShared('models/resnet20.onnx')), proact: join('results-run', 'resnet20-proact.onnx') };
  const trials = process.env.STRATA_TRIALS ?? '200';
  const images = process.env.STRATA_IMAGES ?? '500';
  const cases = (process.env.STRATA_CASES ?? 'unprotected:1e-6,unprotected:3e-6,proact:3e-5').split(',').map((c) => c.split(':') as [string, string]);
  const dir = mkdtempSync(join(tmpdir(), 'proact-strata-'));
  const out: Record<string, unknown>[] = [];
  try {
    for (const [name, ber] of cases) {
      const model = models[name];
      if (model === undefined || !existsSync(model)) throw new ProactError(`strata bench: no model for '${name}' (run 'npm run bench -- precision' first to harden resnet20 with proact)`);
      const db = (sampling: string) => join(dir, `${name}-${ber}-${sampling}.sqlite`);
      const run = (sampling: string) =>
        (runProactJson(['campaign', '--model', model, '--data', data, '--ber', ber, '--trials', trials, '--images', images, '--sampling', sampling, '--workers', '2', '--threads', '1', '--seed', '11', '--db', db(sampling)]) as unknown as { perBer: Row[] }).perBer[0]!.accuracy;
      const plain = run('plain');
      const strat = run('stratified');
      const plainPerTrial = plain.std ** 2;
      const stratPerTrial = strat.meanVariance * strat.n;
      const { strata, neymanVariancePerTrial } = strataOf(db('stratified'));
      out.push({
        model: name,
        ber: Number(ber),
        trials: Number(trials),
        imagesPerTrial: Number(images),
        plain: { mean: plain.mean, low: plain.ciLow, high: plain.ciHigh, variancePerTrial: plainPerTrial },
        stratified: { mean: strat.mean, low: strat.ciLow, high: strat.ciHigh, variancePerTrial: stratPerTrial, neymanVariancePerTrial, strata },
        varianceRatio: plainPerTrial / stratPerTrial,
        neymanVarianceRatio: plainPerTrial / neymanVariancePerTrial,
      });
      process.stderr.write(`strata ${name} ${ber}: plain ${plainPerTrial.toExponential(2)} / stratified ${stratPerTrial.toExponential(2)} per trial\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // One run: the figures are variances of estimates, not timings, so repeating runs adds nothing to them.
  return { bench: 'strata', runs: 1, cases: out };
}
