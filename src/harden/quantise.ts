/**
 * Hardening under a stored number format: the reference quantises every parameter of the model
 * (Q15.16 by default) *before* it replaces the ReLUs, so its profiling, its threshold training and its
 * FT-ClipAct search all see the quantised weights, while the thresholds it adds afterwards stay
 * float32. `quantisedModel` gives that model: the conv/linear weights and biases as they are stored
 * under the format (decode(encode(x)), the same quantisation a campaign applies to its fault surface).
 */
import { faultSurface } from '../campaign/index.js';
import { parseFormat } from '../faults/index.js';
import type { Graph } from '../graph/index.js';

/** `graph` with its conv/linear weights and biases quantised to `format` (the graph itself under float32). */
export function quantisedModel(graph: Graph, format: string): Graph {
  const name = parseFormat(format).name;
  if (name === 'float32') return graph;
  const g = graph.clone();
  for (const t of faultSurface(graph, { format: name, kinds: ['weight', 'bias'] })) g.initializers.set(t.name, { dtype: 'float32', dims: [...t.dims], data: t.values });
  // Recorded so that a campaign under another format can be told apart from one on the model hardening saw.
  g.metadata['proact.format'] = name;
  return g;
}
