/**
 * Model files are untrusted input: external data stays inside the model's folder, a declared size is
 * checked before memory is reserved, and nothing in a model is executed (proact only decodes protobuf
 * data: tensors, names, attributes; ops are looked up in a fixed table; see docs/reliability.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { prepareGraph, readOnnxFile, summarizeGraph, writeOnnx, MAX_TENSOR_ELEMENTS } from '../../src/graph/index.js';
import { Session } from '../../src/runtime/index.js';
import { ProactError } from '../../src/util/errors.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const { onnx } = onnxProto;
const root = mkdtempSync(join(tmpdir(), 'proact-model-safety-'));
const FC2_BIAS = Float32Array.from({ length: 10 }, (_, i) => i / 8 - 0.5);

/** The tiny CNN in its own folder with `edit` applied to its protobuf message; returns the model path. */
function modelWith(name: string, edit: (m: onnxProto.onnx.ModelProto) => void): string {
  const folder = join(root, name);
  mkdirSync(folder, { recursive: true });
  const m = onnx.ModelProto.decode(writeOnnx(tinyCnn(1)));
  edit(m);
  const path = join(folder, 'model.onnx');
  writeFileSync(path, onnx.ModelProto.encode(m).finish());
  return path;
}

/** fc2.bias stored as external data at `location` (offset 0, 40 bytes). */
function externalBias(name: string, location: string): string {
  return modelWith(name, (m) => {
    const t = m.graph!.initializer!.find((i) => i.name === 'fc2.bias')!;
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      onnx.StringStringEntryProto.create({ key: 'location', value: location }),
      onnx.StringStringEntryProto.create({ key: 'offset', value: '0' }),
      onnx.StringStringEntryProto.create({ key: 'length', value: '40' }),
    ];
  });
}

function refused(path: string, pattern: RegExp): void {
  assert.throws(
    () => readOnnxFile(path),
    (e: unknown) => e instanceof ProactError && pattern.test(e.message) && !e.message.includes('\n'),
  );
}

const biasBytes = new Uint8Array(FC2_BIAS.buffer);

test('external data inside the model folder is read (the control case)', () => {
  const path = externalBias('inside', 'weights/fc2.bin');
  mkdirSync(join(root, 'inside', 'weights'));
  writeFileSync(join(root, 'inside', 'weights', 'fc2.bin'), biasBytes);
  const g = readOnnxFile(path);
  assert.deepEqual(Array.from(g.initializers.get('fc2.bias')!.data as Float32Array), Array.from(FC2_BIAS));
});

test('external data outside the model folder is refused: ../../etc/passwd, an absolute path, a link leading out', () => {
  refused(externalBias('dotdot', '../../etc/passwd'), /external data path '\.\.\/\.\.\/etc\/passwd' points outside the model's folder; refusing to read it/);
  refused(externalBias('absolute', '/etc/passwd'), /external data path '\/etc\/passwd' points outside the model's folder/);
  refused(externalBias('sneaky', 'sub/../../outside.bin'), /points outside the model's folder/);
  // A symbolic link inside the folder whose target is outside it.
  const outside = join(root, 'secret.bin');
  writeFileSync(outside, biasBytes);
  const path = externalBias('link', 'fc2.bin');
  symlinkSync(outside, join(root, 'link', 'fc2.bin'));
  refused(path, /external data file 'fc2\.bin' is a link to a file outside the model's folder; refusing to read it/);
});

test('missing or unusable external data is refused with a one-line error', () => {
  refused(externalBias('missing', 'fc2.bin'), /external data file 'fc2\.bin' is missing next to the model/);
  const dir = externalBias('folder', 'data');
  mkdirSync(join(root, 'folder', 'data'));
  refused(dir, /external data path 'data' is not a file/);
  const short = externalBias('short', 'fc2.bin');
  writeFileSync(join(root, 'short', 'fc2.bin'), biasBytes.subarray(0, 12));
  refused(short, /external data file 'fc2\.bin' is too short \(12 bytes, need 40\)/);
});

test('a 1e12-element tensor is refused before allocation; a 2^30-element one with 4 bytes of data too', () => {
  const huge = modelWith('huge', (m) => {
    const t = m.graph!.initializer!.find((i) => i.name === 'fc2.bias')!;
    t.dims = [1e6, 1e6];
    t.rawData = new Uint8Array(0);
  });
  refused(huge, new RegExp(`initializer 'fc2\\.bias': declares 1\\.00e\\+12 elements \\(dims \\[1000000,1000000\\]\\), above the limit of ${MAX_TENSOR_ELEMENTS}; refusing to allocate it`));
  // Under the limit but with data that does not fill it: refused from the data size, before any 4 GB buffer is reserved.
  const lying = modelWith('lying', (m) => {
    const t = m.graph!.initializer!.find((i) => i.name === 'fc2.bias')!;
    t.dims = [2 ** 15, 2 ** 15];
    t.rawData = new Uint8Array(4);
  });
  const before = process.memoryUsage().arrayBuffers;
  refused(lying, /holds 4 bytes but dims \[32768,32768\] of float32 need 4294967296; the model is corrupted/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 256 << 20, 'no gigabyte buffer was reserved');
});

test('nothing in a model is executed: code in names and metadata stays text, unknown ops and subgraphs are refused', async () => {
  const canary = join(root, 'pwned');
  const code = `require('child_process').execSync('touch ${canary}'); $(touch ${canary}); \`touch ${canary}\``;
  const path = modelWith('code', (m) => {
    m.metadataProps = [onnx.StringStringEntryProto.create({ key: 'onnx.custom_loader', value: code })];
    m.docString = code;
    m.graph!.docString = code;
    m.graph!.node![0]!.docString = code;
    m.graph!.node![0]!.name = code;
  });
  const g = prepareGraph(readOnnxFile(path));
  summarizeGraph(g);
  const session = await Session.create(g, { threads: 1 });
  await session.release();
  assert.equal(existsSync(canary), false);

  // An op from a custom domain (e.g. a Python op of onnxruntime-extensions) is not run: proact refuses it.
  const custom = modelWith('custom-op', (m) => {
    const relu = m.graph!.node!.find((n) => n.opType === 'Relu')!;
    relu.opType = 'PyOp';
    relu.domain = 'ai.onnx.contrib';
    relu.attribute = [onnx.AttributeProto.create({ name: 'code', type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(code) })];
  });
  assert.throws(() => prepareGraph(readOnnxFile(custom)), (e: unknown) => e instanceof ProactError && /unsupported op 'PyOp' \(domain ai\.onnx\.contrib\)/.test(e.message));
  // onnxruntime itself refuses it too (no custom-op library is ever registered).
  const g2 = readOnnxFile(custom);
  await assert.rejects(Session.create(g2, { threads: 1 }), (e: unknown) => e instanceof ProactError && /onnxruntime rejected the model/.test(e.message));
  // Control flow (Loop/If/Scan bodies) would be graphs inside attributes: refused when decoding.
  const loop = modelWith('subgraph', (m) => {
    const relu = m.graph!.node!.find((n) => n.opType === 'Relu')!;
    relu.attribute = [onnx.AttributeProto.create({ name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: onnx.GraphProto.create({ name: 'body' }) })];
  });
  refused(loop, /attribute type 5 \(graphs, sparse tensors\) is not supported by proact/);
  assert.equal(existsSync(canary), false);
});
