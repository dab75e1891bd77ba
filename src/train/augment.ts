/**
 * Data augmentation on NCHW float32 batches, driven by a seeded {@link Rng}: random crop with zero
 * padding, then horizontal flip, per image, as torchvision's RandomCrop(size, padding) followed by
 * RandomHorizontalFlip() (the usual CIFAR recipe: padding 4).
 *
 * Per image, three draws in this order: top = below(2p + 1), left = below(2p + 1), flip = coin().
 * The output pixel (y, x) of channel c is the input pixel (y + top - p, x' + left - p) with
 * x' = flip ? W - 1 - x : x, or 0 when that lies outside the image (the zero padding).
 */
import { ProactError } from '../util/errors.js';
import type { ImageShape } from '../data/index.js';
import type { Rng } from './rng.js';

export interface AugmentOptions {
  /** Zero padding on each side before the random crop back to the original size (0: no crop). */
  padding: number;
  /** Flip horizontally with probability 1/2. */
  flip: boolean;
}

/** The usual CIFAR augmentation: pad 4, crop, flip. */
export const CIFAR_AUGMENT: AugmentOptions = { padding: 4, flip: true };

/** Augments `count` images of `shape` in `x` in place. */
export function augmentBatch(x: Float32Array, count: number, shape: ImageShape, opts: AugmentOptions, rng: Rng): void {
  const [c, h, w] = shape;
  const p = opts.padding;
  if (!Number.isInteger(p) || p < 0) throw new ProactError(`augmentation padding ${p} is invalid: expected an integer >= 0`);
  if (x.length < count * c * h * w) throw new ProactError(`augmentation: buffer holds ${x.length} values, fewer than ${count} images of [${shape}]`);
  if (p === 0 && !opts.flip) return;
  const plane = h * w;
  const image = new Float32Array(c * plane);
  for (let n = 0; n < count; n++) {
    const top = p ? rng.below(2 * p + 1) - p : 0;
    const left = p ? rng.below(2 * p + 1) - p : 0;
    const flip = opts.flip ? rng.coin() : false;
    if (top === 0 && left === 0 && !flip) continue;
    const base = n * c * plane;
    image.set(x.subarray(base, base + c * plane));
    for (let ch = 0; ch < c; ch++) {
      const src = ch * plane;
      const dst = base + ch * plane;
      for (let y = 0; y < h; y++) {
        const sy = y + top;
        const row = dst + y * w;
        if (sy < 0 || sy >= h) {
          x.fill(0, row, row + w);
          continue;
        }
        for (let xo = 0; xo < w; xo++) {
          const sx = (flip ? w - 1 - xo : xo) + left;
          x[row + xo] = sx < 0 || sx >= w ? 0 : image[src + sy * w + sx]!;
        }
      }
    }
  }
}
