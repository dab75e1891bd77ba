/**
 * The thresholds of a hardened model as plain data: building them from a profile, applying them to an
 * unclipped graph, and writing/reading them as JSON (`<model>.thresholds.json`).
 *
 * Every threshold initializer is named `proact.threshold.<layer>` (THRESHOLD_PREFIX + the index of the
 * activation layer in execution order), so fault campaigns find them and hit them like any stored value.
 */
import { readFileSync } from 'node:fs';
import { ProactError } from '../util/errors.js';
import { checkInputFile } from '../util/outputs.js';
import { THRESHOLD_PREFIX, activationLayers, numel, type Graph, type Tensor } from '../graph/index.js';
import { ACTIVATION_KINDS, GRANULARITIES, hardenGraph, thresholdShape, type ActivationKind, type Granularity, type HardenStep } from './activations.js';
import type { LayerProfile, LayerThresholds } from './types.js';

/** Initializer name of layer `layer`'s threshold. */
export function thresholdName(layer: number): string {
  return `${THRESHOLD_PREFIX}${layer}`;
}

/** The profiled maxima of a layer at a granularity, shaped by `thresholdShape`. */
export function profiledMaxima(p: LayerProfile, granularity: Granularity): Float32Array {
  switch (granularity) {
    case 'layer':
      return Float32Array.of(p.layerMax);
    case 'channel':
      return p.channelMax.slice();
    case 'neuron':
      return p.neuronMax.slice();
  }
}

/** Thresholds of one layer at its profiled maxima. */
export function thresholdsFromProfile(layer: number, p: LayerProfile, kind: ActivationKind, granularity: Granularity): LayerThresholds {
  return { layer, node: p.node, kind, granularity, thresholdName: thresholdName(layer), dims: thresholdShape(p.dims, granularity), values: profiledMaxima(p, granularity) };
}

export function thresholdTensor(t: LayerThresholds): Tensor {
  return { dtype: 'float32', dims: [...t.dims], data: Float32Array.from(t.values) };
}

export interface ApplyOptions {
  /** smooth-zero: steepness (default 20). */
  k?: number;
  /** smooth-zero: use the guarded inference form (default true: Inf/NaN become 0, see activations.ts). */
  guard?: boolean;
}

/**
 * A hardened copy of `graph` (a prepared, unclipped model): each listed activation layer replaced by its
 * clipped form with the threshold as initializer `proact.threshold.<layer>`. `graph` is not changed.
 * The method name goes into the model's metadata (`proact.method`).
 */
export function applyThresholds(graph: Graph, thresholds: readonly LayerThresholds[], method: string, opts: ApplyOptions = {}): Graph {
  const layers = activationLayers(graph);
  const plan: HardenStep[] = thresholds.map((t) => {
    const l = layers[t.layer];
    if (!l) throw new ProactError(`thresholds: layer ${t.layer} does not exist; the model has ${layers.length} activation layers (0..${layers.length - 1})`);
    if (l.node !== t.node) throw new ProactError(`thresholds: layer ${t.layer} is node '${l.node}' in the model, not '${t.node}'; these thresholds belong to another model`);
    const expected = thresholdShape(l.dims, t.granularity);
    if (expected.join(',') !== t.dims.join(','))
      throw new ProactError(`thresholds: layer ${t.layer} ('${t.node}') has ${t.granularity} thresholds of dims [${t.dims}], expected [${expected}] for activation dims [${l.dims}]`);
    if (t.thresholdName !== thresholdName(t.layer)) throw new ProactError(`thresholds: layer ${t.layer} must be named '${thresholdName(t.layer)}', not '${t.thresholdName}'`);
    const step: HardenStep = { node: t.node, kind: t.kind, threshold: thresholdTensor(t), thresholdName: t.thresholdName };
    if (t.kind === 'smooth-zero') {
      step.guard = opts.guard ?? true;
      if (opts.k !== undefined) step.k = opts.k;
    }
    return step;
  });
  const hardened = graph.clone();
  hardenGraph(hardened, plan);
  hardened.metadata['proact.method'] = method;
  return hardened;
}

/** The JSON layout of a thresholds file. */
export interface ThresholdsFile {
  format: 'proact-thresholds';
  version: 1;
  method: string;
  /** smooth-zero only: steepness and whether the guarded inference form is deployed. */
  k?: number;
  guard?: boolean;
  layers: { layer: number; node: string; kind: ActivationKind; granularity: Granularity; thresholdName: string; dims: number[]; values: number[] }[];
}

export interface ThresholdSet {
  method: string;
  thresholds: LayerThresholds[];
  k?: number;
  guard?: boolean;
}

export function thresholdsToJSON(set: ThresholdSet): string {
  const file: ThresholdsFile = {
    format: 'proact-thresholds',
    version: 1,
    method: set.method,
    ...(set.k !== undefined ? { k: set.k } : {}),
    ...(set.guard !== undefined ? { guard: set.guard } : {}),
    layers: set.thresholds.map((t) => ({ layer: t.layer, node: t.node, kind: t.kind, granularity: t.granularity, thresholdName: t.thresholdName, dims: [...t.dims], values: Array.from(t.values) })),
  };
  return JSON.stringify(file, null, 1) + '\n';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates a thresholds file; every problem is a one-line ProactError naming `where` and the field. */
export function thresholdsFromJSON(text: string, where = 'thresholds'): ThresholdSet {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ProactError(`${where}: not valid JSON (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); give a file written by proact harden`);
  }
  if (!isObject(raw)) throw new ProactError(`${where}: expected a JSON object with format 'proact-thresholds'`);
  if (raw.format !== 'proact-thresholds') throw new ProactError(`${where}: format is ${JSON.stringify(raw.format)}, expected "proact-thresholds"`);
  if (raw.version !== 1) throw new ProactError(`${where}: version ${JSON.stringify(raw.version)} is not supported (expected 1)`);
  if (typeof raw.method !== 'string' || raw.method === '') throw new ProactError(`${where}: 'method' must be a non-empty string`);
  if (raw.k !== undefined && !(typeof raw.k === 'number' && raw.k > 0 && Number.isFinite(raw.k))) throw new ProactError(`${where}: 'k' must be a finite number > 0`);
  if (raw.guard !== undefined && typeof raw.guard !== 'boolean') throw new ProactError(`${where}: 'guard' must be true or false`);
  if (!Array.isArray(raw.layers) || raw.layers.length === 0) throw new ProactError(`${where}: 'layers' must be a non-empty array`);
  const seen = new Set<number>();
  const thresholds = raw.layers.map((entry: unknown, k: number): LayerThresholds => {
    const at = `${where}: layers[${k}]`;
    if (!isObject(entry)) throw new ProactError(`${at} must be an object`);
    const { layer, node, kind, granularity, dims, values } = entry;
    if (!Number.isInteger(layer) || (layer as number) < 0) throw new ProactError(`${at}.layer must be an integer >= 0`);
    const index = layer as number;
    if (seen.has(index)) throw new ProactError(`${at}.layer ${index} appears twice; give each layer once`);
    seen.add(index);
    if (typeof node !== 'string' || node === '') throw new ProactError(`${at}.node must be the activation layer's node name`);
    if (typeof kind !== 'string' || kind === 'relu' || !ACTIVATION_KINDS.includes(kind as ActivationKind))
      throw new ProactError(`${at}.kind ${JSON.stringify(kind)} is not a clipped activation; use clip-zero, clip-sat or smooth-zero`);
    if (typeof granularity !== 'string' || !GRANULARITIES.includes(granularity as Granularity))
      throw new ProactError(`${at}.granularity ${JSON.stringify(granularity)} is unknown; use ${GRANULARITIES.join(', ')}`);
    const name = entry.thresholdName ?? thresholdName(index);
    if (name !== thresholdName(index)) throw new ProactError(`${at}.thresholdName ${JSON.stringify(name)} must be "${thresholdName(index)}"`);
    if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && d >= 1)) throw new ProactError(`${at}.dims must be an array of positive integers ([] for one value per layer)`);
    if (granularity === 'layer' && dims.length !== 0) throw new ProactError(`${at}: layer-wise thresholds have dims [], not [${dims}]`);
    if (granularity !== 'layer' && dims.length === 0) throw new ProactError(`${at}: ${granularity}-wise thresholds need the dims of the threshold tensor`);
    if (!Array.isArray(values) || values.length !== numel(dims as number[]))
      throw new ProactError(`${at}.values must be an array of ${numel(dims as number[])} numbers (dims [${dims}])`);
    const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(Math.fround(v)) || v < 0);
    if (bad >= 0) throw new ProactError(`${at}.values[${bad}] = ${JSON.stringify(values[bad])}: thresholds must be finite float32 numbers >= 0 (at most 3.4e38)`);
    return { layer: index, node, kind: kind as ActivationKind, granularity: granularity as Granularity, thresholdName: thresholdName(index), dims: [...(dims as number[])], values: Float32Array.from(values as number[]) };
  });
  thresholds.sort((a, b) => a.layer - b.layer);
  const set: ThresholdSet = { method: raw.method, thresholds };
  if (raw.k !== undefined) set.k = raw.k as number;
  if (raw.guard !== undefined) set.guard = raw.guard;
  return set;
}

export function readThresholdsFile(path: string): ThresholdSet {
  let text: string;
  checkInputFile(path, '--thresholds');
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ProactError(`${path}: cannot read the thresholds file; give the path of a .thresholds.json written by proact harden`);
  }
  return thresholdsFromJSON(text, path);
}

/** Total number of threshold values (the memory overhead the method actually added). */
export function countThresholdValues(thresholds: readonly LayerThresholds[]): number {
  return thresholds.reduce((s, t) => s + t.values.length, 0);
}
