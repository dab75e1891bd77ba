/** `proact harden` (Ranger, FT-ClipAct, saved thresholds) and `proact overhead` end to end on the tiny MNIST CNN. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { readOnnxFile } from '../../src/graph/index.js';
import { thresholdsFromJSON } from '../../src/harden/index.js';
import { runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import type { HardenCliResult } from '../../src/cli/harden.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-harden-cli-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'), 6);
const small = ['--profile-images', '400', '--validation', '200', '--seed', '9'];

test('harden ranger: writes the ONNX, thresholds, decisions and profile; a rerun reuses the profile', () => {
  const out = join(dir, 'ranger.onnx');
  const r = runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', out, ...small, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /seed 9: validation 200 and training 59800 images/);
  assert.match(r.stderr, /profile: 400 images, 2 activation layers, cached in .*ranger\.profile\.json/);
  const res = JSON.parse(r.stdout) as HardenCliResult;
  assert.equal(res.method, 'ranger');
  assert.equal(res.seed, 9);
  assert.equal(res.thresholdValues, 2);
  assert.equal(res.validationImages, 200);
  assert.equal(res.testImages, 10000);
  for (const a of [res.validationAccuracy, res.testAccuracy, res.baseline.testAccuracy]) assert.ok(a !== null && a >= 0 && a <= 1, String(a));
  assert.equal(res.imagesProcessed, 600);
  for (const f of ['ranger.onnx', 'ranger.thresholds.json', 'ranger.decisions.json', 'ranger.profile.json']) assert.ok(existsSync(join(dir, f)), f);

  const set = thresholdsFromJSON(readFileSync(join(dir, 'ranger.thresholds.json'), 'utf8'));
  assert.equal(set.method, 'ranger');
  assert.deepEqual(set.thresholds.map((t) => [t.thresholdName, t.kind, t.granularity]), [
    ['proact.threshold.0', 'clip-sat', 'layer'],
    ['proact.threshold.1', 'clip-sat', 'layer'],
  ]);
  const g = readOnnxFile(out);
  assert.equal((g.initializers.get('proact.threshold.1')!.data as Float32Array)[0], set.thresholds[1]!.values[0]);
  assert.equal(g.metadata['proact.seed'], '9');
  const decisions = JSON.parse(readFileSync(join(dir, 'ranger.decisions.json'), 'utf8')) as { method: string; decisions: unknown[] };
  assert.equal(decisions.method, 'ranger');
  assert.deepEqual(decisions.decisions, []);

  const again = runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', out, ...small]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /profile: reused .*ranger\.profile\.json \(400 images\)/);
  assert.match(again.stdout, /method +ranger \(seed 9\)/);
  assert.match(again.stdout, /validation \(200\)/);
  const other = runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', out, ...small, '--profile-images', '300']);
  assert.match(other.stderr, /profile: 300 images/, 'another image count profiles again');

  // Applying the saved thresholds reproduces the model.
  const applied = join(dir, 'applied.onnx');
  const ap = runCli(['harden', '--thresholds', join(dir, 'ranger.thresholds.json'), '--model', model, '--data', 'mnist', '--out', applied, ...small, '--json']);
  assert.equal(ap.code, 0, ap.stderr);
  const back = readOnnxFile(applied);
  assert.equal((back.initializers.get('proact.threshold.0')!.data as Float32Array)[0], (readOnnxFile(join(dir, 'ranger.onnx')).initializers.get('proact.threshold.0')!.data as Float32Array)[0]);
});

test('harden ranger-zero neuron-wise: the hardened file runs in plain onnxruntime-node', async () => {
  const out = join(dir, 'rz.onnx');
  const r = runCli(['harden', '--method', 'ranger-zero', '--granularity', 'neuron', '--model', model, '--data', 'mnist', '--out', out, ...small, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as HardenCliResult).thresholdValues, 4 * 14 * 14 + 16);
  const s = await ort.InferenceSession.create(out);
  const y = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]) });
  assert.deepEqual(y[s.outputNames[0]!]!.dims, [2, 10]);
  await s.release();
});

test('harden ftclipact with a tiny budget logs each layer and writes its decisions', () => {
  const out = join(dir, 'ft.onnx');
  const r = runCli([
    'harden', '--method', 'ftclipact', '--model', model, '--data', 'mnist', '--out', out, ...small,
    '--fi-bers', '1e-4', '--fi-repetitions', '2', '--fi-images', '32', '--fi-rounds', '2', '--fi-min-rounds', '1', '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /layer 0 \(.*\): T = .* of max .* after \d+ trials/);
  assert.match(r.stderr, /layer 1 \(.*\): T = /);
  const log = JSON.parse(readFileSync(join(dir, 'ft.decisions.json'), 'utf8')) as { decisions: { layer: number; accepted: boolean }[] };
  // Each round logs its 4 candidates: 1 or 2 rounds per layer.
  assert.ok(log.decisions.length >= 8 && log.decisions.length <= 16 && log.decisions.length % 4 === 0, `${log.decisions.length} decisions`);
  assert.equal(log.decisions.filter((d) => d.accepted).length, 2);
  const set = thresholdsFromJSON(readFileSync(join(dir, 'ft.thresholds.json'), 'utf8'));
  assert.deepEqual(set.thresholds.map((t) => t.kind), ['clip-zero', 'clip-zero']);
});

test('overhead: table and JSON for the tiny CNN', () => {
  const r = runCli(['overhead', '--model', model, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { schemes: Record<string, { parameters: number; bytes: number }>; layers: unknown[] };
  assert.equal(o.layers.length, 2);
  assert.deepEqual(o.schemes.neuron, { parameters: 800, bytes: 3200 });
  assert.deepEqual(o.schemes.hyrelu, { parameters: 17, bytes: 68 });
  const t = runCli(['overhead', '--model', model, '--layers']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /neuron-wise +800 +3,200 +47\.06/);
  assert.match(t.stdout, /HyReLU +17 +68 +1\.00/);
  assert.match(t.stdout, /4x14x14 +784 +4/);
  const hardened = runCli(['overhead', '--model', join(dir, 'rz.onnx'), '--json']);
  if (existsSync(join(dir, 'rz.onnx'))) {
    assert.equal(hardened.code, 0, hardened.stderr);
    assert.deepEqual((JSON.parse(hardened.stdout) as { stored: { parameters: number } }).stored.parameters, 800);
  }
});
