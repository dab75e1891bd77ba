/**
 * Dataset file targets: each input is written where the reader expects a file (beside fixed, valid
 * companions) and opened through `openDataset`, the entry point of every command; every record is then
 * decoded. A dataset that opens must also decode to pixels in [0, 1] and labels in 0..numClasses-1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openDataset, type Dataset } from '../../../src/data/index.js';
import { companions } from '../fixtures.js';
import { mutatedBytes } from '../mutate.js';
import type { FuzzContext, FuzzTarget } from '../target.js';

/** Decodes every record (in batches, then a few by index) and checks what readers promise. */
export function decodeAll(ds: Dataset): void {
  const check = (x: Float32Array, labels: Int32Array) => {
    for (const v of x) if (!(v >= 0 && v <= 1)) throw new Error(`${ds.name}: decoded pixel ${v} outside [0, 1]`);
    for (const l of labels) if (!(l >= 0 && l < ds.numClasses)) throw new Error(`${ds.name}: decoded label ${l} outside 0..${ds.numClasses - 1}`);
  };
  for (let start = 0; start < ds.count; start += 64) {
    const b = ds.read(start, Math.min(64, ds.count - start));
    check(b.x, b.labels);
  }
  if (ds.count > 0) {
    const b = ds.readIndices([ds.count - 1, 0, ds.count - 1]);
    check(b.x, b.labels);
  }
}

function folder(ctx: FuzzContext, name: string): string {
  const dir = join(ctx.tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function cifarTarget(variant: 'cifar10' | 'cifar100', fileName: string): FuzzTarget {
  return {
    name: variant,
    what: `${variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} .bin files (${fileName}) -> openDataset + decode every record`,
    inputs: (ctx) => mutatedBytes(ctx.seeds),
    run(input, ctx) {
      const file = join(folder(ctx, variant), fileName);
      writeFileSync(file, input);
      decodeAll(openDataset(file, { split: 'test' }));
    },
  };
}

export const cifar10Target = cifarTarget('cifar10', 'test_batch.bin');
export const cifar100Target = cifarTarget('cifar100', 'test.bin');

/**
 * A target whose input is one file of a two-file dataset: `companion` is written once, valid, beside it;
 * `open` is what openDataset receives (the fuzzed file, the folder, or the companion).
 */
function pairedFileTarget(o: {
  name: string;
  what: string;
  companion: [file: string, bytes: () => Uint8Array];
  fuzzed: string;
  open: 'fuzzed' | 'folder' | 'companion';
}): FuzzTarget {
  return {
    name: o.name,
    what: o.what,
    prepare(ctx) {
      writeFileSync(join(folder(ctx, o.name), o.companion[0]), o.companion[1]());
      return undefined;
    },
    inputs: (ctx) => mutatedBytes(ctx.seeds),
    run(input, ctx) {
      const dir = join(ctx.tmp, o.name);
      writeFileSync(join(dir, o.fuzzed), input);
      const path = o.open === 'folder' ? dir : join(dir, o.open === 'fuzzed' ? o.fuzzed : o.companion[0]);
      decodeAll(openDataset(path, { split: 'test' }));
    },
  };
}

export const idxImagesTarget = pairedFileTarget({
  name: 'idx-images',
  what: 'MNIST IDX images files (3 labels beside them) -> openDataset + decode',
  companion: ['t10k-labels-idx1-ubyte', companions.idxLabels],
  fuzzed: 't10k-images-idx3-ubyte',
  open: 'fuzzed',
});

export const idxLabelsTarget = pairedFileTarget({
  name: 'idx-labels',
  what: 'MNIST IDX labels files (3 images beside them) -> openDataset (directory) + decode',
  companion: ['t10k-images-idx3-ubyte', companions.idxImages],
  fuzzed: 't10k-labels-idx1-ubyte',
  open: 'folder',
});

export const idxGzTarget = pairedFileTarget({
  name: 'idx-gz',
  what: 'gzip-compressed IDX images (.gz bytes mutated) -> openDataset + decode',
  companion: ['t10k-labels-idx1-ubyte.gz', () => gzipSync(companions.idxLabels())],
  fuzzed: 't10k-images-idx3-ubyte.gz',
  open: 'fuzzed',
});

export const npyImagesTarget = pairedFileTarget({
  name: 'npy-images',
  what: 'NumPy .npy images (3 int64 labels beside them) -> openDataset (directory) + decode',
  companion: ['y_test.npy', companions.npyLabels],
  fuzzed: 'x_test.npy',
  open: 'folder',
});

export const npyLabelsTarget = pairedFileTarget({
  name: 'npy-labels',
  what: 'NumPy .npy labels (3 uint8 images beside them) -> openDataset (images file) + decode',
  companion: ['x_test.npy', companions.npyImages],
  fuzzed: 'y_test.npy',
  open: 'companion',
});
