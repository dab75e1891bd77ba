/** Shared helpers of the fault tests (not a test file itself). */
import assert from 'node:assert/strict';
import { ProactError } from '../../src/util/errors.js';
import type { SurfaceTensor } from '../../src/faults/index.js';

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
