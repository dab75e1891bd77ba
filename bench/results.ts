/**
 * `npm run bench -- results`: the experiment behind docs/results.md. Hardens a shared model with every
 * method (and the granularity ablation of ProAct), runs one campaign per model over the default BER grid
 * (float32, bernoulli counts, faults in weights, biases and thresholds), and prints a JSON summary.
 * Budgets come from the environment so the doc can state them: RESULTS_MODEL (resnet20, or any name
 * of ../shared/models, or the path of an .onnx such as a zoo model trained by `proact train`),
 * RESULTS_TRIALS (10), RESULTS_EVAL (1000 test images per trial), RESULTS_METHODS (all), RESULTS_DIR
 * (results-run), RESULTS_FORMAT (float32; e.g. q15.16, whose campaigns go to results-q15.16.sqlite). A hardened model already on disk is reused, so an
 * interrupted run picks up where it stopped (campaigns resume from the database).
 * RESULTS_VALIDATION (default 1000, the runs on record) is passed to `proact harden --validation`: the
 * held-out protocol of docs/hardening.md is RESULTS_VALIDATION=test:5000-9999 RESULTS_EVAL=5000 with a
 * fresh RESULTS_DIR (hardened models on disk are reused whatever their validation was).
 *
 * RESULTS_PRECISION (e.g. 0.01) runs every BER to that interval half-width instead (`--precision`,
 * stratified faults, images per trial chosen by the nested design), with RESULTS_TRIALS as the cap
 * per BER (default 1000), into results-p<precision>.sqlite. RESULTS_SKIP_RUN=1 only summarises the
 * campaigns already stored: a confidence sequence holds at any stopping time, so a campaign stopped
 * early still gives valid (wider) intervals. The summary gives each method's difference to
 * RESULTS_BASELINE (default proact) per BER, as an interval valid at 95% whatever the dependence
 * between the two campaigns: each campaign's interval at 97.5%, combined by interval arithmetic.
 * RESULTS_INTERVAL (e.g. betting-target) summarises every campaign with that interval method.
 * RESULTS_SURFACE (e.g. activation:conv) is the campaigns' --surface (faults in the values layers produce,
 * per image: docs/campaigns.md), into results[-p<precision>]-<surface>.sqlite; RESULTS_DB_DIR (default
 * RESULTS_DIR) holds the database, so hardened models can be read from a folder that is not written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { campaignDesign, openStore, parseIntervalMethod, summarizeCampaign, type ResultStore } from '../src/campaign/index.js';
import { writeFileAtomic } from '../src/util/files.js';
import { CLI, requireShared } from './common.js';

interface Variant {
  name: string;
  args: string[];
}

/** Above a precision run's cap on trials, or in a fixed run: the trials per BER. */
const DEFAULT_TRIALS = { fixed: '10', precision: '1000' };

const VARIANTS: Variant[] = [
  { name: 'ranger', args: ['--method', 'ranger'] },
  { name: 'ranger-zero', args: ['--method', 'ranger-zero'] },
  { name: 'ftclipact', args: ['--method', 'ftclipact', '--fi-images', '128', '--fi-repetitions', '2', '--fi-rounds', '1', '--fi-min-rounds', '1', '--workers', '2'] },
  { name: 'fitact', args: ['--method', 'fitact'] },
  { name: 'proact', args: ['--method', 'proact'] },
  { name: 'proact-layer', args: ['--method', 'proact', '--granularity', 'layer'] },
  { name: 'proact-channel', args: ['--method', 'proact', '--granularity', 'channel'] },
  { name: 'proact-neuron', args: ['--method', 'proact', '--granularity', 'neuron'] },
];

function run(args: string[]): { stdout: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PROACT_NO_PROGRESS: '1' }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`proact ${args.join(' ')} failed with ${r.status}`);
  return { stdout: r.stdout, seconds: (performance.now() - t0) / 1000 };
}

export async function benchResults(): Promise<Record<string, unknown>> {
  const modelArg = process.env.RESULTS_MODEL ?? 'resnet20';
  const local = modelArg.endsWith('.onnx');
  const modelName = local ? basename(modelArg, '.onnx') : modelArg;
  if (local && !existsSync(modelArg)) throw new Error(`RESULTS_MODEL ${modelArg}: no such file (train it first, e.g. proact train --arch mobilenetv2-cifar ...)`);
  // Relative paths, as a user types them: the database records the model path the campaign ran on.
  const model = relative(process.cwd(), local ? modelArg : requireShared(`models/${modelName}.onnx`));
  const format = process.env.RESULTS_FORMAT ?? 'float32';
  const data = relative(process.cwd(), requireShared('data/cifar10-jpeg75'));
  const dir = process.env.RESULTS_DIR ?? 'results-run';
  mkdirSync(dir, { recursive: true });
  const precision = process.env.RESULTS_PRECISION;
  const trials = process.env.RESULTS_TRIALS ?? (precision ? DEFAULT_TRIALS.precision : DEFAULT_TRIALS.fixed);
  const evalLimit = process.env.RESULTS_EVAL ?? (precision ? '10000' : '1000');
  const only = process.env.RESULTS_METHODS?.split(',');
  const validation = process.env.RESULTS_VALIDATION ?? '1000';
  const baseline = process.env.RESULTS_BASELINE ?? 'proact';
  const skipRun = process.env.RESULTS_SKIP_RUN === '1';
  const surface = process.env.RESULTS_SURFACE;
  const surfaceTag = surface === undefined ? undefined : surface.replace(/[^a-z0-9]+/gi, '-');
  const stem = [precision ? `results-p${precision}` : 'results', ...(surfaceTag ? [surfaceTag] : [])].join('-');
  const dbDir = process.env.RESULTS_DB_DIR ?? dir;
  mkdirSync(dbDir, { recursive: true });
  const db = join(dbDir, format === 'float32' ? `${stem}.sqlite` : `${stem}-${format}.sqlite`);
  const hardening: Record<string, unknown> = {};
  const models: [string, string][] = [['unprotected', model]];
  for (const v of VARIANTS.filter((x) => !only || only.includes(x.name))) {
    const out = join(dir, `${modelName}-${v.name}.onnx`);
    const record = join(dir, `${modelName}-${v.name}.harden.json`);
    if (!skipRun && (!existsSync(out) || !existsSync(record))) {
      const r = run(['harden', ...v.args, '--model', model, '--data', data, '--out', out, '--validation', validation, '--json']);
      const result = { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>), wallSeconds: r.seconds };
      writeFileAtomic(record, [JSON.stringify(result) + '\n'], 'hardening record');
    }
    if (!existsSync(record)) continue;
    hardening[v.name] = JSON.parse(readFileSync(record, 'utf8')) as unknown;
    models.push([v.name, out]);
  }
  // RESULTS_METHODS also orders the campaigns (the first ones finish first when time is short).
  const order = (name: string) => (only ? only.indexOf(name) : 0);
  models.sort((a, b) => order(a[0]) - order(b[0]));
  if (only && !only.includes('unprotected')) models.splice(models.findIndex(([n]) => n === 'unprotected'), 1);
  const budget = precision ? ['--precision', precision] : [];
  for (const [name, m] of skipRun ? [] : models) {
    run(['campaign', '--model', m, '--data', data, '--format', format, ...(surface ? ['--surface', surface] : []), '--trials', trials, ...budget, '--eval-limit', evalLimit, '--workers', '2', '--seed', '0', '--db', db, '--resume', '--json']);
    process.stderr.write(`campaign ${name} done\n`);
  }
  const store = openStore(db, { readonly: true });
  const rows: Record<string, unknown>[] = [];
  try {
    for (const c of store.listCampaigns().filter((x) => models.some(([, m]) => m === x.modelPath))) {
      const name = models.find(([, m]) => m === c.modelPath)?.[0] ?? c.modelPath;
      // RESULTS_INTERVAL summarises every campaign with one method (a confidence sequence is valid at whatever
      // point a campaign stopped, also when another rule stopped it).
      const interval = process.env.RESULTS_INTERVAL ? parseIntervalMethod(process.env.RESULTS_INTERVAL) : undefined;
      const s = summarizeCampaign(store, c.id, { interval });
      const wide = summarizeCampaign(store, c.id, { interval, confidence: 1 - (1 - DIFFERENCE_CONFIDENCE) / 2 });
      const images = imagesByBer(store, c.id, Number(evalLimit));
      rows.push({
        name,
        campaignId: c.id,
        clean: c.cleanAccuracy,
        sampling: campaignDesign(c).sampling,
        perBer: s.perBer.map((b, i) => ({
          ber: b.ber,
          n: b.accuracy.n,
          images: images.get(b.ber) ?? 0,
          mean: b.accuracy.mean,
          low: b.accuracy.ciLow,
          high: b.accuracy.ciHigh,
          ci: b.accuracy.ciHalfWidth,
          interval: b.accuracy.interval,
          wideLow: wide.perBer[i]!.accuracy.ciLow,
          wideHigh: wide.perBer[i]!.accuracy.ciHigh,
          sdc: b.sdc.mean,
          due: b.due.mean,
        })),
        auc: s.accuracyAuc?.normalized ?? null,
      });
    }
  } finally {
    store.close();
  }
  return {
    bench: 'results',
    // docs/bench/results-<model>[-<format>][-p<precision>].json: one file per experiment.
    runs: 1,
    saveAs: ['results', modelName, ...(format === 'float32' ? [] : [format]), ...(precision ? [`p${precision}`] : []), ...(surfaceTag ? [surfaceTag] : [])].join('-'),
    model: modelName,
    format,
    ...(surface ? { surface } : {}),
    trials: Number(trials),
    ...(precision ? { precision: Number(precision) } : {}),
    evalImages: Number(evalLimit),
    hardening,
    campaigns: rows,
    differences: differences(rows as unknown as DifferenceRow[], baseline),
  };
}

/** Level of the difference intervals: each campaign's interval at 1 - (1 - level) / 2, then interval arithmetic. */
const DIFFERENCE_CONFIDENCE = 0.95;

interface DifferenceRow {
  name: string;
  perBer: { ber: number; mean: number; wideLow: number; wideHigh: number }[];
}

/**
 * Each method's accuracy minus the baseline's, per BER. The two intervals are each valid at 97.5%, so by
 * the union bound both hold at once with probability >= 95% whatever the campaigns' dependence, and then
 * the difference lies in [lowA - highB, highA - lowB]. Campaigns of differently hardened models draw
 * their faults over different surfaces (and strata), so a paired per-trial difference is not available.
 */
function differences(rows: readonly DifferenceRow[], baseline: string): Record<string, unknown>[] {
  const base = rows.find((r) => r.name === baseline);
  if (!base) return [];
  return rows
    .filter((r) => r !== base)
    .map((r) => ({
      name: r.name,
      baseline,
      confidence: DIFFERENCE_CONFIDENCE,
      perBer: r.perBer.flatMap((p) => {
        const b = base.perBer.find((q) => q.ber === p.ber);
        return b ? [{ ber: p.ber, mean: p.mean - b.mean, low: p.wideLow - b.wideHigh, high: p.wideHigh - b.wideLow }] : [];
      }),
    }));
}

/** Images evaluated per BER (a trial without a stored count evaluated the campaign's whole set). */
function imagesByBer(store: ResultStore, campaignId: number, whole: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of store.trials(campaignId)) out.set(t.ber, (out.get(t.ber) ?? 0) + (t.images ?? whole));
  return out;
}
