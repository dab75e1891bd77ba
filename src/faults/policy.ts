/**
 * What happens to a flipped value before the model uses it.
 *
 * Why two policies: physically a flip can produce Inf or NaN (a float32 exponent of all ones), and
 * measuring that honestly (`ieee`, our default) lets a campaign count non-finite logits as DUE. The
 * public ProAct reference instead rebuilds every flipped float32 word arithmetically
 * (`bit2float` in rrelu/pytorchfi/weight_error_models.py: (-1)^s * 2^(e - 127) * (1 + m / 2^23) in
 * float32) and then cleans it up (`reference`), so its numbers are only comparable with that:
 *
 * - an exponent field of all ones gives 2^128 = Inf in float32 *whatever the mantissa*, so Inf and
 *   every NaN pattern become +-1e31, with the word's sign (a bit-30 flip of a weight in (1, 2) gives
 *   1e31, not NaN);
 * - |x| < 5e-30 becomes +0 (an exponent field of 0 always lands here: 2^-127 * (1 + m) < 5e-30).
 *
 * Both constants are float32, as in the reference (the tensor is float32; 10e30 and 5e-30 are cast to
 * it). For every other exponent the arithmetic is exact, so the rebuilt value is the IEEE value.
 * The reference flips and cleans one element at a time, so a word hit twice is cleaned after each
 * flip: `flippedValue` does the same for float32 (see its comment).
 */
import { ProactError } from '../util/errors.js';
import { float32Bits, type EncodedTensor, type NumberFormat } from './formats.js';

export type FloatPolicy = 'ieee' | 'reference';

export const FLOAT_POLICIES: readonly FloatPolicy[] = ['ieee', 'reference'];

/** The float32 values the reference clean-up uses. */
export const REFERENCE_INF_REPLACEMENT = Math.fround(1e31);
export const REFERENCE_TINY_LIMIT = Math.fround(5e-30);

export function parseFloatPolicy(text: string): FloatPolicy {
  const name = text.trim().toLowerCase();
  if (name === 'ieee' || name === 'reference') return name;
  throw new ProactError(`unknown float policy '${text}': use 'ieee' (keep Inf/NaN) or 'reference' (all-ones exponent -> +-1e31, |x| < 5e-30 -> 0)`);
}

/**
 * The value the model uses for a flipped value `x` under `policy`. `negative` is the sign bit of the
 * stored word: a NaN carries no usable sign in a JS number, and the reference keeps it (-1e31 for a
 * negative word whose exponent is all ones).
 */
export function applyFloatPolicy(x: number, policy: FloatPolicy, negative: boolean = x < 0 || Object.is(x, -0)): number {
  if (policy === 'ieee') return x;
  if (!Number.isFinite(x)) return negative ? -REFERENCE_INF_REPLACEMENT : REFERENCE_INF_REPLACEMENT;
  if (Math.abs(x) < REFERENCE_TINY_LIMIT) return 0;
  return x;
}

/** Whether the sign bit (the top bit in every format) of `word` is set. */
function signBit(format: NumberFormat, word: number): boolean {
  return Math.floor(word / 2 ** (format.bits - 1)) % 2 === 1;
}

/**
 * The value used after flipping `bits` (in this order) of the clean word `clean` of element `index`.
 *
 * `ieee`, and any format but float32: the flips xor into one word, which is decoded and then cleaned
 * once (the clean-up can only act on float words, and the reference has no 16-bit floats).
 * `reference` under float32: as the reference, each flip is applied to the value the previous one left,
 * cleaned after each, so a second flip of a word made 1e31 flips the bits of 1e31 (two flips of one
 * bit then no longer cancel). The reference applies them in its draw order, which a plan does not keep;
 * we apply them in the order given (ascending bit in a plan). This needs two flips in one word, which
 * only the `reference` count model (positions with replacement) makes.
 */
export function flippedValue(format: NumberFormat, clean: number, bits: readonly number[], encoded: EncodedTensor, index: number, policy: FloatPolicy): number {
  if (policy === 'reference' && format.name === 'float32' && bits.length > 1) {
    let word = clean;
    let value = format.decodeWord(word, encoded, index);
    for (const bit of bits) {
      word = format.flip(word, bit);
      value = applyFloatPolicy(format.decodeWord(word, encoded, index), policy, signBit(format, word));
      word = float32Bits(value);
    }
    return value;
  }
  let word = clean;
  for (const bit of bits) word = format.flip(word, bit);
  return applyFloatPolicy(format.decodeWord(word, encoded, index), policy, signBit(format, word));
}
