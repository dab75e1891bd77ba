// The model contract (src/runtime/contract.ts): models that are not [N, C] classifiers of the data's
// images are refused with a one-line error naming the model, instead of being scored; a fixed batch of
// 1 is run one image at a time with the same accuracy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { i64, int, writeOnnx, type Graph } from '../../src/graph/index.js';
import { runCli, expectUserError } from '../helpers/cli.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-contract-'));

function save(name: string, g: Graph): string {
  const p = join(dir, name);
  writeFileSync(p, writeOnnx(g));
  return p;
}

/** tinyCnn with its logits passed through `tail` (which names its output 'out') and the output declared as `dims`. */
function withTail(tail: (g: Graph) => void, dims: number[], dtype: 'float32' | 'int64' = 'float32'): Graph {
  const g = tinyCnn();
  tail(g);
  g.outputs = [{ name: 'out', dtype, dims }];
  return g;
}

const evalArgs = (model: string, extra: string[] = []) => ['eval', '--model', model, '--data', 'mnist', '--limit', '40', '--json', ...extra];

test('contract: an output of shape [N, 2, 5] is refused, with a declared or an unknown shape', () => {
  const reshape = (g: Graph) => {
    const shape = g.addConstant('shape', i64([-1, 2, 5]));
    g.add('Reshape', ['logits', shape], {}, { outputs: ['out'] });
  };
  expectUserError(runCli(evalArgs(save('reshape.onnx', withTail(reshape, [-1, 2, 5])))), /reshape\.onnx: output 'out' has shape \[.*2, 5\], not \[N, classes\] logits/);
  expectUserError(runCli(evalArgs(save('reshape-undeclared.onnx', withTail(reshape, [])))), /reshape-undeclared\.onnx: output 'out' has shape \[\?, 2, 5\], not \[N, classes\]/);
});

test('contract: a 1-D argmax output is refused, not scored as one class', () => {
  const argmax = (g: Graph) => void g.add('ArgMax', ['logits'], { axis: int(1), keepdims: int(0) }, { outputs: ['out'] });
  expectUserError(runCli(evalArgs(save('argmax.onnx', withTail(argmax, [-1], 'int64')))), /argmax\.onnx: output 'out' has shape \[.*\], not \[N, classes\] logits/);
});

test('contract: fewer classes than the labels, images of another shape and two inputs are refused by name', () => {
  const five = tinyCnn();
  const w = five.initializers.get('fc2.weight')!;
  five.initializers.set('fc2.weight', { ...w, dims: [5, 16], data: (w.data as Float32Array).slice(0, 80) });
  const b = five.initializers.get('fc2.bias')!;
  five.initializers.set('fc2.bias', { ...b, dims: [5], data: (b.data as Float32Array).slice(0, 5) });
  five.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 5] }];
  expectUserError(runCli(evalArgs(save('five.onnx', five))), /five\.onnx: gives 5 class scores but the data has labels 0\.\.9/);

  const wide = tinyCnn();
  wide.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 3, 28, 28] }];
  expectUserError(runCli(evalArgs(save('wide.onnx', wide))), /wide\.onnx: input 'input' takes images of shape \[3, 28, 28\] but the data has \[1, 28, 28\]/);

  const two = tinyCnn();
  two.inputs = [...two.inputs, { name: 'extra', dtype: 'float32', dims: [-1, 1] }];
  expectUserError(runCli(evalArgs(save('two.onnx', two))), /two\.onnx: has 2 inputs \(input, extra\)/);
});

test('contract: a fixed batch of 1 runs one image at a time, says so, and gives the same accuracy', () => {
  const free = runCli(evalArgs(save('free.onnx', tinyCnn())));
  assert.equal(free.code, 0, free.stderr);
  const one = tinyCnn();
  one.inputs = [{ name: 'input', dtype: 'float32', dims: [1, 1, 28, 28] }];
  one.outputs = [{ name: 'logits', dtype: 'float32', dims: [1, 10] }];
  const fixed = runCli(evalArgs(save('batch1.onnx', one)));
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.match(fixed.stderr, /batch1\.onnx has a fixed batch of 1; every image is run on its own/);
  const a = JSON.parse(free.stdout) as { accuracy: number; correct: number };
  const b = JSON.parse(fixed.stdout) as { accuracy: number; correct: number };
  assert.equal(b.correct, a.correct);
  assert.equal(b.accuracy, a.accuracy);
  // A campaign on it runs too (one image at a time), and harden refuses it clearly.
  const db = join(dir, 'batch1.sqlite');
  const c = runCli(['campaign', '--model', join(dir, 'batch1.onnx'), '--data', 'mnist', '--eval-limit', '20', '--ber', '1e-3', '--trials', '2', '--db', db, '--json']);
  assert.equal(c.code, 0, c.stderr);
  expectUserError(
    runCli(['harden', '--method', 'ranger', '--model', join(dir, 'batch1.onnx'), '--data', 'mnist', '--out', join(dir, 'h.onnx')]),
    /batch1\.onnx: has a fixed batch of 1; hardening trains on batches/,
  );
});

test('contract: eval on 0 images is an error', () => {
  // mnist has 10,000 test images; an offset past them is not reachable from the CLI, so use an empty .npy set.
  const x = join(dir, 'empty-images.npy');
  const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 28, 28), }";
  const pad = 64 - ((10 + header.length + 1) % 64);
  writeFileSync(x, Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0]), Buffer.from(new Uint16Array([header.length + pad + 1]).buffer), Buffer.from(header + ' '.repeat(pad) + '\n')]));
  const r = runCli(['eval', '--model', save('e.onnx', tinyCnn()), '--data', x]);
  assert.equal(r.code, 2, r.stderr);
  assert.doesNotMatch(r.stdout, /0\.00%/);
});

test('a model with external data is read by campaign and harden, as by eval', () => {
  const folder = join(dir, 'external');
  mkdirSync(join(folder, 'weights'), { recursive: true });
  const m = onnxProto.onnx.ModelProto.decode(writeOnnx(tinyCnn()));
  const t = m.graph!.initializer!.find((i) => i.name === 'fc2.bias')!;
  const bias = Buffer.from(t.rawData!);
  writeFileSync(join(folder, 'weights', 'fc2.bin'), bias);
  t.rawData = new Uint8Array(0);
  t.dataLocation = onnxProto.onnx.TensorProto.DataLocation.EXTERNAL;
  t.externalData = [
    onnxProto.onnx.StringStringEntryProto.create({ key: 'location', value: 'weights/fc2.bin' }),
    onnxProto.onnx.StringStringEntryProto.create({ key: 'offset', value: '0' }),
    onnxProto.onnx.StringStringEntryProto.create({ key: 'length', value: String(bias.length) }),
  ];
  const model = join(folder, 'model.onnx');
  writeFileSync(model, onnxProto.onnx.ModelProto.encode(m).finish());
  const e = runCli(evalArgs(model));
  assert.equal(e.code, 0, e.stderr);
  const c = runCli(['campaign', '--model', model, '--data', 'mnist', '--eval-limit', '20', '--ber', '1e-3', '--trials', '2', '--db', join(folder, 'r.sqlite'), '--json']);
  assert.equal(c.code, 0, c.stderr);
  const h = runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--profile-images', '64', '--validation', '100', '--out', join(folder, 'h.onnx'), '--json']);
  assert.equal(h.code, 0, h.stderr);
});
