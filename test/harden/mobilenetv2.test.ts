/**
 * Acceptance on MobileNetV2 (35 ReLU6 = Clip(0, 6) layers, depthwise convs): `proact overhead` lists
 * every ReLU6 layer, and `proact harden` with each method (tiny budgets) writes a model that plain
 * onnxruntime-node reloads with logits equal to proact's within 1e-5. The fixture is the zoo's
 * mobilenetv2-cifar at width 0.25 with seeded weights, on a small generated CIFAR-10 directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { activationLayers, prepareGraph, readOnnxFile, writeOnnx } from '../../src/graph/index.js';
import { mobilenetV2Cifar } from '../../src/zoo/index.js';
import { Session } from '../../src/runtime/index.js';
import { mulberry32 } from '../../src/data/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, writeCifar10 } from '../data/fixtures.js';
import type { HardenCliResult } from '../../src/cli/harden.js';

const dir = tempDir('proact-mobilenetv2-');
const data = join(dir, 'cifar');
mkdirSync(data);
writeCifar10(join(data, 'data_batch_1.bin'), Array.from({ length: 96 }, (_, i) => i % 10));
writeCifar10(join(data, 'test_batch.bin'), Array.from({ length: 32 }, (_, i) => (i * 3) % 10), 1000);
const graph = mobilenetV2Cifar({ seed: 3, width: 0.25 });
const model = join(dir, 'mobilenetv2.onnx');
writeFileSync(model, writeOnnx(graph));
const clipNodes = graph.nodes.filter((n) => n.op === 'Clip').map((n) => n.name);
const small = ['--profile-images', '16', '--validation', '16', '--seed', '1', '--batch', '16'];

test('mobilenetv2: eval and overhead list every ReLU6 (Clip) layer by node', () => {
  assert.equal(clipNodes.length, 35);
  const o = runCli(['overhead', '--model', model, '--layers', '--json']);
  assert.equal(o.code, 0, o.stderr);
  const overhead = JSON.parse(o.stdout) as { layers: { node: string; activation: string; dims: number[] }[] };
  assert.deepEqual(overhead.layers.map((l) => l.node), clipNodes);
  assert.ok(overhead.layers.every((l) => l.activation === 'relu6'));
  assert.deepEqual(overhead.layers.at(-1)!.dims, [1280, 4, 4]);
  const text = runCli(['overhead', '--model', model, '--layers']);
  assert.match(text.stdout, /35 activation layers \(ReLU6 x35\)/);
  for (const n of clipNodes) assert.match(text.stdout, new RegExp(`\\b${n.replace(/\./g, '\\.')} +relu6\\b`));
  const e = runCli(['eval', '--model', model, '--data', data, '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout) as { summary: { activationLayers: number; activationKinds: Record<string, number> }; activations: { node: string; activation: string }[] };
  assert.equal(ev.summary.activationLayers, 35);
  assert.deepEqual(ev.summary.activationKinds, { relu6: 35 });
  assert.deepEqual(ev.activations.map((a) => [a.node, a.activation]), clipNodes.map((n) => [n, 'relu6']));
  const et = runCli(['eval', '--model', model, '--data', data, '--layers']);
  assert.equal(et.code, 0, et.stderr);
  assert.match(et.stdout, /activation layers 35 \(ReLU6 x35\)/);
  for (const n of clipNodes) assert.match(et.stdout, new RegExp(`\\b${n.replace(/\./g, '\\.')} +relu6 +\\d`));
});

const METHODS: [string, string[]][] = [
  ['ranger', []],
  ['ranger-zero', ['--granularity', 'channel']],
  ['ftclipact', ['--fi-bers', '1e-9', '--fi-repetitions', '1', '--fi-candidates', '3', '--fi-rounds', '1', '--fi-min-rounds', '1', '--fi-images', '8']],
  ['fitact', ['--epochs', '1', '--train-images', '16']],
  ['proact', ['--scalar-epochs', '1', '--vector-epochs', '1', '--warmup-epochs', '0', '--train-images', '16', '--weight-decays', '0.4']],
];

for (const [method, extra] of METHODS) {
  test(`mobilenetv2: harden --method ${method} clips all 35 ReLU6 layers; plain onnxruntime gives proact's logits within 1e-5`, async () => {
    const out = join(dir, `${method}.onnx`);
    const r = runCli(['harden', '--method', method, '--model', model, '--data', data, '--out', out, ...small, ...extra, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as HardenCliResult;
    const hardened = readOnnxFile(out);
    const records = JSON.parse(hardened.metadata['proact.activations']!) as { node: string; activation: string; threshold: string }[];
    assert.deepEqual(records.map((a) => a.node), clipNodes);
    assert.ok(records.every((a) => a.activation === 'relu6'));
    assert.equal(hardened.nodes.filter((n) => n.op === 'Clip').length, 0, 'the threshold replaces every fixed 6');
    const ov = JSON.parse(runCli(['overhead', '--model', out, '--json']).stdout) as { layers: unknown[]; stored: { parameters: number } };
    assert.equal(ov.layers.length, 35);
    assert.equal(ov.stored.parameters, res.thresholdValues);
    const ev = JSON.parse(runCli(['eval', '--model', out, '--data', data, '--limit', '8', '--json']).stdout) as { activations: { node: string; activation: string }[] };
    assert.deepEqual(ev.activations.map((a) => [a.node, a.activation]), clipNodes.map((n) => [n, 'relu6']), 'eval counts each clipped form once');

    const rand = mulberry32(5);
    const x = Float32Array.from({ length: 4 * 3 * 32 * 32 }, () => rand());
    const plain = await ort.InferenceSession.create(out);
    const theirs = (await plain.run({ [plain.inputNames[0]!]: new ort.Tensor('float32', x, [4, 3, 32, 32]) }))[plain.outputNames[0]!]!.data as Float32Array;
    await plain.release();
    const prepared = prepareGraph(readOnnxFile(out));
    assert.equal(activationLayers(prepared).filter((l) => l.fn === 'relu6').length, 0, 'no ReLU6 left unclipped');
    const session = await Session.create(prepared, { threads: 1 });
    const ours = (await session.run({ input: { data: x, dims: [4, 3, 32, 32] } }, ['logits']))['logits']!.data;
    await session.release();
    assert.equal(theirs.length, 40);
    for (let i = 0; i < 40; i++) assert.ok(Math.abs(theirs[i]! - ours[i]!) <= 1e-5 * Math.max(1, Math.abs(ours[i]!)), `logit ${i}: ${theirs[i]} vs ${ours[i]}`);
  });
}
