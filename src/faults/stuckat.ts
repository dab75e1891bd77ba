/**
 * What a fault does to the bit it hits: a transient bit flip, or a permanent stuck-at-0 / stuck-at-1
 * cell (PyTorchALFI offers both kinds).
 *
 * Why one function for both: a fault plan is "which bits of which words, and what the word becomes".
 * The sampling of positions (count models, the Philox streams) is the same for every kind; only the
 * word operation differs. A stuck-at fault is drawn at the same rate as a flip (each stored bit is a
 * defective cell with probability BER) and models one faulty chip for the whole trial. It changes the
 * word only when the stored bit differs from the stuck value: a plan keeps the masked ones too (their
 * `before` equals their `after`), so the number of faulty cells is what the count model drew.
 */
import { ProactError } from '../util/errors.js';
import type { NumberFormat } from './formats.js';

export type BitFault = 'flip' | 'stuck-at-0' | 'stuck-at-1';
export const BIT_FAULTS: readonly BitFault[] = ['flip', 'stuck-at-0', 'stuck-at-1'];

export function parseBitFault(text: string): BitFault {
  const name = text.trim().toLowerCase();
  if ((BIT_FAULTS as readonly string[]).includes(name)) return name as BitFault;
  throw new ProactError(`unknown fault kind '${text}': use flip (transient bit flips), stuck-at-0 or stuck-at-1 (permanent stuck cells)`);
}

/** `word` after fault `fault` at bit `bit` (0 = LSB) of a `format` word. */
export function applyBitFault(format: NumberFormat, word: number, bit: number, fault: BitFault): number {
  // format.flip checks the bit exists in this format, for every kind.
  const flipped = format.flip(word, bit);
  if (fault === 'flip') return flipped;
  const set = ((word >>> bit) & 1) === 1;
  if (fault === 'stuck-at-1') return set ? word : flipped;
  return set ? flipped : word;
}
