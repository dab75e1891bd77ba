import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, writeOnnx, f32 } from '../../src/graph/index.js';
import { runCli, expectUserError } from '../helpers/cli.js';
import { sharedFile } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-eval-'));

function tinyModel(op = 'Relu'): Uint8Array {
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 2, 2] }];
  const w = g.addConstant('w', f32([3, 4], Array.from({ length: 12 }, (_, i) => (i % 5) - 2)));
  const [flat] = g.add('Flatten', ['input'], {});
  const [act] = g.add(op, [flat!], {});
  g.add('Gemm', [act!, w], { transB: { type: 'int', value: 1 } }, { outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 3] }];
  return writeOnnx(g);
}

test('eval: bad inputs give one-line errors and exit code 2', async () => {
  const good = join(dir, 'good.onnx');
  writeFileSync(good, tinyModel());
  const truncated = join(dir, 'truncated.onnx');
  writeFileSync(truncated, readFileSync(good).subarray(0, 40));
  const notOnnx = join(dir, 'notes.onnx');
  writeFileSync(notOnnx, 'this is a text file, not a model\n'.repeat(10));
  const unsupported = join(dir, 'unsupported.onnx');
  writeFileSync(unsupported, tinyModel('Fancy'));
  const badData = join(dir, 'bad-cifar');
  mkdirSync(badData);
  writeFileSync(join(badData, 'test_batch.bin'), Buffer.alloc(3073 * 2 + 100));

  expectUserError(runCli(['eval', '--model', truncated, '--data', 'mnist']), /truncated\.onnx.*(not a valid ONNX|truncated)/);
  expectUserError(runCli(['eval', '--model', notOnnx, '--data', 'mnist']), /notes\.onnx.*not a valid ONNX/);
  expectUserError(runCli(['eval', '--model', unsupported, '--data', 'mnist']), /unsupported op 'Fancy'.*node/);
  expectUserError(runCli(['eval', '--model', join(dir, 'missing.onnx'), '--data', 'mnist']), /missing\.onnx: no such model file/);
  expectUserError(runCli(['eval', '--model', good, '--data', badData]), /test_batch\.bin.*3073/);
  expectUserError(runCli(['eval', '--model', good, '--data', join(dir, 'nowhere')]), /nowhere.*not found/);
  expectUserError(runCli(['eval', '--model', good, '--data', 'mnist', '--batch', 'zero']), /--batch zero/);
  expectUserError(runCli(['eval', '--model', good, '--data', 'mnist', '--frobnicate']), /unknown option '--frobnicate'/);
  const verbose = runCli(['eval', '--model', notOnnx, '--data', 'mnist', '--verbose']);
  assert.equal(verbose.code, 2);
  assert.match(verbose.stderr, /at .*\.js:\d+/, 'with --verbose the stack trace is printed');
});

test('eval: resnet20.onnx gives exactly the accuracy in its .json on the whole test set', async (t) => {
  const model = sharedFile(t, 'models/resnet20.onnx');
  const data = sharedFile(t, 'data/cifar10-jpeg75');
  if (!model || !data) return;
  const r = runCli(['eval', '--model', model, '--data', data, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { accuracy: number; images: number; summary: { activationLayers: number } };
  const expected = (JSON.parse(readFileSync(model.replace(/\.onnx$/, '.json'), 'utf8')) as { test_accuracy: number }).test_accuracy;
  assert.equal(out.images, 10000);
  assert.equal(out.accuracy, expected);
  assert.equal(out.summary.activationLayers, 19);
});
