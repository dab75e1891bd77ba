/**
 * Runs trials on W worker threads (one onnxruntime session per trial, `threads` intra-op threads
 * each), or in the calling thread when W = 1. Results come back in completion order; callers key
 * them by (BER, trial), so the order never matters.
 */
import { Worker } from 'node:worker_threads';
import { ProactError } from '../util/errors.js';
import { runTrial, type TrialContext, type TrialOutcome, type TrialTask } from './trial.js';
import type { WorkerRequest, WorkerResponse } from './worker.js';

export class TrialPool {
  private workers: Worker[] = [];
  private stopped = false;

  private constructor(private readonly context: TrialContext, private readonly size: number) {}

  static async start(context: TrialContext, workers: number): Promise<TrialPool> {
    const pool = new TrialPool(context, Math.max(1, workers));
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

  /** Runs `tasks`, calling `onResult` as each completes. Resolves when all ran (or after stop()). */
  async run(tasks: readonly TrialTask[], onResult: (o: TrialOutcome) => void): Promise<void> {
    let next = 0;
    if (this.size === 1) {
      while (next < tasks.length && !this.stopped) onResult(await runTrial(this.context, tasks[next++]!));
      return;
    }
    await Promise.all(
      this.workers.map(async (w) => {
        while (next < tasks.length && !this.stopped) {
          const task = tasks[next++]!;
          const response = await new Promise<WorkerResponse>((resolve, reject) => {
            const onError = (e: Error) => reject(e);
            w.once('error', onError);
            w.once('message', (m: WorkerResponse) => {
              w.off('error', onError);
              resolve(m);
            });
            w.postMessage({ type: 'trial', task } satisfies WorkerRequest);
          });
          if (response.type === 'error') throw response.proact ? new ProactError(response.message) : new Error(response.message);
          if (response.type === 'result') onResult(response.outcome);
        }
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}
