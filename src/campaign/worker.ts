/**
 * Worker-thread entry for campaigns: receives the model bytes, the shared evaluation set and the clean
 * predictions once, then runs trials one at a time, each with its own onnxruntime session.
 */
import { parentPort } from 'node:worker_threads';
import { runTrial, type TrialContext, type TrialTask } from './trial.js';

export type WorkerRequest = { type: 'init'; context: TrialContext } | { type: 'trial'; task: TrialTask } | { type: 'exit' };
export type WorkerResponse =
  | { type: 'ready' }
  | { type: 'result'; outcome: Awaited<ReturnType<typeof runTrial>> }
  | { type: 'error'; message: string; proact: boolean };

if (parentPort) {
  const port = parentPort;
  let context: TrialContext | undefined;
  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'init') {
      context = msg.context;
      port.postMessage({ type: 'ready' } satisfies WorkerResponse);
    } else if (msg.type === 'trial') {
      runTrial(context!, msg.task).then(
        (outcome) => port.postMessage({ type: 'result', outcome } satisfies WorkerResponse),
        (e: unknown) =>
          port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e), proact: e instanceof Error && e.name === 'ProactError' } satisfies WorkerResponse),
      );
    } else {
      port.close();
    }
  });
}
