/**
 * Golden tests of the clipped forms of every activation kind (src/harden/activations.ts) against a
 * plain-JS computation of the documented formulas (docs/hardening.md), special values included, run
 * from the written ONNX bytes in plain onnxruntime-node; and the unclippable-activation error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { Graph, activationLayers, f32, float, scalarF32, writeOnnx, type ActivationFunction } from '../../src/graph/index.js';
import { DEFAULT_SMOOTH_K, NEGATIVE_FLOOR, hardenGraph, smoothGuardMargin, thresholdShape, type ActivationKind } from '../../src/harden/index.js';
import { VARIANTS, onInput } from '../helpers/activations.js';
import { runCli, expectUserError } from '../helpers/cli.js';
import { mulberry32 } from '../../src/data/index.js';

/** erf by Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7), independent of onnxruntime's. */
function erf(x: number): number {
  const s = Math.sign(x), a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
const sigmoid = (u: number) => 1 / (1 + Math.exp(-u));
const SLOPES = [0.05, 0.1, 0.2, 0.3]; // the PRelu fixture's per-channel slopes

/** f(x) of each function, in float64. */
function f(fn: ActivationFunction, x: number, channel: number): number {
  switch (fn) {
    case 'relu':
    case 'relu6':
    case 'clipped-relu':
      return Number.isNaN(x) ? NaN : Math.max(x, 0);
    case 'leaky-relu':
      return x > 0 ? x : 0.1 * x;
    case 'prelu':
      return x > 0 ? x : SLOPES[channel]! * x;
    case 'silu':
      return x * sigmoid(x);
    case 'hardswish':
      return x * Math.min(1, Math.max(0, x / 6 + 0.5));
    case 'gelu-erf':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu-tanh':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  }
}

/** The documented clipped form, in float64. */
function reference(fn: ActivationFunction, kind: ActivationKind, guard: boolean, x: number, t: number, channel: number): number {
  const k = DEFAULT_SMOOTH_K;
  if (fn === 'relu' || fn === 'relu6' || fn === 'clipped-relu') {
    // The ReLU forms with T in place of ReLU6's 6.
    if (kind === 'clip-zero') return x <= t ? Math.max(x, 0) : 0;
    if (kind === 'clip-sat') return x > t ? t : x > 0 ? x : 0;
    const s = x * sigmoid(k * (t - x));
    const relu = Number.isNaN(s) ? NaN : Math.max(0, s);
    return guard ? (x <= t + smoothGuardMargin(k) ? relu : 0) : relu;
  }
  const floored = fn === 'silu' || fn === 'hardswish' || fn === 'gelu-erf' || fn === 'gelu-tanh';
  const a = f(fn, floored && x < NEGATIVE_FLOOR ? NEGATIVE_FLOOR : x, channel);
  if (kind === 'clip-zero') return a <= t ? a : 0;
  if (kind === 'clip-sat') return a > t ? t : a <= t ? a : 0;
  const smooth = a > 0 ? a * sigmoid(k * (t - a)) : a;
  return guard ? (a <= t + smoothGuardMargin(k) ? smooth : 0) : smooth;
}

const SPECIAL = [NaN, Infinity, -Infinity, 1e30, -1e30, 250, -250, 0, 2.5, 3, -3];
const rand = mulberry32(7);
const X = Float32Array.from({ length: 72 }, (_, i) => (i < SPECIAL.length ? SPECIAL[i]! : (rand() - 0.4) * 16));

// One variant per function (the first listed), plus the HardSwish op, whose graph is rebuilt too.
const CASES = VARIANTS.filter((v, i) => VARIANTS.findIndex((w) => w.fn === v.fn) === i || v.name.startsWith('HardSwish op'));

for (const v of CASES) {
  for (const [kind, guard] of [['clip-zero', false], ['clip-sat', false], ['smooth-zero', true], ['smooth-zero', false]] as const) {
    test(`golden: ${v.fn} (${v.name}) as ${kind}${kind === 'smooth-zero' ? (guard ? ' guarded' : ' plain') : ''}, layer and channel thresholds, in plain onnxruntime`, async () => {
      for (const granularity of ['layer', 'channel'] as const) {
        const g = onInput(v);
        const layer = activationLayers(g)[0]!;
        const tDims = thresholdShape([4, 3, 3], granularity);
        const tValues = granularity === 'layer' ? [2.5] : [0.5, 1, 2.5, 3];
        hardenGraph(g, [{ node: layer.node, kind, threshold: f32(tDims, Float32Array.from(tValues)), thresholdName: 'proact.threshold.0', guard }]);
        const ops = new Set(g.nodes.map((n) => n.op));
        for (const op of ['Clip', 'HardSwish']) assert.ok(!ops.has(op) || v.fn === 'hardswish' && op === 'Clip', `${op} left in the hardened graph`);
        assert.equal(JSON.parse(g.metadata['proact.activations']!)[0].activation, v.fn);
        const s = await ort.InferenceSession.create(writeOnnx(g));
        const out = await s.run({ x: new ort.Tensor('float32', X, [2, 4, 3, 3]) });
        const y = out[s.outputNames[0]!]!.data as Float32Array;
        await s.release();
        for (let i = 0; i < X.length; i++) {
          const channel = Math.floor(i / 9) % 4;
          const t = tValues[granularity === 'layer' ? 0 : channel]!;
          const want = reference(v.fn, kind, guard, X[i]!, t, channel);
          const got = y[i]!;
          const ok = Number.isNaN(want) ? Number.isNaN(got) : got === want || Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want));
          assert.ok(ok, `${granularity}: x = ${X[i]} (channel ${channel}, T = ${t}): got ${got}, expected ${want}`);
        }
      }
    });
  }
}

test('harden: an activation proact cannot clip is named in one line; --skip-unsupported leaves it unclipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-unclippable-'));
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 28, 28] }];
  g.initializers.set('conv.weight', f32([2, 1, 5, 5], Float32Array.from({ length: 50 }, (_, i) => ((i * 37) % 11) / 20 - 0.25)));
  g.initializers.set('fc.weight', f32([10, 2 * 24 * 24], Float32Array.from({ length: 10 * 1152 }, (_, i) => ((i * 53) % 17) / 100 - 0.08)));
  g.initializers.set('shape', { dtype: 'int64', dims: [2], data: BigInt64Array.of(-1n, 1152n) });
  g.initializers.set('half', scalarF32(0.5));
  const [c] = g.add('Conv', ['input', 'conv.weight'], {}, { name: 'conv' });
  const [e] = g.add('Elu', [c!], { alpha: float(1) }, { name: 'my_elu' });
  const [r] = g.add('LeakyRelu', [e!], { alpha: float(0.1) }, { name: 'leaky' });
  const [flat] = g.add('Reshape', [r!, 'shape'], {}, { name: 'flatten' });
  g.add('Gemm', [flat!, 'fc.weight'], { transB: { type: 'int', value: 1 } }, { name: 'fc', outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 10] }];
  const model = join(dir, 'elu.onnx');
  writeFileSync(model, writeOnnx(g));
  const args = ['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', join(dir, 'h.onnx'), '--profile-images', '64', '--validation', '32'];
  expectUserError(runCli(args), /^proact: activation node 'my_elu' is Elu, which proact cannot clip; pass --skip-unsupported to leave it unclipped/);
  const r2 = runCli([...args, '--skip-unsupported', '--json']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /left unclipped \(--skip-unsupported\): node 'my_elu' \(Elu\)/);
  const res = JSON.parse(r2.stdout) as { thresholdValues: number };
  assert.equal(res.thresholdValues, 1, 'only the LeakyReLU layer is clipped');
});
