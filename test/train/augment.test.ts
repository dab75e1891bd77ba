/** Random crop with zero padding and horizontal flip, checked pixel by pixel on a 3x4 image. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, augmentBatch } from '../../src/train/index.js';

const IMAGE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]; // one channel, 3 rows x 4 columns

/** The first seed whose first three draws give this crop offset (top, left in -1..1) and flip. */
function seedFor(top: number, left: number, flip: boolean): number {
  for (let seed = 0; seed < 10000; seed++) {
    const r = Rng.fromSeed(seed);
    if (r.below(3) - 1 === top && r.below(3) - 1 === left && r.coin() === flip) return seed;
  }
  throw new Error('no seed found');
}

function augmentOne(image: number[], channels: number, top: number, left: number, flip: boolean): number[] {
  const x = Float32Array.from(image);
  augmentBatch(x, 1, [channels, 3, 4], { padding: 1, flip: true }, Rng.fromSeed(seedFor(top, left, flip)));
  return Array.from(x);
}

test('crop offset only: the image shifts and zero padding comes in', () => {
  // out(y, x) = in(y - 1, x + 1)
  assert.deepEqual(augmentOne(IMAGE, 1, -1, 1, false), [0, 0, 0, 0, 2, 3, 4, 0, 6, 7, 8, 0]);
  // out(y, x) = in(y + 1, x - 1)
  assert.deepEqual(augmentOne(IMAGE, 1, 1, -1, false), [0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0]);
});

test('flip only mirrors each row', () => {
  assert.deepEqual(augmentOne(IMAGE, 1, 0, 0, true), [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]);
  assert.deepEqual(augmentOne(IMAGE, 1, 0, 0, false), IMAGE);
});

test('crop then flip, as RandomCrop followed by RandomHorizontalFlip', () => {
  // out(y, x) = in(y + 1, (3 - x) - 1)
  assert.deepEqual(augmentOne(IMAGE, 1, 1, -1, true), [7, 6, 5, 0, 11, 10, 9, 0, 0, 0, 0, 0]);
});

test('every channel of an image gets the same crop and flip', () => {
  const two = [...IMAGE, ...IMAGE.map((v) => v + 100)];
  const out = augmentOne(two, 2, 1, -1, true);
  assert.deepEqual(out.slice(0, 12), [7, 6, 5, 0, 11, 10, 9, 0, 0, 0, 0, 0]);
  assert.deepEqual(out.slice(12), [107, 106, 105, 0, 111, 110, 109, 0, 0, 0, 0, 0]);
});

test('images of a batch draw in turn from one generator', () => {
  const batch = Float32Array.from([...IMAGE, ...IMAGE.map((v) => -v)]);
  augmentBatch(batch, 2, [1, 3, 4], { padding: 1, flip: true }, Rng.fromSeed(11));
  const rng = Rng.fromSeed(11);
  const first = Float32Array.from(IMAGE);
  augmentBatch(first, 1, [1, 3, 4], { padding: 1, flip: true }, rng);
  const second = Float32Array.from(IMAGE.map((v) => -v));
  augmentBatch(second, 1, [1, 3, 4], { padding: 1, flip: true }, rng);
  assert.deepEqual(Array.from(batch), [...first, ...second]);
});

test('with padding 4 on 32x32 images, crops cover offsets -4..4 in both axes and half the images flip', () => {
  const n = 2000;
  const batch = new Float32Array(n * 1024);
  for (let i = 0; i < n; i++) for (let k = 0; k < 1024; k++) batch[i * 1024 + k] = k + 1; // pixel (y, x) holds 1 + 32y + x
  augmentBatch(batch, n, [1, 32, 32], { padding: 4, flip: true }, Rng.fromSeed(5));
  const tops = new Set<number>();
  const lefts = new Set<number>();
  let flips = 0;
  for (let i = 0; i < n; i++) {
    const centre = batch[i * 1024 + 16 * 32 + 16]! - 1;
    const flip = batch[i * 1024 + 16 * 32 + 17]! - 1 === centre - 1;
    const y = Math.floor(centre / 32);
    const x = centre % 32;
    tops.add(y - 16);
    lefts.add(x - (flip ? 15 : 16));
    if (flip) flips++;
  }
  assert.deepEqual([...tops].sort((a, b) => a - b), [-4, -3, -2, -1, 0, 1, 2, 3, 4]);
  assert.deepEqual([...lefts].sort((a, b) => a - b), [-4, -3, -2, -1, 0, 1, 2, 3, 4]);
  assert.ok(Math.abs(flips - n / 2) < 5 * Math.sqrt(n / 4), `${flips} flips of ${n}`); // within 5 standard deviations
});

test('bad settings are rejected', () => {
  assert.throws(() => augmentBatch(new Float32Array(12), 1, [1, 3, 4], { padding: -1, flip: false }, Rng.fromSeed(0)), /padding -1 is invalid/);
  assert.throws(() => augmentBatch(new Float32Array(11), 1, [1, 3, 4], { padding: 1, flip: false }, Rng.fromSeed(0)), /fewer than 1 images/);
});
