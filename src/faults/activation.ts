/**
 * Transient faults in activations: bit flips in the values that chosen layers produce (the outputs of
 * Conv/Gemm nodes and of activation layers), for every image and inference independently.
 *
 * Why a plan of its own: a weight fault is fixed for a whole trial and its clean and faulty values are
 * known when the trial is planned; an activation fault hits a value that exists only while one image
 * runs. So an activation fault is plain data (layer, image, element, bit), drawn like weight faults from
 * a counter-based stream (activationStream: its own key, so weight faults and images never shift), and
 * its value is decoded while the trial runs, between two segments of the graph (src/campaign/segments.ts).
 *
 * The bit space: for each image of the trial (in the trial's ascending image order), the activation
 * layers' per-image tensors laid end to end, `bits` bits per word of the campaign's number format. The
 * BER is per stored activation bit; every count model applies (bernoulli: each bit of each inference
 * flips independently). A trial on a random image subset draws its faults over those images only.
 *
 * Stored words: only the hit words are encoded, flipped and decoded; the rest of the tensor keeps the
 * float32 values the model computed (the clean campaign model computes activations in float32, so
 * quantising whole activation tensors would change the clean model). int8 activations have a scale
 * per image and layer (int8-channel: per image, layer and channel, the channel being the first axis of
 * the per-image tensor): s = max |x| / 127 over the finite values of that image's tensor, as a dynamic
 * per-tensor quantiser computes it; the scale is never hit. A hit on a value the format cannot store
 * (NaN in qM.N, Inf or NaN in int8) leaves that value as it is: it is already a DUE.
 */
import { createHash } from 'node:crypto';
import { ProactError } from '../util/errors.js';
import { checkBer, countModelName, sampleFlipSites, toCountModel, type CountModel } from './counts.js';
import { toFormat, type EncodedTensor, type NumberFormat } from './formats.js';
import { flippedValue, parseFloatPolicy, type FloatPolicy } from './policy.js';
import { activationStream, checkSeed, checkTrial } from './prng.js';

/** A layer whose output activations faults can hit: the value's name and one image's dims. */
export interface ActivationLayerShape {
  readonly name: string;
  /** Dims of one image's tensor (the batch axis removed), e.g. [16, 32, 32]. */
  readonly dims: readonly number[];
}

/** One flipped bit of one activation value, in one image's inference. */
export interface ActivationFault {
  /** The activation value (tensor name in the prepared graph). */
  readonly layer: string;
  /** The evaluation-set index of the image. */
  readonly image: number;
  /** Element of the image's tensor (row-major). */
  readonly index: number;
  readonly bit: number;
}

export interface ActivationPlannerOptions {
  readonly seed: number;
  readonly format?: string | NumberFormat;
  readonly count?: string | CountModel;
  readonly policy?: FloatPolicy;
}

function numelOf(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

function checkLayers(layers: readonly ActivationLayerShape[]): void {
  const names = new Set<string>();
  for (const l of layers) {
    if (typeof l.name !== 'string' || l.name === '') throw new ProactError('activation surface: a layer has no name: give every layer its output value name');
    if (names.has(l.name)) throw new ProactError(`activation surface: layer '${l.name}' is listed twice: list each layer once`);
    names.add(l.name);
    if (!Array.isArray(l.dims) || !l.dims.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw new ProactError(`activation surface: layer '${l.name}' has per-image dims ${JSON.stringify(l.dims)}: use positive integers (a known shape)`);
    }
  }
}

/** Identifies an activation surface: sha256 (hex) of the layers' names and per-image dims, in order. */
export function activationSurfaceHash(layers: readonly ActivationLayerShape[]): string {
  checkLayers(layers);
  return createHash('sha256').update(JSON.stringify(['activation', ...layers.map((l) => [l.name, l.dims])])).digest('hex');
}

/**
 * Plans the activation faults of a campaign's trials. A plan is a pure function of (seed, BER, trial,
 * the trial's images) and the options: planned anywhere, in any order, it is the same.
 */
export class ActivationPlanner {
  readonly layers: readonly ActivationLayerShape[];
  readonly format: NumberFormat;
  readonly count: CountModel;
  readonly policy: FloatPolicy;
  readonly seed: number;
  readonly surfaceHash: string;
  private readonly sizes: readonly number[];

  constructor(layers: readonly ActivationLayerShape[], options: ActivationPlannerOptions) {
    if (layers.length === 0) throw new ProactError('activation surface: no layer selected: name Conv/Gemm outputs or activation layers (e.g. --surface activation:conv)');
    this.surfaceHash = activationSurfaceHash(layers);
    checkSeed(options.seed);
    this.layers = layers.map((l) => ({ name: l.name, dims: [...l.dims] }));
    this.seed = options.seed;
    this.format = toFormat(options.format ?? 'float32');
    this.count = toCountModel(options.count ?? 'bernoulli');
    this.policy = parseFloatPolicy(options.policy ?? 'ieee');
    this.sizes = layers.map((l) => numelOf(l.dims));
  }

  /** Stored activation bits of one image's inference. */
  get bitsPerImage(): number {
    return this.sizes.reduce((a, b) => a + b, 0) * this.format.bits;
  }

  /**
   * The activation faults of trial `trial` at `ber` over `images` (the trial's evaluation-set indices,
   * ascending), sorted by image, layer (surface order), element and bit.
   */
  plan(ber: number, trial: number, images: ArrayLike<number>): ActivationFault[] {
    checkBer(ber);
    checkTrial(trial);
    const layerCount = this.sizes.length;
    const sizes: number[] = new Array<number>(images.length * layerCount);
    for (let s = 0; s < images.length; s++) for (let l = 0; l < layerCount; l++) sizes[s * layerCount + l] = this.sizes[l]!;
    const sites = sampleFlipSites(this.count, { sizes, bits: this.format.bits }, ber, activationStream(this.seed, ber, trial));
    // The reference count model draws with replacement, in no order: sort, as weight plans do.
    if (this.count.kind === 'reference') sites.sort((a, b) => a.tensor - b.tensor || a.index - b.index || a.bit - b.bit);
    return sites.map((site) => ({
      layer: this.layers[site.tensor % layerCount]!.name,
      image: images[Math.floor(site.tensor / layerCount)]!,
      index: site.index,
      bit: site.bit,
    }));
  }

  /** The count model's canonical name (stored with plans). */
  get countName(): string {
    return countModelName(this.count);
  }
}

/** Whether `format` keeps per-group metadata (int8 scales): such words are encoded with their whole group. */
function hasScales(format: NumberFormat): boolean {
  return format.encode(Float32Array.of(1), [1]).scales !== undefined;
}

const scaledCache = new WeakMap<NumberFormat, boolean>();

/**
 * Applies the faults of one image and one layer to that image's tensor `values` (in place): each hit
 * word is encoded in `format`, its bits are flipped (several flips of one word combine), and it is
 * decoded and passed through the float policy. `faults` must be sorted by index and bit.
 */
export function applyActivationFaults(
  values: Float32Array,
  dims: readonly number[],
  faults: readonly { readonly index: number; readonly bit: number }[],
  format: NumberFormat,
  policy: FloatPolicy,
): void {
  if (faults.length === 0) return;
  let scaled = scaledCache.get(format);
  if (scaled === undefined) {
    scaled = hasScales(format);
    scaledCache.set(format, scaled);
  }
  let group: EncodedTensor | undefined;
  if (scaled) {
    // The scale comes from the finite values of the tensor as the image computed it.
    const finite = Float32Array.from(values, (v) => (Number.isFinite(v) ? v : 0));
    group = format.encode(finite, dims.length >= 2 ? [dims[0]!, finite.length / dims[0]!] : [finite.length]);
  }
  let first = 0;
  while (first < faults.length) {
    const index = faults[first]!.index;
    let end = first;
    while (end < faults.length && faults[end]!.index === index) end++;
    if (!(index < values.length)) throw new ProactError(`activation fault hits element ${index} of a tensor of ${values.length}: replay the plan on the model it was made for`);
    const x = values[index]!;
    let encoded: EncodedTensor | undefined;
    let at = index;
    if (group !== undefined) {
      if (Number.isFinite(x)) encoded = group;
    } else {
      try {
        encoded = format.encode(Float32Array.of(x));
        at = 0;
      } catch (e) {
        if (!(e instanceof ProactError)) throw e;
        // NaN has no qM.N word: the value stays NaN.
      }
    }
    if (encoded !== undefined) {
      // The same decoding and float policy as a flipped stored weight (policy.ts).
      values[index] = flippedValue(format, encoded.words[at]!, faults.slice(first, end).map((f) => f.bit), encoded, at, policy);
    }
    first = end;
  }
}

// ---------------------------------------------------------------- JSON

const ACTIVATION_FAULT_KEYS = ['layer', 'image', 'index', 'bit'];

/** Activation faults as compact JSON rows [layer, image, index, bit] (a trial at 1e-6 holds thousands). */
export function activationFaultsToJSON(faults: readonly ActivationFault[]): [string, number, number, number][] {
  return faults.map((f) => [f.layer, f.image, f.index, f.bit]);
}

/** Reads activationFaultsToJSON's rows back, checking each (errors name the row and the fix). */
export function activationFaultsFromJSON(rows: unknown, bits: number, fail: (problem: string) => ProactError): ActivationFault[] {
  if (!Array.isArray(rows)) throw fail(`field 'activations' is not an array: give rows [layer, image, index, bit]`);
  return rows.map((row: unknown, i: number): ActivationFault => {
    if (!Array.isArray(row) || row.length !== ACTIVATION_FAULT_KEYS.length) throw fail(`activation fault ${i} is not a row [layer, image, index, bit]`);
    const [layer, image, index, bit] = row as unknown[];
    if (typeof layer !== 'string' || layer === '') throw fail(`activation fault ${i} has layer ${JSON.stringify(layer)}: use the layer's value name`);
    if (!Number.isSafeInteger(image) || (image as number) < 0) throw fail(`activation fault ${i} has image ${JSON.stringify(image)}: use a non-negative integer`);
    if (!Number.isSafeInteger(index) || (index as number) < 0) throw fail(`activation fault ${i} has index ${JSON.stringify(index)}: use a non-negative integer`);
    if (!Number.isInteger(bit) || (bit as number) < 0 || (bit as number) >= bits) throw fail(`activation fault ${i} has bit ${JSON.stringify(bit)}: a word has bits 0..${bits - 1}`);
    return { layer, image: image as number, index: index as number, bit: bit as number };
  });
}
