// Philox4x32-10: published known answers, trial keying, uniformity and unbiased integers (fixed seeds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhiloxStream, philox4x32_10, trialStream } from '../../src/faults/index.js';
import { assertProactError } from './util.js';

const hex = (words: Uint32Array): string[] => Array.from(words, (w) => w.toString(16).padStart(8, '0'));

test('Philox4x32-10 matches the Random123 known-answer vectors (tests/kat_vectors, "philox4x32 10")', () => {
  assert.deepEqual(hex(philox4x32_10([0, 0, 0, 0], [0, 0])), ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  assert.deepEqual(
    hex(philox4x32_10([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])),
    ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd'],
  );
  assert.deepEqual(
    hex(philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
  );
});

test('a stream reads blocks 0, 1, 2, ... of its counter, word by word', () => {
  const stream = new PhiloxStream([5, 6], [7, 8, 9]);
  const words = Array.from({ length: 12 }, () => stream.uint32());
  const expected = [0, 1, 2].flatMap((block) => Array.from(philox4x32_10([block, 7, 8, 9], [5, 6])));
  assert.deepEqual(words, expected);
});

test('a trial stream is a pure function of (seed, BER, trial), and each of them changes it', () => {
  const first = (seed: number, ber: number, trial: number): number[] => {
    const s = trialStream(seed, ber, trial);
    return Array.from({ length: 6 }, () => s.uint32());
  };
  const reference = first(42, 1e-5, 17);
  first(1, 3e-5, 0); // other streams in between change nothing
  assert.deepEqual(first(42, 1e-5, 17), reference);
  assert.notDeepEqual(first(43, 1e-5, 17), reference);
  assert.notDeepEqual(first(42, 1.0000000000000002e-5, 17), reference);
  assert.notDeepEqual(first(42, 1e-5, 18), reference);
  assert.notDeepEqual(first(42 + 2 ** 32, 1e-5, 17), reference); // the seed's high word is keyed too
  assertProactError(() => trialStream(-1, 1e-5, 0), /seed -1 is not valid/);
  assertProactError(() => trialStream(1.5, 1e-5, 0), /seed 1.5 is not valid/);
  assertProactError(() => trialStream(0, 1e-5, 2 ** 32), /trial 4294967296 is not valid/);
});

test('float64 is uniform on [0, 1): mean within 3 sigma, all values in range (seed 1, 100,000 draws)', () => {
  const s = trialStream(1, 1e-5, 0);
  const n = 100000;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const u = s.float64();
    assert.ok(u >= 0 && u < 1);
    sum += u;
  }
  const sigma = Math.sqrt(1 / 12 / n); // standard error of the mean of U(0,1)
  assert.ok(Math.abs(sum / n - 0.5) < 3 * sigma, `mean ${sum / n}`);
});

test('int(n) has no modulo bias: n = 3 * 2^30 splits 1/3 : 2/3 (naive r % n would give 1/2 : 1/2)', () => {
  const s = trialStream(2, 1e-5, 0);
  const n = 3 * 2 ** 30;
  const draws = 30000;
  let low = 0;
  for (let i = 0; i < draws; i++) {
    const r = s.int(n);
    assert.ok(Number.isInteger(r) && r >= 0 && r < n);
    if (r < 2 ** 30) low++;
  }
  const sigma = Math.sqrt(draws * (1 / 3) * (2 / 3)); // binomial standard deviation of the count
  assert.ok(Math.abs(low - draws / 3) < 3 * sigma, `low count ${low}, expected ${draws / 3} +- ${3 * sigma}`);
});

test('int(n) beyond 2^32 uses 53 bits: in range, mean within 3 sigma (seed 3, 20,000 draws)', () => {
  const s = trialStream(3, 1e-5, 0);
  const n = 2 ** 45 + 12345;
  const draws = 20000;
  let sum = 0;
  let aboveTwo32 = 0;
  for (let i = 0; i < draws; i++) {
    const r = s.int(n);
    assert.ok(Number.isInteger(r) && r >= 0 && r < n);
    sum += r / n;
    if (r >= 2 ** 32) aboveTwo32++;
  }
  assert.ok(Math.abs(sum / draws - 0.5) < 3 * Math.sqrt(1 / 12 / draws));
  assert.ok(aboveTwo32 > draws * 0.99);
  assert.equal(s.int(1), 0);
});
