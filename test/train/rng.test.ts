/** xoshiro128** against the reference C code (prng.di.unimi.it) seeded by SplitMix64 the same way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, deriveSeed, freshSeed } from '../../src/train/index.js';

// Printed by the reference xoshiro128** next() after filling s[0..3] from two SplitMix64 outputs (low word first).
const KNOWN: [number, number[], number[]][] = [
  [0, [2065550767, 3793791033, 2713282036, 1853398634], [3737715805, 2584255861, 2876756834, 3286328325, 1553311962, 1625202774]],
  [42, [803958421, 3184996902, 2993090819, 686809907], [1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222]],
  [2 ** 53 - 1, [4021704095, 616124332, 3074421144, 818148089], [1233166643, 1287031142, 661813442, 2960669951, 2601079046, 1036114921]],
];

test('seeding and outputs match the reference implementation', () => {
  for (const [seed, state, outputs] of KNOWN) {
    const r = Rng.fromSeed(seed);
    assert.deepEqual(r.state(), state, `state for seed ${seed}`);
    assert.deepEqual(outputs.map(() => r.uint32()), outputs, `outputs for seed ${seed}`);
  }
});

test('a saved state continues the same stream', () => {
  const a = Rng.fromSeed(7);
  for (let i = 0; i < 10; i++) a.uint32();
  const b = Rng.fromState(a.state());
  for (let i = 0; i < 100; i++) assert.equal(b.uint32(), a.uint32());
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), /not all zero/);
  assert.throws(() => Rng.fromState([1, 2, 3]), /expected 4 unsigned 32-bit words/);
  assert.throws(() => Rng.fromSeed(-1), /seed -1 is invalid/);
  assert.throws(() => Rng.fromSeed(1.5), /seed 1.5 is invalid/);
});

test('below(n) is uniform (chi-square, 6 bins, 60,000 draws, seed 1) and float() lies in [0, 1)', () => {
  const r = Rng.fromSeed(1);
  const counts = new Array<number>(6).fill(0);
  for (let i = 0; i < 60000; i++) counts[r.below(6)]!++;
  const chi2 = counts.reduce((s, c) => s + (c - 10000) ** 2 / 10000, 0);
  assert.ok(chi2 < 20.5, `chi-square ${chi2} above the 0.999 quantile of 5 degrees of freedom (20.5): ${counts}`);
  let sum = 0;
  for (let i = 0; i < 10000; i++) {
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
    sum += f;
  }
  assert.ok(Math.abs(sum / 10000 - 0.5) < 0.015, `mean ${sum / 10000}`); // 5 standard errors (0.0029)
});

test('permutation is a permutation, fixed by the seed', () => {
  const p = Rng.fromSeed(3).permutation(1000);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(Rng.fromSeed(3).permutation(1000), p);
  assert.notDeepEqual(Rng.fromSeed(4).permutation(1000), p);
});

test('derived seeds differ by label and are stable', () => {
  assert.equal(deriveSeed(5, 'init'), deriveSeed(5, 'init'));
  assert.notEqual(deriveSeed(5, 'init'), deriveSeed(5, 'data'));
  assert.notEqual(deriveSeed(5, 'init'), deriveSeed(6, 'init'));
  assert.ok(Number.isSafeInteger(deriveSeed(2 ** 53 - 1, 'x')));
  const s = freshSeed();
  assert.ok(Number.isSafeInteger(s) && s >= 0);
});
