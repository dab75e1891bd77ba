/** `proact campaign`: statistical fault-injection campaigns over bit error rates; `merge` and `export`. */
import type { Command } from 'commander';
import {
  DEFAULT_BERS,
  DEFAULT_PRECISION_MAX_TRIALS,
  MAX_TRIALS_PER_BER,
  WORKERS_PER_CORE,
  capWorkers,
  compareCampaigns,
  exportTrialsCsv,
  mergeStores,
  openStore,
  parseIntervalMethod,
  parseShard,
  runCampaign,
  summarizeCampaign,
  type CampaignOptions,
  type CampaignSummary,
} from '../campaign/index.js';
import { SURFACE_KINDS } from '../faults/index.js';
import { runQueuedCampaign } from '../queue/index.js';
import { ProactError, printable } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';
import { guardOutputs } from '../util/outputs.js';
import { parseFloatOption, parseIntOption, parseNumberList, addFaultModelOptions, faultModelFromFlags, progressBar, log, table, type FaultModelFlags } from './common.js';
import { registerCampaignStatus } from './queue.js';
import { SIGNAL_EXIT_CODES, stopOnSignals } from './stop.js';

interface CampaignCli extends FaultModelFlags {
  model: string;
  data: string;
  split: 'test' | 'train';
  ber: number[];
  trials?: number;
  wave: number;
  minTrials: number;
  precision?: number;
  confidence: number;
  evalLimit?: number;
  seed: number;
  workers: number;
  threads?: number;
  batch: number;
  db: string;
  resume?: boolean;
  shard?: string;
  json?: boolean;
  csv?: string;
  queue?: string;
  queuePrefix: string;
  queueBatch: number;
  queueTimeout: number;
  sampling: string;
  images: string;
  interval?: string;
  trialCost?: number;
}

/** --images: 'auto', 'all' or a positive integer. */
function parseImages(text: string): number | 'all' | 'auto' {
  if (text === 'auto' || text === 'all') return text;
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) throw new ProactError(`--images ${text}: expected 'auto', 'all' or a whole number of images >= 1`);
  return n;
}

const pct = (v: number) => (v * 100).toFixed(2);

export function summaryTable(s: CampaignSummary): string {
  const rows = s.perBer.map((b) => [
    b.ber.toExponential(0),
    b.accuracy.n,
    pct(b.accuracy.mean),
    `${pct(b.accuracy.ciLow)}-${pct(b.accuracy.ciHigh)}`,
    pct(b.accuracy.median),
    `${pct(b.accuracy.q1)}-${pct(b.accuracy.q3)}`,
    pct(b.sdc.mean),
    pct(b.due.mean),
  ]);
  const first = s.perBer[0]?.accuracy;
  const level = first ? `${Math.round(first.confidence * 1000) / 10}% ${first.interval}` : 'CI';
  const lines = [table(['BER', 'trials', 'accuracy %', `interval (${level})`, 'median', 'IQR', 'SDC %', 'DUE %'], rows)];
  if (s.campaign.cleanAccuracy !== null) lines.unshift(`clean accuracy ${pct(s.campaign.cleanAccuracy)}%`);
  if (s.accuracyAuc) lines.push(`AUC over log10(BER): ${s.accuracyAuc.area.toFixed(4)} (normalised ${pct(s.accuracyAuc.normalized)}%)`);
  return lines.join('\n');
}

export function registerCampaign(program: Command): void {
  const cmd = program
    .command('campaign')
    .description('fault-injection campaign over bit error rates, stored in SQLite (subcommands: merge, export, compare, status)')
    .option('--model <file>', 'ONNX model (plain or hardened)')
    .option('--data <dir>', "evaluation data (CIFAR dir, MNIST IDX, .npy) or 'mnist'")
    .option('--split <split>', 'train or test', 'test')
    .option('--ber <list>', 'comma-separated bit error rates', parseNumberList('--ber'), DEFAULT_BERS)
    .option('--trials <n>', `trials per BER (the maximum with --precision; default 100, 2000 with --precision; at most ${MAX_TRIALS_PER_BER.toLocaleString('en-US')})`, parseIntOption('--trials', 1, MAX_TRIALS_PER_BER))
    .option('--wave <n>', 'trials per wave of the sequential rule (waves grow to an eighth of the trials so far)', parseIntOption('--wave', 1), 10)
    .option('--min-trials <n>', 'never stop on --precision before this many trials', parseIntOption('--min-trials', 1), 10)
    .option('--precision <p>', 'stop a BER once the half-width of the accuracy confidence sequence is <= p (e.g. 0.01)', parseFloatOption('--precision'))
    .option('--confidence <c>', 'confidence level of intervals', parseFloatOption('--confidence'), 0.95)
    .option('--sampling <s>', 'plain, stratified (critical-flip strata, bernoulli only) or auto (stratified with --precision)', 'auto')
    .option('--images <n>', "images per trial: auto (chosen per BER from pilot trials), all, or a number (a random subset per trial)", 'auto-default')
    .option('--interval <m>', 'interval method: betting-target (anytime valid, bets tuned for --precision; its default), betting-cs (anytime valid), betting (tuned for --trials), student-t (comparison only)')
    .option('--trial-cost <images>', 'cost of one trial set-up in image evaluations, for --images auto', parseFloatOption('--trial-cost'))
    .option('--eval-limit <n>', 'evaluate each trial on the first n records only', parseIntOption('--eval-limit', 1))
    .option('--seed <s>', 'campaign seed (fault plans are a pure function of seed, BER and trial)', parseIntOption('--seed', 0), 0)
    .option('--workers <w>', `worker threads (each runs whole trials; at most the trials and ${WORKERS_PER_CORE} per core)`, parseIntOption('--workers', 1), 1)
    .option('--threads <t>', 'onnxruntime intra-op threads per worker', parseIntOption('--threads', 1))
    .option('--batch <n>', 'batch size', parseIntOption('--batch', 1), 250)
    .option('--db <file>', 'SQLite results database', 'results.sqlite')
    .option('--resume', 'continue a campaign already in the database')
    .option('--shard <i/N>', 'run only shard i of N (merge the databases afterwards)')
    .option('--json', 'print the summary as JSON')
    .option('--csv <file>', 'also write the trials as CSV')
    .option('--queue <redis-url>', 'coordinate the campaign through Redis; `proact worker --queue <redis-url>` processes run the trials (docs/cluster.md)')
    .option('--queue-prefix <p>', 'Redis key prefix of the queue', 'proact')
    .option('--queue-batch <n>', 'trials per queue job', parseIntOption('--queue-batch', 1), 5)
    .option('--queue-timeout <s>', 'stop when no trial finished for s seconds', parseIntOption('--queue-timeout', 1), 1800);
  addFaultModelOptions(cmd)
    .action(async (o: CampaignCli, command: Command) => {
      if (!o.model) throw new ProactError('campaign: --model <file> is required');
      if (!o.data) throw new ProactError('campaign: --data <dir> is required');
      if (o.queue && command.getOptionValueSource('workers') === 'cli') throw new ProactError('--workers with --queue: the trials run in `proact worker` processes; give them --concurrency instead');
      const faults = faultModelFromFlags(o);
      guardOutputs(
        [{ path: o.db, what: '--db', createsFolder: true }, o.csv === undefined ? undefined : { path: o.csv, what: '--csv' }],
        [{ path: o.model, what: '--model' }, { path: o.data, what: '--data' }],
      );
      const capped = capWorkers(o.workers, o.ber.length * (o.trials ?? (o.precision !== undefined ? DEFAULT_PRECISION_MAX_TRIALS : 100)));
      if (capped.note) log(`note: ${capped.note}`);
      const stop = stopOnSignals((sig) => `${sig}: stopping — no new trials, the running ones finish (a second signal quits now); continue later with --resume`);
      const signal = stop.request;
      let bar: ReturnType<typeof progressBar> | undefined;
      const opts: CampaignOptions = {
        model: o.model,
        data: o.data,
        split: o.split,
        bers: o.ber,
        wave: o.wave,
        minTrials: o.minTrials,
        confidence: o.confidence,
        faults,
        seed: o.seed,
        workers: capped.workers,
        batchSize: o.batch,
        db: o.db,
        resume: !!o.resume,
        signal,
        onStart: (i) => {
          log(
            `campaign ${i.campaignId} in ${o.db}: seed ${i.seed}, clean accuracy ${pct(i.cleanAccuracy)}%, ${i.surfaceBits.toLocaleString('en-US')} stored bits, ` +
              `${i.plannedTrials} trials planned${i.alreadyDone ? `, ${i.alreadyDone} already stored (resumed)` : ''}`,
          );
          if (i.oneImageAtATime) log(`note: ${o.model} has a fixed batch of 1; every image is run on its own (same results, slower)`);
          if (o.precision !== undefined)
            log(`planning aid (Leveugle et al. 2009): ${i.leveugle} trials per BER give +-${o.precision} at ${o.confidence * 100}% for p = 0.5; sequential stopping usually needs far fewer`);
          if (!o.json) bar = progressBar('campaign', i.plannedTrials, `BER {ber} acc {acc}${o.queue ? ' workers {workers}' : ''}`);
          bar?.update(i.alreadyDone, { ber: '-', acc: '-', workers: '-' });
        },
        onTrial: (_r, s) =>
          bar?.update(s.done, {
            ber: s.ber.toExponential(0),
            acc: `${pct(s.berMean)}${Number.isFinite(s.berCiHalfWidth) ? '±' + pct(s.berCiHalfWidth) : ''} (n=${s.berTrials})`,
          }),
      };
      if (o.precision !== undefined) opts.precision = o.precision;
      if (o.trials !== undefined) opts.trials = o.trials;
      if (!['auto', 'plain', 'stratified'].includes(o.sampling)) throw new ProactError(`--sampling ${o.sampling}: expected plain, stratified or auto`);
      opts.sampling = o.sampling as CampaignOptions['sampling'];
      if (o.images !== 'auto-default') opts.images = parseImages(o.images);
      if (o.interval !== undefined) opts.interval = parseIntervalMethod(o.interval);
      if (o.trialCost !== undefined) opts.trialCostImages = o.trialCost;
      if (o.evalLimit !== undefined) opts.evalLimit = o.evalLimit;
      if (o.threads !== undefined) opts.threads = o.threads;
      if (o.shard) opts.shard = parseShard(o.shard);
      try {
        const r = o.queue
          ? await runQueuedCampaign({
              ...opts,
              queue: o.queue,
              queuePrefix: o.queuePrefix,
              queueBatch: o.queueBatch,
              idleTimeoutSeconds: o.queueTimeout,
              onNotice: (m) => log(`queue: ${m}`),
              onProgress: (p) => {
                bar?.setTotal(p.planned);
                bar?.update(p.done, { workers: p.workers });
              },
            })
          : await runCampaign(opts);
        bar?.stop();
        if (o.csv) {
          const store = openStore(o.db, { readonly: true });
          try {
            writeFileAtomic(o.csv, [exportTrialsCsv(store, r.campaignId)], 'the trials CSV');
          } finally {
            store.close();
          }
        }
        if (o.json) process.stdout.write(JSON.stringify({ campaignId: r.campaignId, db: r.db, seed: r.seed, interrupted: r.interrupted, ...r.summary }) + '\n');
        else process.stdout.write(summaryTable(r.summary) + '\n');
        if (r.interrupted) process.exitCode = stop.exitCode() ?? SIGNAL_EXIT_CODES.SIGINT;
      } finally {
        bar?.stop();
        stop.dispose();
      }
    });

  registerCampaignStatus(cmd);

  cmd
    .command('merge')
    .description('merge shard databases into one (identical statistics to a single run)')
    .argument('<inputs...>', 'shard databases')
    .requiredOption('--out <file>', 'output database')
    .action((inputs: string[], o: { out: string }) => {
      guardOutputs([{ path: o.out, what: '--out', createsFolder: true }], inputs.map((path) => ({ path, what: 'shard store' })));
      const r = mergeStores(inputs, o.out);
      log(`merged ${inputs.length} databases into ${o.out}: ${r.trialsAdded} trials added, ${r.trialsAlreadyPresent} already present`);
      for (const p of r.partial)
        log(`campaign ${p.key}: partial, ${p.stored} of ${p.planned} planned trials; missing from shard${p.missingShards.length === 1 ? '' : 's'} ${p.missingShards.join(', ')} — merge ${p.missingShards.length === 1 ? 'its store' : 'their stores'} in to complete it`);
    });

  cmd
    .command('compare')
    .description('paired comparison of two campaigns of one database: trial i of A against trial i of B (same seed, same faults)')
    .argument('<db>', 'results database')
    .argument('<a>', 'campaign id of A (ids: proact campaign export <db>)', parseIntOption('campaign id A', 1))
    .argument('<b>', 'campaign id of B', parseIntOption('campaign id B', 1))
    .option('--json', 'print the comparison as JSON')
    .action((db: string, a: number, b: number, o: { json?: boolean }) => {
      const store = openStore(db, { readonly: true });
      try {
        const c = compareCampaigns(store, a, b);
        if (o.json) {
          process.stdout.write(JSON.stringify(c) + '\n');
          return;
        }
        const pts = (x: number) => (100 * x).toFixed(2);
        const rows = c.perBer.map((p) => {
          const d = p.accuracyDifference;
          const verdict = d.ciLow > 0 ? 'A better' : d.ciHigh < 0 ? 'B better' : 'no difference at 95%';
          return [p.ber.toExponential(0), p.pairs, pts(d.mean), `${pts(d.ciLow)} to ${pts(d.ciHigh)}`, verdict];
        });
        process.stdout.write(`A = campaign ${a} (${printable(c.a.modelPath)})\nB = campaign ${b} (${printable(c.b.modelPath)})\n`);
        process.stdout.write(table(['BER', 'pairs', 'accuracy A - B (points)', '95% betting-cs interval', 'verdict'], rows) + '\n');
      } finally {
        store.close();
      }
    });

  cmd
    .command('export')
    .description('print the summary (or the trials as CSV) of the campaigns in a database')
    .argument('<db>', 'results database')
    .option('--csv', 'print the trials as CSV')
    .option('--json', 'print the summaries as JSON')
    .action((db: string, o: { csv?: boolean; json?: boolean }) => {
      const store = openStore(db, { readonly: true });
      try {
        for (const c of store.listCampaigns()) {
          if (o.csv) process.stdout.write(exportTrialsCsv(store, c.id));
          else if (o.json) process.stdout.write(JSON.stringify(summarizeCampaign(store, c.id)) + '\n');
          else process.stdout.write(`campaign ${c.id} (${printable(c.modelPath)}, seed ${c.seed}, ${c.status})\n${summaryTable(summarizeCampaign(store, c.id))}\n\n`);
        }
      } finally {
        store.close();
      }
    });
}
