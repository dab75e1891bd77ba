/**
 * `npm run bench -- <name> [--runs N]`: side-by-side benchmarks against ../shared/bench/torch_ref.py.
 * Each prints one JSON line with both figures, their medians and the ratios, saves it with the date,
 * the machine (CPU model, cores, load average at the start) and BENCH_NOTE as docs/bench/<name>.json,
 * then rewrites the figures of README.md and docs/ from those files (bench/docs.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isProactError } from '../src/util/errors.js';
import { writeFileAtomic } from '../src/util/files.js';
import { machineInfo, today } from './common.js';
import { BENCH_DIR, updateBenchDocs } from './docs.js';

type Bench = (opts: { runs: number }) => Promise<Record<string, unknown>>;

const benches: Record<string, () => Promise<Bench>> = {
  eval: async () => (await import('./eval.js')).benchEval,
  faults: async () => (await import('./faults.js')).benchFaults,
  trialcost: async () => (await import('./trialcost.js')).benchTrialCost,
  campaign: async () => (await import('./campaign.js')).benchCampaign,
  precision: async () => (await import('./precision.js')).benchPrecision,
  strata: async () => (await import('./strata.js')).benchStrata,
  queue: async () => (await import('./queue.js')).benchQueue,
  train: async () => (await import('./train.js')).benchTrain,
  results: async () => (await import('./results.js')).benchResults,
  weightclip: async () => (await import('./weightclip.js')).benchWeightClip,
  delayed: async () => (await import('./delayed.js')).benchDelayed,
  claims: async () => (await import('./claims.js')).benchClaims,
  thrgrad: async () => {
    const { benchThrgrad } = await import('./thrgrad.js');
    return (o) => benchThrgrad({ ...o, torch: true, threads: Number(process.env.BENCH_THREADS ?? 2) });
  },
};

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  const runsAt = rest.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(rest[runsAt + 1]) : 3;
  if (!name || !benches[name]) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [--runs N]\n`);
    return 2;
  }
  try {
    // Before the run: the load average then says whether other work shared the machine.
    const machine = machineInfo();
    const fn = await benches[name]!();
    const result = await fn({ runs });
    // `note` is BENCH_NOTE's alone (what shared the machine); a benchmark says what it measures in other fields.
    const { note: _ignored, ...own } = result;
    const record = { date: today(), machine, ...(process.env.BENCH_NOTE ? { note: process.env.BENCH_NOTE } : {}), ...own };
    process.stdout.write(JSON.stringify(record) + '\n');
    mkdirSync(BENCH_DIR, { recursive: true });
    // A benchmark run per model (results) names its own file, so runs on other models do not replace it.
    const file = join(BENCH_DIR, `${typeof result.saveAs === 'string' ? result.saveAs : name}.json`);
    writeFileAtomic(file, [JSON.stringify(record, null, 1) + '\n'], 'benchmark result');
    const changed = updateBenchDocs(process.cwd());
    process.stderr.write(`bench: saved ${file}${changed.length ? `; updated ${changed.join(', ')}` : ''}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`bench: ${isProactError(e) ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
    return isProactError(e) ? 2 : 1;
  }
}

process.exitCode = await main();
