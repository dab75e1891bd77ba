/**
 * Ranger (Chen et al., DSN 2021): every activation is bounded by the maximum the clean model reaches
 * on the profiling images. No training, no fault injection: one profiling pass.
 *
 * - method `ranger`: `clip-sat` (values above T become T), as published;
 * - method `ranger-zero`: `clip-zero` (values above T become 0), as the reference toolbox deploys it.
 *
 * Layer-wise by definition; `granularity` offers channel- and neuron-wise maxima as well.
 */
import { ProactError } from '../util/errors.js';
import type { Graph } from '../graph/index.js';
import { GRANULARITIES, type Granularity } from './activations.js';
import { graphAccuracy } from './accuracy.js';
import { applyThresholds, thresholdsFromProfile } from './thresholds.js';
import { checkProfileMatches } from './profile.js';
import type { HardenData, HardenOutcome, Profile } from './types.js';

export type RangerMethod = 'ranger' | 'ranger-zero';

export interface RangerOptions {
  /** `ranger` (clip-sat, default) or `ranger-zero` (clip-zero). */
  method?: RangerMethod;
  /** Default `layer` (Ranger as published). */
  granularity?: Granularity;
  /** onnxruntime threads for the validation pass (default 1). */
  threads?: number;
  batchSize?: number;
}

/** Hardens `graph` (prepared, unclipped) with thresholds at the profiled maxima. */
export async function hardenRanger(graph: Graph, data: HardenData, profile: Profile, opts: RangerOptions = {}): Promise<HardenOutcome> {
  const t0 = performance.now();
  const method = opts.method ?? 'ranger';
  if (method !== 'ranger' && method !== 'ranger-zero') throw new ProactError(`ranger: unknown method '${String(method)}'; use ranger (clip-sat) or ranger-zero (clip-zero)`);
  const granularity = opts.granularity ?? 'layer';
  if (!GRANULARITIES.includes(granularity)) throw new ProactError(`ranger: unknown granularity '${String(granularity)}'; use ${GRANULARITIES.join(', ')}`);
  checkProfileMatches(profile, graph);
  const kind = method === 'ranger' ? 'clip-sat' : 'clip-zero';
  const thresholds = profile.layers.map((p, layer) => thresholdsFromProfile(layer, p, kind, granularity));
  const hardened = applyThresholds(graph, thresholds, method);
  const accuracyOptions = { ...(opts.threads !== undefined ? { threads: opts.threads } : {}), ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}) };
  const validationAccuracy = await graphAccuracy(hardened, data.validation, accuracyOptions);
  return {
    method,
    graph: hardened,
    thresholds,
    decisions: [],
    imagesProcessed: profile.images + data.validation.count,
    seconds: (performance.now() - t0) / 1000,
    validationAccuracy,
  };
}
