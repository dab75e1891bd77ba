/**
 * `npm run bench -- <name> [--runs N]`: side-by-side benchmarks against ../shared/bench/torch_ref.py.
 * Each prints one JSON line with both figures, their medians and the ratio; docs/benchmarks.md
 * records them with the date.
 */
import { isProactError } from '../src/util/errors.js';
import { today } from './common.js';

type Bench = (opts: { runs: number }) => Promise<Record<string, unknown>>;

const benches: Record<string, () => Promise<Bench>> = {
  eval: async () => (await import('./eval.js')).benchEval,
  faults: async () => (await import('./faults.js')).benchFaults,
  campaign: async () => (await import('./campaign.js')).benchCampaign,
  queue: async () => (await import('./queue.js')).benchQueue,
  train: async () => (await import('./train.js')).benchTrain,
  results: async () => (await import('./results.js')).benchResults,
  weightclip: async () => (await import('./weightclip.js')).benchWeightClip,
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
    const fn = await benches[name]!();
    const result = await fn({ runs });
    process.stdout.write(JSON.stringify({ date: today(), ...result }) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`bench: ${isProactError(e) ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
    return isProactError(e) ? 2 : 1;
  }
}

process.exitCode = await main();
