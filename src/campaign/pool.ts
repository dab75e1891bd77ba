/**
 * Runs trials on W worker threads (one onnxruntime session per trial, `threads` intra-op threads
 * each), or in the calling thread when W = 1. Results come back in completion order; callers key
 * them by (BER, trial), so the order never matters.
 *
 * Workers are stopped cooperatively, never terminated: Worker.terminate() (or process.exit) while a
 * thread is inside an onnxruntime call aborts the whole process ("terminate called after throwing an
 * instance of 'Napi::Error'", exit 134). So a failure (a full disk while storing a result) or a stop
 * stops handing out trials, lets each worker finish the trial it runs, and only then reports the first
 * error; close() asks each idle worker to leave and waits until it has.
 * Fault plans are made when a trial is handed out (`plan`), never all at once, so memory does not
 * grow with --trials.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ProactError } from '../util/errors.js';
import { runTrial, type TrialContext, type TrialOutcome, type TrialTask } from './trial.js';
import type { WorkerRequest, WorkerResponse } from './worker.js';

/** Most worker threads per core: each holds a copy of the model and its own onnxruntime session. */
export const WORKERS_PER_CORE = 4;

/**
 * The worker threads a campaign uses: at most one per trial it will run and WORKERS_PER_CORE per core
 * (1,000 threads on 2 cores take 12 GB and finish no trial). `note` says why when fewer than asked.
 */
export function capWorkers(requested: number, trials: number, cores = availableParallelism()): { workers: number; note?: string } {
  const limit = Math.max(1, Math.min(trials, WORKERS_PER_CORE * cores));
  if (requested <= limit) return { workers: requested };
  const why = limit === trials ? `${trials} trial${trials === 1 ? '' : 's'} to run` : `${WORKERS_PER_CORE} per core on ${cores} core${cores === 1 ? '' : 's'}`;
  return { workers: limit, note: `--workers ${requested}: using ${limit} (at most ${why})` };
}

/** A trial to run: its BER and index; the plan is made when it is handed out. */
export interface TrialRef {
  ber: number;
  trial: number;
}

export class TrialPool {
  private workers: Worker[] = [];
  private stopped = false;

  private constructor(private readonly context: TrialContext, private readonly size: number) {}

  static async start(context: TrialContext, workers: number): Promise<TrialPool> {
    const pool = new TrialPool(context, Math.max(1, Math.min(workers, WORKERS_PER_CORE * availableParallelism())));
    if (pool.size > 1) {
      const url = new URL('./worker.js', import.meta.url);
      pool.workers = Array.from({ length: pool.size }, () => new Worker(url));
      await Promise.all(
        pool.workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              w.once('message', (m: WorkerResponse) => (m.type === 'ready' ? resolve() : reject(new Error('worker failed to start'))));
              w.once('error', reject);
              w.postMessage({ type: 'init', context } satisfies WorkerRequest);
            }),
        ),
      );
    }
    return pool;
  }

  /** Stops handing out new trials (running ones finish). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Runs `refs` (each planned by `plan` when handed out), calling `onResult` as each completes. Resolves
   * when all ran or after stop(); on a failure, stops handing out trials, waits for the running ones,
   * then rejects with the first error.
   */
  async run(refs: readonly TrialRef[], plan: (ref: TrialRef) => TrialTask, onResult: (o: TrialOutcome) => void): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const fail = (e: unknown): void => {
      failure ??= { error: e };
      this.stopped = true;
    };
    if (this.size === 1) {
      while (next < refs.length && !this.stopped) {
        try {
          onResult(await runTrial(this.context, plan(refs[next++]!)));
        } catch (e) {
          fail(e);
        }
      }
    } else {
      await Promise.all(
        this.workers.map(async (w) => {
          while (next < refs.length && !this.stopped) {
            try {
              const task = plan(refs[next++]!);
              const response = await ask(w, { type: 'trial', task });
              if (response.type === 'error') throw response.proact ? new ProactError(response.message) : new Error(response.message);
              if (response.type === 'result') onResult(response.outcome);
            } catch (e) {
              fail(e);
            }
          }
        }),
      );
    }
    if (failure) throw failure.error;
  }

  /** Asks every worker to leave and waits until each has (none is inside a trial: run() has returned). */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage({ type: 'exit' } satisfies WorkerRequest);
          }),
      ),
    );
    this.workers = [];
  }
}

/** Sends one request to a worker and waits for its answer (or its death). */
function ask(w: Worker, request: WorkerRequest): Promise<WorkerResponse> {
  return new Promise<WorkerResponse>((resolve, reject) => {
    const onError = (e: Error) => {
      w.off('message', onMessage);
      reject(e);
    };
    const onMessage = (m: WorkerResponse) => {
      w.off('error', onError);
      resolve(m);
    };
    w.once('error', onError);
    w.once('message', onMessage);
    w.postMessage(request);
  });
}
