/**
 * Writes the benchmark figures of README.md, docs/benchmarks.md and docs/autodiff.md from the results
 * the benchmarks saved under docs/bench/ (`<name>.json`, written by bench/main.ts), between marker
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

/** One experiment of bench/results.ts: every method on one model, each BER to a precision (or its trial cap). */
interface ResultsResult extends Saved {
  model: string;
  format: string;
  precision?: number;
  trials: number;
  evalImages: number;
  hardening: Record<string, { thresholdValues?: number; wallSeconds?: number; imagesProcessed?: number }>;
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
  eval?: EvalResult;
  thrgrad?: ThrgradResult;
  campaign?: CampaignResult;
  precision?: PrecisionResult;
  strata?: StrataResult;
  claims?: ClaimsResult;
}

/** docs/bench/claims.json: what `npm run bench -- claims` measured (bench/claims.ts). */
type ClaimsResult = Saved & ClaimsMeasurement;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks that the named fields are numbers (or the torch list has the named numbers); names the file and field otherwise. */
function checkFields(file: string, v: unknown, numbers: readonly string[], torchNumbers: readonly string[], ratios = true): void {
  const bad = (field: string) => new ProactError(`${file}: field ${field} is missing or not a number; rerun its benchmark (npm run bench -- <name>)`);
  if (!isObject(v)) throw new ProactError(`${file}: not a JSON object; rerun its benchmark`);
  for (const k of ['runs', ...numbers]) if (typeof v[k] !== 'number') throw bad(k);
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
    results: readResult<ResultsResult>(dir, RESULTS_FILE, ['trials', 'evalImages'], [], false),
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
      label: `\`campaign\`: resnet20.onnx, BER ${r.ber.toExponential(0)}, ${num(r.images, 0)} images per trial`,
      proact: `${num(r.proactSecondsPerTrial, 2)} s/trial`,
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

/** The experiment docs/results.md shows: ResNet-20, every method, each BER to +-1 point (bench/results.ts). */
const RESULTS_FILE = 'results-resnet20-p0.01';

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
  const r = b.results;
  if (!r) return `No \`${RESULTS_FILE}\` results in ${BENCH_DIR}/ yet: run \`RESULTS_PRECISION=0.01 npm run bench -- results\`.`;
  const campaigns = [...r.campaigns].sort((x, y) => METHOD_ORDER.indexOf(x.name) - METHOD_ORDER.indexOf(y.name));
  const bers = [...new Set(campaigns.flatMap((c) => c.perBer.map((p) => p.ber)))].sort((x, y) => x - y);
  const head = (first: string[], last: string[] = []) => [`| ${[...first, ...bers.map((x) => x.toExponential(0)), ...last].join(' | ')} |`, `|${[...first, ...bers, ...last].map(() => '---').join('|')}|`];
  const cell = (c: ResultsResult['campaigns'][number], ber: number, f: (p: ResultsResult['campaigns'][number]['perBer'][number]) => string) => {
    const p = c.perBer.find((q) => q.ber === ber);
    return p ? f(p) : 'not run';
  };
  const label = (name: string) => METHOD_LABELS[name] ?? name;
  const methods = [...new Set(campaigns.flatMap((c) => c.perBer.map((p) => p.interval)))].join(', ');
  return [
    `\`RESULTS_PRECISION=${r.precision ?? '-'} npm run bench -- results\` (${r.date}, ${r.machine.cpu}, ${r.machine.cores} cores${r.note ? `; ${r.note}` : ''}): ${r.model}, ${r.format}, ` +
      `each BER until the 95% interval's half-width is at most ${r.precision === undefined ? '-' : pt(r.precision)} point or ${num(r.trials, 0)} trials, images per trial chosen by the design from the ${num(r.evalImages, 0)} test images; interval: ${methods}.`,
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
    `**Difference to ${r.differences[0] ? label(r.differences[0].baseline) : 'the baseline'} (points): mean (95% interval); bold where the interval excludes 0**`,
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

/** Every generated block: file, block name, content. */
export function generatedBlocks(b: BenchResults): [file: string, name: string, content: string][] {
  const table = summaryTable(b);
  return [
    ['README.md', 'summary', table],
    ['docs/benchmarks.md', 'summary', table],
    ['docs/autodiff.md', 'thrgrad', thrgradText(b)],
    ['docs/benchmarks.md', 'precision', precisionText(b)],
    ['docs/benchmarks.md', 'strata', strataText(b)],
    ['docs/results.md', 'results-resnet20', resultsText(b)],
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

/** Rewrites the generated blocks under `root`; returns the files that changed (with `check`, changes nothing). */
export function updateBenchDocs(root: string, check = false): string[] {
  const results = readBenchResults(join(root, BENCH_DIR));
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
