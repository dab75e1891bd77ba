/**
 * Worker thread that fuzzes one target (started by runner.ts): replays the seed and regression corpora,
 * then runs `cases` generated inputs with fast-check. Before each case it publishes the input in shared
 * memory and bumps a counter, so the main thread can see a stalled case, stop the worker and keep the
 * input that hung.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { readCorpus, saveInput } from './corpus.js';
import { targetByName } from './targets/index.js';
import { classify, rejectionKind, type FuzzContext } from './target.js';
import { emptyReport, type CaseFailure, type WorkerJob, type WorkerReport } from './runner.js';

const job = workerData as WorkerJob;
const state = new Int32Array(job.state);
const shared = new Uint8Array(job.input);

function publish(input: Uint8Array, label: string): void {
  const n = Math.min(input.length, shared.length);
  shared.set(input.subarray(0, n));
  Atomics.store(state, 1, input.length);
  Atomics.add(state, 0, 1);
  parentLabel = label;
}
let parentLabel = '';

async function main(): Promise<WorkerReport> {
  const target = targetByName(job.target);
  const corpus = target.corpus ?? target.name;
  const tmp = mkdtempSync(join(tmpdir(), `proact-fuzz-${target.name}-`));
  const ctx: FuzzContext = { tmp, seeds: readCorpus('seed', corpus).map((f) => f.bytes), sharedDir: job.sharedDir };
  const report: WorkerReport = emptyReport(target.name, target.what);
  const started = performance.now();
  try {
    const skip = await target.prepare?.(ctx);
    if (skip) return { ...report, skipped: skip };

    const one = async (input: Uint8Array, label: string): Promise<void> => {
      publish(input, label);
      const t0 = performance.now();
      let thrown = false;
      let error: unknown;
      try {
        await target.run(input, ctx);
      } catch (e) {
        thrown = true;
        error = e;
      }
      const ms = performance.now() - t0;
      report.maxCaseMs = Math.max(report.maxCaseMs, ms);
      const outcome = thrown ? classify(error ?? new Error('undefined was thrown')) : classify(undefined);
      if (outcome.kind === 'parsed') report.parsed++;
      else if (outcome.kind === 'rejected') {
        report.rejected++;
        if (label.startsWith('seed/')) report.seedsRejected.push(`${label}: ${outcome.message}`);
        const kind = rejectionKind(outcome.message);
        report.rejectionKinds[kind] = (report.rejectionKinds[kind] ?? 0) + 1;
      } else if (report.crashes.length < 50) {
        report.crashes.push(failure(label, outcome.message, input, ms));
      } else report.crashes.push({ label, message: outcome.message, ms });
      if (ms > job.caseLimitMs) report.slow.push(failure(label, `case took ${ms.toFixed(0)} ms (limit ${job.caseLimitMs} ms)`, input, ms));
      // The main thread keeps the latest partial report, so a later hang does not lose what came before.
      if (outcome.kind === 'crash' || (report.parsed + report.rejected) % 250 === 0) {
        report.seconds = (performance.now() - started) / 1000;
        parentPort!.postMessage({ type: 'progress', report });
      }
    };

    for (const kind of ['seed', 'regression'] as const) {
      for (const f of readCorpus(kind, corpus)) {
        await one(f.bytes, `${kind}/${corpus}/${f.name}`);
        report.corpusCases++;
      }
    }
    if (job.cases > 0) {
      await fc.check(
        fc.asyncProperty(target.inputs(ctx), async (input) => {
          await one(input, 'generated');
          report.cases++;
          return true;
        }),
        { seed: job.seed, numRuns: job.cases },
      );
    }
    return report;
  } finally {
    report.seconds = (performance.now() - started) / 1000;
    rmSync(tmp, { recursive: true, force: true });
  }
}

function failure(label: string, message: string, input: Uint8Array, ms: number): CaseFailure {
  return { label, message, ms, file: saveInput(job.failureDir, job.target, input) };
}

main().then(
  (report) => parentPort!.postMessage({ type: 'done', report }),
  (e: unknown) => parentPort!.postMessage({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e), label: parentLabel }),
);
