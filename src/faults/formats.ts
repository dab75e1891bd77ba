/**
 * Number formats: how a tensor's values are stored as words in memory, and what a stored word means.
 *
 * Why: a hardware fault flips a bit of the *stored word*, not of the float the model computes with.
 * The same flip is harmless in one format (int8: at most 255 steps of one scale) and catastrophic in
 * another (float32 exponent: 0.5 -> 1.7e38). So fault injection goes value -> word (encode), flips a
 * bit, then word -> value (decode); the model keeps computing in float32 with the decoded values.
 * The clean model under a format is its quantised version: `quantize(x) = decode(encode(x))`.
 *
 * Bit numbering everywhere: bit 0 is the least significant bit of the word, bit `bits - 1` the most
 * significant (the sign bit in every format here).
 *
 * Words are kept in the smallest unsigned typed array that holds them (Uint32Array, Uint16Array,
 * Uint8Array); signed formats store their two's complement bit pattern. Per-tensor metadata (the int8
 * scales) lives beside the words and is never hit: it models a scale held in a register or in
 * protected memory, which is how the reference and quantised accelerators are usually analysed.
 */
import { ProactError } from '../util/errors.js';

export type StoredWords = Uint32Array | Uint16Array | Uint8Array;

/** A tensor as stored in memory: one word per element, plus metadata that faults never touch. */
export interface EncodedTensor {
  /** Canonical name of the format that wrote the words. */
  readonly format: string;
  /** One word per element, in the tensor's row-major element order. */
  readonly words: StoredWords;
  /** int8 only: the float32 scale of each group of `groupSize` consecutive elements (never hit). */
  readonly scales?: Float32Array;
  /** Elements per scale (int8-channel: elements of one output channel); the element count otherwise. */
  readonly groupSize: number;
}

export interface NumberFormat {
  /** Canonical name, accepted back by parseFormat (e.g. 'float32', 'q15.16', 'int8-channel'). */
  readonly name: string;
  /** Bits per stored word (the fault-able bits of one element). */
  readonly bits: number;
  /** Stores `values` (dims matter only for per-channel formats). Never mutates `values`. */
  encode(values: Float32Array, dims?: readonly number[]): EncodedTensor;
  /** The float32 values the stored words stand for. */
  decode(encoded: EncodedTensor): Float32Array;
  /** The value of `word` if it were stored at element `index` of `encoded` (uses its metadata). */
  decodeWord(word: number, encoded: EncodedTensor, index: number): number;
  /** `word` with bit `bit` inverted (0 = LSB). Pure: applying it twice gives `word` back. */
  flip(word: number, bit: number): number;
}

// Shared scratch views for bit casts of single values.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The IEEE-754 bits of fround(value). */
export function float32Bits(value: number): number {
  scratchF32[0] = value;
  return scratchU32[0]!;
}

/** The float32 value whose IEEE-754 bits are `word`. */
export function float32FromBits(word: number): number {
  scratchU32[0] = word;
  return scratchF32[0]!;
}

function wordArray(bits: number, length: number): StoredWords {
  if (bits <= 8) return new Uint8Array(length);
  if (bits <= 16) return new Uint16Array(length);
  return new Uint32Array(length);
}

function flipBit(word: number, bit: number, bits: number, name: string): number {
  if (!Number.isInteger(bit) || bit < 0 || bit >= bits) {
    throw new ProactError(`bit ${bit} does not exist in a ${bits}-bit ${name} word: use a bit in 0..${bits - 1}`);
  }
  return (word ^ (1 << bit)) >>> 0;
}

// ---------------------------------------------------------------- float32

/** IEEE-754 binary32: the word is the value's bit pattern, so encode/decode are exact bit casts. */
class Float32Format implements NumberFormat {
  readonly name = 'float32';
  readonly bits = 32;
  encode(values: Float32Array): EncodedTensor {
    // Copy through the raw bytes so NaN payloads survive exactly.
    const words = new Uint32Array(values.length);
    new Float32Array(words.buffer).set(values);
    return { format: this.name, words, groupSize: values.length };
  }
  decode(encoded: EncodedTensor): Float32Array {
    const out = new Float32Array(encoded.words.length);
    new Uint32Array(out.buffer).set(encoded.words);
    return out;
  }
  decodeWord(word: number): number {
    return float32FromBits(word);
  }
  flip(word: number, bit: number): number {
    return flipBit(word, bit, this.bits, this.name);
  }
}

// ---------------------------------------------------------------- float16 and bfloat16

/** float32 bits -> IEEE-754 binary16 bits, round to nearest even; overflow gives Inf, NaN stays NaN. */
export function float32BitsToHalf(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exponent = (u >>> 23) & 0xff;
  const mantissa = u & 0x7fffff;
  if (exponent === 0xff) {
    if (mantissa === 0) return sign | 0x7c00;
    const top = mantissa >>> 13;
    return sign | 0x7c00 | (top === 0 ? 0x200 : top); // keep a NaN a NaN when its payload is in the low bits
  }
  const halfExponent = exponent - 112; // rebias 127 -> 15
  if (halfExponent >= 31) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): the value in units of 2^-24 is the 24-bit significand >> shift.
    const shift = 14 - halfExponent;
    if (shift > 24) return sign;
    const significand = mantissa | 0x800000;
    let q = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (q & 1) === 1)) q += 1; // may carry into the smallest normal
    return sign | q;
  }
  let q = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (q & 1) === 1)) q += 1; // a carry may round up to Inf: correct
  return sign | q;
}

/** IEEE-754 binary16 bits -> float32 bits (exact: every half is a float32). */
export function halfToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent === 0) {
    if (mantissa === 0) return sign >>> 0;
    // Subnormal: normalise into a float32 exponent.
    let e = -1;
    let m = mantissa;
    do {
      m <<= 1;
      e += 1;
    } while ((m & 0x400) === 0);
    return (sign | ((127 - 15 - e) << 23) | ((m & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
}

/** float32 bits -> bfloat16 bits (the top half of a float32), round to nearest even; NaN stays NaN. */
export function float32BitsToBfloat16(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) {
    const top = u >>> 16;
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}

/** A 16-bit float stored as a transform of the float32 bit pattern. */
class Float16LikeFormat implements NumberFormat {
  readonly bits = 16;
  constructor(
    readonly name: string,
    private readonly fromFloat32Bits: (u: number) => number,
    private readonly toFloat32Bits: (w: number) => number,
  ) {}
  encode(values: Float32Array): EncodedTensor {
    const source = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const words = new Uint16Array(values.length);
    for (let i = 0; i < words.length; i++) words[i] = this.fromFloat32Bits(source[i]!);
    return { format: this.name, words, groupSize: values.length };
  }
  decode(encoded: EncodedTensor): Float32Array {
    const out = new Float32Array(encoded.words.length);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = this.toFloat32Bits(encoded.words[i]!);
    return out;
  }
  decodeWord(word: number): number {
    return float32FromBits(this.toFloat32Bits(word));
  }
  flip(word: number, bit: number): number {
    return flipBit(word, bit, this.bits, this.name);
  }
}

// ---------------------------------------------------------------- signed fixed point qM.N

/**
 * Signed fixed point: a (1+M+N)-bit two's complement integer k stands for k / 2^N. Quantisation
 * truncates toward zero and saturates (the reference's Q15.16 behaviour); NaN cannot be stored.
 * Decoded values are rounded to float32, the precision the model computes in.
 */
class FixedPointFormat implements NumberFormat {
  readonly name: string;
  readonly bits: number;
  private readonly scale: number;
  private readonly min: number;
  private readonly max: number;
  constructor(
    readonly integerBits: number,
    readonly fractionBits: number,
  ) {
    this.name = `q${integerBits}.${fractionBits}`;
    this.bits = 1 + integerBits + fractionBits;
    this.scale = 2 ** fractionBits;
    this.min = -(2 ** (this.bits - 1));
    this.max = 2 ** (this.bits - 1) - 1;
  }
  encode(values: Float32Array): EncodedTensor {
    const words = wordArray(this.bits, values.length);
    const modulus = 2 ** this.bits;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (Number.isNaN(v)) {
        throw new ProactError(`${this.name} cannot store NaN (element ${i}): remove NaN from the model before injecting faults`);
      }
      const k = Math.min(this.max, Math.max(this.min, Math.trunc(v * this.scale))); // v * 2^N is exact
      words[i] = k < 0 ? k + modulus : k;
    }
    return { format: this.name, words, groupSize: values.length };
  }
  decode(encoded: EncodedTensor): Float32Array {
    const out = new Float32Array(encoded.words.length);
    for (let i = 0; i < out.length; i++) out[i] = this.decodeWord(encoded.words[i]!);
    return out;
  }
  decodeWord(word: number): number {
    const k = word > this.max ? word - 2 ** this.bits : word;
    return Math.fround(k / this.scale);
  }
  flip(word: number, bit: number): number {
    return flipBit(word, bit, this.bits, this.name);
  }
}

// ---------------------------------------------------------------- int8 with symmetric scale

/** Round half to even (what quantisers such as torch.quantize_per_tensor do). */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * int8 with symmetric scale: k = round(x / s) clamped to [-127, 127], x ~ k * s, s = max|x| / 127
 * stored as float32 metadata. Per tensor, or per output channel (`perChannel`: groups along the first
 * axis of tensors of rank >= 2; vectors such as biases keep one scale, since a scale per element would
 * hold every value in the unhittable metadata). The word -128 is never written by encode but can
 * appear after a flip (0 -> bit 7 -> -128) and then decodes to -128 * s. An all-zero group has scale 0,
 * so flips in it decode to 0.
 */
class Int8Format implements NumberFormat {
  readonly bits = 8;
  readonly name: string;
  constructor(readonly perChannel: boolean) {
    this.name = perChannel ? 'int8-channel' : 'int8';
  }
  encode(values: Float32Array, dims?: readonly number[]): EncodedTensor {
    const groupSize = this.groupSizeOf(values.length, dims);
    const groups = groupSize === 0 ? 0 : values.length / groupSize;
    const scales = new Float32Array(groups);
    const words = new Uint8Array(values.length);
    for (let g = 0; g < groups; g++) {
      const start = g * groupSize;
      let maxAbs = 0;
      for (let i = start; i < start + groupSize; i++) {
        const v = values[i]!;
        if (!Number.isFinite(v)) {
          throw new ProactError(`${this.name} cannot store the non-finite value ${v} (element ${i}): remove it from the model before injecting faults`);
        }
        maxAbs = Math.max(maxAbs, Math.abs(v));
      }
      const scale = Math.fround(maxAbs / 127);
      scales[g] = scale;
      if (scale === 0) continue;
      for (let i = start; i < start + groupSize; i++) {
        const k = Math.min(127, Math.max(-127, roundHalfEven(values[i]! / scale)));
        words[i] = k & 0xff;
      }
    }
    return { format: this.name, words, scales, groupSize };
  }
  decode(encoded: EncodedTensor): Float32Array {
    const out = new Float32Array(encoded.words.length);
    for (let i = 0; i < out.length; i++) out[i] = this.decodeWord(encoded.words[i]!, encoded, i);
    return out;
  }
  decodeWord(word: number, encoded: EncodedTensor, index: number): number {
    const scales = encoded.scales;
    if (scales === undefined) throw new ProactError(`${this.name} words need their scales: encode the tensor with the ${this.name} format`);
    const k = word > 127 ? word - 256 : word;
    return Math.fround(k * scales[Math.floor(index / encoded.groupSize)]!);
  }
  flip(word: number, bit: number): number {
    return flipBit(word, bit, this.bits, this.name);
  }
  private groupSizeOf(numel: number, dims: readonly number[] | undefined): number {
    if (!this.perChannel || dims === undefined || dims.length < 2) return numel;
    const channels = dims[0]!;
    if (channels <= 0 || numel % channels !== 0) {
      throw new ProactError(`int8-channel: dims [${dims.join(', ')}] do not match ${numel} values: pass the tensor's dims`);
    }
    return numel / channels;
  }
}

// ---------------------------------------------------------------- parsing

export const FLOAT32: NumberFormat = new Float32Format();
export const FLOAT16: NumberFormat = new Float16LikeFormat('float16', float32BitsToHalf, halfToFloat32Bits);
export const BFLOAT16: NumberFormat = new Float16LikeFormat(
  'bfloat16',
  float32BitsToBfloat16,
  (w) => (w << 16) >>> 0,
);
export const INT8: NumberFormat = new Int8Format(false);
export const INT8_CHANNEL: NumberFormat = new Int8Format(true);

const NAMED_FORMATS: ReadonlyMap<string, NumberFormat> = new Map([
  ['float32', FLOAT32],
  ['fp32', FLOAT32],
  ['float16', FLOAT16],
  ['fp16', FLOAT16],
  ['bfloat16', BFLOAT16],
  ['bf16', BFLOAT16],
  ['int8', INT8],
  ['int8-channel', INT8_CHANNEL],
]);

const FORMAT_HELP = 'use float32, float16, bfloat16, int8, int8-channel or qM.N with 1+M+N <= 32 bits (e.g. q15.16)';

/** The format named `text` (case-insensitive): float32, float16, bfloat16, int8, int8-channel, qM.N. */
export function parseFormat(text: string): NumberFormat {
  const name = text.trim().toLowerCase();
  const named = NAMED_FORMATS.get(name);
  if (named !== undefined) return named;
  const q = /^q(\d{1,2})\.(\d{1,2})$/.exec(name);
  if (q === null) throw new ProactError(`unknown number format '${text}': ${FORMAT_HELP}`);
  const integerBits = Number(q[1]);
  const fractionBits = Number(q[2]);
  const bits = 1 + integerBits + fractionBits;
  if (bits > 32) {
    throw new ProactError(`number format '${text}' needs ${bits} bits (sign + ${integerBits} + ${fractionBits}) but a Q word holds at most 32: choose M + N <= 31 (e.g. q15.16)`);
  }
  if (bits < 2) throw new ProactError(`number format '${text}' has no value bits: choose M + N >= 1 (e.g. q15.16)`);
  return new FixedPointFormat(integerBits, fractionBits);
}

/** A format given by name or already parsed. */
export function toFormat(format: string | NumberFormat): NumberFormat {
  return typeof format === 'string' ? parseFormat(format) : format;
}

/** The clean values under `format`: decode(encode(values)). float32 gives an exact copy. */
export function quantize(values: Float32Array, format: string | NumberFormat, dims?: readonly number[]): Float32Array {
  const f = toFormat(format);
  return f.decode(f.encode(values, dims));
}
