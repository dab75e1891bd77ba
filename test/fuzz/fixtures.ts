/**
 * Small valid files the fuzz targets start from (written to the seed corpus by make-seeds.ts) and the
 * fixed companions some targets need (the labels file beside fuzzed images, the fault surface a fuzzed
 * plan is checked against). Everything is deterministic.
 */
import { gzipSync } from 'node:zlib';
import { Graph, f32, i64, int, ints, scalarF32, tensor, writeOnnx } from '../../src/graph/index.js';
import { makePlan, planToJSON, type SurfaceTensor } from '../../src/faults/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Bytes 0..255 from a fixed-seed generator. */
export function pseudoBytes(n: number, seed: number): Uint8Array {
  const rnd = lcg(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
}

// ------------------------------------------------------------------ models

/**
 * A small graph shaped like a PyTorch export: a Constant node, BatchNormalization after a Conv, and the
 * option-A shortcut's shape arithmetic (Shape/Gather/Unsqueeze/Concat/Reshape, a strided Slice and a
 * Pad whose pads come from ConstantOfShape/Concat/Cast), so mutations reach the folding passes.
 */
export function pytorchLikeGraph(): Graph {
  const rnd = lcg(11);
  const rand = (n: number, scale: number) => Array.from({ length: n }, () => (rnd() - 0.5) * scale);
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 8, 8], dimNames: ['batch'] }];
  const w = g.addConstant('conv.weight', f32([2, 1, 3, 3], rand(18, 1)));
  const [c] = g.add('Conv', ['input', w], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) });
  const bn = ['scale', 'bias', 'mean', 'var'].map((k, i) => g.addConstant(`bn.${k}`, f32([2], i === 3 ? [1.5, 0.5] : rand(2, 1))));
  const [b] = g.add('BatchNormalization', [c!, ...bn], { epsilon: { type: 'float', value: 1e-5 } });
  const [r] = g.add('Relu', [b!]);
  // Shortcut: x[:, :, ::2, ::2] padded with zero channels, pads built by shape arithmetic.
  const [sliced] = g.add('Slice', [r!, g.addConstant('s.starts', i64([0, 0])), g.addConstant('s.ends', i64([100, 100])), g.addConstant('s.axes', i64([2, 3])), g.addConstant('s.steps', i64([2, 2]))]);
  const [zeros] = g.add('ConstantOfShape', [g.addConstant('pad.len', i64([1]))], { value: { type: 'tensor', value: tensor('int64', [1], [BigInt(0)]) } });
  const [two] = g.add('Constant', [], { value: { type: 'tensor', value: i64([1]) } });
  const [padsI] = g.add('Concat', [zeros!, two!, zeros!, zeros!, zeros!, two!, zeros!, zeros!], { axis: int(0) });
  const [pads] = g.add('Cast', [padsI!], { to: int(7) });
  const [padded] = g.add('Pad', [sliced!, pads!]);
  const [shape] = g.add('Shape', [padded!]);
  // [-1, channels * 16]: the known channel count (the batch is dynamic) times the spatial size.
  const [channels] = g.add('Gather', [shape!, g.addConstant('one', tensor('int64', [], [BigInt(1)]))], { axis: int(0) });
  const [features] = g.add('Mul', [channels!, g.addConstant('spatial', tensor('int64', [], [BigInt(16)]))]);
  const [features1] = g.add('Unsqueeze', [features!, g.addConstant('axes0', i64([0]))]);
  const [target] = g.add('Concat', [g.addConstant('flat', i64([-1])), features1!], { axis: int(0) });
  const [flat] = g.add('Reshape', [padded!, target!]);
  const fw = g.addConstant('fc.weight', f32([3, 64], rand(192, 0.3)));
  const fb = g.addConstant('fc.bias', f32([3], rand(3, 0.1)));
  const [y] = g.add('Gemm', [flat!, fw, fb], { transB: int(1) });
  const [scaled] = g.add('Mul', [y!, g.addConstant('scale', scalarF32(2))], {}, { outputs: ['logits'] });
  void scaled;
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 3], dimNames: ['batch'] }];
  return g;
}

export function seedModels(): Record<string, Uint8Array> {
  return { 'tiny-cnn.onnx': writeOnnx(tinyCnn(1)), 'pytorch-like.onnx': writeOnnx(pytorchLikeGraph()) };
}

// ------------------------------------------------------------------ datasets

export const RECORDS = 3;

export function cifarFile(records: number, labelBytes: 1 | 2, seed: number): Uint8Array {
  const recordBytes = labelBytes + 3072;
  const out = pseudoBytes(records * recordBytes, seed);
  for (let r = 0; r < records; r++) {
    out[r * recordBytes] = r % 10;
    if (labelBytes === 2) out[r * recordBytes + 1] = (r * 7) % 100;
  }
  return out;
}

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export function idxImages(count: number, rows: number, cols: number, seed: number): Uint8Array {
  return Uint8Array.from([0, 0, 8, 3, ...be32(count), ...be32(rows), ...be32(cols), ...pseudoBytes(count * rows * cols, seed)]);
}

export function idxLabels(labels: readonly number[]): Uint8Array {
  return Uint8Array.from([0, 0, 8, 1, ...be32(labels.length), ...labels]);
}

/** A .npy file (format 1.0 or 2.0) of `descr` and `shape` holding `data`. */
export function npyFile(descr: string, shape: readonly number[], data: Uint8Array, version: 1 | 2 = 1): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const lengthBytes = version === 1 ? 2 : 4;
  const unpadded = 8 + lengthBytes + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(8 + lengthBytes + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + header.length);
  return out;
}

const asBytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function seedDatasets(): Record<string, Record<string, Uint8Array>> {
  const float32Images = Float32Array.from(pseudoBytes(RECORDS * 16, 5), (b) => b / 255);
  const float64Images = Float64Array.from(pseudoBytes(RECORDS * 48, 6), (b) => b / 255);
  return {
    cifar10: { 'cifar10-3.bin': cifarFile(RECORDS, 1, 1) },
    cifar100: { 'cifar100-3.bin': cifarFile(RECORDS, 2, 2) },
    'idx-images': { 'images-28x28.idx3': idxImages(RECORDS, 28, 28, 3), 'images-5x4.idx3': idxImages(RECORDS, 5, 4, 4) },
    'idx-labels': { 'labels.idx1': idxLabels([1, 7, 9]) },
    'idx-gz': { 'images-5x4.idx3.gz': gzipSync(idxImages(RECORDS, 5, 4, 4)) },
    'npy-images': {
      'uint8-nhw.npy': npyFile('|u1', [RECORDS, 4, 4], pseudoBytes(RECORDS * 16, 7)),
      'float32-nchw.npy': npyFile('<f4', [RECORDS, 1, 4, 4], asBytes(float32Images)),
      'float64-nhwc-v2.npy': npyFile('<f8', [RECORDS, 4, 4, 3], asBytes(float64Images), 2),
    },
    'npy-labels': {
      'int64.npy': npyFile('<i8', [RECORDS], asBytes(BigInt64Array.from([0n, 2n, 1n]))),
      'uint8-n1.npy': npyFile('|u1', [RECORDS, 1], Uint8Array.from([1, 0, 2])),
      'int32.npy': npyFile('<i4', [RECORDS], asBytes(Int32Array.from([2, 2, 0]))),
    },
  };
}

/** The files a fuzzed file is read with: labels beside fuzzed images, images beside fuzzed labels. */
export const companions = {
  idxLabels: () => idxLabels([1, 7, 9]),
  idxImages: () => idxImages(RECORDS, 5, 4, 4),
  npyLabels: () => npyFile('<i8', [RECORDS], asBytes(BigInt64Array.from([0n, 2n, 1n]))),
  npyImages: () => npyFile('|u1', [RECORDS, 4, 4], pseudoBytes(RECORDS * 16, 7)),
};

// ------------------------------------------------------------------ fault plans

/** A small fault surface (weights, a bias, a per-layer and a scalar threshold) that plan seeds are made for. */
export function fuzzSurface(): SurfaceTensor[] {
  const rnd = lcg(21);
  const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rnd() - 0.5) * scale);
  return [
    { name: 'conv.weight', kind: 'weight', dims: [2, 1, 3, 3], values: values(18, 2) },
    { name: 'conv.bias', kind: 'bias', dims: [2], values: values(2, 0.5) },
    { name: 'proact.threshold.0', kind: 'threshold', dims: [2, 1, 1], values: Float32Array.of(3.5, 4.25) },
    { name: 'proact.threshold.1', kind: 'threshold', dims: [], values: Float32Array.of(6), scalarThreshold: true },
  ];
}

export function seedPlans(): Record<string, Uint8Array> {
  const surface = fuzzSurface();
  const enc = new TextEncoder();
  const plans: Record<string, Uint8Array> = {};
  const cases: [string, Parameters<typeof makePlan>[1]][] = [
    ['float32-bernoulli', { seed: 1, ber: 0.02, trial: 3 }],
    ['float32-fixed3', { seed: 2, ber: 1e-3, trial: 0, faults: { count: 'fixed:3' } }],
    ['reference-policy', { seed: 3, ber: 0.05, trial: 1, faults: { count: 'reference', policy: 'reference', referenceSurface: true } }],
    ['q15.16', { seed: 4, ber: 0.03, trial: 2, faults: { format: 'q15.16' } }],
    ['int8-channel', { seed: 5, ber: 0.05, trial: 4, faults: { format: 'int8-channel' } }],
    ['float16-poisson', { seed: 6, ber: 0.04, trial: 5, faults: { format: 'float16', count: 'poisson' } }],
  ];
  for (const [name, options] of cases) plans[`${name}.json`] = enc.encode(planToJSON(makePlan(surface, options), 2));
  // A plan whose values include NaN/Inf (exponent bit 30 of a weight): the strings of planToJSON.
  const nan = makePlan(surface, { seed: 7, ber: 1e-3, trial: 0, faults: { count: 'fixed:1' } });
  const special = { ...nan, faults: [{ tensor: 'conv.weight', index: 0, bit: 30, before: surface[0]!.values[0]!, after: Infinity }] };
  plans['special-values.json'] = enc.encode(planToJSON(special, 2));
  return plans;
}

// ------------------------------------------------------------------ thresholds

/** Threshold files for the tiny CNN (Relu layers: conv1 [4,14,14], fc1 [16]) at every granularity and kind. */
export function seedThresholds(): Record<string, Uint8Array> {
  const enc = new TextEncoder();
  const conv = (granularity: string, kind: string) => {
    const dims = granularity === 'layer' ? [] : granularity === 'channel' ? [4, 1, 1] : [4, 14, 14];
    const n = dims.reduce((a, b) => a * b, 1);
    return { layer: 0, node: 'Relu', kind, granularity, thresholdName: 'proact.threshold.0', dims, values: Array.from({ length: n }, (_, i) => 1 + (i % 7) / 4) };
  };
  const fc = (granularity: string, kind: string) => {
    const dims = granularity === 'layer' ? [] : [16];
    const n = dims.reduce((a, b) => a * b, 1);
    return { layer: 1, node: 'Relu_1', kind, granularity, thresholdName: 'proact.threshold.1', dims, values: Array.from({ length: n }, (_, i) => 2 + i / 8) };
  };
  const files: Record<string, unknown> = {
    'layer-clip-zero.json': { format: 'proact-thresholds', version: 1, method: 'ranger', layers: [conv('layer', 'clip-zero'), fc('layer', 'clip-zero')] },
    'channel-clip-sat.json': { format: 'proact-thresholds', version: 1, method: 'ftclipact', layers: [conv('channel', 'clip-sat'), fc('channel', 'clip-sat')] },
    'neuron-smooth.json': { format: 'proact-thresholds', version: 1, method: 'proact', k: 20, guard: true, layers: [conv('neuron', 'smooth-zero'), fc('neuron', 'smooth-zero')] },
    'one-layer.json': { format: 'proact-thresholds', version: 1, method: 'fitact', layers: [fc('neuron', 'clip-zero')] },
  };
  return Object.fromEntries(Object.entries(files).map(([name, v]) => [name, enc.encode(JSON.stringify(v, null, 1) + '\n')]));
}
