/**
 * Every method on a model whose layers are SiLU, GELU (erf), HardSwish (x * HardSigmoid) and
 * LeakyReLU, end to end through `proact harden` (tiny budgets, built-in MNIST): each hardened file
 * clips all four layers, keeps their functions in its metadata, and reloads in plain onnxruntime with
 * proact's logits within 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { Graph, activationLayers, f32, float, prepareGraph, readOnnxFile, scalarF32, writeOnnx } from '../../src/graph/index.js';
import { Session } from '../../src/runtime/index.js';
import { mulberry32 } from '../../src/data/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../data/fixtures.js';
import type { HardenCliResult } from '../../src/cli/harden.js';

const dir = tempDir('proact-kinds-');
const rand = mulberry32(11);
const weights = (dims: number[], scale: number) => f32(dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rand() - 0.5) * scale));

/** input [N,1,28,28] -> conv 4 5x5 s2 -> SiLU -> conv 4 3x3 s2 -> GELU -> flatten -> fc 16 -> HardSwish -> fc 16 -> LeakyReLU -> fc 10. */
function mixedModel(): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 28, 28], dimNames: ['batch', undefined, undefined, undefined] }];
  const c = (name: string, v: number) => g.addConstant(name, scalarF32(v));
  const s2 = { strides: { type: 'ints' as const, value: [2, 2] } };
  g.initializers.set('c1.w', weights([4, 1, 5, 5], 0.8));
  g.initializers.set('c2.w', weights([4, 4, 3, 3], 0.6));
  g.initializers.set('f1.w', weights([16, 100], 0.3));
  g.initializers.set('f2.w', weights([16, 16], 0.6));
  g.initializers.set('f3.w', weights([10, 16], 0.6));
  g.initializers.set('shape', { dtype: 'int64', dims: [2], data: BigInt64Array.of(-1n, 100n) });
  const [a] = g.add('Conv', ['input', 'c1.w'], s2, { name: 'conv1' });
  const [silu] = g.add('Mul', [a!, g.add('Sigmoid', [a!], {}, { name: 'sig' })[0]!], {}, { name: 'silu' });
  const [b] = g.add('Conv', [silu!, 'c2.w'], s2, { name: 'conv2' });
  const [erf] = g.add('Erf', [g.add('Div', [b!, c('sqrt2', Math.SQRT2)], {}, { name: 'div' })[0]!], {}, { name: 'erf' });
  const [gelu] = g.add('Mul', [g.add('Mul', [b!, g.add('Add', [erf!, c('one', 1)], {}, { name: 'add1' })[0]!], {}, { name: 'mul' })[0]!, c('half', 0.5)], {}, { name: 'gelu' });
  const [flat] = g.add('Reshape', [gelu!, 'shape'], {}, { name: 'flatten' });
  const [h] = g.add('Gemm', [flat!, 'f1.w'], { transB: { type: 'int', value: 1 } }, { name: 'fc1' });
  const [hs] = g.add('Mul', [h!, g.add('HardSigmoid', [h!], { alpha: float(1 / 6), beta: float(0.5) }, { name: 'hsig' })[0]!], {}, { name: 'hardswish' });
  const [h2] = g.add('Gemm', [hs!, 'f2.w'], { transB: { type: 'int', value: 1 } }, { name: 'fc2' });
  const [lr] = g.add('LeakyRelu', [h2!], { alpha: float(0.1) }, { name: 'leaky' });
  g.add('Gemm', [lr!, 'f3.w'], { transB: { type: 'int', value: 1 } }, { name: 'fc3', outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 10], dimNames: ['batch', undefined] }];
  return g;
}

const model = join(dir, 'mixed.onnx');
writeFileSync(model, writeOnnx(mixedModel()));
const small = ['--profile-images', '64', '--validation', '32', '--seed', '2', '--batch', '32'];
const METHODS: [string, string[]][] = [
  ['ranger', []],
  ['ranger-zero', ['--granularity', 'neuron']],
  ['ftclipact', ['--fi-bers', '1e-6', '--fi-repetitions', '1', '--fi-candidates', '3', '--fi-rounds', '1', '--fi-min-rounds', '1', '--fi-images', '16']],
  ['fitact', ['--epochs', '1', '--train-images', '64']],
  ['proact', ['--scalar-epochs', '1', '--vector-epochs', '1', '--warmup-epochs', '0', '--train-images', '64', '--weight-decays', '0.4,0']],
];

test('mixed activations: the four layers are recognised with their functions', () => {
  assert.deepEqual(activationLayers(prepareGraph(readOnnxFile(model))).map((l) => [l.node, l.fn]), [
    ['silu', 'silu'],
    ['gelu', 'gelu-erf'],
    ['hardswish', 'hardswish'],
    ['leaky', 'leaky-relu'],
  ]);
});

for (const [method, extra] of METHODS) {
  test(`mixed activations: harden --method ${method} clips SiLU, GELU, HardSwish and LeakyReLU; plain onnxruntime gives proact's logits`, async () => {
    const out = join(dir, `${method}.onnx`);
    const r = runCli(['harden', '--method', method, '--model', model, '--data', 'mnist', '--out', out, ...small, ...extra, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as HardenCliResult).thresholdValues >= 4);
    const hardened = readOnnxFile(out);
    const records = JSON.parse(hardened.metadata['proact.activations']!) as { node: string; activation: string }[];
    assert.deepEqual(records.map((a) => a.activation), ['silu', 'gelu-erf', 'hardswish', 'leaky-relu']);
    const x = Float32Array.from({ length: 3 * 784 }, () => rand());
    const plain = await ort.InferenceSession.create(out);
    const theirs = (await plain.run({ input: new ort.Tensor('float32', x, [3, 1, 28, 28]) }))['logits']!.data as Float32Array;
    await plain.release();
    const session = await Session.create(prepareGraph(readOnnxFile(out)), { threads: 1 });
    const ours = (await session.run({ input: { data: x, dims: [3, 1, 28, 28] } }, ['logits']))['logits']!.data;
    await session.release();
    for (let i = 0; i < 30; i++) assert.ok(Math.abs(theirs[i]! - ours[i]!) <= 1e-5 * Math.max(1, Math.abs(ours[i]!)), `logit ${i}: ${theirs[i]} vs ${ours[i]}`);
  });
}
