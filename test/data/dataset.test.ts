import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Batch, type Dataset, batches, openCifar, seededPermutation, splitTrainValidation, subset } from '../../src/data/index.js';
import { assertProactError, pixelByte, tempDir, writeCifar10 } from './fixtures.js';

/** A dataset whose record r has pixels [r, -r] and label r: every read shows which records it got. */
function counting(count: number): Dataset {
  const make = (records: number[]): Batch => ({
    x: Float32Array.from(records.flatMap((r) => [r, -r])),
    labels: Int32Array.from(records),
    size: records.length,
  });
  return {
    name: 'counting',
    path: '/nowhere',
    count,
    shape: [1, 1, 2],
    numClasses: count,
    read: (start, n) => make(Array.from({ length: n }, (_, i) => start + i)),
    readIndices: (indices) => make(Array.from(indices)),
  };
}

const labelsOf = (list: Iterable<Batch>): number[][] => Array.from(list, (b) => Array.from(b.labels));

test('batches: whole dataset, offset/limit, and an explicit order', () => {
  const ds = counting(10);
  const all = Array.from(batches(ds, 4));
  assert.deepEqual(labelsOf(all), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.deepEqual(all.map((b) => [b.start, b.size]), [[0, 4], [4, 4], [8, 2]]);
  assert.deepEqual(Array.from(all[2].x), [8, -8, 9, -9]);

  assert.deepEqual(labelsOf(batches(ds, 2, { offset: 3, limit: 5 })), [[3, 4], [5, 6], [7]]);
  assert.deepEqual(labelsOf(batches(ds, 2, { offset: 8, limit: 100 })), [[8, 9]]);
  assert.deepEqual(labelsOf(batches(ds, 2, { offset: 10 })), []);

  const order = [9, 0, 5, 5, 1];
  assert.deepEqual(labelsOf(batches(ds, 2, { order })), [[9, 0], [5, 5], [1]]);
  const tail = Array.from(batches(ds, 2, { order, offset: 1, limit: 3 }));
  assert.deepEqual(labelsOf(tail), [[0, 5], [5]]);
  assert.deepEqual(tail.map((b) => b.start), [1, 3]);
});

test('batches: bad arguments are ProactErrors', () => {
  const ds = counting(10);
  assertProactError(() => Array.from(batches(ds, 0)), 'counting', 'batch size 0');
  assertProactError(() => Array.from(batches(ds, 2, { offset: 11 })), 'offset 11', '0..10');
  assertProactError(() => Array.from(batches(ds, 2, { limit: -1 })), 'limit -1');
  assertProactError(() => Array.from(batches(ds, 2, { order: [1, 10] })), 'record index 10 (at position 1)', '0..9');
});

test('subset: a view that maps positions to the parent records, nestable', () => {
  const ds = counting(10);
  const view = subset(ds, [5, 2, 7, 9]);
  assert.equal(view.count, 4);
  assert.equal(view.name, 'counting[4 of 10]');
  assert.deepEqual(Array.from(view.read(1, 2).labels), [2, 7]);
  assert.deepEqual(Array.from(view.readIndices([3, 0, 0]).labels), [9, 5, 5]);
  const nested = subset(view, [3, 1]);
  assert.deepEqual(Array.from(nested.read(0, 2).x), [9, -9, 2, -2]);
  assertProactError(() => view.read(3, 2), 'records 3..4', 'has 4 records');
  assertProactError(() => view.readIndices([4]), 'record index 4');
  assertProactError(() => subset(ds, [0, 10]), 'record index 10');
  assertProactError(() => subset(ds, [1.5]), 'record index 1.5');
});

test('subset over a real reader reads the mapped records', () => {
  const dir = tempDir();
  writeCifar10(join(dir, 'test_batch.bin'), [0, 1, 2, 3, 4, 5]);
  const view = subset(openCifar(dir, { split: 'test' }), [4, 1]);
  const batch = view.read(0, 2);
  assert.deepEqual(Array.from(batch.labels), [4, 1]);
  assert.equal(batch.x[3072 + 10], Math.fround(pixelByte(1, 10) / 255));
});

test('seededPermutation: a seeded Fisher-Yates permutation, stable across runs', () => {
  const p = seededPermutation(1000, 7);
  assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(seededPermutation(1000, 7), p);
  assert.notDeepEqual(seededPermutation(1000, 8), p);
  // Pinned (and checked against an independent Python mulberry32 + Fisher-Yates) so a change of
  // algorithm, which would change every validation split, is noticed.
  assert.deepEqual(Array.from(seededPermutation(8, 42)), [2, 7, 1, 0, 6, 5, 3, 4]);
});

test('splitTrainValidation: disjoint, complete, sorted, deterministic per seed', () => {
  const ds = counting(100);
  const { train, validation } = splitTrainValidation(ds, 20, 42);
  assert.equal(train.count, 80);
  assert.equal(validation.count, 20);
  const trainLabels = Array.from(train.read(0, 80).labels);
  const validationLabels = Array.from(validation.read(0, 20).labels);
  assert.deepEqual([...trainLabels, ...validationLabels].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(validationLabels, [...validationLabels].sort((a, b) => a - b));
  assert.deepEqual(trainLabels, [...trainLabels].sort((a, b) => a - b));
  // The validation records are the first 20 of the seeded permutation.
  assert.deepEqual(validationLabels, Array.from(seededPermutation(100, 42).subarray(0, 20)).sort((a, b) => a - b));
  const again = splitTrainValidation(ds, 20, 42).validation.read(0, 20).labels;
  assert.deepEqual(Array.from(again), validationLabels);
  assert.notDeepEqual(Array.from(splitTrainValidation(ds, 20, 43).validation.read(0, 20).labels), validationLabels);
  assert.equal(splitTrainValidation(ds, 0, 1).train.count, 100);
  assertProactError(() => splitTrainValidation(ds, 101, 1), 'cannot hold out 101', '0..100');
  assertProactError(() => splitTrainValidation(ds, 10, 0.5), 'seed 0.5');
});
