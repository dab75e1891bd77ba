/**
 * `npm run bench -- results`: the experiment behind docs/results.md. Hardens a shared model with every
 * method (and the granularity ablation of ProAct), runs one campaign per model over the default BER grid
 * (float32, bernoulli counts, faults in weights, biases and thresholds), and prints a JSON summary.
 * Budgets come from the environment so the doc can state them: RESULTS_MODEL (resnet20, or any name
 * of ../shared/models, or the path of an .onnx such as a zoo model trained by `proact train`),
 * RESULTS_TRIALS (10), RESULTS_EVAL (1000 test images per trial), RESULTS_METHODS (all), RESULTS_DIR
 * (results-run), RESULTS_FORMAT (float32; e.g. q15.16, whose campaigns go to results-q15.16.sqlite). A hardened model already on disk is reused, so an
 * interrupted run picks up where it stopped (campaigns resume from the database).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { openStore, summarizeCampaign } from '../src/campaign/index.js';
import { writeFileAtomic } from '../src/util/files.js';
import { CLI, requireShared } from './common.js';

interface Variant {
  name: string;
  args: string[];
}

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
  const trials = process.env.RESULTS_TRIALS ?? '10';
  const evalLimit = process.env.RESULTS_EVAL ?? '1000';
  const only = process.env.RESULTS_METHODS?.split(',');
  const db = join(dir, format === 'float32' ? 'results.sqlite' : `results-${format}.sqlite`);
  const hardening: Record<string, unknown> = {};
  const models: [string, string][] = [['unprotected', model]];
  for (const v of VARIANTS.filter((x) => !only || only.includes(x.name))) {
    const out = join(dir, `${modelName}-${v.name}.onnx`);
    const record = join(dir, `${modelName}-${v.name}.harden.json`);
    if (!existsSync(out) || !existsSync(record)) {
      const r = run(['harden', ...v.args, '--model', model, '--data', data, '--out', out, '--json']);
      const result = { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>), wallSeconds: r.seconds };
      writeFileAtomic(record, [JSON.stringify(result) + '\n'], 'hardening record');
    }
    hardening[v.name] = JSON.parse(readFileSync(record, 'utf8')) as unknown;
    models.push([v.name, out]);
  }
  for (const [name, m] of models) {
    run(['campaign', '--model', m, '--data', data, '--format', format, '--trials', trials, '--eval-limit', evalLimit, '--workers', '2', '--seed', '0', '--db', db, '--resume', '--json']);
    process.stderr.write(`campaign ${name} done\n`);
  }
  const store = openStore(db, { readonly: true });
  const rows: Record<string, unknown>[] = [];
  try {
    for (const c of store.listCampaigns().filter((x) => models.some(([, m]) => m === x.modelPath))) {
      const name = models.find(([, m]) => m === c.modelPath)?.[0] ?? c.modelPath;
      const s = summarizeCampaign(store, c.id);
      rows.push({
        name,
        clean: c.cleanAccuracy,
        perBer: s.perBer.map((b) => ({ ber: b.ber, n: b.accuracy.n, mean: b.accuracy.mean, ci: b.accuracy.ciHalfWidth, sdc: b.sdc.mean, due: b.due.mean })),
        auc: s.accuracyAuc?.normalized ?? null,
      });
    }
  } finally {
    store.close();
  }
  return { bench: 'results', model: modelName, format, trials: Number(trials), evalImages: Number(evalLimit), hardening, campaigns: rows };
}
