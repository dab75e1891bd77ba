/**
 * The dataset abstraction every reader implements: random access to labelled images, decoded
 * batch by batch into float32 NCHW pixels in [0, 1]. Nothing here holds a whole split in memory
 * as floats; readers fetch the raw bytes of just the requested records.
 */
import { ProactError } from '../util/errors.js';

/** A decoded batch: `size` images as float32 NCHW in [0, 1], and their class labels. */
export interface Batch {
  /** size * c * h * w values, image after image, each channel-major (NCHW). */
  x: Float32Array;
  labels: Int32Array;
  size: number;
}

/** A batch yielded by {@link batches}, with the position of its first record in the iteration. */
export interface PositionedBatch extends Batch {
  /** Position in the iterated sequence (the dataset or `order`) of the batch's first record. */
  start: number;
}

/** Which part of a dataset to open. */
export type Split = 'train' | 'test';

export type ImageShape = readonly [channels: number, height: number, width: number];

export interface Dataset {
  /** Short description such as `cifar10/test`, used in logs and reports. */
  readonly name: string;
  /** The file or directory the records come from. */
  readonly path: string;
  /** Number of records. */
  readonly count: number;
  /** Shape of one image: [channels, height, width]. */
  readonly shape: ImageShape;
  /** Labels lie in 0 .. numClasses - 1. */
  readonly numClasses: number;
  readonly classNames?: string[];
  /** Records start .. start + n - 1, in order. */
  read(start: number, n: number): Batch;
  /** The records at `indices`, in the order given (repeats allowed). */
  readIndices(indices: ArrayLike<number>): Batch;
}

/** Number of float values in one image of `shape`. */
export function imageSize(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/** A batch of `n` zeroed images of `shape`. */
export function allocateBatch(shape: ImageShape, n: number): Batch {
  return { x: new Float32Array(n * imageSize(shape)), labels: new Int32Array(n), size: n };
}

/** Throws unless start .. start + n - 1 lies within the dataset. */
export function checkRange(ds: { name: string; count: number }, start: number, n: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(n) || start < 0 || n < 0 || start + n > ds.count) {
    throw new ProactError(
      `${ds.name}: cannot read records ${start}..${start + n - 1}: it has ${ds.count} records (0..${ds.count - 1}); pass a start and count within that range`,
    );
  }
}

/** Throws unless every index is an integer record number of the dataset. */
export function checkIndices(ds: { name: string; count: number }, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= ds.count) {
      throw new ProactError(
        `${ds.name}: record index ${index} (at position ${i}) is out of range: it has ${ds.count} records (0..${ds.count - 1}); pass indices within that range`,
      );
    }
  }
}

export interface BatchOptions {
  /** Skip this many positions of the sequence first (default 0). */
  offset?: number;
  /** Stop after this many records (default: to the end). */
  limit?: number;
  /** Record indices to visit, in this order (default: 0 .. count - 1). */
  order?: ArrayLike<number>;
}

/**
 * Iterates the dataset (or `order`) in batches of `batchSize`; the last batch may be smaller.
 * Each batch is read when the consumer asks for it, so only one batch is decoded at a time.
 */
export function* batches(ds: Dataset, batchSize: number, options: BatchOptions = {}): Generator<PositionedBatch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ProactError(`${ds.name}: batch size ${batchSize} is invalid; pass a positive integer`);
  }
  const { order } = options;
  const length = order ? order.length : ds.count;
  const offset = options.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > length) {
    throw new ProactError(`${ds.name}: offset ${offset} is invalid; pass an integer in 0..${length}`);
  }
  const limit = options.limit ?? length - offset;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new ProactError(`${ds.name}: limit ${limit} is invalid; pass a non-negative integer`);
  }
  const end = Math.min(length, offset + limit);
  if (order) checkIndices(ds, order);
  for (let start = offset; start < end; start += batchSize) {
    const n = Math.min(batchSize, end - start);
    const batch = order ? ds.readIndices(sliceOf(order, start, n)) : ds.read(start, n);
    yield { ...batch, start };
  }
}

function sliceOf(values: ArrayLike<number>, start: number, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = values[start + i];
  return out;
}

/**
 * A view of `ds` holding only the records at `indices` (in that order): record i of the view is
 * record indices[i] of `ds`. Nothing is copied or read until the view is read.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>, name?: string): Dataset {
  checkIndices(ds, indices);
  const map = Int32Array.from(indices);
  const view: Dataset = {
    name: name ?? `${ds.name}[${map.length} of ${ds.count}]`,
    path: ds.path,
    count: map.length,
    shape: ds.shape,
    numClasses: ds.numClasses,
    ...(ds.classNames ? { classNames: ds.classNames } : {}),
    read(start: number, n: number): Batch {
      checkRange(view, start, n);
      return ds.readIndices(map.subarray(start, start + n));
    },
    readIndices(indices: ArrayLike<number>): Batch {
      checkIndices(view, indices);
      const mapped = new Int32Array(indices.length);
      for (let i = 0; i < indices.length; i++) mapped[i] = map[indices[i]];
      return ds.readIndices(mapped);
    },
  };
  return view;
}

export interface TrainValidationSplit {
  train: Dataset;
  validation: Dataset;
}

/**
 * Holds out `validationCount` records of `ds` for validation, chosen by a seeded shuffle so the
 * same (dataset, count, seed) always gives the same split on every machine.
 *
 * Rule: shuffle the indices 0 .. count - 1 with a Fisher-Yates shuffle driven by mulberry32(seed)
 * (for i from count - 1 down to 1, swap i with floor(rand() * (i + 1))); the first
 * `validationCount` shuffled indices form the validation set and the rest the training set.
 * Both lists are then sorted ascending, which keeps file reads sequential; shuffle `train` per
 * epoch with `batches(..., { order })` when training.
 */
export function splitTrainValidation(ds: Dataset, validationCount: number, seed: number): TrainValidationSplit {
  if (!Number.isInteger(validationCount) || validationCount < 0 || validationCount > ds.count) {
    throw new ProactError(
      `${ds.name}: cannot hold out ${validationCount} validation records from ${ds.count}; pass an integer in 0..${ds.count}`,
    );
  }
  if (!Number.isInteger(seed)) {
    throw new ProactError(`${ds.name}: validation split seed ${seed} is invalid; pass an integer`);
  }
  const permutation = seededPermutation(ds.count, seed);
  const validation = permutation.slice(0, validationCount).sort();
  const train = permutation.slice(validationCount).sort();
  return {
    train: subset(ds, train, `${ds.name}[train ${train.length}, seed ${seed}]`),
    validation: subset(ds, validation, `${ds.name}[validation ${validation.length}, seed ${seed}]`),
  };
}

/** A permutation of 0 .. n - 1 by a Fisher-Yates shuffle driven by mulberry32(seed). */
export function seededPermutation(n: number, seed: number): Int32Array {
  const permutation = new Int32Array(n);
  for (let i = 0; i < n; i++) permutation[i] = i;
  const random = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = permutation[i];
    permutation[i] = permutation[j];
    permutation[j] = t;
  }
  return permutation;
}

/** mulberry32: a small 32-bit-state generator of uniform numbers in [0, 1); enough for shuffling and test data. */
export function mulberry32(seed: number): () => number {
  // The high bits of a seed >= 2^32 are folded in (seeds below 2^32 keep their stream): seed and seed + 2^32 differ.
  let state = ((seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b1)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
