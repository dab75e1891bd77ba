/**
 * Weight clipping: the bounds are each tensor's (or channel's) clean range, the bounded model gives
 * bit-identical logits on clean weights (in our runtime, in plain onnxruntime-node from the file, and
 * in the number formats of a campaign), overhead counts the bounds, and `proact harden` writes them
 * alone (--method weight-clip) or with any activation method (--weight-clip). The fault behaviour
 * (a flipped weight reads as its bound, a flipped bound unprotects its tensor) is in
 * test/faults/model.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { faultSurface, makeFaultable } from '../../src/campaign/index.js';
import { openDataset } from '../../src/data/index.js';
import { Graph, f32, int, prepareGraph, readOnnxFile, writeOnnx, type Node } from '../../src/graph/index.js';
import { WEIGHT_CLIP_METADATA, addWeightBounds, graphOverhead, outputChannelAxis, weightBoundOverhead } from '../../src/harden/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import type { HardenCliResult } from '../../src/cli/harden.js';
import { expectUserError, runCli } from '../helpers/cli.js';
import { tinyCnn, writeTinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-weightclip-'));
const plain = prepareGraph(tinyCnn());
const images = openDataset('mnist', { split: 'test' });
const LIMIT = 300;

function values(g: Graph, name: string): Float32Array {
  return g.initializers.get(name)!.data as Float32Array;
}

function rowRange(data: Float32Array, row: number, length: number): [number, number] {
  const r = data.subarray(row * length, (row + 1) * length);
  return [Math.min(...r), Math.max(...r)];
}

async function logits(model: Graph | Uint8Array): Promise<Buffer> {
  const s = await Session.create(model, { threads: 1 });
  try {
    const r = await evaluate(s, images, { keepLogits: true, batchSize: 100, limit: LIMIT });
    return Buffer.from(r.logits!.buffer, r.logits!.byteOffset, r.logits!.byteLength);
  } finally {
    await s.release();
  }
}

async function plainOrtLogits(path: string): Promise<Buffer> {
  const session = await ort.InferenceSession.create(path);
  try {
    const batch = images.read(0, LIMIT);
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', batch.x, [LIMIT, ...images.shape]) });
    const data = out[session.outputNames[0]!]!.data as Float32Array;
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  } finally {
    await session.release();
  }
}

test('weight clipping, tensor-wise (the default): one Clip per weight and bias with the tensor min and max as scalar initializers', () => {
  const { graph, bounds } = addWeightBounds(plain);
  assert.deepEqual(bounds.map((b) => [b.tensor, b.kind, b.granularity, b.dims]), [
    ['conv1.weight', 'weight', 'tensor', []],
    ['conv1.bias', 'bias', 'tensor', []],
    ['fc1.weight', 'weight', 'tensor', []],
    ['fc1.bias', 'bias', 'tensor', []],
    ['fc2.weight', 'weight', 'tensor', []],
    ['fc2.bias', 'bias', 'tensor', []],
  ]);
  for (const b of bounds) {
    const v = values(plain, b.tensor);
    assert.equal(b.min, `proact.bound.${b.tensor}.min`);
    assert.deepEqual(Array.from(values(graph, b.min)), [Math.min(...v)]);
    assert.deepEqual(Array.from(values(graph, b.max)), [Math.max(...v)]);
  }
  const clips = graph.nodes.filter((n) => n.op === 'Clip');
  assert.equal(clips.length, 6);
  assert.deepEqual(clips.map((n) => n.inputs), bounds.map((b) => [b.tensor, b.min, b.max]));
  // Each layer reads its weight and bias through their Clip; the stored tensors are unchanged.
  const gemm = graph.nodes.find((n) => n.op === 'Gemm' && n.outputs[0] === 'logits')!;
  assert.deepEqual(gemm.inputs.slice(1), [clips[4]!.outputs[0], clips[5]!.outputs[0]]);
  assert.equal(values(graph, 'fc2.weight'), values(plain, 'fc2.weight'));
  assert.deepEqual(JSON.parse(graph.metadata[WEIGHT_CLIP_METADATA]!), { granularity: 'tensor', margin: 0, tensors: 6, values: 12 });
  assert.equal(plain.nodes.filter((n) => n.op === 'Clip').length, 0, 'the input graph is not changed');
});

test('weight clipping, channel-wise: Min/Max with one range per output channel of each weight, biases per tensor; the margin widens every range', () => {
  const { graph, bounds } = addWeightBounds(plain, { granularity: 'channel' });
  assert.deepEqual(bounds.map((b) => [b.tensor, b.granularity, b.dims]), [
    ['conv1.weight', 'channel', [4, 1, 1, 1]],
    ['conv1.bias', 'tensor', []],
    ['fc1.weight', 'channel', [16, 1]],
    ['fc1.bias', 'tensor', []],
    ['fc2.weight', 'channel', [10, 1]],
    ['fc2.bias', 'tensor', []],
  ]);
  const fc1 = bounds[2]!;
  for (let c = 0; c < 16; c++) {
    const [lo, hi] = rowRange(values(plain, 'fc1.weight'), c, 196);
    assert.equal(values(graph, fc1.min)[c], lo);
    assert.equal(values(graph, fc1.max)[c], hi);
  }
  assert.deepEqual(
    graph.nodes.filter((n) => n.op !== 'Clip' && (n.op === 'Min' || n.op === 'Max')).map((n) => n.op),
    ['Min', 'Max', 'Min', 'Max', 'Min', 'Max'],
  );
  assert.equal(graph.nodes.filter((n) => n.op === 'Clip').length, 3);

  const wide = addWeightBounds(plain, { granularity: 'channel', margin: 0.5 }).graph;
  const [lo, hi] = rowRange(values(plain, 'fc1.weight'), 3, 196);
  const widen = 0.5 * Math.max(Math.abs(lo), Math.abs(hi));
  assert.equal(values(wide, 'proact.bound.fc1.weight.min')[3], Math.fround(lo - widen));
  assert.equal(values(wide, 'proact.bound.fc1.weight.max')[3], Math.fround(hi + widen));
});

test('weight clipping: the output-channel axis of each layer type, and one-line errors', () => {
  const node = (op: string, attrs: Node['attrs'] = {}): Node => ({ name: op, op, inputs: [], outputs: [], attrs });
  assert.equal(outputChannelAxis(node('Conv'), 4), 0);
  assert.equal(outputChannelAxis(node('ConvTranspose'), 4), 1);
  assert.equal(outputChannelAxis(node('Gemm', { transB: int(1) }), 2), 0);
  assert.equal(outputChannelAxis(node('Gemm'), 2), 1);
  assert.equal(outputChannelAxis(node('MatMul'), 2), 1);
  // A Gemm weight stored [in, out] (transB 0) gets one range per column.
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [-1, 3] }];
  const w = g.addConstant('w', f32([3, 2], [1, -4, 2, 5, 3, 6]));
  g.add('Gemm', ['x', w], {}, { outputs: ['y'] });
  g.outputs = [{ name: 'y', dtype: 'float32', dims: [-1, 2] }];
  const { graph, bounds } = addWeightBounds(g, { granularity: 'channel' });
  assert.deepEqual(bounds[0]!.dims, [1, 2]);
  assert.deepEqual(Array.from(values(graph, bounds[0]!.min)), [1, -4]);
  assert.deepEqual(Array.from(values(graph, bounds[0]!.max)), [3, 6]);

  assert.throws(() => addWeightBounds(addWeightBounds(plain).graph), /already has weight bounds \(proact\.bound\.\*\); harden the unbounded model/);
  assert.throws(() => addWeightBounds(plain, { margin: -1 }), /--weight-margin -1: expected a number >= 0/);
});

for (const granularity of ['tensor', 'channel'] as const) {
  test(`weight clipping (${granularity}): clean logits are bit-identical, in proact, in plain onnxruntime from the file, and in the campaign's number formats`, async () => {
    const { graph } = addWeightBounds(plain, { granularity });
    assert.ok((await logits(graph)).equals(await logits(plain)));
    const path = join(dir, `tiny-${granularity}.onnx`);
    const plainPath = join(dir, 'tiny-plain.onnx');
    writeFileSync(path, writeOnnx(graph));
    writeFileSync(plainPath, writeOnnx(plain));
    assert.ok((await plainOrtLogits(path)).equals(await plainOrtLogits(plainPath)));
    // A campaign re-prepares the file and writes the surface quantised to its format: the bounds of
    // the quantised weights are the quantised bounds (rounding is monotone), so nothing is clipped.
    for (const format of ['float32', 'q15.16', 'float16', 'bfloat16']) {
      const bounded = makeFaultable(prepareGraph(readOnnxFile(path)), { format });
      const unbounded = makeFaultable(prepareGraph(readOnnxFile(plainPath)), { format });
      assert.ok((await logits(bounded.bytes)).equals(await logits(unbounded.bytes)), format);
    }
  });
}

test('overhead: weight bounds per granularity (2 per tensor, or 2 per output channel and 2 per bias), and those a model stores', () => {
  const o = weightBoundOverhead(plain);
  assert.deepEqual(o, { tensors: 6, schemes: { tensor: { parameters: 12, bytes: 48 }, channel: { parameters: 2 * (4 + 16 + 10) + 6, bytes: 4 * 66 } } });
  assert.deepEqual(weightBoundOverhead(addWeightBounds(plain, { granularity: 'channel' }).graph).stored, { parameters: 66, bytes: 264 });
  assert.deepEqual(graphOverhead(addWeightBounds(plain).graph).weightBounds?.stored, { parameters: 12, bytes: 48 });
});

test('overhead CLI: the weight-bound table lists both granularities', () => {
  const model = writeTinyCnn(join(dir, 'tiny-overhead.onnx'));
  const r = runCli(['overhead', '--model', model]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /weight clipping: 6 weight and bias tensors/);
  assert.match(r.stdout, /tensor-wise +12 +48\n/);
  assert.match(r.stdout, /channel-wise +66 +264\n/);
});

test('harden --method weight-clip, and --weight-clip with ranger-zero: bounds written, clean accuracy unchanged, campaigns see thresholds and bounds', () => {
  const model = writeTinyCnn(join(dir, 'tiny.onnx'), 6);
  const small = ['--data', 'mnist', '--validation', '200', '--profile-images', '300', '--seed', '3', '--json'];
  const out = join(dir, 'wc.onnx');
  const r = runCli(['harden', '--method', 'weight-clip', '--model', model, '--out', out, ...small]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as HardenCliResult;
  assert.equal(res.method, 'weight-clip');
  assert.equal(res.thresholdValues, 0);
  assert.equal(res.weightBoundValues, 12);
  assert.equal(res.imagesProcessed, 200, 'no profiling');
  assert.equal(res.testAccuracy, res.baseline.testAccuracy);
  assert.equal(res.validationAccuracy, res.baseline.validationAccuracy);
  const wc = readOnnxFile(out);
  assert.equal(wc.metadata['proact.method'], 'weight-clip');
  assert.deepEqual(faultSurface(prepareGraph(wc)).map((t) => t.kind).filter((k) => k === 'bound').length, 12);

  const both = join(dir, 'rz-wc.onnx');
  const r2 = runCli(['harden', '--method', 'ranger-zero', '--weight-clip', 'channel', '--weight-margin', '0.1', '--model', model, '--out', both, ...small]);
  assert.equal(r2.code, 0, r2.stderr);
  const res2 = JSON.parse(r2.stdout) as HardenCliResult;
  assert.equal(res2.method, 'ranger-zero');
  assert.equal(res2.thresholdValues, 2);
  assert.equal(res2.weightBoundValues, 66);
  const surface = faultSurface(prepareGraph(readOnnxFile(both)));
  assert.deepEqual(
    ['weight', 'bias', 'threshold', 'bound'].map((k) => surface.filter((t) => t.kind === k).length),
    [3, 3, 2, 6 * 2],
  );
  assert.deepEqual(JSON.parse(readOnnxFile(both).metadata[WEIGHT_CLIP_METADATA]!), { granularity: 'channel', margin: 0.1, tensors: 6, values: 66 });
});

test('harden: weight-clip options are checked with one-line errors', () => {
  const model = writeTinyCnn(join(dir, 'tiny-errors.onnx'), 6);
  const base = ['--model', model, '--data', 'mnist', '--out', join(dir, 'x.onnx')];
  expectUserError(runCli(['harden', '--method', 'ranger', '--weight-clip', 'row', ...base]), /--weight-clip row: expected tensor or channel/);
  expectUserError(runCli(['harden', '--method', 'weight-clip', '--granularity', 'layer', ...base]), /weight-clip has no thresholds: use --weight-clip tensor\|channel/);
  expectUserError(runCli(['harden', '--method', 'ranger', '--weight-margin', '0.1', ...base]), /--weight-margin widens weight bounds: add --weight-clip/);
  expectUserError(runCli(['harden', '--method', 'weight-clip', '--weight-margin', '-2', ...base]), /--weight-margin -2: expected a number >= 0/);
});
