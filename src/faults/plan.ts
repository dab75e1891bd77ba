/**
 * Fault surfaces and fault plans.
 *
 * Why plain data: a fault plan says exactly which stored bits one trial flips and what the values
 * become (like PyTorchFI's declarative faults), so a trial can be saved next to its result, replayed
 * bit for bit, diffed and shown in a report, without re-running any random draw. A plan is a pure
 * function of (surface, seed, BER, trial, format, count model, policy): trials can be planned in any
 * order, on any worker, and give identical plans.
 *
 * The surface is the list of stored tensors a fault can hit (conv/linear weights and biases, the
 * thresholds of clipped activations, and the weight bounds of weight clipping). `referenceSurface`
 * reproduces the reference's quirk of never hitting scalar thresholds (single-element tensors, or
 * tensors flagged `scalarThreshold` because they pack one scalar per layer); scalar weight bounds are
 * protection scalars of the same sort and are immune with them.
 *
 * Several flips in one word combine by xor (two flips of the same bit, possible with the `reference`
 * count model, cancel); every fault of a word reports the word's clean value (`before`) and its final
 * value (`after`, with the float policy applied), so applying a plan is "write `after` at `index`".
 */
import { createHash } from 'node:crypto';
import { ProactError } from '../util/errors.js';
import { checkBer, countModelName, parseCountModel, sampleFlipSites, toCountModel, type CountModel, type FlipSite } from './counts.js';
import { parseFormat, toFormat, type EncodedTensor, type NumberFormat } from './formats.js';
import { flippedValue, parseFloatPolicy, type FloatPolicy } from './policy.js';
import { checkSeed, checkTrial, trialStream } from './prng.js';
import { STRATUM_STRIDE, criticalSet, sampleStratumSites, strataCount, type CriticalSet } from './strata.js';
import { activationFaultsFromJSON, activationFaultsToJSON, type ActivationFault } from './activation.js';
import { applyBitFault, parseBitFault, type BitFault } from './stuckat.js';
import { SURFACE_KINDS, resolveFaultModel, type FaultModel, type FaultModelInput, type SurfaceKind } from './spec.js';

export const PLAN_VERSION = 1;

export { SURFACE_KINDS, type SurfaceKind } from './spec.js';

/** The shape of a stored tensor that faults can hit (what identifies a model's surface). */
export interface SurfaceShape {
  readonly name: string;
  readonly kind: SurfaceKind;
  readonly dims: readonly number[];
  /** A threshold tensor holding one scalar per activation layer (immune under `referenceSurface`). */
  readonly scalarThreshold?: boolean;
}

/** A stored tensor that faults can hit, with its clean float32 values (row-major). */
export interface SurfaceTensor extends SurfaceShape {
  readonly values: Float32Array;
}

export interface PlannerOptions {
  /** Campaign seed: an integer in [0, 2^53). */
  readonly seed: number;
  /**
   * The fault model (defaults: DEFAULT_FAULT_MODEL). The planner uses its format, count model, policy and
   * reference surface; which kinds of tensors and how BatchNorm is stored decide the surface it is given.
   */
  readonly faults?: FaultModelInput;
  /**
   * 'stratified' (bernoulli counts only): trial h * STRATUM_STRIDE + j is the j-th trial of stratum h of
   * the critical-flip strata (faults/strata.ts); 'plain' (default): every trial is an unconditional draw.
   */
  readonly sampling?: Sampling;
}

export type Sampling = 'plain' | 'stratified';

export interface PlanOptions extends PlannerOptions {
  /** Bit error rate: per-bit flip probability in (0, 1). */
  readonly ber: number;
  /** Trial index: an integer in [0, 2^32). */
  readonly trial: number;
}

/** One flipped bit and the value of its word before and after all flips of the trial. */
export interface Fault {
  readonly tensor: string;
  readonly index: number;
  readonly bit: number;
  readonly before: number;
  readonly after: number;
}

export interface FaultPlan {
  readonly version: number;
  readonly seed: number;
  readonly ber: number;
  readonly trial: number;
  readonly format: string;
  readonly count: string;
  readonly policy: FloatPolicy;
  readonly referenceSurface: boolean;
  readonly surfaceHash: string;
  /** The critical-flip stratum the trial was drawn in (stratified campaigns), or null. */
  readonly stratum: number | null;
  /** Sorted by surface order, element index, bit. */
  readonly faults: readonly Fault[];
  /** Stuck-at plans only: the kind of their faults (absent: bit flips). */
  readonly fault?: BitFault;
  /** Activation faults of the trial (activation.ts), with the hash of the activation surface they hit. */
  readonly activations?: readonly ActivationFault[];
  readonly activationSurfaceHash?: string;
}

// ---------------------------------------------------------------- surfaces

function numelOf(dims: readonly number[]): number {
  return dims.reduce((product, d) => product * d, 1);
}

function checkSurface(surface: readonly SurfaceShape[], withValues: boolean): void {
  const names = new Set<string>();
  for (const t of surface) {
    if (typeof t.name !== 'string' || t.name === '') throw new ProactError('fault surface: a tensor has no name: give every surface tensor a unique name');
    if (names.has(t.name)) throw new ProactError(`fault surface: tensor '${t.name}' is listed twice: list each stored tensor once`);
    names.add(t.name);
    if (!SURFACE_KINDS.includes(t.kind)) throw new ProactError(`fault surface: tensor '${t.name}' has kind '${String(t.kind)}': use ${SURFACE_KINDS.join(', ')}`);
    if (!Array.isArray(t.dims) || !t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ProactError(`fault surface: tensor '${t.name}' has dims ${JSON.stringify(t.dims)}: use non-negative integers`);
    }
    if (withValues) {
      const values = (t as SurfaceTensor).values;
      if (!(values instanceof Float32Array) || values.length !== numelOf(t.dims)) {
        throw new ProactError(`fault surface: tensor '${t.name}' has dims [${t.dims.join(', ')}] but ${values instanceof Float32Array ? values.length : 'no Float32Array of'} values: pass matching values`);
      }
    }
  }
}

/** Identifies a model's fault surface: sha256 (hex) of the tensors' names, kinds, dims and scalar flags. */
export function surfaceHash(surface: readonly SurfaceShape[]): string {
  checkSurface(surface, false);
  const canonical = JSON.stringify(surface.map((t) => [t.name, t.kind, t.dims, t.scalarThreshold === true]));
  return createHash('sha256').update(canonical).digest('hex');
}

/** Whether faults can hit `t` (the reference never hits scalar thresholds; scalar weight bounds go with them). */
export function isHittable(t: SurfaceShape, referenceSurface: boolean): boolean {
  if (!referenceSurface || (t.kind !== 'threshold' && t.kind !== 'bound')) return true;
  return !(t.scalarThreshold === true || numelOf(t.dims) === 1);
}

// ---------------------------------------------------------------- planning

/**
 * Plans the trials of one campaign configuration on one surface. Create it once: it hashes the
 * surface and encodes each tensor the first time a fault hits it, so a plan then costs time in
 * proportion to its number of faults (ResNet-20 at BER 3e-5: ~260 flips).
 */
export class FaultPlanner {
  readonly surfaceHash: string;
  /** The fault model, resolved. */
  readonly faults: FaultModel;
  readonly format: NumberFormat;
  readonly count: CountModel;
  readonly policy: FloatPolicy;
  readonly referenceSurface: boolean;
  readonly seed: number;
  readonly sampling: Sampling;
  readonly fault: BitFault;
  /** The tensors faults can hit, in surface order. */
  readonly hittable: readonly SurfaceTensor[];
  private readonly encoded = new Map<number, EncodedTensor>();
  private critical: CriticalSet | undefined;

  constructor(surface: readonly SurfaceTensor[], options: PlannerOptions) {
    checkSurface(surface, true);
    checkSeed(options.seed);
    this.seed = options.seed;
    this.faults = resolveFaultModel(options.faults);
    this.format = toFormat(this.faults.format);
    this.count = toCountModel(this.faults.count);
    this.policy = this.faults.policy;
    this.referenceSurface = this.faults.referenceSurface;
    this.surfaceHash = surfaceHash(surface);
    this.hittable = surface.filter((t) => isHittable(t, this.referenceSurface));
    this.sampling = options.sampling ?? 'plain';
    // What a fault does to its bit: a transient flip or a permanent stuck-at cell (stuckat.ts).
    this.fault = this.faults.fault;
    if (this.sampling === 'stratified' && this.count.kind !== 'bernoulli') {
      throw new ProactError(`stratified sampling needs the bernoulli count model (got '${countModelName(this.count)}'): use --sampling plain`);
    }
    // The critical set is defined by flips: a stuck cell is critical only when it holds the other value.
    if (this.sampling === 'stratified' && this.fault !== 'flip') throw new ProactError(`stratified sampling is defined for bit flips, not ${this.fault} faults: use --sampling plain`);
  }

  /** The critical flips of the surface (computed once, on first use: it visits every stored bit). */
  get criticalSet(): CriticalSet {
    if (this.critical === undefined) {
      const encoded = this.hittable.map((_, t) => this.encodedTensor(t));
      this.critical = criticalSet(encoded, this.hittable.map((t) => t.values.length), this.format, this.policy);
    }
    return this.critical;
  }

  /** Strata of this planner's trials: 1 for plain sampling. */
  get strata(): number {
    return this.sampling === 'stratified' ? strataCount(this.criticalSet.size) : 1;
  }

  /** Stored bits the faults can hit. */
  get totalBits(): number {
    return this.hittable.reduce((sum, t) => sum + t.values.length, 0) * this.format.bits;
  }

  /** The plan of trial `trial` at bit error rate `ber`. */
  plan(ber: number, trial: number): FaultPlan {
    checkBer(ber);
    checkTrial(trial);
    const space = { sizes: this.hittable.map((t) => t.values.length), bits: this.format.bits };
    const stratum = this.sampling === 'stratified' ? Math.floor(trial / STRATUM_STRIDE) : null;
    if (stratum !== null && stratum >= this.strata) throw new ProactError(`trial ${trial} is in stratum ${stratum}, but this surface has ${this.strata} strata: give a trial number below ${this.strata * STRATUM_STRIDE}`);
    const stream = trialStream(this.seed, ber, trial);
    const sites = stratum === null ? sampleFlipSites(this.count, space, ber, stream) : sampleStratumSites(this.criticalSet, space, ber, stratum, stream);
    if (this.count.kind === 'reference') sites.sort(compareSites);
    return {
      version: PLAN_VERSION,
      seed: this.seed,
      ber,
      trial,
      format: this.format.name,
      count: countModelName(this.count),
      policy: this.policy,
      referenceSurface: this.referenceSurface,
      surfaceHash: this.surfaceHash,
      stratum,
      faults: this.faultsAt(sites),
      ...(this.fault !== 'flip' ? { fault: this.fault } : {}),
    };
  }

  /** Sites sorted by (tensor, index, bit) -> faults, combining the flips of each word. */
  private faultsAt(sites: readonly FlipSite[]): Fault[] {
    const faults: Fault[] = [];
    let first = 0;
    while (first < sites.length) {
      const { tensor, index } = sites[first]!;
      let end = first;
      while (end < sites.length && sites[end]!.tensor === tensor && sites[end]!.index === index) end++;
      const encoded = this.encodedTensor(tensor);
      const clean = encoded.words[index]!;
      const bits = sites.slice(first, end).map((s) => s.bit);
      const before = canonicalNaN(this.format.decodeWord(clean, encoded, index));
      let after: number;
      if (this.fault === 'flip') after = canonicalNaN(flippedValue(this.format, clean, bits, encoded, index, this.policy));
      else {
        // Stuck cells force their bits (stuckat.ts); the word's value is then cleaned once, as a flipped word's.
        let word = clean;
        for (const bit of bits) word = applyBitFault(this.format, word, bit, this.fault);
        after = word === clean ? before : canonicalNaN(flippedValue(this.format, word, [], encoded, index, this.policy));
      }
      const name = this.hittable[tensor]!.name;
      for (let i = first; i < end; i++) faults.push({ tensor: name, index, bit: sites[i]!.bit, before, after });
      first = end;
    }
    return faults;
  }

  private encodedTensor(tensor: number): EncodedTensor {
    let encoded = this.encoded.get(tensor);
    if (encoded === undefined) {
      const t = this.hittable[tensor]!;
      try {
        encoded = this.format.encode(t.values, t.dims);
      } catch (e) {
        if (e instanceof ProactError) throw new ProactError(`fault surface tensor '${t.name}': ${e.message}`);
        throw e;
      }
      this.encoded.set(tensor, encoded);
    }
    return encoded;
  }
}

/**
 * NaN payloads are not part of a plan (JSON cannot carry them, and no float32 arithmetic depends on
 * them): every NaN is the canonical one, so a plan and its JSON replay write the same bits.
 */
function canonicalNaN(x: number): number {
  return Number.isNaN(x) ? NaN : x;
}

function compareSites(a: FlipSite, b: FlipSite): number {
  return a.tensor - b.tensor || a.index - b.index || a.bit - b.bit;
}

/** The plan of one trial (for many trials, reuse a FaultPlanner). */
export function makePlan(surface: readonly SurfaceTensor[], options: PlanOptions): FaultPlan {
  return new FaultPlanner(surface, options).plan(options.ber, options.trial);
}

// ---------------------------------------------------------------- applying

function sameFloat32(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * Patched copies of the tensors the plan touches (the inputs are never mutated; untouched tensors are
 * not in the result). `tensors` must hold the clean values under the plan's format, i.e.
 * quantize(values, format, dims): every fault's `before` is checked against them, which catches a
 * plan replayed on other weights or without quantisation.
 */
export function applyPlan(tensors: ReadonlyMap<string, Float32Array>, plan: FaultPlan): Map<string, Float32Array> {
  const patched = new Map<string, Float32Array>();
  for (const fault of plan.faults) {
    const clean = tensors.get(fault.tensor);
    if (clean === undefined) throw new ProactError(`fault plan hits tensor '${fault.tensor}', which the model does not have: replay the plan on the model it was made for`);
    if (!(fault.index < clean.length)) {
      throw new ProactError(`fault plan hits element ${fault.index} of tensor '${fault.tensor}', which has ${clean.length}: replay the plan on the model it was made for`);
    }
    if (!sameFloat32(clean[fault.index]!, fault.before)) {
      throw new ProactError(`fault plan expects ${fault.before} at element ${fault.index} of '${fault.tensor}' but the tensor holds ${clean[fault.index]}: pass the clean values quantised to ${plan.format} (quantize()) of the model the plan was made for`);
    }
    let copy = patched.get(fault.tensor);
    if (copy === undefined) {
      copy = clean.slice();
      patched.set(fault.tensor, copy);
    }
    copy[fault.index] = fault.after;
  }
  return patched;
}

// ---------------------------------------------------------------- JSON

// JSON has no NaN, Infinity or negative zero: those values travel as strings.
const SPECIAL_VALUES: ReadonlyMap<string, number> = new Map([
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['-0', -0],
]);

function valueToJSON(x: number): number | string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return x;
}

/** The plan as JSON text (one line, or indented with `space`). Non-finite values and -0 become strings. */
export function planToJSON(plan: FaultPlan, space?: number): string {
  const data = {
    version: plan.version,
    seed: plan.seed,
    ber: plan.ber,
    trial: plan.trial,
    format: plan.format,
    count: plan.count,
    policy: plan.policy,
    referenceSurface: plan.referenceSurface,
    surfaceHash: plan.surfaceHash,
    stratum: plan.stratum,
    faults: plan.faults.map((f) => ({ tensor: f.tensor, index: f.index, bit: f.bit, before: valueToJSON(f.before), after: valueToJSON(f.after) })),
    // Written only when used, so a bit-flip plan of weights reads as it always did.
    ...(plan.fault !== undefined && plan.fault !== 'flip' ? { fault: plan.fault } : {}),
    ...(plan.activations !== undefined ? { activationSurfaceHash: plan.activationSurfaceHash, activations: activationFaultsToJSON(plan.activations) } : {}),
  };
  return JSON.stringify(data, null, space);
}

const PLAN_KEYS = ['version', 'seed', 'ber', 'trial', 'format', 'count', 'policy', 'referenceSurface', 'surfaceHash', 'stratum', 'faults', 'fault', 'activationSurfaceHash', 'activations'];
/** Keys a plan may lack (plans written before they existed; the fault kind and activations when unused). */
const OPTIONAL_PLAN_KEYS = ['stratum', 'fault', 'activationSurfaceHash', 'activations'];
const FAULT_KEYS = ['tensor', 'index', 'bit', 'before', 'after'];

function planError(problem: string): ProactError {
  return new ProactError(`fault plan JSON: ${problem}`);
}

function checkKeys(value: unknown, keys: readonly string[], what: string, optional: readonly string[] = []): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw planError(`${what} is not an object: give an object with ${keys.join(', ')}`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!keys.includes(key)) throw planError(`${what} has the unknown field '${key}': remove it`);
  for (const key of keys) if (!(key in record) && !optional.includes(key)) throw planError(`${what} lacks the field '${key}'`);
  return record;
}

function rethrowAsPlanError<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ProactError) throw planError(`field '${field}': ${e.message}`);
    throw e;
  }
}

function valueFromJSON(x: unknown, where: string): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'string') {
    const special = SPECIAL_VALUES.get(x);
    if (special !== undefined) return special;
  }
  throw planError(`${where} is ${JSON.stringify(x)}: use a number or one of "NaN", "Infinity", "-Infinity", "-0"`);
}

/**
 * A plan read back from planToJSON's text, validated strictly (every problem is a one-line
 * ProactError naming it). With `expected` (the model's surface, or its hash), a plan made for another
 * surface is refused, and so is a fault outside the surface's tensors.
 */
export function planFromJSON(text: string, expected?: readonly SurfaceShape[] | { readonly surfaceHash: string }): FaultPlan {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw planError(`not valid JSON (${e instanceof Error ? e.message : String(e)}): pass the text planToJSON wrote`);
  }
  const record = checkKeys(data, PLAN_KEYS, 'the plan', OPTIONAL_PLAN_KEYS);
  if (record.version !== PLAN_VERSION) throw planError(`version ${JSON.stringify(record.version)} is not supported: this proact reads version ${PLAN_VERSION}`);
  const seed = rethrowAsPlanError('seed', () => {
    if (typeof record.seed !== 'number') throw new ProactError(`${JSON.stringify(record.seed)} is not a number`);
    checkSeed(record.seed);
    return record.seed;
  });
  const ber = rethrowAsPlanError('ber', () => {
    checkBer(record.ber as number);
    return record.ber as number;
  });
  const trial = rethrowAsPlanError('trial', () => {
    if (typeof record.trial !== 'number') throw new ProactError(`${JSON.stringify(record.trial)} is not a number`);
    checkTrial(record.trial);
    return record.trial;
  });
  const stringField = (field: string): string => {
    const v = record[field];
    if (typeof v !== 'string') throw planError(`field '${field}' is ${JSON.stringify(v)}: use a string`);
    return v;
  };
  const format = rethrowAsPlanError('format', () => parseFormat(stringField('format')));
  const count = rethrowAsPlanError('count', () => parseCountModel(stringField('count')));
  const policy = rethrowAsPlanError('policy', () => parseFloatPolicy(stringField('policy')));
  if (typeof record.referenceSurface !== 'boolean') throw planError(`field 'referenceSurface' is ${JSON.stringify(record.referenceSurface)}: use true or false`);
  const hash = stringField('surfaceHash');
  if (!/^[0-9a-f]{64}$/.test(hash)) throw planError(`field 'surfaceHash' is not a sha256 hex digest: use the hash planToJSON wrote`);
  if (!Array.isArray(record.faults)) throw planError(`field 'faults' is not an array`);

  const faults = record.faults.map((entry: unknown, i: number): Fault => {
    const where = `fault ${i}`;
    const f = checkKeys(entry, FAULT_KEYS, where);
    if (typeof f.tensor !== 'string' || f.tensor === '') throw planError(`${where} has tensor ${JSON.stringify(f.tensor)}: use the tensor's name`);
    if (!Number.isSafeInteger(f.index) || (f.index as number) < 0) throw planError(`${where} has index ${JSON.stringify(f.index)}: use a non-negative integer`);
    if (!Number.isInteger(f.bit) || (f.bit as number) < 0 || (f.bit as number) >= format.bits) {
      throw planError(`${where} has bit ${JSON.stringify(f.bit)}: a ${format.name} word has bits 0..${format.bits - 1}`);
    }
    return {
      tensor: f.tensor,
      index: f.index as number,
      bit: f.bit as number,
      before: valueFromJSON(f.before, `${where} before`),
      after: valueFromJSON(f.after, `${where} after`),
    };
  });
  const fault = record.fault === undefined ? 'flip' : rethrowAsPlanError('fault', () => parseBitFault(stringField('fault')));
  checkFaultConsistency(faults, count);
  let activations: ActivationFault[] | undefined;
  let activationHash: string | undefined;
  if (record.activations !== undefined || record.activationSurfaceHash !== undefined) {
    activationHash = stringField('activationSurfaceHash');
    if (!/^[0-9a-f]{64}$/.test(activationHash)) throw planError(`field 'activationSurfaceHash' is not a sha256 hex digest: use the hash planToJSON wrote`);
    activations = activationFaultsFromJSON(record.activations, format.bits, planError);
  }
  const stratum = record.stratum ?? null;
  if (stratum !== null && !(Number.isInteger(stratum) && (stratum as number) >= 0 && Math.floor(trial / STRATUM_STRIDE) === stratum)) {
    throw planError(`field 'stratum' is ${JSON.stringify(stratum)}: use null, or the stratum of trial ${trial} (${Math.floor(trial / STRATUM_STRIDE)})`);
  }

  if (expected !== undefined) {
    const surface = 'surfaceHash' in expected ? undefined : (expected as readonly SurfaceShape[]);
    const expectedHash = surface === undefined ? (expected as { surfaceHash: string }).surfaceHash : surfaceHash(surface);
    if (hash !== expectedHash) {
      throw planError(`the plan was made for another model (surface hash ${hash.slice(0, 12)}... is not this model's ${expectedHash.slice(0, 12)}...): replay it on the model it was made for`);
    }
    if (surface !== undefined) checkFaultsInSurface(faults, surface, record.referenceSurface);
  }
  return {
    version: PLAN_VERSION, seed, ber, trial, format: format.name, count: countModelName(count), policy, referenceSurface: record.referenceSurface, surfaceHash: hash, stratum: stratum as number | null, faults,
    ...(fault !== 'flip' ? { fault } : {}),
    ...(activations !== undefined ? { activations, activationSurfaceHash: activationHash! } : {}),
  };
}

/** Faults of one word agree on before/after; distinct-position models never flip a bit twice. */
function checkFaultConsistency(faults: readonly Fault[], count: CountModel): void {
  const words = new Map<string, Fault>();
  const bits = new Set<string>();
  for (const f of faults) {
    const wordKey = `${f.tensor}\u0000${f.index}`;
    const same = words.get(wordKey);
    if (same === undefined) words.set(wordKey, f);
    else if (!sameFloat32(same.before, f.before) || !sameFloat32(same.after, f.after)) {
      throw planError(`faults in element ${f.index} of '${f.tensor}' disagree on its before/after values: every fault of a word reports the same values`);
    }
    const bitKey = `${wordKey}\u0000${f.bit}`;
    if (bits.has(bitKey) && count.kind !== 'reference') {
      throw planError(`bit ${f.bit} of element ${f.index} of '${f.tensor}' is flipped twice, which the '${countModelName(count)}' count model never does`);
    }
    bits.add(bitKey);
  }
  if (count.kind === 'fixed' && faults.length !== count.faults) {
    throw planError(`count model 'fixed:${count.faults}' but ${faults.length} faults are listed`);
  }
}

function checkFaultsInSurface(faults: readonly Fault[], surface: readonly SurfaceShape[], referenceSurface: boolean): void {
  const byName = new Map(surface.map((t) => [t.name, t]));
  for (const f of faults) {
    const t = byName.get(f.tensor);
    if (t === undefined) throw planError(`a fault hits tensor '${f.tensor}', which is not in the model's fault surface`);
    const size = numelOf(t.dims);
    if (f.index >= size) throw planError(`a fault hits element ${f.index} of '${f.tensor}', which has ${size} elements`);
    if (!isHittable(t, referenceSurface)) throw planError(`a fault hits the scalar ${t.kind} '${f.tensor}', which the reference surface keeps immune`);
  }
}
