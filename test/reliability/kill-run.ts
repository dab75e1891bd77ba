/**
 * The kill counts of docs/reliability.md: SIGKILL `proact campaign` and `proact harden --method proact`
 * at seeded random moments, resume each time, and compare the end result with an uninterrupted run.
 *
 *   node dist/test/reliability/kill-run.js [--campaign-kills 25] [--harden-kills 12] [--seed 1] [--json out.json]
 *
 * Prints every kill (moment, progress on disk after it) and the checks; exit code 1 if any check failed.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { hardenFiles, killCampaign, killHarden, readDb, type KillRecord } from './kills.js';

const { values } = parseArgs({
  options: {
    'campaign-kills': { type: 'string', default: '25' },
    'harden-kills': { type: 'string', default: '12' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const seed = Number(values.seed);
const dir = mkdtempSync(join(tmpdir(), 'proact-kill-run-'));
const summary: Record<string, unknown> = { seed };
let failed = false;

/** Kills after which more was on disk than before that run (the rest hit start-up or a step in progress). */
function advancing(records: KillRecord[]): number {
  let before = 0;
  let n = 0;
  for (const r of records) {
    if (!r.finishedFirst && r.progress > before) n++;
    before = r.progress;
  }
  return n;
}

function show(name: string, records: KillRecord[], unit: string): void {
  const killed = records.filter((r) => !r.finishedFirst);
  console.log(
    `${name}: ${killed.length} kills, ${advancing(records)} of them after the run had stored new ${unit}${records.length > killed.length ? '; then a run finished before its kill moment' : ''}`,
  );
  records.forEach((r, k) => console.log(`  ${String(k + 1).padStart(2)}  ${r.finishedFirst ? 'finished before' : 'SIGKILL at'} ${String(r.delayMs).padStart(5)} ms  -> ${r.progress} ${unit} on disk`));
}

// ------------------------------------------------------------------ campaign
{
  const model = writeTinyCnn(join(dir, 'tiny.onnx'));
  const args = ['--model', model, '--data', 'mnist', '--ber', '1e-3,3e-3,1e-2', '--trials', '60', '--eval-limit', '500', '--batch', '100', '--seed', '3', '--workers', '2'];
  const refDb = join(dir, 'reference.sqlite');
  const t0 = performance.now();
  const ref = runCli(['campaign', ...args, '--db', refDb]);
  const refMs = performance.now() - t0;
  if (ref.code !== 0) throw new Error(`reference campaign failed: ${ref.stderr}`);
  const reference = readDb(refDb)!;
  // Cycles: when a resumed run completes before its kill moment, the next kills start a fresh database.
  const target = Number(values['campaign-kills']);
  const cycles: { kills: number; advancing: number; identical: boolean; problems: string[]; records: KillRecord[] }[] = [];
  let total = 0;
  for (let cycle = 0; total < target; cycle++) {
    const r = await killCampaign(args, join(dir, `killed-${cycle}.sqlite`), reference.trials, { kills: target - total, seed: seed * 1000 + cycle, minDelayMs: 200, maxDelayMs: Math.round(refMs) });
    const kills = r.records.filter((k) => !k.finishedFirst).length;
    total += kills;
    show(`proact campaign (${reference.trials.length} trials), cycle ${cycle + 1}`, r.records, 'trials');
    const same = JSON.stringify(r.final.trials) === JSON.stringify(reference.trials);
    const ok = r.problems.length === 0 && same && r.final.integrity === 'ok' && r.final.duplicates === 0 && r.final.status === 'complete';
    console.log(`  final: ${r.final.trials.length} trials, identical to the uninterrupted run: ${same}, duplicates ${r.final.duplicates}, integrity ${r.final.integrity}, status ${r.final.status}`);
    for (const p of r.problems) console.log(`  PROBLEM ${p}`);
    cycles.push({ kills, advancing: advancing(r.records), identical: same, problems: r.problems, records: r.records });
    failed ||= !ok;
    if (!ok || kills === 0) break;
  }
  console.log(`uninterrupted campaign: ${(refMs / 1000).toFixed(1)} s; ${total} SIGKILLs in ${cycles.length} cycles, kill moments uniform in [0.2 s, that]\n`);
  summary.campaign = { kills: total, trials: reference.trials.length, referenceSeconds: refMs / 1000, cycles };
}

// ------------------------------------------------------------------ ProAct hardening
{
  const lenet = resolve(fileURLToPath(new URL('../../../models/mnist-lenet.onnx', import.meta.url)));
  if (!existsSync(lenet)) {
    console.log(`proact harden: skipped (missing ${lenet})`);
  } else {
    const args = ['--method', 'proact', '--model', lenet, '--data', 'mnist', '--train-images', '2048', '--validation', '300', '--profile-images', '300', '--scalar-epochs', '1', '--vector-epochs', '3', '--threads', '1', '--seed', '5', '--json'];
    const refOut = join(dir, 'reference-proact.onnx');
    const t0 = performance.now();
    const ref = runCli(['harden', ...args, '--out', refOut], { timeoutMs: 600_000 });
    const refMs = performance.now() - t0;
    if (ref.code !== 0) throw new Error(`reference hardening failed: ${ref.stderr}`);
    const reference = hardenFiles(refOut);
    const target = Number(values['harden-kills']);
    const cycles: { kills: number; advancing: number; sameThresholds: boolean; sameDecisions: boolean; problems: string[]; records: KillRecord[] }[] = [];
    let total = 0;
    for (let cycle = 0; total < target; cycle++) {
      const r = await killHarden(args, join(dir, `killed-proact-${cycle}.onnx`), { kills: target - total, seed: seed * 1000 + 500 + cycle, minDelayMs: 300, maxDelayMs: Math.round(refMs) });
      const kills = r.records.filter((k) => !k.finishedFirst).length;
      total += kills;
      show(`proact harden --method proact (4 activation layers), cycle ${cycle + 1}`, r.records, 'layers');
      const sameThresholds = r.files.thresholds === reference.thresholds;
      const sameDecisions = r.files.decisions === reference.decisions;
      console.log(`  final: thresholds identical to the uninterrupted run: ${sameThresholds}, decisions identical: ${sameDecisions}`);
      for (const p of r.problems) console.log(`  PROBLEM ${p}`);
      cycles.push({ kills, advancing: advancing(r.records), sameThresholds, sameDecisions, problems: r.problems, records: r.records });
      const ok = sameThresholds && sameDecisions && r.problems.length === 0;
      failed ||= !ok;
      if (!ok || kills === 0) break;
    }
    console.log(`uninterrupted hardening: ${(refMs / 1000).toFixed(1)} s; ${total} SIGKILLs in ${cycles.length} cycles, kill moments uniform in [0.3 s, that]\n`);
    summary.harden = { kills: total, referenceSeconds: refMs / 1000, cycles };
  }
}

if (values.json) writeFileSync(values.json, JSON.stringify(summary, null, 1) + '\n');
console.log(failed ? 'FAILED' : 'all checks passed');
process.exitCode = failed ? 1 : 0;
