/**
 * The embedded default model, models/mnist-lenet.onnx: its accuracy on the 10,000 MNIST test images
 * is at least 98.5% and is exactly the figure recorded in models/mnist-lenet.json and in its metadata.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { openDataset } from '../../src/data/index.js';
import { activationLayers, readOnnxFile } from '../../src/graph/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import type { TrainRecord } from '../../src/cli/train.js';
import { replayArgs } from '../../bench/train.js';

const MODEL = resolve(process.cwd(), 'models/mnist-lenet.onnx');
const RECORD = resolve(process.cwd(), 'models/mnist-lenet.json');

test('the shipped LeNet-5 reaches its recorded MNIST test accuracy (>= 98.5%)', async () => {
  const record = JSON.parse(readFileSync(RECORD, 'utf8')) as TrainRecord;
  const g = readOnnxFile(MODEL);
  const session = await Session.create(g, { threads: 2 });
  const r = await evaluate(session, openDataset('mnist', { split: 'test' }), { batchSize: 500 });
  await session.release();
  assert.equal(r.count, 10000);
  assert.ok(r.accuracy >= 0.985, `test accuracy ${r.accuracy}`);
  assert.equal(r.accuracy, record.testAccuracy);
  assert.equal(g.metadata['proact.test_accuracy'], String(record.testAccuracy));
  assert.equal(g.metadata['proact.train_seed'], String(record.seed));
  assert.equal(g.metadata['proact.train_command'], record.command);
});

test('the shipped model is small and has the zoo layout', () => {
  assert.ok(statSync(MODEL).size < 300_000, `${statSync(MODEL).size} bytes`);
  const g = readOnnxFile(MODEL);
  assert.deepEqual(g.dataInputs().map((v) => [v.name, v.dims]), [['input', [-1, 1, 28, 28]]]);
  assert.equal(g.outputs[0]!.name, 'logits');
  assert.deepEqual(activationLayers(g).map((l) => l.dims), [[6, 28, 28], [16, 10, 10], [120], [84]]);
  const record = JSON.parse(readFileSync(RECORD, 'utf8')) as TrainRecord;
  assert.equal(record.arch, 'lenet5');
  assert.match(record.command, /^proact train --arch lenet5 --data mnist /);
  assert.match(record.date, /^\d{4}-\d\d-\d\dT/);
  assert.ok(record.seconds > 0);
});

test('the benchmark replays the recorded command with another --out', () => {
  const record = JSON.parse(readFileSync(RECORD, 'utf8')) as TrainRecord;
  const args = replayArgs(record.command, '/tmp/x.onnx');
  assert.equal(args[0], 'train');
  assert.equal(args[args.indexOf('--out') + 1], '/tmp/x.onnx');
  assert.equal(args[args.indexOf('--seed') + 1], String(record.seed));
  assert.throws(() => replayArgs('proact eval --model m.onnx', 'x.onnx'), /is not a proact train command/);
});
