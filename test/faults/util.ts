/** Shared helpers of the fault tests (not a test file itself). */
import assert from 'node:assert/strict';
import { ProactError } from '../../src/util/errors.js';
import { float32Bits, float32FromBits, parseFormat, type SurfaceTensor } from '../../src/faults/index.js';

/** Asserts that `fn` throws a one-line ProactError whose message matches `pattern`. */
export function assertProactError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProactError, `expected a ProactError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `message is not one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Deterministic pseudo-random values (a plain LCG: test data only, not under test). */
export function testValues(n: number, seed: number, amplitude = 1): Float32Array {
  const out = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = ((state / 2 ** 32) * 2 - 1) * amplitude;
  }
  return out;
}

/** The conv/linear weight and bias shapes of CIFAR ResNet-20 (BN folded into the convs), 40 tensors. */
export function resnet20Shapes(): Array<{ name: string; kind: 'weight' | 'bias'; dims: number[] }> {
  const convs: Array<[string, number[]]> = [['conv1', [16, 3, 3, 3]]];
  const stages: Array<[number, number]> = [
    [16, 16],
    [32, 16],
    [64, 32],
  ];
  stages.forEach(([channels, inputChannels], stage) => {
    for (let i = 0; i < 6; i++) convs.push([`layer${stage + 1}.conv${i}`, [channels, i === 0 ? inputChannels : channels, 3, 3]]);
  });
  convs.push(['linear', [10, 64]]);
  return convs.flatMap(([name, dims]) => [
    { name: `${name}.weight`, kind: 'weight' as const, dims },
    { name: `${name}.bias`, kind: 'bias' as const, dims: [dims[0]!] },
  ]);
}

export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** A ResNet-20-shaped surface with deterministic small weights. */
export function resnet20Surface(): SurfaceTensor[] {
  return resnet20Shapes().map((s, i) => ({ ...s, values: testValues(numel(s.dims), 1000 + i, 0.3) }));
}

/**
 * Element `index` of one image's activation tensor `values` after flipping `bits` of its stored word in
 * `format`, written out per format (the int8 scale rule included) without the activation fault code.
 */
export function flipByHand(format: string, values: Float32Array, dims: readonly number[], index: number, bits: number[]): number {
  const x = values[index]!;
  if (format === 'float32') return float32FromBits(bits.reduce((w, b) => (w ^ (1 << b)) >>> 0, float32Bits(x)));
  if (format === 'bfloat16') {
    // x is rounded to bfloat16 first (round to nearest even on the top 16 bits).
    const u = float32Bits(x);
    const top = Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
    return float32FromBits((bits.reduce((w, b) => w ^ (1 << b), top) << 16) >>> 0);
  }
  if (format === 'float16') {
    const f = parseFormat('float16'); // binary16 conversion is checked on its own in formats.test.ts
    const e = f.encode(Float32Array.of(x));
    return f.decodeWord(bits.reduce((w, b) => w ^ (1 << b), e.words[0]!), e, 0);
  }
  const q = /^q(\d+)\.(\d+)$/.exec(format);
  if (q) {
    const n = Number(q[2]);
    const width = 1 + Number(q[1]) + n;
    const max = 2 ** (width - 1) - 1;
    const k = Math.min(max, Math.max(-max - 1, Math.trunc(x * 2 ** n)));
    let word = k < 0 ? k + 2 ** width : k;
    for (const b of bits) word = (word ^ (1 << b)) >>> 0;
    const signed = word > max ? word - 2 ** width : word;
    return Math.fround(signed / 2 ** n);
  }
  // int8: scale max|x| / 127 over the image's tensor (int8-channel: over the channel, the first axis of
  // a tensor of rank >= 2; a vector keeps one scale, as int8-channel weights do).
  const group = format === 'int8-channel' && dims.length >= 2 ? values.length / dims[0]! : values.length;
  const start = Math.floor(index / group) * group;
  let maxAbs = 0;
  for (let i = start; i < start + group; i++) maxAbs = Math.max(maxAbs, Math.abs(values[i]!));
  const s = Math.fround(maxAbs / 127);
  const r = x / s;
  const fl = Math.floor(r);
  const k = Math.min(127, Math.max(-127, r - fl > 0.5 || (r - fl === 0.5 && fl % 2 !== 0) ? fl + 1 : fl));
  let word = k & 0xff;
  for (const b of bits) word ^= 1 << b;
  return Math.fround((word > 127 ? word - 256 : word) * s);
}

