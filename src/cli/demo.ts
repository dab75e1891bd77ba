/**
 * `proact demo` (`npm run demo`): the main job end to end on the embedded default, with no file from
 * outside: the shipped MNIST LeNet (models/mnist-lenet.onnx, trained by `proact train`), hardened with
 * Ranger and ProAct under a small budget, a fault campaign over a BER grid for the unprotected and both
 * hardened models, a summary table, and the HTML report in demo-report/. Each step is the real
 * `proact` command, run as a child process, so the demo shows exactly what a user would type.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { openStore, summarizeCampaign } from '../campaign/index.js';
import { ProactError } from '../util/errors.js';
import { guardOutputs } from '../util/outputs.js';
import { log, parseIntOption, table } from './common.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
/** The shipped model, found relative to the installed package (dist/src/cli -> models/). */
export const SHIPPED_MODEL = fileURLToPath(new URL('../../../models/mnist-lenet.onnx', import.meta.url));

interface DemoCli {
  out: string;
  trials: number;
  evalLimit: number;
  workers: number;
  seed: number;
  quick?: boolean;
}

function step(title: string, args: string[]): void {
  log(`\n== ${title}\n$ proact ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [MAIN, ...args], { stdio: 'inherit' });
  if (r.status !== 0) throw new ProactError(`demo step '${title}' failed (exit code ${r.status}); see the message above`);
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('end-to-end demo on the embedded MNIST model: harden (Ranger, ProAct), fault campaigns, summary, HTML report')
    .option('--out <dir>', 'output folder (models, results database, report)', 'demo-report')
    .option('--trials <n>', 'trials per BER', parseIntOption('--trials', 2), 20)
    .option('--eval-limit <n>', 'test images per trial', parseIntOption('--eval-limit', 100), 1000)
    .option('--workers <w>', 'campaign worker threads', parseIntOption('--workers', 1), 2)
    .option('--seed <s>', 'seed of every step', parseIntOption('--seed', 0), 0)
    .option('--quick', 'a smaller hardening budget (500 images to profile, validate and train, 1 epoch each), for a check in seconds')
    .action((o: DemoCli) => {
      if (!existsSync(SHIPPED_MODEL)) throw new ProactError(`${SHIPPED_MODEL}: the shipped model is missing; reinstall proact (npm ci)`);
      const out = resolve(o.out);
      // The demo writes into a fresh folder only: it never replaces or deletes a file it did not create.
      guardOutputs([{ path: out, what: '--out', folder: true }]);
      if (existsSync(out) && readdirSync(out).length > 0)
        throw new ProactError(`--out ${o.out}: folder exists and is not empty; the demo writes into a new or empty folder — give another --out`);
      mkdirSync(out, { recursive: true });
      const db = join(out, 'results.sqlite');
      const seed = String(o.seed);
      const models = { unprotected: SHIPPED_MODEL, ranger: join(out, 'lenet-ranger.onnx'), proact: join(out, 'lenet-proact.onnx') };
      log(`proact demo: seed ${seed}, output in ${out}`);
      step('clean accuracy of the shipped LeNet-5 on the MNIST test set', ['eval', '--model', SHIPPED_MODEL, '--data', 'mnist']);
      const budget = o.quick ? { images: '500', vectorEpochs: '1' } : { images: '2000', vectorEpochs: '2' };
      const common = ['--model', SHIPPED_MODEL, '--data', 'mnist', '--profile-images', budget.images, '--validation', o.quick ? '500' : '1000', '--seed', seed];
      step('harden with Ranger (profiled layer maxima, clip-sat)', ['harden', '--method', 'ranger', ...common, '--out', models.ranger, '--fresh']);
      step('harden with ProAct (HyReLU, progressive threshold training, small budget)', [
        'harden', '--method', 'proact', ...common, '--out', models.proact, '--train-images', budget.images, '--scalar-epochs', '1', '--vector-epochs', budget.vectorEpochs, '--fresh',
      ]);
      const bers = '1e-5,3e-5,1e-4,3e-4,1e-3';
      for (const [name, model] of Object.entries(models)) {
        step(`fault campaign: ${name}`, [
          'campaign', '--model', model, '--data', 'mnist', '--ber', bers, '--trials', String(o.trials), '--eval-limit', String(o.evalLimit),
          '--workers', String(o.workers), '--seed', seed, '--db', db,
        ]);
      }
      step('HTML report', ['report', db, '--out', out]);

      // Summary: mean accuracy per BER and method, side by side.
      const store = openStore(db, { readonly: true });
      try {
        const campaigns = store.listCampaigns();
        const summaries = campaigns.map((c) => summarizeCampaign(store, c.id));
        const names = campaigns.map((c) => Object.entries(models).find(([, m]) => m === c.modelPath)?.[0] ?? c.modelPath);
        const bersAll = [...new Set(summaries.flatMap((s) => s.perBer.map((b) => b.ber)))].sort((a, b) => a - b);
        const rows: (string | number)[][] = [['clean', ...summaries.map((s) => `${((s.campaign.cleanAccuracy ?? 0) * 100).toFixed(2)}`)]];
        for (const ber of bersAll)
          rows.push([
            ber.toExponential(0),
            ...summaries.map((s) => {
              const b = s.perBer.find((p) => p.ber === ber);
              return b ? `${(b.accuracy.mean * 100).toFixed(1)} [${(b.accuracy.ciLow * 100).toFixed(1)}, ${(b.accuracy.ciHigh * 100).toFixed(1)}]` : '-';
            }),
          ]);
        rows.push(['AUC (norm.)', ...summaries.map((s) => (s.accuracyAuc ? `${(s.accuracyAuc.normalized * 100).toFixed(1)}` : '-'))]);
        process.stdout.write(`\nMean accuracy % (95% CI) under weight/bias/threshold bit flips, ${o.trials} trials x ${o.evalLimit} MNIST test images:\n`);
        process.stdout.write(table(['BER', ...names], rows) + '\n');
        process.stdout.write(`\nreport: ${join(out, 'index.html')}\n`);
      } finally {
        store.close();
      }
    });
}
