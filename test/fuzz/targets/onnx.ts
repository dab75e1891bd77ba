/**
 * ONNX model targets. Each input is the bytes of a model file; `run` does what every proact command
 * does on load: decode (readOnnx, external data confined to the model's folder), prepare (constant
 * folding, BatchNorm folding, shape inference), list activation layers and the fault surface.
 *
 * - onnx-bytes:     byte mutations of small exports (the tiny MNIST CNN, a PyTorch-like graph with the
 *                   shape arithmetic and BatchNorm of real exports) from the seed corpus
 * - onnx-resnet20:  byte mutations of ../shared/models/resnet20.onnx (skipped without ../shared)
 * - onnx-proto:     semantic mutations through the protobuf classes: wrong field types, absurd
 *                   dimensions, cyclic graphs, dangling names, external data outside the folder, ...
 * - onnx-graphs:    random small graphs built through the IR and writeOnnx, mixing every supported op
 *                   with random (often nonsensical) attributes and constant operands
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import {
  Graph,
  SUPPORTED_OPS,
  activationLayers,
  prepareGraph,
  readOnnx,
  tensor,
  writeOnnx,
  type Attr,
  type DType,
  type Tensor,
} from '../../../src/graph/index.js';
import { faultSurface } from '../../../src/campaign/model.js';
import { mutatedBytes } from '../mutate.js';
import type { FuzzContext, FuzzTarget } from '../target.js';

const { onnx } = onnxProto;

/** What proact does with a model file before using it. */
export function loadModel(bytes: Uint8Array, ctx: FuzzContext): void {
  const g = readOnnx(bytes, { baseDir: ctx.tmp, source: 'fuzz.onnx' });
  prepareGraph(g);
  activationLayers(g);
  faultSurface(g);
}

/** A legitimate external-data file inside the model folder, so that in-folder references can succeed. */
function prepareModelFolder(ctx: FuzzContext): undefined {
  const weights = new Uint8Array(4096);
  for (let i = 0; i < weights.length; i++) weights[i] = (i * 37) & 0xff;
  writeFileSync(join(ctx.tmp, 'weights.bin'), weights);
  mkdirSync(join(ctx.tmp, 'sub'), { recursive: true });
  writeFileSync(join(ctx.tmp, 'sub', 'w.bin'), weights);
  return undefined;
}

export const onnxBytes: FuzzTarget = {
  name: 'onnx-bytes',
  what: 'byte mutations of small ONNX exports -> readOnnx + prepareGraph + fault surface',
  corpus: 'onnx',
  prepare: prepareModelFolder,
  inputs: (ctx) => mutatedBytes(ctx.seeds),
  run: loadModel,
};

export const onnxResnet20: FuzzTarget = {
  name: 'onnx-resnet20',
  what: 'byte mutations of ../shared/models/resnet20.onnx (PyTorch export) -> readOnnx + prepareGraph',
  corpus: 'onnx-resnet20',
  prepare(ctx) {
    const path = join(ctx.sharedDir, 'models', 'resnet20.onnx');
    if (!existsSync(path)) return `missing ${path} (needs ../shared)`;
    ctx.seeds.push(new Uint8Array(readFileSync(path)));
    return prepareModelFolder(ctx);
  },
  inputs: (ctx) => mutatedBytes(ctx.seeds, 4),
  run: loadModel,
};

// ------------------------------------------------------------------ protobuf-level mutations

const ABSURD_DIMS: readonly number[][] = [
  [1e12],
  [1e6, 1e6],
  [2 ** 31],
  [2 ** 31 - 1],
  [2 ** 30, 4],
  [40000, 40000],
  [0],
  [-1],
  [3, -3],
  [2 ** 53],
  [],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  [65536, 65536],
];

const EXTERNAL_LOCATIONS: readonly string[] = [
  '../../etc/passwd',
  '/etc/passwd',
  '..',
  '.',
  '',
  'missing.bin',
  'weights.bin',
  'sub/w.bin',
  'sub/../weights.bin',
  'sub/../../weights.bin',
  'weights.bin\u0000.txt',
  '%2e%2e/etc/passwd',
  'C:\\Windows\\win.ini',
  'sub',
];

const NUMBER_TEXTS: readonly string[] = ['0', '4', '16', '-1', '1e3', 'abc', '', '99999999999999999999', '4096', '4095', 'NaN', '0x10'];

const OPS: readonly string[] = [...SUPPORTED_OPS, 'Foo', '', 'Loop', 'If', 'Scan', 'Resize'];

const NAMES: readonly string[] = ['', 'input', 'missing_value', 'logits', 'conv1.weight', '\u0000', 'a'.repeat(300)];

type ProtoMutation =
  | { kind: 'dims'; pick: number; dims: number[] }
  | { kind: 'dtype'; pick: number; code: number }
  | { kind: 'data'; pick: number; field: 'raw' | 'float' | 'int32' | 'int64' | 'double' | 'none'; count: number }
  | { kind: 'external'; pick: number; location: string; offset: string | undefined; length: string | undefined }
  | { kind: 'attrType'; pick: number; type: number }
  | { kind: 'attrValue'; pick: number; ints: number[]; f: number }
  | { kind: 'rename'; pick: number; slot: number; output: boolean; name: string }
  | { kind: 'cycle'; pick: number; target: number }
  | { kind: 'op'; pick: number; op: string }
  | { kind: 'dropNode'; pick: number }
  | { kind: 'duplicateNode'; pick: number }
  | { kind: 'io'; output: boolean; action: 'clear' | 'rename' | 'dims' | 'elemType'; name: string; dims: number[]; code: number }
  | { kind: 'opset'; version: number }
  | { kind: 'dropInitializer'; pick: number }
  | { kind: 'duplicateInitializer'; pick: number };

const smallInts = fc.array(fc.oneof(fc.integer({ min: -3, max: 8 }), fc.constantFrom(0, 2 ** 31, -(2 ** 31), 1e9, 2 ** 53)), { maxLength: 8 });

const protoMutation: fc.Arbitrary<ProtoMutation> = fc.oneof(
  fc.record({ kind: fc.constant('dims' as const), pick: fc.nat(), dims: fc.oneof(fc.constantFrom(...ABSURD_DIMS), smallInts) }),
  fc.record({ kind: fc.constant('dtype' as const), pick: fc.nat(), code: fc.integer({ min: -2, max: 24 }) }),
  fc.record({
    kind: fc.constant('data' as const),
    pick: fc.nat(),
    field: fc.constantFrom('raw' as const, 'float' as const, 'int32' as const, 'int64' as const, 'double' as const, 'none' as const),
    count: fc.integer({ min: 0, max: 64 }),
  }),
  fc.record({
    kind: fc.constant('external' as const),
    pick: fc.nat(),
    location: fc.oneof(fc.constantFrom(...EXTERNAL_LOCATIONS), fc.string({ maxLength: 12 })),
    offset: fc.option(fc.constantFrom(...NUMBER_TEXTS), { nil: undefined }),
    length: fc.option(fc.constantFrom(...NUMBER_TEXTS), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('attrType' as const), pick: fc.nat(), type: fc.integer({ min: 0, max: 16 }) }),
  fc.record({ kind: fc.constant('attrValue' as const), pick: fc.nat(), ints: smallInts, f: fc.double() }),
  fc.record({ kind: fc.constant('rename' as const), pick: fc.nat(), slot: fc.nat(4), output: fc.boolean(), name: fc.constantFrom(...NAMES) }),
  fc.record({ kind: fc.constant('cycle' as const), pick: fc.nat(), target: fc.nat() }),
  fc.record({ kind: fc.constant('op' as const), pick: fc.nat(), op: fc.constantFrom(...OPS) }),
  fc.record({ kind: fc.constant('dropNode' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('duplicateNode' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('io' as const),
    output: fc.boolean(),
    action: fc.constantFrom('clear' as const, 'rename' as const, 'dims' as const, 'elemType' as const),
    name: fc.constantFrom(...NAMES),
    dims: fc.oneof(fc.constantFrom(...ABSURD_DIMS), smallInts),
    code: fc.integer({ min: -1, max: 20 }),
  }),
  fc.record({ kind: fc.constant('opset' as const), version: fc.constantFrom(-1, 0, 1, 6, 9, 10, 11, 13, 17, 18, 21, 2 ** 31, 2 ** 53) }),
  fc.record({ kind: fc.constant('dropInitializer' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('duplicateInitializer' as const), pick: fc.nat() }),
);

type ModelMessage = onnxProto.onnx.ModelProto;
type TensorMessage = onnxProto.onnx.ITensorProto;

/** Every tensor of the model: initializers and tensor-valued attributes (Constant nodes). */
function tensorsOf(m: ModelMessage): TensorMessage[] {
  const g = m.graph!;
  const out: TensorMessage[] = [...(g.initializer ?? [])];
  for (const n of g.node ?? []) for (const a of n.attribute ?? []) if (a.t) out.push(a.t);
  return out;
}

const at = <T>(list: T[] | null | undefined, pick: number): T | undefined => (list && list.length ? list[pick % list.length] : undefined);

function applyProtoMutation(m: ModelMessage, mu: ProtoMutation): void {
  const g = m.graph!;
  const nodes = g.node ?? [];
  switch (mu.kind) {
    case 'dims': {
      const t = at(tensorsOf(m), mu.pick);
      if (t) t.dims = mu.dims;
      return;
    }
    case 'dtype': {
      const t = at(tensorsOf(m), mu.pick);
      if (t) t.dataType = mu.code;
      return;
    }
    case 'data': {
      const t = at(tensorsOf(m), mu.pick);
      if (!t) return;
      t.rawData = new Uint8Array(0);
      t.floatData = [];
      t.int32Data = [];
      t.int64Data = [];
      t.doubleData = [];
      const values = Array.from({ length: mu.count }, (_, i) => i - 2);
      if (mu.field === 'raw') t.rawData = new Uint8Array(mu.count);
      else if (mu.field === 'float') t.floatData = values;
      else if (mu.field === 'int32') t.int32Data = values;
      else if (mu.field === 'int64') t.int64Data = values;
      else if (mu.field === 'double') t.doubleData = values;
      return;
    }
    case 'external': {
      const t = at(tensorsOf(m), mu.pick);
      if (!t) return;
      t.rawData = new Uint8Array(0);
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      const entries = [{ key: 'location', value: mu.location }];
      if (mu.offset !== undefined) entries.push({ key: 'offset', value: mu.offset });
      if (mu.length !== undefined) entries.push({ key: 'length', value: mu.length });
      t.externalData = entries.map((e) => onnx.StringStringEntryProto.create(e));
      return;
    }
    case 'attrType': {
      const a = at(nodes.flatMap((n) => n.attribute ?? []), mu.pick);
      if (a) a.type = mu.type;
      return;
    }
    case 'attrValue': {
      const a = at(nodes.flatMap((n) => n.attribute ?? []), mu.pick);
      if (!a) return;
      a.ints = mu.ints;
      a.i = mu.ints[0] ?? 0;
      a.f = mu.f;
      return;
    }
    case 'rename': {
      const n = at(nodes, mu.pick);
      if (!n) return;
      const list = mu.output ? (n.output ??= []) : (n.input ??= []);
      list[Math.min(mu.slot, list.length)] = mu.name;
      return;
    }
    case 'cycle': {
      // An input of node i reads an output of node j >= i (itself or a later node): a cycle or a forward edge.
      if (nodes.length === 0) return;
      const i = mu.pick % nodes.length;
      const j = i + (mu.target % (nodes.length - i));
      const out = nodes[j]!.output?.[0];
      if (out && nodes[i]!.input?.length) nodes[i]!.input[0] = out;
      return;
    }
    case 'op': {
      const n = at(nodes, mu.pick);
      if (n) n.opType = mu.op;
      return;
    }
    case 'dropNode':
      if (nodes.length) nodes.splice(mu.pick % nodes.length, 1);
      return;
    case 'duplicateNode': {
      const n = at(nodes, mu.pick);
      if (n) nodes.push(onnx.NodeProto.decode(onnx.NodeProto.encode(n).finish()));
      return;
    }
    case 'io': {
      const list = mu.output ? (g.output ??= []) : (g.input ??= []);
      if (mu.action === 'clear') list.length = 0;
      const v = list[0];
      if (!v) return;
      if (mu.action === 'rename') v.name = mu.name;
      const tt = v.type?.tensorType;
      if (mu.action === 'dims' && tt) tt.shape = { dim: mu.dims.map((d) => ({ dimValue: d })) };
      if (mu.action === 'elemType' && tt) tt.elemType = mu.code;
      return;
    }
    case 'opset':
      m.opsetImport = [onnx.OperatorSetIdProto.create({ domain: '', version: mu.version })];
      return;
    case 'dropInitializer':
      if (g.initializer?.length) g.initializer.splice(mu.pick % g.initializer.length, 1);
      return;
    case 'duplicateInitializer': {
      const t = at(g.initializer, mu.pick);
      if (t) g.initializer!.push(onnx.TensorProto.decode(onnx.TensorProto.encode(t).finish()));
      return;
    }
  }
}

export const onnxProtoTarget: FuzzTarget = {
  name: 'onnx-proto',
  what: 'protobuf-level mutations (field types, dims, data, external data, names, cycles, ops, opset) -> readOnnx + prepareGraph',
  corpus: 'onnx',
  prepare: prepareModelFolder,
  inputs: (ctx) =>
    fc.tuple(fc.nat(ctx.seeds.length - 1), fc.array(protoMutation, { minLength: 1, maxLength: 4 })).map(([i, mutations]) => {
      const m = onnx.ModelProto.decode(ctx.seeds[i]!);
      for (const mu of mutations) applyProtoMutation(m, mu);
      try {
        return onnx.ModelProto.encode(m).finish();
      } catch {
        // protobufjs refuses to encode some values (e.g. a non-integer enum): fall back to the unmutated seed.
        return ctx.seeds[i]!;
      }
    }),
  run: loadModel,
};

// ------------------------------------------------------------------ random graphs through the IR

const DTYPES: readonly DType[] = ['float32', 'int64', 'int32', 'bool', 'uint8', 'float64', 'float16', 'int8'];

const constantArb: fc.Arbitrary<Tensor> = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    dims: fc.oneof({ weight: 6, arbitrary: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }) }, { weight: 1, arbitrary: fc.constant<number[]>([1]) }),
    values: fc.array(fc.oneof(fc.integer({ min: -4, max: 8 }), fc.constantFrom(0, -1, 1e6, 2 ** 31, -(2 ** 31), 1e9, 2 ** 40)), { minLength: 1, maxLength: 16 }),
  })
  .map(({ dtype, dims, values }) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = Array.from({ length: n }, (_, k) => values[k % values.length]!);
    return tensor(dtype, dims, dtype === 'int64' ? data.map((v) => BigInt(Math.trunc(v))) : data);
  });

const ATTR_NAMES: readonly string[] = [
  'kernel_shape', 'strides', 'pads', 'dilations', 'group', 'axis', 'axes', 'perm', 'to', 'value', 'transA', 'transB',
  'ceil_mode', 'auto_pad', 'keepdims', 'epsilon', 'alpha', 'beta', 'mode', 'output_shape', 'output_padding',
  'noop_with_empty_axes', 'value_ints', 'value_floats', 'value_int', 'value_float', 'min', 'max',
];

const attrArb: fc.Arbitrary<Attr> = fc.oneof(
  fc.record({ type: fc.constant('int' as const), value: fc.oneof(fc.integer({ min: -5, max: 12 }), fc.constantFrom(2 ** 31, -(2 ** 31), 1e9)) }),
  fc.record({ type: fc.constant('ints' as const), value: smallInts }),
  fc.record({ type: fc.constant('float' as const), value: fc.double({ noNaN: false }) }),
  fc.record({ type: fc.constant('floats' as const), value: fc.array(fc.double(), { maxLength: 4 }) }),
  fc.record({ type: fc.constant('string' as const), value: fc.constantFrom('NOTSET', 'VALID', 'SAME_UPPER', 'constant', 'reflect', '', 'x') }),
  fc.record({ type: fc.constant('strings' as const), value: fc.array(fc.constantFrom('a', ''), { maxLength: 2 }) }),
  fc.record({ type: fc.constant('tensor' as const), value: constantArb }),
);

interface NodeSpec {
  op: string;
  /** Each input: an earlier value (by index, modulo), a new constant, or omitted (''). */
  inputs: ({ kind: 'value'; pick: number } | { kind: 'const'; value: Tensor } | { kind: 'none' })[];
  attrs: [string, Attr][];
  outputs: number;
}

const nodeArb: fc.Arbitrary<NodeSpec> = fc.record({
  op: fc.oneof({ weight: 40, arbitrary: fc.constantFrom(...SUPPORTED_OPS) }, { weight: 1, arbitrary: fc.constantFrom('Foo', 'Loop', 'Resize') }),
  inputs: fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('value' as const), pick: fc.nat() }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('const' as const), value: constantArb }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('none' as const) }) },
    ),
    { minLength: 0, maxLength: 4 },
  ),
  attrs: fc.array(fc.tuple(fc.constantFrom(...ATTR_NAMES), attrArb), { maxLength: 4 }),
  outputs: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
});

const graphArb = fc.record({
  opset: fc.constantFrom(7, 9, 10, 11, 12, 13, 13, 13, 17, 18),
  inputDims: fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })).map(([c, h, w]) => [-1, c, h, w]),
    fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 5 }),
  ),
  inputType: fc.constantFrom<DType>('float32', 'float32', 'float32', 'int64', 'bool'),
  nodes: fc.array(nodeArb, { minLength: 1, maxLength: 8 }),
  extraOutputs: fc.array(fc.nat(), { maxLength: 2 }),
  /** End with Flatten + Gemm, as classifiers do, so that some random graphs are complete models. */
  classifierHead: fc.boolean(),
});

type GraphSpec = typeof graphArb extends fc.Arbitrary<infer S> ? S : never;

function buildGraph(spec: GraphSpec): Uint8Array {
  const g = new Graph();
  g.opset = spec.opset;
  g.inputs = [{ name: 'input', dtype: spec.inputType, dims: spec.inputDims }];
  const values = ['input'];
  spec.nodes.forEach((ns, k) => {
    const inputs = ns.inputs.map((i) => {
      if (i.kind === 'none') return '';
      if (i.kind === 'const') return g.addConstant(`c${k}`, i.value);
      return values[i.pick % values.length]!;
    });
    const attrs: Record<string, Attr> = {};
    for (const [name, a] of ns.attrs) attrs[name] = a;
    const outs = g.add(ns.op, inputs, attrs, { outputs: ns.outputs });
    values.push(...outs);
  });
  if (spec.classifierHead) {
    const [flat] = g.add('Flatten', [values[values.length - 1]!], { axis: { type: 'int', value: 1 } });
    const w = g.addConstant('head.weight', tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]));
    values.push(...g.add('Gemm', [flat!, w], { transB: { type: 'int', value: 1 } }));
  }
  const last = values[values.length - 1]!;
  const outputs = new Set([last, ...spec.extraOutputs.map((p) => values[p % values.length]!)]);
  g.outputs = [...outputs].map((name) => ({ name, dtype: 'float32', dims: [-1] }));
  return writeOnnx(g);
}

export const onnxGraphs: FuzzTarget = {
  name: 'onnx-graphs',
  what: 'random graphs of supported ops with random attributes and constants (IR + writeOnnx) -> readOnnx + prepareGraph',
  corpus: 'onnx-graphs',
  prepare: prepareModelFolder,
  inputs: () => graphArb.map(buildGraph),
  run: loadModel,
};
