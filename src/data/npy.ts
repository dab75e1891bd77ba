/**
 * NumPy `.npy` images + labels (files written by `numpy.save`).
 *
 * The header is parsed here rather than with an npm library because the ones available parse a
 * whole file held in memory, while this reader needs only the header (dtype, shape, data offset)
 * to read image rows batch by batch straight from the file. Format: magic `\x93NUMPY`, major and
 * minor version bytes, header length (uint16 LE in version 1, uint32 LE in versions 2 and 3), then
 * a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }`.
 *
 * Images: uint8 (x = byte / 255) or float32/float64 already in [0, 1]. Shape [N, H, W] (one
 * channel), or [N, C, H, W], or [N, H, W, C]: a 4-D array is read as channel-last (NHWC) when its
 * last dimension is 1 or 3 and its second is not; otherwise as channel-first (NCHW).
 * Labels: shape [N] or [N, 1] of int8/uint8/int16/uint16/int32/uint32/int64/uint64.
 */
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ProactError } from '../util/errors.js';
import { type Dataset, type ImageShape, type Split, allocateBatch } from './dataset.js';
import { fileSize, isDirectory, isFile, readHead, readNameList } from './files.js';
import { bytesToUnit, hwcBytesToUnitChw, hwcToChw } from './pixels.js';
import { RecordGatherer, fileRecords, recordDataset, selectionLength } from './records.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyDtype {
  /** The descr string as written, e.g. `<f4`. */
  descr: string;
  kind: 'u' | 'i' | 'f';
  bytes: number;
}

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
}

/** Parses the header at the start of `bytes` (which must hold at least the whole header). */
export function parseNpyHeader(bytes: Uint8Array, path: string): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ProactError(`${path}: not a NumPy .npy file (no \\x93NUMPY magic at the start); save the array with numpy.save`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let lengthBytes: number;
  if (major === 1) lengthBytes = 2;
  else if (major === 2 || major === 3) lengthBytes = 4;
  else throw new ProactError(`${path}: .npy format version ${major}.${bytes[7]} is not supported (1.0 to 3.0 are); save it with numpy.save`);
  if (bytes.length < 8 + lengthBytes) throw new ProactError(`${path}: .npy header cut short; the file is truncated, save it again`);
  const headerLength = lengthBytes === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lengthBytes + headerLength;
  if (bytes.length < dataOffset) throw new ProactError(`${path}: .npy header cut short; the file is truncated, save it again`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataOffset));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined) {
    throw new ProactError(`${path}: .npy dtype is not a plain numeric type (header ${shownHeader(header)}); save a plain uint8/float32/int64 array`);
  }
  if (fortran === undefined || shapeText === undefined) {
    throw new ProactError(`${path}: cannot read the .npy header ${shownHeader(header)}; save the array with numpy.save`);
  }
  if (fortran === 'True') {
    throw new ProactError(`${path}: .npy array is in Fortran (column-major) order; save numpy.ascontiguousarray(array) instead`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ProactError(`${path}: cannot read the .npy shape (${shapeText}); save the array with numpy.save`);
  return { dtype: parseDtype(descr, path), shape, dataOffset };
}

/** The header as quoted in messages: a damaged file can declare a header of megabytes. */
function shownHeader(header: string): string {
  const text = header.trim();
  return text.length > 120 ? `${text.slice(0, 120)}...` : text;
}

function parseDtype(descr: string, path: string): NpyDtype {
  const match = /^([<>|=])([uif])(\d+)$/.exec(descr);
  const kind = match?.[2] as NpyDtype['kind'] | undefined;
  const bytes = Number(match?.[3]);
  const littleEndian = match !== null && (match[1] === '<' || (match[1] === '|' && bytes === 1) || (match[1] === '=' && endianness() === 'LE'));
  const known = kind !== undefined && (kind === 'f' ? bytes === 4 || bytes === 8 : [1, 2, 4, 8].includes(bytes));
  if (!known || !littleEndian) {
    throw new ProactError(
      `${path}: .npy dtype '${descr}' is not supported (little-endian uint8, float32, float64 images; int8..int64/uint8..uint64 labels); convert it, e.g. array.astype('<f4') or array.astype('<i8')`,
    );
  }
  return { descr, kind, bytes };
}

/** Header of a .npy file, with the file size checked against dtype and shape. */
export function readNpyHeader(path: string): NpyHeader {
  const size = fileSize(path, '.npy file');
  // Read the fixed part first to learn the header's length; parseNpyHeader reports a bad magic.
  const start = readHead(path, 12);
  const view = new DataView(start.buffer, start.byteOffset, start.length);
  let headerEnd = 12;
  if (start.length === 12) headerEnd = start[6] === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true);
  headerEnd = Math.min(headerEnd, size);
  const header = parseNpyHeader(readHead(path, headerEnd), path);
  const expected = header.dataOffset + header.dtype.bytes * header.shape.reduce((a, b) => a * b, 1);
  if (size !== expected) {
    throw new ProactError(
      `${path}: holds ${size} bytes but its header declares ${header.dtype.descr} of shape (${header.shape.join(', ')}) = ${expected} bytes; the file is truncated or corrupt, save it again`,
    );
  }
  return header;
}

function readElement(view: DataView, offset: number, dtype: NpyDtype): number {
  switch (dtype.kind) {
    case 'u':
      if (dtype.bytes === 1) return view.getUint8(offset);
      if (dtype.bytes === 2) return view.getUint16(offset, true);
      if (dtype.bytes === 4) return view.getUint32(offset, true);
      return Number(view.getBigUint64(offset, true));
    case 'i':
      if (dtype.bytes === 1) return view.getInt8(offset);
      if (dtype.bytes === 2) return view.getInt16(offset, true);
      if (dtype.bytes === 4) return view.getInt32(offset, true);
      return Number(view.getBigInt64(offset, true));
    case 'f':
      return dtype.bytes === 4 ? view.getFloat32(offset, true) : view.getFloat64(offset, true);
  }
}

/** Reads a labels .npy file (small: N values) whole, checking shape, dtype and sign. */
export function readNpyLabels(path: string): Int32Array {
  const header = readNpyHeader(path);
  const { dtype, shape } = header;
  if (dtype.kind === 'f') {
    throw new ProactError(`${path}: labels .npy dtype '${dtype.descr}' is not supported (integers are); save labels.astype('int64')`);
  }
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw new ProactError(`${path}: labels .npy has shape (${shape.join(', ')}); save a 1-D array of class indices, shape (N,)`);
  }
  const count = shape[0];
  const raw = readHead(path, header.dataOffset + count * dtype.bytes).subarray(header.dataOffset);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = readElement(view, i * dtype.bytes, dtype);
    if (label < 0 || label > 0x7fffffff) {
      throw new ProactError(`${path}: label ${label} at record ${i} is not a class index; labels must be integers from 0 up`);
    }
    labels[i] = label;
  }
  return labels;
}

interface ImageLayout {
  shape: ImageShape;
  channelLast: boolean;
}

/** The layout rule: 3-D is [N, H, W]; 4-D is NHWC when the last dim is 1 or 3 and the second is not. */
export function imageLayoutOf(shape: readonly number[], path: string): ImageLayout {
  if (shape.length === 3) return { shape: [1, shape[1], shape[2]], channelLast: false };
  if (shape.length === 4) {
    const channelLast = (shape[3] === 1 || shape[3] === 3) && shape[1] !== 1 && shape[1] !== 3;
    return channelLast
      ? { shape: [shape[3], shape[1], shape[2]], channelLast }
      : { shape: [shape[1], shape[2], shape[3]], channelLast };
  }
  throw new ProactError(`${path}: images .npy has shape (${shape.join(', ')}); save images as (N, H, W), (N, C, H, W) or (N, H, W, C)`);
}

export interface NpyOptions {
  /** Dataset name for logs (default `npy/<images file name>`). */
  name?: string;
  /**
   * Labels must lie in 0 .. numClasses - 1. Default: the number of names in `classes.txt` beside
   * the images when present, else the largest label + 1.
   */
  numClasses?: number;
}

/** Opens an images .npy file and its labels .npy file as one dataset. */
export function openNpyPair(imagesPath: string, labelsPath: string, options: NpyOptions = {}): Dataset {
  const header = readNpyHeader(imagesPath);
  const { dtype } = header;
  if (dtype.kind !== 'f' && !(dtype.kind === 'u' && dtype.bytes === 1)) {
    throw new ProactError(
      `${imagesPath}: images .npy dtype '${dtype.descr}' is not supported (uint8 0..255, or float32/float64 in [0, 1] are); save images.astype('uint8') or (images / 255).astype('float32')`,
    );
  }
  if (dtype.kind === 'f' && endianness() !== 'LE') {
    throw new ProactError(`${imagesPath}: float .npy images need a little-endian machine; save images as uint8`);
  }
  const layout = imageLayoutOf(header.shape, imagesPath);
  const labels = readNpyLabels(labelsPath);
  const count = header.shape[0];
  if (labels.length !== count) {
    throw new ProactError(`${imagesPath}: holds ${count} images but ${labelsPath} holds ${labels.length} labels; pass the labels of the same images`);
  }
  const classNames = readNameList(join(dirname(imagesPath), 'classes.txt'));
  const maxLabel = labels.reduce((a, b) => Math.max(a, b), -1);
  const numClasses = options.numClasses ?? classNames?.length ?? maxLabel + 1;
  if (maxLabel >= numClasses) {
    const at = labels.indexOf(maxLabel);
    throw new ProactError(
      `${labelsPath}: label ${maxLabel} at record ${at} is outside 0..${numClasses - 1} (${numClasses} classes${
        options.numClasses === undefined ? ', from classes.txt' : ''
      }); fix the labels or the number of classes`,
    );
  }
  if (classNames !== undefined && classNames.length !== numClasses) {
    throw new ProactError(`${join(dirname(imagesPath), 'classes.txt')}: lists ${classNames.length} class names but the dataset has ${numClasses} classes; fix or remove the file`);
  }

  const [channels, height, width] = layout.shape;
  const pixels = height * width;
  const size = channels * pixels;
  const store = fileRecords(imagesPath, header.dataOffset, count, size * dtype.bytes);
  const gatherer = new RecordGatherer(store);
  return recordDataset(
    {
      name: options.name ?? `npy/${basename(imagesPath, '.npy')}`,
      path: imagesPath,
      count,
      shape: layout.shape,
      numClasses,
      ...(classNames ? { classNames } : {}),
    },
    (selection) => {
      const batch = allocateBatch(layout.shape, selectionLength(selection));
      gatherer.gather(selection, (raw, firstRecord, n, position) => {
        for (let r = 0; r < n; r++) batch.labels[position + r] = labels[firstRecord + r];
        if (dtype.kind === 'u') {
          if (!layout.channelLast) bytesToUnit(raw, 0, n * size, batch.x, position * size);
          else for (let r = 0; r < n; r++) hwcBytesToUnitChw(raw, r * size, pixels, channels, batch.x, (position + r) * size);
          return;
        }
        // The scratch buffer starts its own ArrayBuffer and records are whole elements, so the view is aligned.
        const values = dtype.bytes === 4 ? new Float32Array(raw.buffer, raw.byteOffset, n * size) : new Float64Array(raw.buffer, raw.byteOffset, n * size);
        checkUnitRange(values, imagesPath, firstRecord, size);
        if (!layout.channelLast) batch.x.set(values, position * size);
        else for (let r = 0; r < n; r++) hwcToChw(values, r * size, pixels, channels, batch.x, (position + r) * size);
      });
      return batch;
    },
  );
}

function checkUnitRange(values: Float32Array | Float64Array, path: string, firstRecord: number, size: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 1)) {
      throw new ProactError(
        `${path}: pixel value ${v} in record ${firstRecord + Math.floor(i / size)} is outside [0, 1]; float images must be scaled to [0, 1] (divide 0..255 pixels by 255) or saved as uint8`,
      );
    }
  }
}

/** Images/labels file-name pairs tried in a directory, in order, for `split`. */
export function npyFileNames(split: Split): Array<[images: string, labels: string]> {
  return [
    [`x_${split}.npy`, `y_${split}.npy`],
    [`${split}_images.npy`, `${split}_labels.npy`],
  ];
}

/** The labels file that goes with an images file name: `x_*` -> `y_*`, else `images` -> `labels`. */
export function npyLabelsFileFor(imagesPath: string): string | undefined {
  const name = basename(imagesPath);
  if (name.startsWith('x_')) return join(dirname(imagesPath), `y_${name.slice(2)}`);
  const at = name.lastIndexOf('images');
  if (at >= 0) return join(dirname(imagesPath), `${name.slice(0, at)}labels${name.slice(at + 'images'.length)}`);
  return undefined;
}

/** The images/labels pair that `path` names, or undefined when it names none. */
export function findNpyPair(path: string, split: Split): [images: string, labels: string] | undefined {
  if (isDirectory(path)) {
    return npyFileNames(split)
      .map(([images, labels]): [string, string] => [join(path, images), join(path, labels)])
      .find(([images]) => isFile(images));
  }
  if (path.endsWith('.npy')) {
    const labels = npyLabelsFileFor(path);
    return labels === undefined ? undefined : [path, labels];
  }
  if (isFile(`${path}_images.npy`)) return [`${path}_images.npy`, `${path}_labels.npy`];
  return undefined;
}

/**
 * Opens a .npy split: `path` is a directory holding `x_<split>.npy` + `y_<split>.npy` or
 * `<split>_images.npy` + `<split>_labels.npy`; or an images file whose labels file is named by
 * {@link npyLabelsFileFor}; or a prefix P with `P_images.npy` + `P_labels.npy`.
 */
export function openNpy(path: string, split: Split, options: NpyOptions = {}): Dataset {
  const pair = findNpyPair(path, split);
  if (pair === undefined) {
    throw new ProactError(
      `${path}: no .npy ${split} images found; expected x_${split}.npy + y_${split}.npy or ${split}_images.npy + ${split}_labels.npy in the directory`,
    );
  }
  const [images, labels] = pair;
  if (!isFile(labels)) throw new ProactError(`${labels}: labels file not found for images ${images}; save the labels beside the images under that name`);
  return openNpyPair(images, labels, options);
}
