/**
 * The long fuzz run (`npm run fuzz`): every target with many more cases than `npm test` runs, one
 * worker thread per target, printing per target the cases, how many inputs were accepted and rejected,
 * the crashes and hangs (each failing input saved under fuzz-failures/), and the most common
 * rejections. Exit code 1 when anything crashed or hung.
 *
 *   node dist/test/fuzz/long.js [--cases N] [--cli-cases M] [--seed S] [--only a,b] [--json out.json]
 *
 * --cli-cases: command lines run through the real executable (test/fuzz/cli-process.ts; default 300,
 * 0 to skip; `--only cli-process` runs only them).
 * --cases is per target (default 7,500, about 106,000 in all; onnx-resnet20 runs a tenth of it, its inputs being 1 MB).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TARGETS } from './targets/index.js';
import { fuzzTarget, type WorkerReport } from './runner.js';
import { runCliFuzz, type CliFuzzReport } from './cli-process.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '7500' },
    'cli-cases': { type: 'string', default: '300' },
    seed: { type: 'string', default: '20240601' },
    only: { type: 'string' },
    json: { type: 'string' },
    'failure-dir': { type: 'string', default: 'fuzz-failures' },
  },
});
const cases = Number(values.cases);
const seed = Number(values.seed);
const only = values.only?.split(',');
const sharedDir = resolve(process.env.PROACT_SHARED ?? resolve(process.cwd(), '../shared'));
const failureDir = resolve(values['failure-dir']!);

/** Inputs of 1 MB take ~10 ms each: a tenth of the cases keeps the run's length balanced. */
const SCALE: Record<string, number> = { 'onnx-resnet20': 0.1 };

const reports: WorkerReport[] = [];
const started = performance.now();
for (const target of TARGETS) {
  if (only && !only.includes(target.name)) continue;
  const n = Math.max(1, Math.round(cases * (SCALE[target.name] ?? 1)));
  const r = await fuzzTarget(target.name, { cases: n, seed, sharedDir, failureDir, stallMs: 30_000 });
  reports.push(r);
  const status = r.skipped ? `skipped: ${r.skipped}` : `${r.crashes.length} crashes, ${r.slow.length} hangs`;
  console.log(
    `${target.name.padEnd(16)} ${String(r.cases).padStart(7)} cases + ${String(r.corpusCases).padStart(3)} corpus  ` +
      `${String(r.parsed).padStart(7)} accepted ${String(r.rejected).padStart(7)} rejected  max ${r.maxCaseMs.toFixed(0).padStart(5)} ms  ${r.seconds.toFixed(1).padStart(6)} s  ${status}`,
  );
  for (const f of [...r.crashes, ...r.slow].slice(0, 10)) console.log(`    ${f.label}: ${f.message}${f.file ? ` [${f.file}]` : ''}`);
}

const total = (k: 'cases' | 'corpusCases' | 'parsed' | 'rejected') => reports.reduce((s, r) => s + r[k], 0);
const crashes = reports.reduce((s, r) => s + r.crashes.length, 0);
const hangs = reports.reduce((s, r) => s + r.slow.length, 0);
console.log(
  `\ntotal: ${total('cases')} generated cases + ${total('corpusCases')} corpus files, ${total('parsed')} accepted, ${total('rejected')} rejected, ` +
    `${crashes} crashes, ${hangs} hangs, ${((performance.now() - started) / 1000).toFixed(0)} s (seed ${seed})`,
);
console.log('\nmost common rejections per target:');
for (const r of reports) {
  const top = Object.entries(r.rejectionKinds).sort((a, b) => b[1] - a[1]).slice(0, 3);
  if (top.length) console.log(`  ${r.target}: ${top.map(([k, n]) => `${n}x "${k}"`).join('; ')}`);
}

let cli: CliFuzzReport | undefined;
const cliCases = Number(values['cli-cases']);
if (cliCases > 0 && (!only || only.includes('cli-process'))) {
  cli = await runCliFuzz({ cases: cliCases, seed });
  const outcomes = Object.entries(cli.outcomes).sort().map(([k, n]) => `${n} ${k}`).join(', ');
  console.log(`
cli-process: ${cli.cases} command lines (${cli.signalled} signalled, ${cli.deadlines} stopped at the deadline): ${outcomes}; ${cli.failures.length} broke an invariant, ${cli.seconds.toFixed(0)} s`);
  for (const f of cli.failures.slice(0, 20)) console.log(`    ${JSON.stringify(f.argv)}${f.signal ? ` (${f.signal})` : ''}: ${f.problems.join('; ')}`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ seed, casesPerTarget: cases, reports, cli }, null, 1) + '\n');
process.exitCode = crashes + hangs + (cli?.failures.length ?? 0) > 0 ? 1 : 0;
