/**
 * Runs one fuzz target in a worker thread and watches it: a case that stalls (no new case for
 * `stallMs`) is a hang, the worker is stopped and the input it was reading is saved; a worker that dies
 * (e.g. out of memory, a limit set with resourceLimits) is a crash with its input saved too. Synchronous
 * loops cannot be interrupted from inside, which is why the cases run in a worker.
 */
import { Worker } from 'node:worker_threads';
import { saveInput } from './corpus.js';

export interface CaseFailure {
  /** 'generated', or the corpus file that failed (`seed/<corpus>/<name>`, `regression/...`). */
  label: string;
  message: string;
  ms: number;
  /** Where the input was saved (absent past the first 50 crashes). */
  file?: string;
}

export interface WorkerReport {
  target: string;
  what: string;
  skipped?: string;
  /** Seed and regression corpus files replayed. */
  corpusCases: number;
  /** Seed corpus files that were rejected (valid seeds are accepted; some targets keep invalid ones on purpose). */
  seedsRejected: string[];
  /** Generated cases. */
  cases: number;
  parsed: number;
  rejected: number;
  crashes: CaseFailure[];
  /** Cases slower than the per-case limit, and stalls (the worker stopped). */
  slow: CaseFailure[];
  maxCaseMs: number;
  seconds: number;
  /** Rejection messages (numbers and names blurred) and how often each was seen. */
  rejectionKinds: Record<string, number>;
}

/** A report with nothing counted yet: the worker's starting point, and the runner's when a worker died before reporting. */
export function emptyReport(target: string, what = ''): WorkerReport {
  return { target, what, corpusCases: 0, seedsRejected: [], cases: 0, parsed: 0, rejected: 0, crashes: [], slow: [], maxCaseMs: 0, seconds: 0, rejectionKinds: {} };
}

export interface WorkerJob {
  target: string;
  cases: number;
  seed: number;
  caseLimitMs: number;
  sharedDir: string;
  failureDir: string;
  /** Int32 [case counter, input length], shared with the main thread. */
  state: SharedArrayBuffer;
  /** The current input's first bytes. */
  input: SharedArrayBuffer;
}

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** A case slower than this is a failure (default 2000 ms). */
  caseLimitMs?: number;
  /** No new case for this long: the worker is stopped and the case counted as a hang (default 20 s). */
  stallMs?: number;
  sharedDir: string;
  /** Where failing inputs are written. */
  failureDir: string;
  /** Heap limit of the worker in MB (default 2048). */
  heapMb?: number;
}

const MAX_SHARED_INPUT = 4 << 20;

export function fuzzTarget(target: string, o: FuzzOptions): Promise<WorkerReport> {
  const state = new SharedArrayBuffer(8);
  const input = new SharedArrayBuffer(MAX_SHARED_INPUT);
  const job: WorkerJob = {
    target,
    cases: o.cases,
    seed: o.seed,
    caseLimitMs: o.caseLimitMs ?? 2000,
    sharedDir: o.sharedDir,
    failureDir: o.failureDir,
    state,
    input,
  };
  const counters = new Int32Array(state);
  const currentInput = () => new Uint8Array(input, 0, Math.min(Atomics.load(counters, 1), MAX_SHARED_INPUT)).slice();
  const started = performance.now();
  return new Promise((resolve) => {
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: o.heapMb ?? 2048 },
      stdout: true,
      stderr: true,
    });
    // Drain the worker's console so a chatty reader cannot block it.
    worker.stdout.resume();
    worker.stderr.resume();
    let finished = false;
    let lastCount = -1;
    let lastChange = performance.now();
    const finish = (report: WorkerReport) => {
      if (finished) return;
      finished = true;
      clearInterval(watch);
      void worker.terminate();
      resolve(report);
    };
    let partial: WorkerReport | undefined;
    const latest = (): WorkerReport => (partial ? { ...partial, crashes: [...partial.crashes], slow: [...partial.slow] } : emptyReport(target));
    const died = (why: string) => {
      if (finished) return; // the exit that follows terminate() after a report
      const r = latest();
      const ms = performance.now() - lastChange;
      r.crashes.push({ label: 'generated (worker died)', message: why, ms, file: saveInput(o.failureDir, target, currentInput()) });
      r.seconds = (performance.now() - started) / 1000;
      finish(r);
    };
    const watch = setInterval(() => {
      const count = Atomics.load(counters, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = performance.now();
        return;
      }
      const stalled = performance.now() - lastChange;
      if (stalled > (o.stallMs ?? 20_000)) {
        const r = latest();
        r.slow.push({ label: `case ${count} (stalled)`, message: `no progress for ${(stalled / 1000).toFixed(1)} s: a hang`, ms: stalled, file: saveInput(o.failureDir, target, currentInput()) });
        r.seconds = (performance.now() - started) / 1000;
        finish(r);
      }
    }, 250);
    type Message = { type: 'done'; report: WorkerReport } | { type: 'progress'; report: WorkerReport } | { type: 'error'; message: string; label: string };
    worker.on('message', (m: Message) => {
      if (m.type === 'progress') partial = m.report;
      else if (m.type === 'done') finish(m.report);
      else died(`the fuzz worker failed outside a case (${m.label}): ${m.message}`);
    });
    worker.on('error', (e) => died(`worker error: ${e.name}: ${e.message.split('\n')[0]}`));
    worker.on('exit', (code) => died(`worker exited with code ${code} before reporting`));
  });
}
