/**
 * CIFAR-10 and CIFAR-100 in the binary layout of the official `*-binary` archives.
 *
 * CIFAR-10 record (3073 bytes): 1 label byte, then 1024 R, 1024 G, 1024 B bytes (row-major 32x32).
 * CIFAR-100 record (3074 bytes): 1 coarse label byte, 1 fine label byte, then the same 3072 pixel
 * bytes; the fine label (0..99) is used. Pixels are already channel-major, so decoding is a table
 * lookup per byte: x = byte / 255.
 */
import { basename, dirname, join } from 'node:path';
import { ProactError } from '../util/errors.js';
import { type Batch, type Dataset, type Split, allocateBatch } from './dataset.js';
import { fileSize, isDirectory, isFile, listDirectory, readNameList } from './files.js';
import { bytesToUnit } from './pixels.js';
import {
  RecordGatherer,
  type RecordStore,
  type Selection,
  concatRecords,
  fileRecords,
  recordDataset,
  selectionLength,
} from './records.js';

export type CifarVariant = 'cifar10' | 'cifar100';

interface CifarLayout {
  title: string;
  labelOffset: number;
  recordBytes: number;
  numClasses: number;
  classNamesFile: string;
}

const PIXEL_BYTES = 3 * 32 * 32;

const LAYOUTS: Record<CifarVariant, CifarLayout> = {
  cifar10: { title: 'CIFAR-10', labelOffset: 0, recordBytes: 1 + PIXEL_BYTES, numClasses: 10, classNamesFile: 'batches.meta.txt' },
  cifar100: { title: 'CIFAR-100', labelOffset: 1, recordBytes: 2 + PIXEL_BYTES, numClasses: 100, classNamesFile: 'fine_label_names.txt' },
};

/** Subdirectories the official archives unpack to; a path to their parent is accepted too. */
const ARCHIVE_DIRECTORIES: Record<CifarVariant, string> = { cifar10: 'cifar-10-batches-bin', cifar100: 'cifar-100-binary' };

const CIFAR10_TRAIN_FILE = /^data_batch_(\d+)\.bin$/;

export interface CifarOptions {
  split: Split;
  /** Overrides detection from file names (needed only for a single .bin file with another name). */
  variant?: CifarVariant;
}

/** The CIFAR variant whose file names a directory holds, or undefined when it holds none. */
export function detectCifarDirectory(path: string): { directory: string; variant: CifarVariant } | undefined {
  for (const variant of ['cifar10', 'cifar100'] as const) {
    const inner = join(path, ARCHIVE_DIRECTORIES[variant]);
    if (isDirectory(inner)) return { directory: inner, variant };
  }
  const names = listDirectory(path);
  if (names.some((name) => CIFAR10_TRAIN_FILE.test(name) || name === 'test_batch.bin')) return { directory: path, variant: 'cifar10' };
  if (names.includes('train.bin') || names.includes('test.bin')) return { directory: path, variant: 'cifar100' };
  return undefined;
}

/**
 * Opens a CIFAR-10/100 split: `path` is a directory (with `data_batch_*.bin` + `test_batch.bin`
 * for CIFAR-10, `train.bin` + `test.bin` for CIFAR-100, or the archive's unpacked subdirectory)
 * or a single .bin file, which is read whole whatever `split` says.
 */
export function openCifar(path: string, options: CifarOptions): Dataset {
  if (isDirectory(path)) return openCifarDirectory(path, options);
  if (isFile(path)) return openCifarFile(path, options.variant ?? variantOfFile(path));
  throw new ProactError(`${path}: CIFAR directory or .bin file not found; check the path`);
}

function openCifarDirectory(path: string, options: CifarOptions): Dataset {
  const detected = detectCifarDirectory(path);
  const variant = options.variant ?? detected?.variant;
  const directory = detected?.directory ?? path;
  if (variant === undefined) {
    throw new ProactError(
      `${path}: no CIFAR files found; expected data_batch_1..5.bin and test_batch.bin (CIFAR-10) or train.bin and test.bin (CIFAR-100)`,
    );
  }
  const files = splitFiles(directory, variant, options.split);
  return cifarDataset(directory, files, variant, `${variant}/${options.split}`);
}

function openCifarFile(path: string, variant: CifarVariant): Dataset {
  return cifarDataset(path, [path], variant, `${variant}/${basename(path, '.bin')}`);
}

/** The files of one split, in reading order (training batches by number). */
function splitFiles(directory: string, variant: CifarVariant, split: Split): string[] {
  const names = listDirectory(directory);
  if (variant === 'cifar100') {
    const file = join(directory, `${split}.bin`);
    if (!isFile(file)) throw new ProactError(`${file}: CIFAR-100 ${split} file not found; the directory needs ${split}.bin`);
    return [file];
  }
  if (split === 'test') {
    const file = join(directory, 'test_batch.bin');
    if (!isFile(file)) throw new ProactError(`${file}: CIFAR-10 test file not found; the directory needs test_batch.bin`);
    return [file];
  }
  const batches = names
    .map((name) => CIFAR10_TRAIN_FILE.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((match) => join(directory, match[0]));
  if (batches.length === 0) {
    throw new ProactError(`${directory}: no CIFAR-10 training files; the directory needs data_batch_1.bin .. data_batch_5.bin`);
  }
  return batches;
}

function variantOfFile(path: string): CifarVariant {
  const name = basename(path);
  if (CIFAR10_TRAIN_FILE.test(name) || name === 'test_batch.bin') return 'cifar10';
  if (name === 'train.bin' || name === 'test.bin') return 'cifar100';
  const size = fileSize(path, 'CIFAR file');
  const fits10 = size > 0 && size % LAYOUTS.cifar10.recordBytes === 0;
  const fits100 = size > 0 && size % LAYOUTS.cifar100.recordBytes === 0;
  if (fits10 !== fits100) return fits10 ? 'cifar10' : 'cifar100';
  throw new ProactError(
    `${path}: cannot tell CIFAR-10 (3073-byte records) from CIFAR-100 (3074-byte records) by name or size (${size} bytes); name it test_batch.bin (CIFAR-10) or test.bin (CIFAR-100), or pass the variant`,
  );
}

function cifarStore(file: string, layout: CifarLayout): RecordStore {
  const size = fileSize(file, `${layout.title} file`);
  if (size === 0 || size % layout.recordBytes !== 0) {
    throw new ProactError(
      `${file}: size ${size} bytes is not a whole number of ${layout.title} records of ${layout.recordBytes} bytes (found ${Math.floor(size / layout.recordBytes)} records and ${size % layout.recordBytes} extra bytes); pass an unmodified ${layout.title} binary file`,
    );
  }
  return fileRecords(file, 0, size / layout.recordBytes, layout.recordBytes);
}

function classNamesFor(directory: string, layout: CifarLayout): string[] | undefined {
  const file = join(directory, layout.classNamesFile);
  const names = readNameList(file);
  if (names !== undefined && names.length !== layout.numClasses) {
    throw new ProactError(`${file}: lists ${names.length} class names but ${layout.title} has ${layout.numClasses}; fix or remove the file`);
  }
  return names;
}

function cifarDataset(path: string, files: string[], variant: CifarVariant, name: string): Dataset {
  const layout = LAYOUTS[variant];
  const store = concatRecords(files.map((file) => cifarStore(file, layout)));
  const gatherer = new RecordGatherer(store);
  const classNames = classNamesFor(isDirectory(path) ? path : dirname(path), layout);
  const pixelOffset = layout.labelOffset + 1;
  const { recordBytes, labelOffset, numClasses } = layout;

  const decode = (selection: Selection): Batch => {
    const batch = allocateBatch([3, 32, 32], selectionLength(selection));
    gatherer.gather(selection, (raw, firstRecord, count, position) => {
      for (let r = 0; r < count; r++) {
        const record = r * recordBytes;
        const label = raw[record + labelOffset];
        if (label >= numClasses) {
          throw new ProactError(
            `${store.locate(firstRecord + r)}: label ${label}, outside 0..${numClasses - 1} of ${layout.title}; check that the file is ${layout.title} (CIFAR-100 files are named train.bin/test.bin)`,
          );
        }
        batch.labels[position + r] = label;
        bytesToUnit(raw, record + pixelOffset, PIXEL_BYTES, batch.x, (position + r) * PIXEL_BYTES);
      }
    });
    return batch;
  };

  return recordDataset({ name, path, count: store.count, shape: [3, 32, 32], numClasses, ...(classNames ? { classNames } : {}) }, decode);
}
