/**
 * Fixed-size records stored back to back after a header, in files or in memory. Readers gather
 * the raw bytes of the records a batch needs (coalescing consecutive records into one read) and
 * decode only those, so a split is never expanded whole.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { type Batch, type Dataset, checkIndices, checkRange } from './dataset.js';
import { ProactBug, ProactError } from '../util/errors.js';

/** Where a batch's records come from: a contiguous range, or arbitrary indices. */
export type Selection = { start: number; n: number } | ArrayLike<number>;

function isRange(selection: Selection): selection is { start: number; n: number } {
  return (selection as { start?: unknown }).start !== undefined && (selection as { n?: unknown }).n !== undefined;
}

/** Number of records a selection names. */
export function selectionLength(selection: Selection): number {
  return isRange(selection) ? selection.n : (selection as ArrayLike<number>).length;
}

/**
 * Calls `visit(first, count, position)` for each run of consecutive record indices in `selection`:
 * records first .. first + count - 1 go to batch positions position .. position + count - 1.
 */
export function forEachRun(selection: Selection, visit: (first: number, count: number, position: number) => void): void {
  if (isRange(selection)) {
    if (selection.n > 0) visit(selection.start, selection.n, 0);
    return;
  }
  const indices = selection as ArrayLike<number>;
  let position = 0;
  while (position < indices.length) {
    const first = indices[position];
    let count = 1;
    while (position + count < indices.length && indices[position + count] === first + count) count++;
    visit(first, count, position);
    position += count;
  }
}

/** Records of `recordBytes` bytes each. */
export interface RecordStore {
  readonly count: number;
  readonly recordBytes: number;
  /** Where a record lives, for error messages: `<file>, record <index in that file>`. */
  locate(record: number): string;
  /** Opens the store for one batch; close the reader when the batch is gathered. */
  open(): RecordReader;
}

export interface RecordReader {
  /** Copies records first .. first + count - 1 into `out` from byte `outOffset`. */
  read(first: number, count: number, out: Uint8Array, outOffset: number): void;
  close(): void;
}

/** Records stored in a file from byte `headerBytes` on; read with a file handle, batch by batch. */
export function fileRecords(path: string, headerBytes: number, count: number, recordBytes: number): RecordStore {
  return {
    count,
    recordBytes,
    locate: (record) => `${path}, record ${record}`,
    open(): RecordReader {
      const fd = openSync(path, 'r');
      return {
        read(first, n, out, outOffset) {
          const length = n * recordBytes;
          let done = 0;
          while (done < length) {
            const got = readSync(fd, out, outOffset + done, length - done, headerBytes + first * recordBytes + done);
            if (got === 0) throw new ProactError(`${path}: unexpected end of file while reading record ${first}: the file changed while being read; rerun once it is stable`);
            done += got;
          }
        },
        close: () => closeSync(fd),
      };
    },
  };
}

/** Records held in memory (e.g. a decompressed .gz file) from byte `headerBytes` on. */
export function memoryRecords(path: string, bytes: Uint8Array, headerBytes: number, count: number, recordBytes: number): RecordStore {
  return {
    count,
    recordBytes,
    locate: (record) => `${path}, record ${record}`,
    open: () => ({
      read(first, n, out, outOffset) {
        const begin = headerBytes + first * recordBytes;
        out.set(bytes.subarray(begin, begin + n * recordBytes), outOffset);
      },
      close() {},
    }),
  };
}

/** Several stores of the same record size seen as one (e.g. CIFAR-10's five training batches). */
export function concatRecords(parts: readonly RecordStore[]): RecordStore {
  if (parts.length === 1) return parts[0];
  const recordBytes = parts[0].recordBytes;
  const starts: number[] = [];
  let count = 0;
  for (const part of parts) {
    if (part.recordBytes !== recordBytes) throw new ProactBug('concatRecords: parts differ in record size');
    starts.push(count);
    count += part.count;
  }
  const partOf = (record: number): number => {
    let p = parts.length - 1;
    while (starts[p] > record) p--;
    return p;
  };
  return {
    count,
    recordBytes,
    locate: (record) => parts[partOf(record)].locate(record - starts[partOf(record)]),
    open(): RecordReader {
      const readers: (RecordReader | undefined)[] = parts.map(() => undefined);
      return {
        read(first, n, out, outOffset) {
          while (n > 0) {
            const p = partOf(first);
            const local = first - starts[p];
            const take = Math.min(n, parts[p].count - local);
            const reader = (readers[p] ??= parts[p].open());
            reader.read(local, take, out, outOffset);
            first += take;
            n -= take;
            outOffset += take * recordBytes;
          }
        },
        close() {
          for (const reader of readers) reader?.close();
        },
      };
    },
  };
}

/**
 * Gathers the raw bytes of the selected records, in selection order, into `scratch` (grown when
 * too small) and calls `decode(raw, recordOffset, position)` for each run of records read.
 */
export class RecordGatherer {
  private scratch = new Uint8Array(0);

  constructor(private readonly store: RecordStore) {}

  gather(selection: Selection, decode: (raw: Uint8Array, firstRecord: number, count: number, position: number) => void): void {
    const reader = this.store.open();
    try {
      forEachRun(selection, (first, count, position) => {
        const bytes = count * this.store.recordBytes;
        if (this.scratch.length < bytes) this.scratch = new Uint8Array(Math.max(bytes, this.scratch.length * 2));
        reader.read(first, count, this.scratch, 0);
        decode(this.scratch, first, count, position);
      });
    } finally {
      reader.close();
    }
  }
}

/** What a reader knows about its split; `decode` reads and decodes the selected records. */
export type DatasetInfo = Omit<Dataset, 'read' | 'readIndices'>;

/** A Dataset whose read/readIndices check their arguments and hand the selection to `decode`. */
export function recordDataset(info: DatasetInfo, decode: (selection: Selection) => Batch): Dataset {
  const ds: Dataset = {
    ...info,
    read(start, n) {
      checkRange(ds, start, n);
      return decode({ start, n });
    },
    readIndices(indices) {
      checkIndices(ds, indices);
      return decode(indices);
    },
  };
  return ds;
}
