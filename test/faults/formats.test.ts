// Number formats and float policies: exact bit patterns, round trips over every word, quantisation rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BFLOAT16,
  FLOAT16,
  FLOAT32,
  INT8,
  INT8_CHANNEL,
  applyFloatPolicy,
  flippedValue,
  float32Bits,
  float32FromBits,
  parseFloatPolicy,
  parseFormat,
  quantize,
  type NumberFormat,
} from '../../src/faults/index.js';
import { assertProactError, testValues } from './util.js';

function wordsOf(format: NumberFormat, values: number[], dims?: number[]): number[] {
  return Array.from(format.encode(new Float32Array(values), dims).words);
}

test('float32: flipping bit 30 of 0.5 gives 2^127 = 1.7014118e38, and flipping it back gives 0.5', () => {
  const word = float32Bits(0.5);
  assert.equal(word, 0x3f000000);
  const flipped = FLOAT32.flip(word, 30);
  assert.equal(flipped, 0x7f000000);
  assert.equal(FLOAT32.decodeWord(flipped, FLOAT32.encode(new Float32Array(1)), 0), 2 ** 127);
  assert.equal(2 ** 127, Math.fround(1.7014118e38));
  assert.equal(FLOAT32.flip(flipped, 30), word);
  assert.equal(float32FromBits(FLOAT32.flip(word, 31)), -0.5); // sign bit
  assert.equal(float32FromBits(FLOAT32.flip(word, 0)), 0.5 + 2 ** -24); // mantissa LSB
});

test('every format: the same flip twice is the identity, for every bit of random words', () => {
  for (const format of [FLOAT32, FLOAT16, BFLOAT16, INT8, parseFormat('q15.16'), parseFormat('q3.4')]) {
    const words = format.encode(testValues(64, 7, 3)).words;
    for (const word of words) {
      for (let bit = 0; bit < format.bits; bit++) {
        const once = format.flip(word, bit);
        assert.notEqual(once, word);
        assert.ok(once >= 0 && once < 2 ** format.bits, `${format.name}: ${once} outside the word`);
        assert.equal(format.flip(once, bit), word);
      }
    }
  }
});

test('float32 round-trips bit patterns exactly, NaN payloads and -0 included', () => {
  const bits = new Uint32Array([0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 1, 0x3f800000]);
  const values = new Float32Array(bits.buffer);
  const encoded = FLOAT32.encode(values);
  assert.deepEqual(Array.from(encoded.words), Array.from(bits));
  assert.deepEqual(Array.from(new Uint32Array(FLOAT32.decode(encoded).buffer)), Array.from(bits));
});

for (const format of [FLOAT16, BFLOAT16]) {
  test(`${format.name}: all 65536 words round-trip (NaN words stay NaN)`, () => {
    const words = new Uint16Array(65536).map((_, i) => i);
    const decoded = format.decode({ format: format.name, words, groupSize: words.length });
    const again = format.encode(decoded).words;
    let nans = 0;
    for (let w = 0; w < 65536; w++) {
      const isNaNWord = (w & 0x7c00) === 0x7c00 && (w & 0x3ff) !== 0;
      const isNaNBfloat = (w & 0x7f80) === 0x7f80 && (w & 0x7f) !== 0;
      if (format === FLOAT16 ? isNaNWord : isNaNBfloat) {
        nans++;
        assert.ok(Number.isNaN(decoded[w]!), `word ${w.toString(16)} should decode to NaN`);
        assert.ok(Number.isNaN(format.decodeWord(again[w]!, { format: format.name, words, groupSize: 1 }, 0)));
      } else {
        assert.equal(again[w], w, `word 0x${w.toString(16)} (${decoded[w]}) came back as 0x${again[w]!.toString(16)}`);
      }
    }
    assert.equal(nans, format === FLOAT16 ? 2046 : 254);
  });
}

test('float16: known encodings, round to nearest even, overflow to Inf, subnormals', () => {
  assert.deepEqual(wordsOf(FLOAT16, [1, -2, 1 / 3, 65504, 65519.996, 65520, Infinity, 2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -0]), [
    0x3c00, 0xc000, 0x3555, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0x0400, 0x0001, 0x0000, 0x0001, 0x3c00, 0x3c02, 0x8000,
  ]);
});

test('float16 and bfloat16 encode every random float32 to the nearest representable value', () => {
  const values = testValues(20000, 11, 1);
  for (let i = 0; i < values.length; i++) values[i] = values[i]! * 2 ** ((i % 40) - 30); // spread over exponents
  for (const format of [FLOAT16, BFLOAT16]) {
    const encoded = format.encode(values);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      const w = encoded.words[i]!;
      const d = format.decodeWord(w, encoded, i);
      for (const neighbour of [w - 1, w + 1]) {
        if ((neighbour & 0x7fff) === 0x7fff || neighbour < 0 || neighbour > 0xffff) continue;
        const n = format.decodeWord(neighbour, encoded, i);
        if (!Number.isFinite(n) || (neighbour & 0x8000) !== (w & 0x8000)) continue;
        assert.ok(Math.abs(x - d) <= Math.abs(x - n), `${format.name}: ${x} -> ${d}, but ${n} is nearer`);
      }
    }
  }
});

test('bfloat16: known encodings with ties to even', () => {
  assert.deepEqual(wordsOf(BFLOAT16, [1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -Infinity, 3.3895313892515355e38, 3.4e38]), [
    0x3f80, 0x3f80, 0x3f82, 0xff80, 0x7f7f, 0x7f80,
  ]);
});

test('q15.16: 1.5 is 0x00018000, flipping bit 31 gives -32766.5', () => {
  const q = parseFormat('q15.16');
  assert.equal(q.bits, 32);
  const encoded = q.encode(new Float32Array([1.5]));
  assert.ok(encoded.words instanceof Uint32Array);
  assert.equal(encoded.words[0], 0x00018000);
  assert.equal(q.decodeWord(q.flip(0x00018000, 31), encoded, 0), -32766.5);
  assert.equal(q.decodeWord(q.flip(0x00018000, 16), encoded, 0), 0.5);
});

test('q15.16 truncates toward zero and saturates', () => {
  const q = parseFormat('Q15.16');
  const step = 2 ** -16;
  const values = new Float32Array([1 + 0.7 * step, -(1 + 0.7 * step), 0.99 * step, -0.99 * step, 40000, -40000, Infinity, -Infinity, 32767.5]);
  assert.deepEqual(Array.from(q.encode(values).words), [0x10000, 0xffff0000, 0, 0, 0x7fffffff, 0x80000000, 0x7fffffff, 0x80000000, 0x7fff8000]);
  const decoded = quantize(values, q);
  assert.deepEqual(Array.from(decoded.slice(0, 6)), [1, -1, 0, 0, Math.fround(32767 + 65535 * step), -32768]);
  assertProactError(() => q.encode(new Float32Array([NaN])), /q15\.16 cannot store NaN/);
});

test('q formats: every q7.8 and q3.4 word round-trips, random q15.16 words exact in float32 round-trip', () => {
  for (const [name, bits] of [['q7.8', 16], ['q3.4', 8]] as const) {
    const format = parseFormat(name);
    assert.equal(format.bits, bits);
    const words = format.encode(new Float32Array(2 ** bits)).words;
    words.forEach((_, i) => (words[i] = i));
    const again = format.encode(format.decode({ format: name, words, groupSize: words.length })).words;
    assert.deepEqual(Array.from(again), Array.from(words));
  }
  const q = parseFormat('q15.16');
  const words = new Uint32Array(5000);
  let state = 12345;
  for (let i = 0; i < words.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    // |k| < 2^24 keeps k / 2^16 exact in float32; the top bits make it negative half of the time.
    words[i] = (state & 0x80000000 ? (0xffffffff - (state & 0xffffff)) : state & 0xffffff) >>> 0;
  }
  const decoded = q.decode({ format: 'q15.16', words, groupSize: words.length });
  assert.deepEqual(Array.from(q.encode(decoded).words), Array.from(words));
  // Words beyond float32 precision: quantisation is still idempotent.
  const wide = q.decode({ format: 'q15.16', words: Uint32Array.from([0x7fffffff, 0x01000001, 0x80000001, 0x12345678]), groupSize: 4 });
  assert.deepEqual(Array.from(quantize(wide, q)), Array.from(wide));
});

test('int8: all 256 words, symmetric scale max|x|/127 as metadata, -128 only through a flip', () => {
  const scale = 2 ** -7;
  const values = new Float32Array(255).map((_, i) => (i - 127) * scale); // k = -127..127, max|x| = 127 * 2^-7
  const encoded = INT8.encode(values);
  assert.ok(encoded.words instanceof Uint8Array);
  assert.deepEqual(Array.from(encoded.scales!), [scale]);
  encoded.words.forEach((w, i) => assert.equal(w, (i - 127) & 0xff));
  assert.deepEqual(Array.from(INT8.decode(encoded)), Array.from(values));
  const zeroIndex = 127;
  const minus128 = INT8.flip(encoded.words[zeroIndex]!, 7);
  assert.equal(minus128, 0x80);
  assert.equal(INT8.decodeWord(minus128, encoded, zeroIndex), -1);
  assert.equal(INT8.decodeWord(INT8.flip(encoded.words[254]!, 7), encoded, 254), -1 * scale); // 127 -> 0xff = -1
});

test('int8: rounding half to even, per-tensor vs per-output-channel scales', () => {
  // scale = 127/127 = 1: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -1.5 -> -2
  assert.deepEqual(wordsOf(INT8, [127, 0.5, 1.5, 2.5, -1.5, -127]), [127, 0, 2, 2, 0xfe, 0x81]);
  const values = new Float32Array([0.11, -0.2, 0.05, 10, 5.1, -2.5]);
  const perTensor = INT8.encode(values, [2, 3]);
  assert.deepEqual(Array.from(perTensor.scales!), [Math.fround(10 / 127)]);
  // x / s = 1.40, -2.54, 0.64, 127, 64.8, -31.75
  assert.deepEqual(Array.from(perTensor.words), [1, 0xfd, 1, 127, 65, 0xe0]);
  const perChannel = INT8_CHANNEL.encode(values, [2, 3]);
  assert.deepEqual(Array.from(perChannel.scales!), [Math.fround(0.2 / 127), Math.fround(10 / 127)]);
  // channel 0: x / s = 69.85, -127, 31.75
  assert.deepEqual(Array.from(perChannel.words), [70, 0x81, 32, 127, 65, 0xe0]);
  const q = quantize(values, INT8_CHANNEL, [2, 3]);
  assert.equal(q[0], Math.fround(70 * Math.fround(0.2 / 127)));
  // Vectors (biases) keep one scale under int8-channel.
  assert.equal(INT8_CHANNEL.encode(new Float32Array([1, 2, 3]), [3]).scales!.length, 1);
  // An all-zero tensor has scale 0: a flip changes the word but the value stays 0.
  const zeros = INT8.encode(new Float32Array(4));
  assert.equal(INT8.decodeWord(INT8.flip(0, 6), zeros, 0), 0);
  assertProactError(() => INT8.encode(new Float32Array([1, Infinity])), /int8 cannot store the non-finite value Infinity/);
  assertProactError(() => INT8_CHANNEL.encode(new Float32Array(6), [4, 2]), /dims \[4, 2\] do not match 6 values/);
});

test('reference policy maps Inf and NaN to +-1e31 and |x| < 5e-30 to 0; ieee keeps everything', () => {
  const big = Math.fround(1e31);
  assert.equal(applyFloatPolicy(Infinity, 'reference'), big);
  assert.equal(applyFloatPolicy(-Infinity, 'reference'), -big);
  assert.equal(applyFloatPolicy(1e-31, 'reference'), 0);
  assert.equal(applyFloatPolicy(-4.9e-30, 'reference'), 0);
  assert.equal(applyFloatPolicy(Math.fround(6e-30), 'reference'), Math.fround(6e-30));
  assert.equal(applyFloatPolicy(2 ** 127, 'reference'), 2 ** 127);
  // A NaN word is an all-ones exponent too: the reference gives +-1e31 with the word's sign.
  assert.equal(applyFloatPolicy(NaN, 'reference'), big);
  assert.equal(applyFloatPolicy(NaN, 'reference', true), -big);
  assert.ok(Object.is(applyFloatPolicy(-1e-40, 'reference'), 0));
  assert.equal(applyFloatPolicy(Infinity, 'ieee'), Infinity);
  assert.equal(applyFloatPolicy(1e-31, 'ieee'), 1e-31);
  assert.equal(parseFloatPolicy('Reference'), 'reference');
  assertProactError(() => parseFloatPolicy('clamp'), /unknown float policy 'clamp'/);
});

test('parseFormat: canonical names and aliases; unknown names and Q formats that do not fit are one-line errors', () => {
  assert.equal(parseFormat('FP32'), FLOAT32);
  assert.equal(parseFormat('bf16'), BFLOAT16);
  assert.equal(parseFormat('int8-channel'), INT8_CHANNEL);
  assert.equal(parseFormat('q0.31').bits, 32);
  assert.equal(parseFormat('q15.16').name, 'q15.16');
  assertProactError(() => parseFormat('float64'), /unknown number format 'float64'.*q15\.16/);
  assertProactError(() => parseFormat('q15'), /unknown number format 'q15'/);
  assertProactError(() => parseFormat('q20.20'), /'q20\.20' needs 41 bits.*at most 32/);
  assertProactError(() => parseFormat('q16.16'), /'q16\.16' needs 33 bits/);
  assertProactError(() => parseFormat('q0.0'), /no value bits/);
  assertProactError(() => FLOAT32.flip(0, 32), /bit 32 does not exist in a 32-bit float32 word/);
  assertProactError(() => INT8.flip(0, 8), /bit 8 does not exist/);
});

/**
 * The reference's bit2float (rrelu/pytorchfi/weight_error_models.py), written out in float32 steps:
 * (-1)^s * 2^(e - 127) * (1 + sum m_i 2^-i), then |x| < 5e-30 -> 0 and +-Inf -> +-10e30.
 */
function referenceBit2Float(word: number): number {
  const s = word >>> 31;
  const e = (word >>> 23) & 0xff;
  const m = word & 0x7fffff;
  let out = Math.fround((s ? -1 : 1) * Math.fround(2 ** (e - 127))); // 2^128 overflows float32 to Inf
  out = Math.fround(out * Math.fround(1 + m / 2 ** 23));
  if (Math.abs(out) < Math.fround(5e-30)) out = 0;
  if (out === Infinity) out = Math.fround(10e30);
  if (out === -Infinity) out = -Math.fround(10e30);
  return out;
}

test('reference policy under float32 = the reference bit2float, bit for bit, for every exponent and both signs', () => {
  const encoded = FLOAT32.encode(new Float32Array(1));
  const mantissas = [0, 1, 0x400000, 0x7fffff, 0x123456, 0x555555];
  let checked = 0;
  for (let e = 0; e < 256; e++)
    for (const m of mantissas)
      for (const s of [0, 1]) {
        const flipped = ((s << 31) | (e << 23) | m) >>> 0;
        // Reach the word by one flip of bit 30 or bit 0 from a clean word, as a plan does.
        for (const bit of [30, 0, 31]) {
          const clean = (flipped ^ (1 << bit)) >>> 0;
          const ours = flippedValue(FLOAT32, clean, [bit], encoded, 0, 'reference');
          const ref = referenceBit2Float(flipped);
          assert.equal(float32Bits(ours), float32Bits(ref), `word ${flipped.toString(16)} (bit ${bit}): ${ours} vs ${ref}`);
          checked++;
        }
      }
  assert.equal(checked, 256 * mantissas.length * 2 * 3);
  // The case: bit 30 of a weight in (1, 2) gives an all-ones exponent with a mantissa: NaN in
  // IEEE, 1e31 in the reference (with the sign of the weight).
  for (const w of [1.5, 1.0000001, 1.9999999, -1.25]) {
    const clean = float32Bits(w);
    assert.ok(Number.isNaN(flippedValue(FLOAT32, clean, [30], encoded, 0, 'ieee')));
    assert.equal(flippedValue(FLOAT32, clean, [30], encoded, 0, 'reference'), Math.sign(w) * Math.fround(1e31));
  }
  // 1.0 exactly gives Inf (mantissa 0): 1e31 too.
  assert.equal(flippedValue(FLOAT32, float32Bits(1), [30], encoded, 0, 'reference'), Math.fround(1e31));
  // Random words against the oracle.
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const bit = x % 32;
    const ours = flippedValue(FLOAT32, x, [bit], encoded, 0, 'reference');
    assert.equal(float32Bits(ours), float32Bits(referenceBit2Float((x ^ (1 << bit)) >>> 0)));
  }
});

test('reference policy cleans after each flip of a word hit twice (the reference flips one element at a time)', () => {
  const encoded = FLOAT32.encode(new Float32Array(1));
  const clean = float32Bits(1.5);
  // Bit 30 twice: ieee cancels; the reference makes 1e31 first, then flips bit 30 of 1e31.
  assert.equal(flippedValue(FLOAT32, clean, [30, 30], encoded, 0, 'ieee'), 1.5);
  const second = referenceBit2Float((float32Bits(Math.fround(1e31)) ^ (1 << 30)) >>> 0);
  assert.equal(flippedValue(FLOAT32, clean, [30, 30], encoded, 0, 'reference'), second);
  assert.notEqual(second, 1.5);
  // Bit 0 then bit 30: the value after both is the reference's second bit2float.
  const afterFirst = referenceBit2Float((clean ^ 1) >>> 0);
  assert.equal(flippedValue(FLOAT32, clean, [0, 30], encoded, 0, 'reference'), referenceBit2Float((float32Bits(afterFirst) ^ (1 << 30)) >>> 0));
});
