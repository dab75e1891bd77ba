import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openCifar } from '../../src/data/index.js';
import { sharedFile } from '../helpers/shared.js';
import { assertProactError, pixelByte, tempDir, writeCifar10, writeCifar100 } from './fixtures.js';

const f32 = Math.fround;
const CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function cifar10Directory(): string {
  const dir = tempDir();
  // Two training files of 3 and 2 records (records 0..4 overall) and a test file of 4.
  writeCifar10(join(dir, 'data_batch_1.bin'), [0, 1, 2], 0);
  writeCifar10(join(dir, 'data_batch_2.bin'), [3, 9], 3);
  writeCifar10(join(dir, 'test_batch.bin'), [9, 8, 7, 6], 0);
  writeFileSync(join(dir, 'batches.meta.txt'), `${CLASS_NAMES.join('\n')}\n\n`);
  return dir;
}

/** Checks image `position` of a [3,32,32] batch against pixelByte(record, i) / 255 at a few places. */
function assertPixels(x: Float32Array, position: number, record: number): void {
  for (const i of [0, 1, 1023, 1024, 2047, 2048, 3071]) {
    assert.equal(x[position * 3072 + i], f32(pixelByte(record, i) / 255), `image ${position} (record ${record}) value ${i}`);
  }
}

test('CIFAR-10 directory: test split decodes labels, exact pixels and class names', () => {
  const ds = openCifar(cifar10Directory(), { split: 'test' });
  assert.equal(ds.name, 'cifar10/test');
  assert.equal(ds.count, 4);
  assert.deepEqual(ds.shape, [3, 32, 32]);
  assert.equal(ds.numClasses, 10);
  assert.deepEqual(ds.classNames, CLASS_NAMES);
  const batch = ds.read(1, 3);
  assert.equal(batch.size, 3);
  assert.equal(batch.x.length, 3 * 3072);
  assert.deepEqual(Array.from(batch.labels), [8, 7, 6]);
  for (let p = 0; p < 3; p++) assertPixels(batch.x, p, p + 1);
  // Every value of record 1 (channel-major already: R plane, G plane, B plane).
  for (let i = 0; i < 3072; i++) assert.equal(batch.x[i], f32(pixelByte(1, i) / 255));
});

test('CIFAR-10 directory: the training split spans data_batch files in numeric order', () => {
  const ds = openCifar(cifar10Directory(), { split: 'train' });
  assert.equal(ds.count, 5);
  const all = ds.read(0, 5);
  assert.deepEqual(Array.from(all.labels), [0, 1, 2, 3, 9]);
  for (let r = 0; r < 5; r++) assertPixels(all.x, r, r);
  // Across the file boundary, out of order and with a repeat.
  const picked = ds.readIndices([4, 2, 3, 2]);
  assert.deepEqual(Array.from(picked.labels), [9, 2, 3, 2]);
  [4, 2, 3, 2].forEach((record, p) => assertPixels(picked.x, p, record));
  assert.equal(ds.read(5, 0).size, 0);
});

test('CIFAR-10: numbered training files sort by number, not by name', () => {
  const dir = tempDir();
  const labels = Array.from({ length: 10 }, (_, k) => k);
  for (const k of [10, 2, 1]) writeCifar10(join(dir, `data_batch_${k}.bin`), [labels[k % 10]], k);
  const ds = openCifar(dir, { split: 'train' });
  assert.deepEqual(Array.from(ds.read(0, 3).labels), [1, 2, 0]);
});

test('CIFAR-100: fine label from 3074-byte records, single file or directory', () => {
  const dir = tempDir();
  writeCifar100(join(dir, 'test.bin'), [99, 0, 42], [19, 4, 7]);
  const ds = openCifar(dir, { split: 'test' });
  assert.equal(ds.name, 'cifar100/test');
  assert.equal(ds.numClasses, 100);
  const batch = ds.read(0, 3);
  assert.deepEqual(Array.from(batch.labels), [99, 0, 42]);
  for (let p = 0; p < 3; p++) assertPixels(batch.x, p, p);
  assert.equal(ds.classNames, undefined);
  const fineNames = Array.from({ length: 100 }, (_, k) => `class${k}`);
  writeFileSync(join(dir, 'fine_label_names.txt'), fineNames.join('\n'));
  assert.equal(openCifar(dir, { split: 'test' }).classNames?.[42], 'class42');
  const single = openCifar(join(dir, 'test.bin'), { split: 'train' });
  assert.deepEqual(Array.from(single.readIndices([2]).labels), [42]);
  assertProactError(() => openCifar(dir, { split: 'train' }), join(dir, 'train.bin'), 'not found');
});

test('CIFAR: a single .bin file with another name is told apart by its size', () => {
  const dir = tempDir();
  writeCifar10(join(dir, 'mine.bin'), [3, 4]);
  const ds = openCifar(join(dir, 'mine.bin'), { split: 'test' });
  assert.equal(ds.numClasses, 10);
  assert.deepEqual(Array.from(ds.read(0, 2).labels), [3, 4]);
  writeCifar100(join(dir, 'hundred.bin'), [50], [1]);
  assert.deepEqual(Array.from(openCifar(join(dir, 'hundred.bin'), { split: 'test' }).read(0, 1).labels), [50]);
});

test('CIFAR errors: missing path, bad size, label out of range, missing split, bad class list', () => {
  const dir = tempDir();
  assertProactError(() => openCifar(join(dir, 'nope'), { split: 'test' }), join(dir, 'nope'), 'not found');
  assertProactError(() => openCifar(dir, { split: 'test' }), dir, 'no CIFAR files');

  const odd = join(dir, 'test_batch.bin');
  writeFileSync(odd, new Uint8Array(3073 * 2 + 5));
  assertProactError(() => openCifar(odd, { split: 'test' }), odd, '6151 bytes', 'records of 3073 bytes', '2 records and 5 extra bytes');
  assertProactError(() => openCifar(dir, { split: 'test' }), odd, 'records of 3073 bytes');
  assertProactError(() => openCifar(dir, { split: 'train' }), 'data_batch_1.bin');

  writeCifar10(odd, [1, 10]);
  const ds = openCifar(dir, { split: 'test' });
  assert.deepEqual(Array.from(ds.read(0, 1).labels), [1]);
  assertProactError(() => ds.read(0, 2), `${odd}, record 1`, 'label 10', '0..9');
  assertProactError(() => ds.read(1, 2), 'cifar10/test', 'records 1..2', 'has 2 records');
  assertProactError(() => ds.readIndices([0, -1]), 'record index -1');

  writeFileSync(join(dir, 'batches.meta.txt'), 'cat\ndog\n');
  assertProactError(() => openCifar(dir, { split: 'test' }), 'batches.meta.txt', 'lists 2 class names', 'has 10');

  const ambiguous = join(dir, 'other.bin');
  writeFileSync(ambiguous, new Uint8Array(100));
  assertProactError(() => openCifar(ambiguous, { split: 'test' }), ambiguous, 'cannot tell CIFAR-10');
});

test('CIFAR directories unpacked from the official archive are found one level down', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'cifar-10-batches-bin'));
  writeCifar10(join(dir, 'cifar-10-batches-bin', 'test_batch.bin'), [5]);
  assert.deepEqual(Array.from(openCifar(dir, { split: 'test' }).read(0, 1).labels), [5]);
});

test('real CIFAR-10 test batch: 10,000 records, first pixel and labels match the raw bytes', (t) => {
  const file = sharedFile(t, 'data/cifar10-jpeg75/test_batch.bin');
  if (file === undefined) return;
  const ds = openCifar(file, { split: 'test' });
  assert.equal(ds.count, 10000);
  assert.deepEqual(ds.classNames, CLASS_NAMES);
  const raw = new Uint8Array(2 * 3073);
  const fd = openSync(file, 'r');
  readSync(fd, raw, 3073, 3073, 9999 * 3073);
  readSync(fd, raw, 0, 3073, 0);
  closeSync(fd);
  const first = ds.read(0, 1);
  assert.equal(first.labels[0], raw[0]);
  assert.equal(first.x[0], f32(raw[1] / 255));
  assert.equal(first.x[3071], f32(raw[3072] / 255));
  const last = ds.readIndices([9999]);
  assert.equal(last.labels[0], raw[3073]);
  for (let i = 0; i < 3072; i++) assert.equal(last.x[i], f32(raw[3074 + i] / 255));
});
