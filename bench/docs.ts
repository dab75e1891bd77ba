/**
 * Writes the speed, time and cost figures of README.md and docs/*.md from the results the benchmarks
 * saved under docs/bench/ (`<name>.json`, written by bench/main.ts), between marker
 * comments `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`, so that no figure there is typed by hand.
 * A benchmark without a results file gets no row (never an old figure). `npm run bench` runs this after
 * each benchmark; alone: `npm run bench:docs` (or `node dist/bench/docs.js [--check]`; --check changes
 * nothing and exits 1 when a file is out of date).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ProactError, isProactError } from '../src/util/errors.js';
import { writeFileAtomic } from '../src/util/files.js';
import type { MachineInfo } from './common.js';
import { claimsTable, memoryRows, memoryTable, type ClaimsMeasurement } from './claims.js';

export const BENCH_DIR = 'docs/bench';

/** What every saved result has: bench/main.ts adds date, machine and note to the benchmark's own fields. */
interface Saved {
  bench: string;
  date: string;
  machine: MachineInfo;
  runs: number;
  /** BENCH_NOTE at the time of the run, e.g. that other work shared the machine. */
  note?: string;
  torchVersion?: string;
}

interface EvalResult extends Saved {
  proactThreads: number;
  proactImagesPerSecond: number;
  torch: { threads: number; imagesPerSecond: number; ratio: number }[];
}

interface ThrgradResult extends Saved {
  threads: number;
  steps: number;
  secondsPerStep: number;
  setupSeconds: number;
  forwardNodes: number;
  gradientGraphNodes: number;
  torch: { threads: number; secondsPerStep: number; ratio: number }[];
}

/** The campaign benchmark's row, when its results file has these fields (seconds per trial at one BER). */
interface CampaignResult extends Saved {
  ber: number;
  images: number;
  /** The worker x thread split whose figure this is (`2x1`: 2 workers, 1 thread each). */
  bestSplit?: string;
  proactSecondsPerTrial: number;
  torch: { threads: number; secondsPerTrial: number; ratio: number }[];
}

/** Time to +-1 point over the BER grid (bench/precision.ts). */
interface PrecisionResult extends Saved {
  bers: string;
  workers: number;
  torch: { threads: number; secondsPerTrial: number; protocolSeconds: number }[];
  results: {
    model: string;
    seconds: number;
    speedup: { threads: number; ratio: number }[];
    perBer: { ber: number; trials: number; images: number; mean: number; low: number; high: number; halfWidth: number; referenceHalfWidthEstimate: number }[];
  }[];
}

/** Variance per trial, plain against stratified (bench/strata.ts). */
interface StrataResult extends Saved {
  cases: {
    model: string;
    ber: number;
    trials: number;
    imagesPerTrial: number;
    plain: { mean: number; variancePerTrial: number };
    stratified: { mean: number; variancePerTrial: number; neymanVariancePerTrial: number };
    varianceRatio: number;
    neymanVarianceRatio: number;
  }[];
}

/** Delayed start against whole-model trials, and activation against weight faults (bench/delayed.ts). */
interface DelayedResult extends Saved {
  images: number;
  trialsPerBer: number;
  threads: number;
  cacheMb: number;
  cachedBoundaries: number;
  segments: number;
  cacheMiB: number;
  sameResults: boolean;
  trialsCompared: number;
  perBer: { ber: number; wholeSecondsPerTrial: number; delayedSecondsPerTrial: number; speedup: number; fullForwardSeconds: number; speedupOverFullForward: number }[];
  activationSurface: string;
  activationBitsPerImage: number;
  activationCost: { ber: number; activationSecondsPerTrial: number; weightSecondsPerTrial: number; ratio: number }[];
  torch: { threads: number; secondsPerTrial: number }[];
}

/** A trial's set-up against an image (bench/trialcost.ts): what `--trial-cost` charges. */
interface TrialCostResult extends Saved {
  threads: number;
  batch: number;
  setupMs: number;
  msPerImage: number;
  trialCostImages: number;
  defaultTrialCostImages: number;
  planBer: number;
  plans: number;
  planMs: number;
  planFaults: number;
}

/** One way of applying faults in onnxruntime (bench/faults.ts). */
interface FaultsWay {
  sessionCreateMs: number;
  firstRunMs: number;
  steadyBatchMs: number;
  trialSeconds: number;
}

/** Patched bytes against weights as inputs (bench/faults.ts). */
interface FaultsResult extends Saved {
  images: number;
  batch: number;
  threads: number;
  plan: { faults: number };
  patchBytes: FaultsWay;
  weightInputs: FaultsWay & { firstTrialSeconds: number };
  trialSecondsRatioWeightInputsOverPatchBytes: number;
  logits: { bitIdentical: boolean; samePredictions: number; images: number };
}

/** Trials/s locally and through the Redis queue (bench/queue.ts). */
interface QueueResult extends Saved {
  images: number;
  trialsPerCampaign: number;
  queueBatch: number;
  trialsPerSecond: { local1: number; local2: number; queue1: number; queue2: number };
  evalMsPerTrial: number;
  queueOverheadMsPerTrial: number;
  queueOverheadRelative: number;
}

/** The shipped model's training command replayed (bench/train.ts). */
interface TrainResult extends Saved {
  command: string;
  trainSeconds: number;
  wallSeconds: number;
  testAccuracy: number;
  recordedTestAccuracy: number;
  sameAccuracy: boolean;
}

/** One experiment of bench/results.ts: every method on one model, each BER to a precision (or its trial cap). */
interface ResultsResult extends Saved {
  model: string;
  format: string;
  /** The campaigns' --surface when not the default (e.g. activation:conv). */
  surface?: string;
  precision?: number;
  trials: number;
  evalImages: number;
  hardening: Record<string, { thresholdValues?: number; wallSeconds?: number; seconds?: number; imagesProcessed?: number }>;
  campaigns: {
    name: string;
    clean: number;
    sampling: string;
    perBer: { ber: number; n: number; images: number; mean: number; low: number; high: number; ci: number; interval: string }[];
    auc: number | null;
  }[];
  differences: { name: string; baseline: string; confidence: number; perBer: { ber: number; mean: number; low: number; high: number }[] }[];
}

export interface BenchResults {
  results?: ResultsResult;
  resultsActivation?: ResultsResult;
  eval?: EvalResult;
  thrgrad?: ThrgradResult;
  campaign?: CampaignResult;
  precision?: PrecisionResult;
  strata?: StrataResult;
  delayed?: DelayedResult;
  claims?: ClaimsResult;
  trialcost?: TrialCostResult;
  faults?: FaultsResult;
  queue?: QueueResult;
  train?: TrainResult;
  /** Not a benchmark's file: the shipped model's own training record, read by updateBenchDocs. */
  shipped?: ShippedRecord;
}

/** docs/bench/claims.json: what `npm run bench -- claims` measured (bench/claims.ts). */
type ClaimsResult = Saved & ClaimsMeasurement;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at a dotted path (`patchBytes.trialSeconds`), or undefined. */
function at(v: Record<string, unknown>, path: string): unknown {
  let x: unknown = v;
  for (const k of path.split('.')) x = isObject(x) ? x[k] : undefined;
  return x;
}

/** Checks that the named fields (dotted paths) are numbers (or the torch list has the named numbers); names the file and field otherwise. */
function checkFields(file: string, v: unknown, numbers: readonly string[], torchNumbers: readonly string[], ratios = true): void {
  const bad = (field: string) => new ProactError(`${file}: field ${field} is missing or not a number; rerun its benchmark (npm run bench -- <name>)`);
  if (!isObject(v)) throw new ProactError(`${file}: not a JSON object; rerun its benchmark`);
  for (const k of ['runs', ...numbers]) if (typeof at(v, k) !== 'number') throw bad(k);
  if (typeof v.date !== 'string' || !isObject(v.machine) || typeof v.machine.cpu !== 'string') throw bad('date or machine');
  if (torchNumbers.length === 0) return; // a benchmark without a torch_ref side (strata: proact against itself)
  if (!Array.isArray(v.torch) || v.torch.length === 0) throw bad('torch');
  for (const t of v.torch) for (const k of ['threads', ...(ratios ? ['ratio'] : []), ...torchNumbers]) if (!isObject(t) || typeof t[k] !== 'number') throw bad(`torch[].${k}`);
}

function readResult<T>(dir: string, name: string, numbers: readonly string[], torchNumbers: readonly string[], ratios = true): T | undefined {
  const file = join(dir, `${name}.json`);
  if (!existsSync(file)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ProactError(`${file}: not valid JSON (${(e as Error).message}); rerun its benchmark`);
  }
  checkFields(file, v, numbers, torchNumbers, ratios);
  return v as T;
}

/** The results files under `dir`; a missing one is absent from the result. */
export function readBenchResults(dir: string): BenchResults {
  return {
    eval: readResult<EvalResult>(dir, 'eval', ['proactThreads', 'proactImagesPerSecond'], ['imagesPerSecond']),
    thrgrad: readResult<ThrgradResult>(dir, 'thrgrad', ['threads', 'steps', 'secondsPerStep', 'setupSeconds', 'forwardNodes', 'gradientGraphNodes'], ['secondsPerStep']),
    campaign: readResult<CampaignResult>(dir, 'campaign', ['ber', 'images', 'proactSecondsPerTrial'], ['secondsPerTrial']),
    precision: readResult<PrecisionResult>(dir, 'precision', ['workers'], ['secondsPerTrial', 'protocolSeconds'], false),
    strata: readResult<StrataResult>(dir, 'strata', [], [], false),
    delayed: readResult<DelayedResult>(dir, 'delayed', ['images', 'trialsPerBer', 'threads', 'cachedBoundaries', 'segments', 'cacheMiB'], ['secondsPerTrial'], false),
    trialcost: readResult<TrialCostResult>(dir, 'trialcost', ['threads', 'batch', 'setupMs', 'msPerImage', 'trialCostImages', 'defaultTrialCostImages', 'planBer', 'plans', 'planMs', 'planFaults'], []),
    faults: readResult<FaultsResult>(
      dir,
      'faults',
      ['images', 'batch', 'threads', 'plan.faults', 'trialSecondsRatioWeightInputsOverPatchBytes', 'logits.samePredictions', 'logits.images', 'weightInputs.firstTrialSeconds',
        ...['patchBytes', 'weightInputs'].flatMap((w) => ['sessionCreateMs', 'firstRunMs', 'steadyBatchMs', 'trialSeconds'].map((k) => `${w}.${k}`))],
      [],
    ),
    queue: readResult<QueueResult>(dir, 'queue', ['images', 'trialsPerCampaign', 'queueBatch', 'evalMsPerTrial', 'queueOverheadMsPerTrial', 'queueOverheadRelative', ...['local1', 'local2', 'queue1', 'queue2'].map((m) => `trialsPerSecond.${m}`)], []),
    train: readResult<TrainResult>(dir, 'train', ['trainSeconds', 'wallSeconds', 'testAccuracy', 'recordedTestAccuracy'], []),
    results: readResult<ResultsResult>(dir, RESULTS_FILE, ['trials', 'evalImages'], [], false),
    resultsActivation: readResult<ResultsResult>(dir, RESULTS_ACTIVATION_FILE, ['trials', 'evalImages'], [], false),
    claims: readClaims(dir),
  };
}

/** claims.json, with the nested figures the claims table reads checked. */
function readClaims(dir: string): ClaimsResult | undefined {
  const c = readResult<ClaimsResult>(dir, 'claims', [], [], false);
  if (!c) return undefined;
  const file = join(dir, 'claims.json');
  const need: [string, unknown][] = [
    ['ftclipact.seconds', c.ftclipact?.seconds],
    ['ftclipact.imagesProcessed', c.ftclipact?.imagesProcessed],
    ['proact.seconds', c.proact?.seconds],
    ['proact.imagesProcessed', c.proact?.imagesProcessed],
    ['reference.images', c.reference?.images],
    ['reference.seconds', c.reference?.seconds],
  ];
  for (const [field, v] of need) if (typeof v !== 'number') throw new ProactError(`${file}: field ${field} is missing or not a number; rerun its benchmark (npm run bench -- claims)`);
  return c;
}

const num = (v: number, digits: number) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (v: number) => `${num(v, 2)}x`;

function measured(r: Saved): string {
  return `${r.date}, ${r.machine.cpu}, ${r.machine.cores} cores, load ${num(r.machine.loadAverage, 1)}, median of ${r.runs} runs`;
}

interface Row {
  label: string;
  proact: string;
  torch: Map<number, { value: string; ratio: number }>;
  result: Saved;
}

/** `2x1` as `2 workers x 1 thread`. */
function splitText(split: string): string {
  const [w = '?', t = '?'] = split.split('x');
  return `${w} worker${w === '1' ? '' : 's'} x ${t} thread${t === '1' ? '' : 's'}`;
}

function rows(b: BenchResults): Row[] {
  const out: Row[] = [];
  if (b.eval) {
    const r = b.eval;
    out.push({
      label: '`eval`: resnet20.onnx, 10,000 test images, batch 128',
      proact: `${num(r.proactImagesPerSecond, 0)} images/s (${r.proactThreads} threads)`,
      torch: new Map(r.torch.map((t) => [t.threads, { value: `${num(t.imagesPerSecond, 0)} images/s`, ratio: t.ratio }])),
      result: r,
    });
  }
  if (b.thrgrad) {
    const r = b.thrgrad;
    out.push({
      label: '`thrgrad`: one threshold-training step, resnet20.onnx, batch 128, 19 scalar smooth-zero thresholds',
      proact: `${num(r.secondsPerStep, 3)} s/step (${r.threads} threads)`,
      torch: new Map(r.torch.map((t) => [t.threads, { value: `${num(t.secondsPerStep, 3)} s/step`, ratio: t.ratio }])),
      result: r,
    });
  }
  if (b.campaign) {
    const r = b.campaign;
    out.push({
      label: `\`campaign\`: resnet20.onnx, BER ${r.ber.toExponential(0)}, ${num(r.images, 0)} images per trial, seconds per extra trial (model loading and clean pass excluded, as torch_ref's timer excludes them)`,
      proact: `${num(r.proactSecondsPerTrial, 2)} s/trial${r.bestSplit ? ` (${splitText(r.bestSplit)})` : ''}`,
      torch: new Map(r.torch.map((t) => [t.threads, { value: `${num(t.secondsPerTrial, 2)} s/trial`, ratio: t.ratio }])),
      result: r,
    });
  }
  return out;
}

/** The table of every benchmark with a results file, against torch_ref at 1 and 2 threads. */
export function summaryTable(b: BenchResults): string {
  const list = rows(b);
  if (list.length === 0) return `No benchmark results in ${BENCH_DIR}/ yet: run \`npm run bench -- <name>\`.`;
  const threads = [...new Set(list.flatMap((r) => [...r.torch.keys()]))].sort((x, y) => x - y);
  const head = ['benchmark', 'proact', ...threads.flatMap((t) => [`PyTorch, OMP_NUM_THREADS=${t}`, 'ratio']), 'measured'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of list) {
    const cells = threads.flatMap((t) => {
      const v = r.torch.get(t);
      return v ? [v.value, `**${ratio(v.ratio)}**`] : ['not measured', '-'];
    });
    lines.push(`| ${[r.label, r.proact, ...cells, measured(r.result)].join(' | ')} |`);
  }
  const notes = list.filter((r) => r.result.note).map((r) => `- \`${r.result.bench}\`: ${r.result.note}`);
  const versions = [...new Set(list.map((r) => r.result.torchVersion).filter((v): v is string => !!v))];
  const footer = [
    `Ratio: proact's speed over the reference's (above 1: proact is faster). Load: the 1-minute load average when the run started; above the number of cores, other work shared the CPUs.${versions.length ? ` PyTorch ${versions.join(', ')}.` : ''}`,
  ];
  return [...lines, '', ...footer, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** docs/autodiff.md's speed figures. */
export function thrgradText(b: BenchResults): string {
  const r = b.thrgrad;
  if (!r) return `No \`thrgrad\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- thrgrad\`.`;
  const refs = r.torch.map((t) => `${num(t.secondsPerStep, 3)} s with OMP_NUM_THREADS=${t.threads} (proact ${ratio(t.ratio)} as fast)`).join(', ');
  return [
    `- \`npm run bench -- thrgrad --runs ${r.runs}\` (${measured(r)}${r.note ? `; ${r.note}` : ''}): proact ${num(r.secondsPerStep, 3)} s per step`,
    `  with ${r.threads} intra-op threads (median of ${r.steps} timed steps); \`torch_ref.py thrgrad\`${r.torchVersion ? ` (PyTorch ${r.torchVersion})` : ''} ${refs}.`,
    `- once per training run: ${num(r.setupSeconds, 1)} s to build the gradient graph and create the session; the forward graph has`,
    `  ${r.forwardNodes} nodes, the gradient graph ${r.gradientGraphNodes}.`,
  ].join('\n');
}

const pct = (v: number) => num(100 * v, 2);

/** docs/benchmarks.md's time-to-precision tables (bench/precision.ts). */
export function precisionText(b: BenchResults): string {
  const r = b.precision;
  if (!r) return `No \`precision\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- precision\`.`;
  const lines = [
    `\`npm run bench -- precision --runs ${r.runs}\` (${measured(r)}${r.note ? `; ${r.note}` : ''}): BERs ${r.bers}, \`--precision 0.01\`, ${r.workers} workers.`,
    `The reference protocol (100 trials x 10,000 images per BER) at ${r.torch.map((t) => `OMP_NUM_THREADS=${t.threads}: ${num(t.secondsPerTrial, 2)} s per trial, ${num(t.protocolSeconds, 0)} s for the grid`).join('; ')}.`,
    '',
    `| model | proact, whole grid | ${r.torch.map((t) => `reference time / proact time (OMP_NUM_THREADS=${t.threads})`).join(' | ')} |`,
    `|---|---|${r.torch.map(() => '---').join('|')}|`,
    ...r.results.map((m) => `| ${m.model} | ${num(m.seconds, 0)} s | ${m.speedup.map((s) => `**${ratio(s.ratio)}**`).join(' | ')} |`),
    '',
    '| model | BER | trials | images evaluated | mean accuracy % | 95% interval % | half-width (points) | reference protocol half-width (estimate, points) |',
    '|---|---|---|---|---|---|---|---|',
    ...r.results.flatMap((m) =>
      m.perBer.map((p) => `| ${m.model} | ${p.ber.toExponential(0)} | ${num(p.trials, 0)} | ${num(p.images, 0)} | ${pct(p.mean)} | ${pct(p.low)} - ${pct(p.high)} | ${pct(p.halfWidth)} | ${pct(p.referenceHalfWidthEstimate)} |`),
    ),
  ];
  return lines.join('\n');
}

/** docs/benchmarks.md's table of what strata buy (bench/strata.ts). */
export function strataText(b: BenchResults): string {
  const r = b.strata;
  if (!r) return `No \`strata\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- strata\`.`;
  return [
    `\`npm run bench -- strata\` (${r.date}, ${r.machine.cpu}, ${r.machine.cores} cores, load ${num(r.machine.loadAverage, 1)}${r.note ? `; ${r.note}` : ''}):`,
    '',
    '| model | BER | trials each | images per trial | plain: mean %, variance per trial | stratified: mean %, variance per trial (as allocated) | plain / stratified | stratified with Neyman allocation: variance per trial | plain / Neyman |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.cases.map(
      (c) =>
        `| ${c.model} | ${c.ber.toExponential(0)} | ${c.trials} | ${c.imagesPerTrial} | ${pct(c.plain.mean)}, ${c.plain.variancePerTrial.toExponential(2)} | ${pct(c.stratified.mean)}, ${c.stratified.variancePerTrial.toExponential(2)} | **${num(c.varianceRatio, 1)}x** | ${c.stratified.neymanVariancePerTrial.toExponential(2)} | **${num(c.neymanVarianceRatio, 1)}x** |`,
    ),
  ].join('\n');
}

/** docs/benchmarks.md's delayed-start and activation-fault tables (bench/delayed.ts). */
export function delayedText(b: BenchResults): string {
  const r = b.delayed;
  if (!r) return `No \`delayed\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- delayed\`.`;
  const torch = r.torch.map((t) => `${num(t.secondsPerTrial, 2)} s (OMP_NUM_THREADS=${t.threads})`).join(', ');
  return [
    `\`npm run bench -- delayed --runs ${r.runs}\` (${measured(r)}${r.note ? `; ${r.note}` : ''}): resnet20.onnx, ${num(r.images, 0)} test images per trial,`,
    `${r.trialsPerBer} trials per BER, 1 worker x ${r.threads} threads; delayed start cached ${r.cachedBoundaries} of ${r.segments} cut points (${num(r.cacheMiB, 0)} MiB within --cache-mb ${r.cacheMb}).`,
    `Each trial ran in both modes back to back (alternating order), so both saw the same load. Outcomes of the ${r.trialsCompared} trials with and without delayed start: ${r.sameResults ? 'identical, trial for trial (accuracy, SDC, DUE, faults)' : '**different** (a bug)'}. torch_ref.py campaign on the same images: ${torch} per trial.`,
    '',
    '| BER | whole model, s/trial | delayed start, s/trial | whole / delayed | full forward pass (a whole-model trial with faults), s | full forward / delayed |',
    '|---|---|---|---|---|---|',
    ...r.perBer.map((p) => `| ${p.ber.toExponential(0)} | ${num(p.wholeSecondsPerTrial, 3)} | ${num(p.delayedSecondsPerTrial, 3)} | **${ratio(p.speedup)}** | ${num(p.fullForwardSeconds, 3)} | **${ratio(p.speedupOverFullForward)}** |`),
    '',
    `Activation faults (\`--surface ${r.activationSurface}\`, ${num(r.activationBitsPerImage, 0)} stored activation bits per image, no weight faults) against weight faults (the default surface, delayed start on), the same trial numbers and images, back to back:`,
    '',
    '| BER | activation faults, s/trial | weight faults, s/trial | activation / weight |',
    '|---|---|---|---|',
    ...r.activationCost.map((c) => `| ${c.ber.toExponential(0)} | ${num(c.activationSecondsPerTrial, 3)} | ${num(c.weightSecondsPerTrial, 3)} | **${ratio(c.ratio)}** |`),
  ].join('\n');
}

/** Load and note of a run, for the blocks that show one benchmark. */
function conditions(r: Saved): string {
  return `${r.date}, ${r.machine.cpu}, ${r.machine.cores} cores, load ${num(r.machine.loadAverage, 1)}${r.note ? `; ${r.note}` : ''}`;
}

/** docs/benchmarks.md's hardening times: the records the results experiment saved for each method (bench/results.ts). */
export function hardeningText(b: BenchResults): string {
  const r = b.results;
  if (!r) return `No \`${RESULTS_FILE}\` results in ${BENCH_DIR}/ yet: run \`RESULTS_PRECISION=0.01 npm run bench -- results\`.`;
  const rows = Object.entries(r.hardening)
    .filter(([, h]) => typeof h.seconds === 'number' || typeof h.wallSeconds === 'number')
    .sort(([x], [y]) => METHOD_ORDER.indexOf(x) - METHOD_ORDER.indexOf(y));
  const secs = (v: number | undefined) => (typeof v === 'number' ? `${num(v, v < 10 ? 1 : 0)} s` : 'not recorded');
  return [
    `The hardening records of \`RESULTS_PRECISION=${r.precision ?? '-'} npm run bench -- results\` (${r.model}; results file of ${conditions(r)}): \`seconds\` as \`proact harden\` reports it, the whole process's wall time (model loading and profiling included) and the images the method read.`,
    '',
    '| method | hardening | whole process | images read |',
    '|---|---|---|---|',
    ...rows.map(([name, h]) => `| ${METHOD_LABELS[name] ?? name} | ${secs(h.seconds)} | ${secs(h.wallSeconds)} | ${typeof h.imagesProcessed === 'number' ? num(h.imagesProcessed, 0) : 'not recorded'} |`),
  ].join('\n');
}

/** docs/campaigns.md's trial set-up cost, the basis of `--trial-cost` (bench/trialcost.ts). */
export function trialCostText(b: BenchResults): string {
  const r = b.trialcost;
  if (!r) return `No \`trialcost\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- trialcost --runs 21\`.`;
  return [
    `\`npm run bench -- trialcost --runs ${r.runs}\` (${conditions(r)}; medians of ${r.runs} runs): on resnet20.onnx with ${r.threads} intra-op thread${r.threads === 1 ? '' : 's'},`,
    `a trial's set-up (the plan patched into the model bytes, a new session, a one-image first run) took ${num(r.setupMs, 1)} ms and one image`,
    `of a ${r.batch}-image batch ${num(r.msPerImage, 2)} ms, so a set-up cost ${num(r.trialCostImages, 1)} images (the default \`--trial-cost\` is ${r.defaultTrialCostImages}).`,
  ].join('\n');
}

/** docs/faults.md's cost of one fault plan (bench/trialcost.ts). */
export function planCostText(b: BenchResults): string {
  const r = b.trialcost;
  if (!r) return `No \`trialcost\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- trialcost --runs 21\`.`;
  return `\`npm run bench -- trialcost\` (${conditions(r)}): on resnet20.onnx at BER ${r.planBer.toExponential(0)}, a plan of ${num(r.planFaults, 0)} flips (median) took ${num(r.planMs, 3)} ms (median of ${r.plans} plans after the first).`;
}

/** docs/faults.md's comparison of the two ways to run a faulty model (bench/faults.ts). */
export function faultsText(b: BenchResults): string {
  const r = b.faults;
  if (!r) return `No \`faults\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- faults --runs 3\`.`;
  const a = r.patchBytes;
  const w = r.weightInputs;
  const ms = (v: number) => `${num(v, 1)} ms`;
  const faster = r.trialSecondsRatioWeightInputsOverPatchBytes >= 1 ? '(a) patched bytes' : '(b) weights as inputs';
  return [
    `\`npm run bench -- faults --runs ${r.runs}\` (${conditions(r)}; medians of ${r.runs} runs; ${num(r.images, 0)} images, batch ${r.batch}, ${r.threads} threads, ${r.plan.faults} faults):`,
    '',
    '| way | session creation | first batch | later batches (median) | one trial |',
    '|---|---|---|---|---|',
    `| (a) patched bytes, a new session per trial | ${ms(a.sessionCreateMs)} (with the patch) | ${ms(a.firstRunMs)} | ${ms(a.steadyBatchMs)} | ${num(a.trialSeconds, 2)} s |`,
    `| (b) weights as inputs, one session per campaign | ${ms(w.sessionCreateMs)} (once) | ${ms(w.firstRunMs)} (once) | ${ms(w.steadyBatchMs)} | ${num(w.trialSeconds, 2)} s (the first: ${num(w.firstTrialSeconds, 2)} s) |`,
    '',
    `Faster per trial in this run: ${faster}; (b)'s trial took ${num(r.trialSecondsRatioWeightInputsOverPatchBytes, 2)}x (a)'s. Predictions agree on ${num(r.logits.samePredictions, 0)} of ${num(r.logits.images, 0)} images; logits bit-identical: ${r.logits.bitIdentical ? 'yes' : 'no'}.`,
  ].join('\n');
}

/** docs/cluster.md's queue overhead (bench/queue.ts). */
export function queueText(b: BenchResults): string {
  const r = b.queue;
  if (!r) return `No \`queue\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- queue --runs 3\`.`;
  const t = r.trialsPerSecond;
  return [
    `\`npm run bench -- queue --runs ${r.runs}\` (${conditions(r)}; medians of ${r.runs} runs; tiny CNN, ${num(r.trialsPerCampaign, 0)} trials on ${num(r.images, 0)} MNIST images, queue batches of ${r.queueBatch}):`,
    '',
    '| mode | trials/s |',
    '|---|---|',
    `| local, 1 process, 2 threads | ${num(t.local1, 1)} |`,
    `| local, \`--workers 2 --threads 1\` | ${num(t.local2, 1)} |`,
    `| queue, 1 worker process, 2 threads | ${num(t.queue1, 1)} |`,
    `| queue, 2 worker processes, 1 thread each | ${num(t.queue2, 1)} |`,
    '',
    `A trial's own evaluation took ${num(r.evalMsPerTrial, 1)} ms; through the queue with one worker a trial cost ${num(r.queueOverheadMsPerTrial, 1)} ms more (${num(100 * r.queueOverheadRelative, 0)}% of its evaluation).`,
  ].join('\n');
}

/** The record that came with the shipped model (models/mnist-lenet.json, written by `proact train`). */
export interface ShippedRecord {
  date: string;
  seconds: number;
  testAccuracy: number;
  history: { epoch: number; seconds: number }[];
}

export const SHIPPED_RECORD = 'models/mnist-lenet.json';

/** docs/training.md's training time of the shipped model: its own record, and the replay (bench/train.ts). */
export function trainText(b: BenchResults): string {
  const lines: string[] = [];
  const s = b.shipped;
  if (s) {
    // The history holds the elapsed seconds at the end of each epoch.
    const epochs = s.history.map((h, i) => h.seconds - (i > 0 ? s.history[i - 1]!.seconds : 0));
    lines.push(
      `- the run that made the model (\`${SHIPPED_RECORD}\`, ${s.date.slice(0, 10)}): ${num(s.seconds, 0)} s of training on the 2 shared cores, epochs ${num(Math.min(...epochs), 0)} to`,
      `  ${num(Math.max(...epochs), 0)} s as the load of other work changed; test accuracy ${pct(s.testAccuracy)}%.`,
    );
  }
  const r = b.train;
  lines.push(
    r
      ? `- \`npm run bench -- train --runs ${r.runs}\` (${conditions(r)}): the same command took ${num(r.trainSeconds, 0)} s of training (${num(r.wallSeconds, 0)} s for the whole process), test accuracy ${pct(r.testAccuracy)}% (${r.sameAccuracy ? 'the recorded figure' : `recorded: ${pct(r.recordedTestAccuracy)}%`}).`
      : `- no \`train\` results in ${BENCH_DIR}/ yet: run \`npm run bench -- train\`.`,
  );
  return lines.join('\n');
}

/** The experiment docs/results.md shows: ResNet-20, every method, each BER to +-1 point (bench/results.ts). */
const RESULTS_FILE = 'results-resnet20-p0.01';
/** The same methods under faults in the values Conv layers produce (RESULTS_SURFACE=activation:conv). */
const RESULTS_ACTIVATION_FILE = 'results-resnet20-activation-conv';

const METHOD_LABELS: Record<string, string> = {
  unprotected: 'unprotected',
  ranger: 'Ranger (clip-sat, as published)',
  'ranger-zero': 'Ranger-zero (clip-zero, toolbox)',
  ftclipact: 'FT-ClipAct (reduced search)',
  fitact: 'FitAct (neuron-wise everywhere)',
  proact: '**ProAct (HyReLU)**',
  'proact-layer': 'ProAct, layer-wise everywhere',
  'proact-channel': 'ProAct, channel-wise everywhere',
  'proact-neuron': 'ProAct, neuron-wise everywhere',
};
const METHOD_ORDER = Object.keys(METHOD_LABELS);
const pt = (v: number) => num(100 * v, 1);
const signed = (v: number) => `${v >= 0 ? '+' : '-'}${num(Math.abs(100 * v), 1)}`;

/** docs/results.md's tables: accuracy with intervals per method and BER, what each BER cost, differences to ProAct. */
export function resultsText(b: BenchResults): string {
  return resultsTables(b.results, RESULTS_FILE, 'RESULTS_PRECISION=0.01 npm run bench -- results');
}

/** docs/results.md's tables for activation faults (the same layout). */
export function activationResultsText(b: BenchResults): string {
  return resultsTables(b.resultsActivation, RESULTS_ACTIVATION_FILE, 'RESULTS_SURFACE=activation:conv npm run bench -- results');
}

function resultsTables(r: ResultsResult | undefined, file: string, command: string): string {
  if (!r) return `No \`${file}\` results in ${BENCH_DIR}/ yet: run \`${command}\`.`;
  const campaigns = [...r.campaigns].sort((x, y) => METHOD_ORDER.indexOf(x.name) - METHOD_ORDER.indexOf(y.name));
  const bers = [...new Set(campaigns.flatMap((c) => c.perBer.map((p) => p.ber)))].sort((x, y) => x - y);
  const head = (first: string[], last: string[] = []) => [`| ${[...first, ...bers.map((x) => x.toExponential(0)), ...last].join(' | ')} |`, `|${[...first, ...bers, ...last].map(() => '---').join('|')}|`];
  const cell = (c: ResultsResult['campaigns'][number], ber: number, f: (p: ResultsResult['campaigns'][number]['perBer'][number]) => string) => {
    const p = c.perBer.find((q) => q.ber === ber);
    return p ? f(p) : 'not run';
  };
  const label = (name: string) => METHOD_LABELS[name] ?? name;
  const methods = [...new Set(campaigns.flatMap((c) => c.perBer.map((p) => p.interval)))].join(', ');
  const header =
    r.precision === undefined
      ? `\`${r.surface ? `RESULTS_SURFACE=${r.surface} ` : ''}RESULTS_TRIALS=${r.trials} RESULTS_EVAL=${r.evalImages} npm run bench -- results\` (${r.date}, ${r.machine.cpu}, ${r.machine.cores} cores${r.note ? `; ${r.note}` : ''}): ${r.model}, ${r.format}${r.surface ? `, faults in ${r.surface}` : ''}, ` +
        `${num(r.trials, 0)} trials per BER on ${num(r.evalImages, 0)} test images each; interval: ${methods}.`
      : `\`RESULTS_PRECISION=${r.precision} npm run bench -- results\` (${r.date}, ${r.machine.cpu}, ${r.machine.cores} cores${r.note ? `; ${r.note}` : ''}): ${r.model}, ${r.format}, ` +
        `each BER until the 95% interval's half-width is at most ${pt(r.precision)} point or ${num(r.trials, 0)} trials, images per trial chosen by the design from the ${num(r.evalImages, 0)} test images; interval: ${methods}.`;
  return [
    header,
    '',
    '**Accuracy (%) under faults: mean (95% interval)**',
    '',
    ...head(['method', 'threshold values', 'clean %'], ['AUC %']),
    ...campaigns.map(
      (c) =>
        `| ${[label(c.name), c.name === 'unprotected' ? '0' : num(r.hardening[c.name]?.thresholdValues ?? NaN, 0), pt(c.clean), ...bers.map((ber) => cell(c, ber, (p) => `${pt(p.mean)} (${pt(p.low)}-${pt(p.high)})`)), c.auc === null ? '-' : pt(c.auc)].join(' | ')} |`,
    ),
    '',
    '**What each BER cost: trials / images evaluated (half-width reached, points)**',
    '',
    ...head(['method']),
    ...campaigns.map((c) => `| ${[label(c.name), ...bers.map((ber) => cell(c, ber, (p) => `${num(p.n, 0)} / ${num(p.images, 0)} (${num(100 * p.ci, 2)})`))].join(' | ')} |`),
    '',
    `**Difference to ${r.differences[0] ? label(r.differences[0].baseline).replace(/\*\*/g, '') : 'the baseline'} (points): mean (95% interval); bold where the interval excludes 0**`,
    '',
    ...head(['method']),
    ...r.differences
      .sort((x, y) => METHOD_ORDER.indexOf(x.name) - METHOD_ORDER.indexOf(y.name))
      .map((d) => {
        const cells = bers.map((ber) => {
          const p = d.perBer.find((q) => q.ber === ber);
          if (!p) return 'not run';
          const text = `${signed(p.mean)} (${signed(p.low)}, ${signed(p.high)})`;
          return p.low > 0 || p.high < 0 ? `**${text}**` : text;
        });
        return `| ${[label(d.name), ...cells].join(' | ')} |`;
      }),
  ].join('\n');
}

/** Replaces what lies between `<!-- bench:name -->` and `<!-- /bench:name -->` in `text`. */
export function replaceBlock(text: string, file: string, name: string, content: string): string {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const a = text.indexOf(open);
  const z = text.indexOf(close);
  if (a < 0 || z < a) throw new ProactError(`${file}: no ${open} ... ${close} block; put the two markers where the generated ${name} figures belong`);
  const generated = `${open}\n<!-- generated by bench/docs.ts from ${BENCH_DIR}/*.json: edit those or rerun the benchmark, not this -->\n${content}\n${close}`;
  return text.slice(0, a) + generated + text.slice(z + close.length);
}

/**
 * What counts as a speed figure typed by hand (test/docs/bench-docs.test.ts): a rate (`0.84 s per step`,
 * `10 s each`, `260 images/s`, `2.0 s/step`, `1.36 ms per image`) or a ratio (`1.4x`, `2.5×`) on a line
 * that speaks of speed, time or cost. A ratio alone is often a count (`46x the thresholds`, `18x as
 * often`), so the line's words decide; a rate is a speed whatever the words.
 */
const RATE = /\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:ms|s|sec|seconds?|minutes?|min|hours?|h)\s?(?:\/\s?(?:step|trial|image|batch|epoch|run|plan)|per\b|each\b|an?\s+(?:step|trial|image|batch|epoch|run|plan)\b)|\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:images|trials|steps|batches|runs|plans|samples)\s?(?:\/\s?s|per\s+second)\b/i;
const RATIO = /(?<![\w.])\d+(?:\.\d+)?[x×](?![\w])/;
const SPEED_WORDS = /\b(?:faster|slower|quicker|as fast|speed(?:up)?s?|cheaper|costlier|costs?|time|wall|throughput|per second|seconds?|benchmarks?|threads?|pytorch|torch_ref|eval|steps?)\b|\/s\b/i;

/** Lines of `text` (1-based) outside generated blocks that hold a hand-typed speed figure. */
export function speedFigureLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let inBlock: string | undefined;
  text.split('\n').forEach((line, i) => {
    const open = /<!-- bench:([\w-]+) -->/.exec(line);
    if (!inBlock && open) inBlock = open[1];
    else if (inBlock && line.includes(`<!-- /bench:${inBlock} -->`)) inBlock = undefined;
    else if (!inBlock && (RATE.test(line) || (RATIO.test(line) && SPEED_WORDS.test(line)))) out.push({ line: i + 1, text: line });
  });
  return out;
}

/** Every generated block: file, block name, content. */
export function generatedBlocks(b: BenchResults): [file: string, name: string, content: string][] {
  const table = summaryTable(b);
  return [
    ['README.md', 'summary', table],
    ['docs/benchmarks.md', 'summary', table],
    ['docs/autodiff.md', 'thrgrad', thrgradText(b)],
    ['docs/benchmarks.md', 'precision', precisionText(b)],
    ['docs/benchmarks.md', 'strata', strataText(b)],
    ['docs/benchmarks.md', 'delayed', delayedText(b)],
    ['docs/benchmarks.md', 'hardening', hardeningText(b)],
    ['docs/campaigns.md', 'trialcost', trialCostText(b)],
    ['docs/faults.md', 'plancost', planCostText(b)],
    ['docs/faults.md', 'faults', faultsText(b)],
    ['docs/cluster.md', 'queue', queueText(b)],
    ['docs/training.md', 'train', trainText(b)],
    ['docs/results.md', 'results-resnet20', resultsText(b)],
    ['docs/results.md', 'results-resnet20-activation', activationResultsText(b)],
    // Computed from the zoo layouts at every regeneration, and from claims.json where measured.
    ...claimsBlocks(b),
  ];
}

function claimsBlocks(b: BenchResults): [string, string, string][] {
  const rows = memoryRows();
  return [
    ['docs/claims.md', 'claims', claimsTable(rows, b.claims)],
    ['docs/claims.md', 'claims-memory', memoryTable(rows)],
  ];
}

/** The shipped model's record, checked like a results file; absent when the file is. */
export function readShippedRecord(file: string): ShippedRecord | undefined {
  if (!existsSync(file)) return undefined;
  const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const bad = () => new ProactError(`${file}: not the record \`proact train\` writes (date, seconds, testAccuracy, history[].seconds)`);
  if (!isObject(v) || typeof v.date !== 'string' || typeof v.seconds !== 'number' || typeof v.testAccuracy !== 'number' || !Array.isArray(v.history) || v.history.length === 0) throw bad();
  if (!v.history.every((h) => isObject(h) && typeof h.seconds === 'number')) throw bad();
  return v as unknown as ShippedRecord;
}

/** Rewrites the generated blocks under `root`; returns the files that changed (with `check`, changes nothing). */
export function updateBenchDocs(root: string, check = false): string[] {
  const results = { ...readBenchResults(join(root, BENCH_DIR)), shipped: readShippedRecord(join(root, SHIPPED_RECORD)) };
  const texts = new Map<string, string>();
  for (const [file, name, content] of generatedBlocks(results)) {
    const path = join(root, file);
    const before = texts.get(file) ?? readFileSync(path, 'utf8');
    texts.set(file, replaceBlock(before, file, name, content));
  }
  const changed: string[] = [];
  for (const [file, text] of texts) {
    const path = join(root, file);
    if (readFileSync(path, 'utf8') === text) continue;
    changed.push(file);
    if (!check) writeFileAtomic(path, [text], 'benchmark figures');
  }
  return changed;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const check = process.argv.includes('--check');
  try {
    const changed = updateBenchDocs(process.cwd(), check);
    if (check && changed.length) {
      process.stderr.write(`bench docs out of date: ${changed.join(', ')}; run npm run bench:docs\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write(changed.length ? `${check ? 'out of date' : 'updated'}: ${changed.join(', ')}\n` : 'benchmark figures up to date\n');
    }
  } catch (e) {
    process.stderr.write(`bench docs: ${isProactError(e) ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = isProactError(e) ? 2 : 1;
  }
}
