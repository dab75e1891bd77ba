import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openNpy, openNpyPair, parseNpyHeader } from '../../src/data/index.js';
import { assertProactError, bytesOf, pixelByte, tempDir, writeNpy } from './fixtures.js';

const f32 = Math.fround;

/** uint8 values pixelByte(record, i) for `count` records of `size` bytes. */
function patternBytes(count: number, size: number): Uint8Array {
  const out = new Uint8Array(count * size);
  for (let r = 0; r < count; r++) for (let i = 0; i < size; i++) out[r * size + i] = pixelByte(r, i);
  return out;
}

test('npy header: version 1 and 2, shapes, dtypes', () => {
  const dir = tempDir();
  writeNpy(join(dir, 'a.npy'), '<f4', [7, 3, 2, 2], new Uint8Array(7 * 12 * 4));
  writeNpy(join(dir, 'b.npy'), '|u1', [5], new Uint8Array(5), { major: 2 });
  const aBytes = readFileSync(join(dir, 'a.npy'));
  const a = parseNpyHeader(aBytes, 'a.npy');
  assert.deepEqual(a.shape, [7, 3, 2, 2]);
  assert.deepEqual(a.dtype, { descr: '<f4', kind: 'f', bytes: 4 });
  assert.equal(a.dataOffset, aBytes.length - 7 * 12 * 4);
  assert.equal(a.dataOffset % 64, 0);
  const bBytes = readFileSync(join(dir, 'b.npy'));
  const b = parseNpyHeader(bBytes, 'b.npy');
  assert.deepEqual(b.shape, [5]);
  assert.equal(b.dataOffset, bBytes.length - 5);
  assert.deepEqual(b.dtype, { descr: '|u1', kind: 'u', bytes: 1 });
});

test('npy uint8 NHWC images are transposed to NCHW; int64 labels; x_/y_ naming', () => {
  const dir = tempDir();
  const [n, h, w, c] = [3, 2, 4, 3];
  writeNpy(join(dir, 'x_test.npy'), '|u1', [n, h, w, c], patternBytes(n, h * w * c));
  writeNpy(join(dir, 'y_test.npy'), '<i8', [n], bytesOf(new BigInt64Array([2n, 0n, 1n])));
  const ds = openNpy(dir, 'test');
  assert.equal(ds.name, 'npy/x_test');
  assert.deepEqual(ds.shape, [3, 2, 4]);
  assert.equal(ds.numClasses, 3); // largest label + 1
  const batch = ds.readIndices([2, 0]);
  assert.deepEqual(Array.from(batch.labels), [1, 2]);
  [2, 0].forEach((record, p) => {
    for (let ch = 0; ch < c; ch++)
      for (let pixel = 0; pixel < h * w; pixel++)
        assert.equal(batch.x[p * 24 + ch * 8 + pixel], f32(pixelByte(record, pixel * c + ch) / 255), `record ${record} c${ch} p${pixel}`);
  });
});

test('npy uint8 NCHW images with int32 labels and <split>_images naming, classes.txt', () => {
  const dir = tempDir();
  const [n, c, h, w] = [4, 3, 2, 2];
  writeNpy(join(dir, 'train_images.npy'), '|u1', [n, c, h, w], patternBytes(n, c * h * w));
  writeNpy(join(dir, 'train_labels.npy'), '<i4', [n, 1], bytesOf(new Int32Array([0, 3, 1, 0])));
  writeFileSync(join(dir, 'classes.txt'), 'a\nb\nc\nd\ne\n');
  const ds = openNpy(dir, 'train');
  assert.deepEqual(ds.shape, [3, 2, 2]);
  assert.equal(ds.numClasses, 5);
  assert.deepEqual(ds.classNames, ['a', 'b', 'c', 'd', 'e']);
  const batch = ds.read(1, 3);
  assert.deepEqual(Array.from(batch.labels), [3, 1, 0]);
  for (let p = 0; p < 3; p++) for (let i = 0; i < 12; i++) assert.equal(batch.x[p * 12 + i], f32(pixelByte(p + 1, i) / 255));
});

test('npy float32 [N, H, W] and float64 NHWC with one channel are copied as they are', () => {
  const dir = tempDir();
  const values = Float32Array.from({ length: 2 * 6 }, (_, i) => i / 11);
  writeNpy(join(dir, 'gray_images.npy'), '<f4', [2, 2, 3], bytesOf(values), { major: 2 });
  writeNpy(join(dir, 'gray_labels.npy'), '|u1', [2], new Uint8Array([1, 0]));
  const gray = openNpy(join(dir, 'gray'), 'test', { numClasses: 10 });
  assert.deepEqual(gray.shape, [1, 2, 3]);
  assert.equal(gray.numClasses, 10);
  const batch = gray.read(0, 2);
  assert.deepEqual(Array.from(batch.x), Array.from(values));
  assert.deepEqual(Array.from(batch.labels), [1, 0]);

  const doubles = Float64Array.from({ length: 3 * 4 }, (_, i) => i / 12);
  writeNpy(join(dir, 'd_images.npy'), '<f8', [3, 2, 2, 1], bytesOf(doubles));
  writeNpy(join(dir, 'd_labels.npy'), '<i2', [3], bytesOf(new Int16Array([0, 1, 2])));
  const d = openNpy(join(dir, 'd_images.npy'), 'test');
  assert.deepEqual(d.shape, [1, 2, 2]);
  assert.deepEqual(Array.from(d.readIndices([2]).x), Array.from(doubles.subarray(8, 12), (v) => f32(v)));
});

test('npy errors: unsupported dtypes, layout, sizes, counts and label ranges', () => {
  const dir = tempDir();
  const labels = join(dir, 'ok_labels.npy');
  writeNpy(labels, '<i8', [2], bytesOf(new BigInt64Array([0n, 1n])));
  const images = (name: string, descr: string, shape: number[], data: Uint8Array, options = {}): string => {
    const path = join(dir, name);
    writeNpy(path, descr, shape, data, options);
    return path;
  };

  const int32Images = images('i4.npy', '<i4', [2, 2, 2], new Uint8Array(32));
  assertProactError(() => openNpyPair(int32Images, labels), int32Images, "dtype '<i4' is not supported", 'uint8');
  const bigEndian = images('be.npy', '>f4', [2, 2, 2], new Uint8Array(32));
  assertProactError(() => openNpyPair(bigEndian, labels), bigEndian, "dtype '>f4' is not supported", "astype('<f4')");
  const complex = images('c.npy', '<c8', [2, 2, 2], new Uint8Array(64));
  assertProactError(() => openNpyPair(complex, labels), complex, "dtype '<c8' is not supported");
  const good = images('u1.npy', '|u1', [2, 2, 2], new Uint8Array(8));
  const floatLabels = images('fl.npy', '<f4', [2], new Uint8Array(8));
  assertProactError(() => openNpyPair(good, floatLabels), floatLabels, "labels .npy dtype '<f4'");

  const flat = images('flat.npy', '|u1', [2, 8], new Uint8Array(16));
  assertProactError(() => openNpyPair(flat, labels), flat, 'shape (2, 8)', '(N, C, H, W)');
  const fortran = images('f.npy', '|u1', [2, 2, 2], new Uint8Array(8), { fortran: true });
  assertProactError(() => openNpyPair(fortran, labels), fortran, 'Fortran', 'ascontiguousarray');
  const short = images('short.npy', '|u1', [2, 2, 2], new Uint8Array(7));
  const header = parseNpyHeader(readFileSync(short), short).dataOffset;
  assertProactError(() => openNpyPair(short, labels), short, `holds ${header + 7} bytes`, `(2, 2, 2) = ${header + 8} bytes`);
  const notNpy = join(dir, 'text.npy');
  writeFileSync(notNpy, 'hello, this is not numpy');
  assertProactError(() => openNpyPair(notNpy, labels), notNpy, 'not a NumPy .npy file');

  const three = images('three.npy', '|u1', [3, 2, 2], new Uint8Array(12));
  assertProactError(() => openNpyPair(three, labels), three, 'holds 3 images', 'holds 2 labels');
  assertProactError(() => openNpyPair(good, labels, { numClasses: 1 }), labels, 'label 1 at record 1', 'outside 0..0');
  const negative = images('neg.npy', '<i4', [2], bytesOf(new Int32Array([0, -3])));
  assertProactError(() => openNpyPair(good, negative), negative, 'label -3 at record 1');

  const scaled = images('scaled.npy', '<f4', [2, 1, 2], bytesOf(new Float32Array([0.5, 1, 0, 255])));
  const ds = openNpyPair(scaled, labels);
  assert.deepEqual(Array.from(ds.read(0, 1).x), [0.5, 1]);
  assertProactError(() => ds.read(1, 1), scaled, 'pixel value 255 in record 1', 'divide');

  assertProactError(() => openNpy(dir, 'test'), dir, 'x_test.npy + y_test.npy');
  images('x_train.npy', '|u1', [2, 2, 2], new Uint8Array(8));
  assertProactError(() => openNpy(dir, 'train'), join(dir, 'y_train.npy'), 'labels file not found');
});
