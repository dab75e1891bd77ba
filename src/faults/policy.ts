/**
 * What happens to a flipped value before the model uses it.
 *
 * Why two policies: physically a flip can produce Inf or NaN (a float32 exponent of all ones), and
 * measuring that honestly (`ieee`, our default) lets a campaign count non-finite logits as DUE. The
 * public ProAct reference instead cleans every faulty float32 tensor: Inf -> +-1e31 and |x| < 5e-30 -> 0
 * (`reference`), so its numbers are only comparable with that clean-up. Both thresholds are float32
 * constants, as in the reference (numpy compares and stores them in the tensor's float32 dtype).
 *
 * Differences from the reference, on purpose: the clean-up is applied to the flipped words only (the
 * reference rewrites the whole tensor, which would also zero a clean weight below 5e-30; real models
 * hold none), and a NaN stays NaN in both (the reference leaves NaN too: it only arises when two
 * flips hit the same word).
 */
import { ProactError } from '../util/errors.js';

export type FloatPolicy = 'ieee' | 'reference';

export const FLOAT_POLICIES: readonly FloatPolicy[] = ['ieee', 'reference'];

/** The float32 values the reference clean-up uses. */
export const REFERENCE_INF_REPLACEMENT = Math.fround(1e31);
export const REFERENCE_TINY_LIMIT = Math.fround(5e-30);

export function parseFloatPolicy(text: string): FloatPolicy {
  const name = text.trim().toLowerCase();
  if (name === 'ieee' || name === 'reference') return name;
  throw new ProactError(`unknown float policy '${text}': use 'ieee' (keep Inf/NaN) or 'reference' (Inf -> +-1e31, |x| < 5e-30 -> 0)`);
}

/** The value the model uses for a flipped value `x` under `policy`. */
export function applyFloatPolicy(x: number, policy: FloatPolicy): number {
  if (policy === 'ieee') return x;
  if (x === Infinity) return REFERENCE_INF_REPLACEMENT;
  if (x === -Infinity) return -REFERENCE_INF_REPLACEMENT;
  if (Math.abs(x) < REFERENCE_TINY_LIMIT) return 0;
  return x;
}
