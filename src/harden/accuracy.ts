/** Clean top-1 accuracy of a graph on a dataset, the figure every hardening method reports. */
import type { Graph } from '../graph/index.js';
import type { Dataset } from '../data/index.js';
import { Session, evaluate } from '../runtime/index.js';

export interface AccuracyOptions {
  threads?: number;
  batchSize?: number;
}

/** Top-1 accuracy of `graph` on all of `data` (NaN when `data` is empty: there is nothing to measure). */
export async function graphAccuracy(graph: Graph, data: Dataset, opts: AccuracyOptions = {}): Promise<number> {
  if (data.count === 0) return NaN;
  const session = await Session.create(graph, { threads: opts.threads ?? 1 });
  try {
    return (await evaluate(session, data, { batchSize: opts.batchSize ?? 128 })).accuracy;
  } finally {
    await session.release();
  }
}
