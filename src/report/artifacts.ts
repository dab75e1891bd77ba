/**
 * The optional JSON artifacts a report shows when a campaign has them (store.putArtifact(id, name, json)),
 * and the readers that check their shape. The hardening side writes them; the report is their consumer,
 * so their contract lives here and in docs/report.md.
 *
 * - `thresholds`: per activation layer, the thresholds a method chose and the profiled maximum (the
 *                 same shape as the `.thresholds.json` files of `proact harden`, plus `profiledMax`).
 * - `overhead`:   threshold parameters and bytes of each threshold scheme on one model.
 * - `hardening`:  the method that produced the model, how long it took, and its decisions.
 *
 * A reader returns the typed artifact or throws a ProactError that names `where` and the bad field.
 */
import type { JsonObject, JsonValue } from '../campaign/index.js';
import { ProactError } from '../util/errors.js';

export const THRESHOLDS_ARTIFACT = 'thresholds';
export const OVERHEAD_ARTIFACT = 'overhead';
export const HARDENING_ARTIFACT = 'hardening';
/** Artifacts the report knows how to show; any other artifact is listed by name. */
export const KNOWN_ARTIFACTS: readonly string[] = [THRESHOLDS_ARTIFACT, OVERHEAD_ARTIFACT, HARDENING_ARTIFACT];

export type ThresholdGranularity = 'layer' | 'channel' | 'neuron';
const GRANULARITIES: readonly ThresholdGranularity[] = ['layer', 'channel', 'neuron'];

/** Summary of many values (e.g. the neuron-wise thresholds of one layer), used when they are not all stored. */
export interface ValueSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  median?: number;
}

/** One activation layer of a `thresholds` artifact. Gives `values`, `summary`, or both. */
export interface ThresholdLayerRecord {
  /** Index among activation layers, in execution order (0 = first). */
  layer: number;
  /** Name of the Relu node the threshold replaced. */
  node: string;
  /** Activation form deployed, e.g. 'clip-zero', 'clip-sat', 'smooth-zero'. */
  kind?: string;
  granularity: ThresholdGranularity;
  /** Dims of the threshold tensor ([] for one scalar per layer). */
  dims?: number[];
  /** Every threshold value, row-major over `dims`. */
  values?: number[];
  /** Summary of the values, when storing them all is too big (neuron-wise layers). */
  summary?: ValueSummary;
  /** Maximum of the clean activations of this layer over the profiling set (absent in plain threshold files). */
  profiledMax?: number;
}

/**
 * Artifact `thresholds`. A `.thresholds.json` file written by `proact harden` (format 'proact-thresholds')
 * has this shape too, without the profiled maxima; its extra fields are ignored.
 */
export interface ThresholdsArtifact {
  /** Method that chose the thresholds, e.g. 'proact', 'ranger'. */
  method?: string;
  /** Images the profiled maxima were taken over. */
  profileImages?: number;
  layers: ThresholdLayerRecord[];
}

/** One row of an `overhead` artifact: a threshold scheme on one model. */
export interface OverheadRow {
  /** e.g. 'layer', 'neuron', 'hyrelu', 'channel'. */
  scheme: string;
  /** Threshold parameters the scheme stores. */
  parameters: number;
  /** Bytes those parameters take in the stored number format. */
  bytes: number;
  note?: string;
}

/** Artifact `overhead`. */
export interface OverheadArtifact {
  /** Model the numbers were computed on (file name or architecture). */
  model?: string;
  /** Weights and biases of the model, to express the overhead as a percentage. */
  modelParameters?: number;
  /** Scheme the ratio column is relative to, e.g. 'hyrelu'. */
  reference?: string;
  schemes: OverheadRow[];
}

/** One accept/rollback decision of a progressive method, or one search step. */
export interface DecisionRecord {
  layer: number;
  node: string;
  /** What was tried, e.g. { weightDecay: 4e-3 } or { threshold: 6.2 }; other JSON values are kept as JSON text. */
  setting: Record<string, number | string | boolean>;
  /** Validation accuracy (fraction) with this setting. */
  accuracy: number;
  accepted: boolean;
  note?: string;
}

/** Artifact `hardening`. */
export interface HardeningArtifact {
  method: string;
  /** Wall-clock seconds the method took. */
  seconds: number;
  /** Images pushed through the network (forward or forward+backward). */
  imagesProcessed?: number;
  /** Clean accuracy of the hardened model on the validation split (fraction). */
  validationAccuracy?: number;
  /** Hyper-parameters of the run (learning rates, tolerance, weight-decay list, ...). */
  settings?: JsonObject;
  decisions: DecisionRecord[];
}

/** Reads a `thresholds` artifact; `where` names its origin in errors (e.g. 'results.sqlite#2 artifact thresholds'). */
export function readThresholdsArtifact(value: JsonValue, where: string): ThresholdsArtifact {
  const o = object(value, where);
  const layers = array(o.layers, `${where}.layers`).map((v, i) => readThresholdLayer(v, `${where}.layers[${i}]`));
  if (layers.length === 0) throw new ProactError(`${where}.layers is empty: give one entry per activation layer`);
  const out: ThresholdsArtifact = { layers };
  if (o.method !== undefined) out.method = string(o.method, `${where}.method`);
  if (o.profileImages !== undefined) out.profileImages = count(o.profileImages, `${where}.profileImages`);
  return out;
}

function readThresholdLayer(value: JsonValue, where: string): ThresholdLayerRecord {
  const o = object(value, where);
  const granularity = string(o.granularity, `${where}.granularity`) as ThresholdGranularity;
  if (!GRANULARITIES.includes(granularity)) {
    throw new ProactError(`${where}.granularity is '${granularity}': expected one of ${GRANULARITIES.join(', ')}`);
  }
  const out: ThresholdLayerRecord = {
    layer: count(o.layer, `${where}.layer`),
    node: string(o.node, `${where}.node`),
    granularity,
  };
  if (o.profiledMax !== undefined) out.profiledMax = finite(o.profiledMax, `${where}.profiledMax`);
  if (o.kind !== undefined) out.kind = string(o.kind, `${where}.kind`);
  if (o.dims !== undefined) out.dims = array(o.dims, `${where}.dims`).map((d, i) => count(d, `${where}.dims[${i}]`));
  if (o.values !== undefined) {
    out.values = array(o.values, `${where}.values`).map((v, i) => finite(v, `${where}.values[${i}]`));
    if (out.values.length === 0) throw new ProactError(`${where}.values is empty: give the thresholds or omit the field and give a summary`);
  }
  if (o.summary !== undefined) out.summary = readValueSummary(o.summary, `${where}.summary`);
  if (out.values === undefined && out.summary === undefined) {
    throw new ProactError(`${where}: has neither values nor summary; give the thresholds or their summary {count, min, max, mean}`);
  }
  return out;
}

function readValueSummary(value: JsonValue, where: string): ValueSummary {
  const o = object(value, where);
  const out: ValueSummary = {
    count: count(o.count, `${where}.count`),
    min: finite(o.min, `${where}.min`),
    max: finite(o.max, `${where}.max`),
    mean: finite(o.mean, `${where}.mean`),
  };
  if (o.median !== undefined) out.median = finite(o.median, `${where}.median`);
  if (out.count < 1) throw new ProactError(`${where}.count is 0: a summary needs at least one value`);
  if (!(out.min <= out.mean && out.mean <= out.max)) {
    throw new ProactError(`${where}: min ${out.min}, mean ${out.mean}, max ${out.max} are not ordered min <= mean <= max`);
  }
  return out;
}

/** The summary of a layer's thresholds: from its values when stored, else its stored summary. */
export function thresholdSummary(layer: ThresholdLayerRecord): ValueSummary {
  if (layer.values === undefined) return layer.summary!;
  const sorted = [...layer.values].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  return {
    count: n,
    min: sorted[0]!,
    max: sorted[n - 1]!,
    mean: sorted.reduce((s, v) => s + v, 0) / n,
    median: n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
  };
}

/**
 * Reads an `overhead` artifact. `schemes` is either an array of rows, or an object keyed by scheme name
 * (`{ "hyrelu": { "parameters": 4114, "bytes": 16456 }, ... }`, what `proact overhead --json` prints, with an
 * optional `stored` entry: the thresholds the model actually stores). The object form lists the schemes
 * from the smallest to the largest and compares them with HyReLU when it has that scheme.
 */
export function readOverheadArtifact(value: JsonValue, where: string): OverheadArtifact {
  const o = object(value, where);
  const row = (v: JsonValue, at: string, scheme?: string): OverheadRow => {
    const r = object(v, at);
    const out: OverheadRow = {
      scheme: scheme ?? string(r.scheme, `${at}.scheme`),
      parameters: count(r.parameters, `${at}.parameters`),
      bytes: count(r.bytes, `${at}.bytes`),
    };
    if (r.note !== undefined) out.note = string(r.note, `${at}.note`);
    return out;
  };
  const keyed = o.schemes !== null && typeof o.schemes === 'object' && !Array.isArray(o.schemes);
  const schemes = keyed
    ? Object.entries(object(o.schemes, `${where}.schemes`))
        .map(([name, v]) => row(v, `${where}.schemes.${name}`, name))
        .sort((a, b) => a.parameters - b.parameters)
    : array(o.schemes, `${where}.schemes`).map((v, i) => row(v, `${where}.schemes[${i}]`));
  if (keyed && o.stored !== undefined) schemes.push({ ...row(o.stored, `${where}.stored`, 'stored in this model'), note: 'thresholds the hardened model actually stores' });
  if (schemes.length === 0) throw new ProactError(`${where}.schemes is empty: give one row per threshold scheme`);
  const out: OverheadArtifact = { schemes };
  if (o.model !== undefined) out.model = string(o.model, `${where}.model`);
  if (o.modelParameters !== undefined) out.modelParameters = count(o.modelParameters, `${where}.modelParameters`);
  if (o.reference !== undefined) {
    out.reference = string(o.reference, `${where}.reference`);
    if (!schemes.some((s) => s.scheme === out.reference)) {
      throw new ProactError(`${where}.reference '${out.reference}' is not one of the schemes (${schemes.map((s) => s.scheme).join(', ')})`);
    }
  } else if (keyed && schemes.some((s) => s.scheme === 'hyrelu')) {
    out.reference = 'hyrelu';
  }
  return out;
}

/** Reads a `hardening` artifact. */
export function readHardeningArtifact(value: JsonValue, where: string): HardeningArtifact {
  const o = object(value, where);
  const out: HardeningArtifact = {
    method: string(o.method, `${where}.method`),
    seconds: finite(o.seconds, `${where}.seconds`),
    decisions: o.decisions === undefined ? [] : array(o.decisions, `${where}.decisions`).map((v, i) => readDecision(v, `${where}.decisions[${i}]`)),
  };
  if (o.imagesProcessed !== undefined) out.imagesProcessed = count(o.imagesProcessed, `${where}.imagesProcessed`);
  if (o.validationAccuracy !== undefined) out.validationAccuracy = finite(o.validationAccuracy, `${where}.validationAccuracy`);
  if (o.settings !== undefined) out.settings = object(o.settings, `${where}.settings`);
  return out;
}

function readDecision(value: JsonValue, where: string): DecisionRecord {
  const o = object(value, where);
  const setting: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(o.setting === undefined ? {} : object(o.setting, `${where}.setting`))) {
    setting[k] = typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : JSON.stringify(v);
  }
  const out: DecisionRecord = {
    layer: count(o.layer, `${where}.layer`),
    node: string(o.node, `${where}.node`),
    setting,
    accuracy: finite(o.accuracy, `${where}.accuracy`),
    accepted: boolean(o.accepted, `${where}.accepted`),
  };
  if (o.note !== undefined) out.note = string(o.note, `${where}.note`);
  return out;
}

function object(v: JsonValue | undefined, where: string): JsonObject {
  if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v)) throw new ProactError(`${where} is ${describe(v)}: expected a JSON object`);
  return v;
}

function array(v: JsonValue | undefined, where: string): JsonValue[] {
  if (!Array.isArray(v)) throw new ProactError(`${where} is ${describe(v)}: expected a JSON array`);
  return v;
}

function string(v: JsonValue | undefined, where: string): string {
  if (typeof v !== 'string') throw new ProactError(`${where} is ${describe(v)}: expected a string`);
  return v;
}

function boolean(v: JsonValue | undefined, where: string): boolean {
  if (typeof v !== 'boolean') throw new ProactError(`${where} is ${describe(v)}: expected true or false`);
  return v;
}

function finite(v: JsonValue | undefined, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProactError(`${where} is ${describe(v)}: expected a finite number`);
  return v;
}

function count(v: JsonValue | undefined, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ProactError(`${where} is ${describe(v)}: expected an integer >= 0`);
  return v;
}

function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
