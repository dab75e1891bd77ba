/**
 * The fault model: what is stored, how many bits flip, what a flipped float becomes, what can be hit,
 * and how BatchNorm is stored. One value of this type travels with a campaign (its options, its key, the
 * queue recipe), the planner, FT-ClipAct's search and `proact faults show`, so the defaults, the parsing
 * of every spelling, the validation and the canonical JSON exist here once.
 *
 * Canonical form: the format by its canonical name (`q15.16`, `int8`), the count model by its name
 * (`bernoulli`, `fixed:3`), the surface kinds sorted. Two spellings of the same model resolve to the same
 * value, so they give the same campaign key and the same faults.
 */
import { ProactError } from '../util/errors.js';
import { countModelName, parseCountModel, type CountModel } from './counts.js';
import { parseFormat, type NumberFormat } from './formats.js';
import { FLOAT_POLICIES, parseFloatPolicy, type FloatPolicy } from './policy.js';
import { parseBitFault, type BitFault } from './stuckat.js';

/** Kinds of stored tensors a fault can hit. */
export type SurfaceKind = 'weight' | 'bias' | 'threshold' | 'bound';
/** Every surface kind: what campaigns hit by default. */
export const SURFACE_KINDS: readonly SurfaceKind[] = ['weight', 'bias', 'threshold', 'bound'];

/** How BatchNorm parameters are stored: folded into the preceding conv (then hit with it) or immune. */
export type BatchNormMode = 'fold' | 'immune';

export interface FaultModel {
  /** Number format of the stored words, canonical name (float32, q15.16, int8, int8-channel, float16, bfloat16). */
  readonly format: string;
  /** Fault count model, canonical name (bernoulli, reference, poisson, fixed:K). */
  readonly count: string;
  /** What a flipped float becomes: ieee (Inf/NaN kept) or reference (the reference toolbox's clean-up). */
  readonly policy: FloatPolicy;
  /** Which stored tensors faults can hit, sorted. */
  readonly surface: readonly SurfaceKind[];
  /** Scalar thresholds and weight bounds are immune, as scalar thresholds in the reference toolbox. */
  readonly referenceSurface: boolean;
  /** Fold BatchNorm into convs before injection (what accelerators store); false: BatchNorm is immune. */
  readonly foldBatchNorm: boolean;
  /** What a fault does to a stored bit: a transient flip, or a permanent stuck-at-0/1 cell (stuckat.ts). */
  readonly fault: BitFault;
  /**
   * Activation layers whose outputs faults hit per image and inference (activation.ts), as `--surface`
   * names them: activation, activation:conv, activation:gemm, activation:act, activation:<node>; sorted.
   */
  readonly activations: readonly string[];
}

/** A fault model as a caller or a flag gives it: every field optional, any accepted spelling. */
export interface FaultModelInput {
  readonly format?: string | NumberFormat;
  readonly count?: string | CountModel;
  readonly policy?: string;
  /** Kinds and activation selectors, or their comma-separated list as typed after --surface. */
  readonly surface?: string | readonly string[];
  readonly referenceSurface?: boolean;
  readonly foldBatchNorm?: boolean;
  readonly fault?: string;
  /** Activation selectors given apart from `surface` (they may also be entries of `surface`). */
  readonly activations?: readonly string[];
}

/** What campaigns assume when nothing is said: float32 words, independent flips, IEEE values, every kind hit, BatchNorm folded. */
export const DEFAULT_FAULT_MODEL: FaultModel = Object.freeze({
  format: 'float32',
  count: 'bernoulli',
  policy: 'ieee',
  surface: Object.freeze([...SURFACE_KINDS].sort()),
  referenceSurface: false,
  foldBatchNorm: true,
  fault: 'flip',
  activations: Object.freeze([]),
});

/** Whether a `--surface` entry names activation layers rather than a stored-tensor kind. */
export function isActivationSelector(entry: string): boolean {
  return entry === 'activation' || entry.startsWith('activation:');
}

function checkActivationSelector(entry: string, typed: string): string {
  if (entry === 'activation' || /^activation:.+$/.test(entry)) return entry;
  throw new ProactError(`--surface ${typed}: '${entry}' names no layers: use activation, activation:conv, activation:gemm, activation:act or activation:<node name>`);
}

/**
 * A `--surface` value split into stored-tensor kinds (sorted, each once) and activation selectors
 * (sorted, each once); at least one of the two.
 */
export function parseFaultSurface(value: string | readonly string[], extraActivations: readonly string[] = []): { kinds: SurfaceKind[]; activations: string[] } {
  const typed = typeof value === 'string' ? value : value.join(',');
  const entries = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim()).filter((s) => s !== '');
  const activations = [...new Set([...entries.filter(isActivationSelector), ...extraActivations].map((e) => checkActivationSelector(e, typed)))].sort();
  const rest = entries.filter((e) => !isActivationSelector(e));
  if (rest.length === 0 && activations.length > 0) return { kinds: [], activations };
  return { kinds: parseSurfaceKinds(rest), activations };
}

/** The kinds of a `--surface` value (comma-separated or a list), sorted, each once. */
export function parseSurfaceKinds(value: string | readonly string[]): SurfaceKind[] {
  const typed = typeof value === 'string' ? value : value.join(',');
  const kinds = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim()).filter((s) => s !== '');
  if (kinds.length === 0) throw new ProactError(`--surface '${typed}': name at least one kind (${SURFACE_KINDS.join(', ')})`);
  for (const k of kinds) {
    if (!(SURFACE_KINDS as readonly string[]).includes(k)) throw new ProactError(`--surface ${typed}: unknown kind '${k}' (use ${SURFACE_KINDS.join(', ')})`);
  }
  return [...new Set(kinds as SurfaceKind[])].sort();
}

/** `--bn fold|immune` as the fault model's foldBatchNorm. */
export function parseBatchNormMode(mode: string): boolean {
  const m = mode.trim().toLowerCase();
  if (m !== 'fold' && m !== 'immune') throw new ProactError(`--bn ${mode}: expected fold (BatchNorm folded into convs, then hit) or immune`);
  return m === 'fold';
}

/** The fault model of `input` with defaults filled in, every field checked and in canonical form. */
export function resolveFaultModel(input: FaultModelInput = {}): FaultModel {
  const policy = input.policy === undefined ? DEFAULT_FAULT_MODEL.policy : parseFloatPolicy(input.policy);
  for (const [field, v] of [['referenceSurface', input.referenceSurface], ['foldBatchNorm', input.foldBatchNorm]] as const) {
    if (v !== undefined && typeof v !== 'boolean') throw new ProactError(`fault model: ${field} is ${JSON.stringify(v)}; expected true or false`);
  }
  const surface =
    input.surface === undefined
      ? { kinds: [...DEFAULT_FAULT_MODEL.surface], activations: [...new Set(input.activations ?? [])].sort() }
      : parseFaultSurface(input.surface, input.activations ?? []);
  return {
    format: input.format === undefined ? DEFAULT_FAULT_MODEL.format : typeof input.format === 'string' ? parseFormat(input.format).name : input.format.name,
    count: input.count === undefined ? DEFAULT_FAULT_MODEL.count : countModelName(typeof input.count === 'string' ? parseCountModel(input.count) : input.count),
    policy,
    surface: surface.kinds,
    referenceSurface: input.referenceSurface ?? DEFAULT_FAULT_MODEL.referenceSurface,
    foldBatchNorm: input.foldBatchNorm ?? DEFAULT_FAULT_MODEL.foldBatchNorm,
    fault: input.fault === undefined ? DEFAULT_FAULT_MODEL.fault : parseBitFault(input.fault),
    activations: surface.activations,
  };
}

/**
 * The canonical JSON object of a fault model (fields in a fixed order). The fault kind and the
 * activation selectors appear only when not the default, so every bit-flip weight campaign keeps the key
 * it had before they existed.
 */
export function faultModelToJSON(m: FaultModel): {
  format: string;
  count: string;
  policy: FloatPolicy;
  surface: SurfaceKind[];
  referenceSurface: boolean;
  foldBatchNorm: boolean;
  fault?: BitFault;
  activations?: string[];
} {
  return {
    format: m.format,
    count: m.count,
    policy: m.policy,
    surface: [...m.surface],
    referenceSurface: m.referenceSurface,
    foldBatchNorm: m.foldBatchNorm,
    ...(m.fault !== 'flip' ? { fault: m.fault } : {}),
    ...(m.activations.length > 0 ? { activations: [...m.activations] } : {}),
  };
}

/** The JSON object of a fault model (faultModelToJSON). */
export type FaultModelJSON = ReturnType<typeof faultModelToJSON>;

/**
 * Every key faultModelToJSON may write (the optional ones only when they differ from the default): what
 * two stored campaigns must agree on to have drawn the same faults. Checked against the type by the compiler.
 */
export const FAULT_MODEL_KEYS = ['format', 'count', 'policy', 'surface', 'referenceSurface', 'foldBatchNorm', 'fault', 'activations'] as const satisfies readonly (keyof FaultModelJSON)[];

/** A fault model read from JSON (a campaign record, a queue recipe): every field must be there and valid. */
export function faultModelFromJSON(value: unknown, what: string): FaultModel {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProactError(`${what}: the fault model is not an object; recreate it with this version of proact`);
  const v = value as Record<string, unknown>;
  const missing = ['format', 'count', 'policy', 'surface', 'referenceSurface', 'foldBatchNorm'].filter((k) => v[k] === undefined);
  if (missing.length > 0) throw new ProactError(`${what}: the fault model lacks ${missing.join(', ')}; recreate it with this version of proact`);
  if (typeof v.format !== 'string' || typeof v.count !== 'string' || typeof v.policy !== 'string' || !Array.isArray(v.surface) || !v.surface.every((k) => typeof k === 'string'))
    throw new ProactError(`${what}: the fault model has fields of the wrong type; recreate it with this version of proact`);
  if (!(FLOAT_POLICIES as readonly string[]).includes(v.policy)) throw new ProactError(`${what}: unknown float policy '${v.policy}'; recreate it with this version of proact`);
  if ((v.fault !== undefined && typeof v.fault !== 'string') || (v.activations !== undefined && !(Array.isArray(v.activations) && v.activations.every((a) => typeof a === 'string'))))
    throw new ProactError(`${what}: the fault model has fields of the wrong type; recreate it with this version of proact`);
  return resolveFaultModel({
    format: v.format,
    count: v.count,
    policy: v.policy,
    surface: v.surface as string[],
    referenceSurface: v.referenceSurface as boolean,
    foldBatchNorm: v.foldBatchNorm as boolean,
    ...(v.fault !== undefined ? { fault: v.fault as string } : {}),
    ...(v.activations !== undefined ? { activations: v.activations as string[] } : {}),
  });
}

/** One line for logs and tables, e.g. "float32, bernoulli counts, ieee, surface bias,bound,threshold,weight, BatchNorm folded". */
export function describeFaultModel(m: FaultModel): string {
  return (
    `${m.format}, ${m.count} counts, ${m.policy} policy, surface ${m.surface.join(',')}` +
    `${m.referenceSurface ? ' (reference surface: scalar thresholds immune)' : ''}, BatchNorm ${m.foldBatchNorm ? 'folded' : 'immune'}` +
    `${m.fault !== 'flip' ? `, ${m.fault} faults` : ''}${m.activations.length > 0 ? `, activations ${m.activations.join(',')}` : ''}`
  );
}
