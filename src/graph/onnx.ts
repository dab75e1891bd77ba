/**
 * ONNX import and export through the protobuf classes of the `onnx-proto` package (protobufjs).
 * Reading validates what later code relies on (known dtypes, tensor sizes that match their dims, no
 * external data outside the model's folder, no tensor above the size limit) so that a malformed file
 * fails here with a one-line error instead of deep inside a pass or onnxruntime.
 */
import { readFileSync, statSync, existsSync, openSync, readSync, closeSync, realpathSync } from 'node:fs';
import { dirname, resolve, relative, isAbsolute, basename } from 'node:path';
import onnxProto from 'onnx-proto';
import { ProactError } from '../util/errors.js';
import { checkInputFile } from '../util/outputs.js';
import { TOOL_VERSION } from '../util/version.js';
import { Graph, type Attr, type Node, type ValueInfo } from './ir.js';
import { BYTES_PER_ELEMENT, ONNX_DTYPE, allocate, dtypeFromOnnx, numel, type Tensor } from './tensor.js';

const { onnx } = onnxProto;
type LongLike = number | { toNumber(): number };

/** Largest tensor accepted from a file, in elements (2^31 - 1: what typed arrays and onnxruntime accept). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

const num = (v: LongLike | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

export interface ReadOptions {
  /** Folder that external-data paths are resolved against (and confined to); the model's folder. */
  baseDir?: string;
  /** Name used in error messages. */
  source?: string;
}

/** Reads an ONNX model file into the IR. */
export function readOnnxFile(path: string): Graph {
  if (!existsSync(path)) throw new ProactError(`${path}: no such model file (give the path to an .onnx file exported from PyTorch)`);
  if (statSync(path).isDirectory()) throw new ProactError(`${path}: is a directory, expected an .onnx file`);
  checkInputFile(path, 'model');
  return readOnnx(readFileSync(path), { baseDir: dirname(resolve(path)), source: path });
}

/** Decodes ONNX bytes into the IR. */
export function readOnnx(bytes: Uint8Array, opts: ReadOptions = {}): Graph {
  const src = opts.source ?? 'model';
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ProactError(`${src}: not a valid ONNX file (protobuf decoding failed: ${why}); the file is truncated or is not ONNX`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0)
    throw new ProactError(`${src}: not a valid ONNX model (no graph or no nodes); the file is truncated or is not ONNX`);
  const g = new Graph();
  const pg = model.graph;
  g.name = pg.name || 'model';
  g.producerName = model.producerName || 'unknown';
  const defaultOpset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  g.opset = defaultOpset ? num(defaultOpset.version as LongLike) : 13;
  for (const p of model.metadataProps ?? []) if (p.key) g.metadata[p.key] = p.value ?? '';

  for (const t of pg.initializer ?? []) {
    const name = t.name ?? '';
    if (!name) throw new ProactError(`${src}: an initializer has no name; the model is malformed`);
    g.initializers.set(name, decodeTensor(t, `${src}: initializer '${name}'`, opts.baseDir));
  }
  for (const n of pg.node ?? []) {
    const node: Node = {
      name: n.name || `${n.opType}_${g.nodes.length}`,
      op: n.opType ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attrs: {},
    };
    if (n.domain && n.domain !== 'ai.onnx') node.domain = n.domain;
    if (!node.op) throw new ProactError(`${src}: node '${node.name}' has no op type; the model is malformed`);
    for (const a of n.attribute ?? []) node.attrs[a.name ?? ''] = decodeAttr(a, `${src}: node '${node.name}' attribute '${a.name}'`, opts.baseDir);
    g.nodes.push(node);
  }
  g.inputs = (pg.input ?? []).map((v) => decodeValueInfo(v, src));
  g.outputs = (pg.output ?? []).map((v) => decodeValueInfo(v, src));
  if (g.outputs.length === 0) throw new ProactError(`${src}: the graph declares no outputs; the model is malformed`);
  // PyTorch exports list initializers only as initializers; older exporters also list them as inputs.
  g.inputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  g.topoSort();
  return g;
}

function decodeValueInfo(v: onnxProto.onnx.IValueInfoProto, src: string): ValueInfo {
  const tt = v.type?.tensorType;
  const name = v.name ?? '';
  if (!tt) return { name, dtype: 'float32', dims: [] };
  const dims: number[] = [];
  const dimNames: (string | undefined)[] = [];
  for (const d of tt.shape?.dim ?? []) {
    const value = num(d.dimValue as LongLike | null);
    dims.push(d.dimParam || value <= 0 ? -1 : value);
    dimNames.push(d.dimParam || undefined);
  }
  return { name, dtype: dtypeFromOnnx(tt.elemType ?? 1, `${src}: value '${name}'`), dims, dimNames };
}

function decodeAttr(a: onnxProto.onnx.IAttributeProto, where: string, baseDir?: string): Attr {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case T.INT:
      return { type: 'int', value: num(a.i as LongLike) };
    case T.STRING:
      return { type: 'string', value: Buffer.from(a.s ?? new Uint8Array()).toString('utf8') };
    case T.TENSOR:
      if (!a.t) throw new ProactError(`${where}: tensor attribute without a tensor; the model is malformed`);
      return { type: 'tensor', value: decodeTensor(a.t, where, baseDir) };
    case T.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case T.INTS:
      return { type: 'ints', value: (a.ints ?? []).map((v) => num(v as LongLike)) };
    case T.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8')) };
    default:
      throw new ProactError(`${where}: attribute type ${a.type} (graphs, sparse tensors) is not supported by proact`);
  }
}

function decodeTensor(t: onnxProto.onnx.ITensorProto, where: string, baseDir?: string): Tensor {
  const dtype = dtypeFromOnnx(t.dataType ?? 0, where);
  const dims = (t.dims ?? []).map((d) => num(d as LongLike));
  if (dims.some((d) => !Number.isFinite(d) || d < 0)) throw new ProactError(`${where}: negative or invalid dimension in [${dims}]`);
  const n = numel(dims);
  if (n > MAX_TENSOR_ELEMENTS)
    throw new ProactError(`${where}: declares ${n.toExponential(2)} elements (dims [${dims}]), above the limit of ${MAX_TENSOR_ELEMENTS}; refusing to allocate it`);
  const bytesPer = BYTES_PER_ELEMENT[dtype];
  let raw: Uint8Array | undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) raw = readExternal(t, where, n * bytesPer, baseDir);
  else if (t.rawData && t.rawData.length > 0) raw = t.rawData;
  // Sizes are checked before allocating, so a file cannot make proact reserve memory its data does not fill.
  if (raw) {
    if (raw.length !== n * bytesPer)
      throw new ProactError(`${where}: holds ${raw.length} bytes but dims [${dims}] of ${dtype} need ${n * bytesPer}; the model is corrupted`);
    const data = allocate(dtype, n);
    // Copy into an aligned buffer (protobuf slices may be unaligned). ONNX raw data is little-endian, as is x86/ARM.
    new Uint8Array(data.buffer).set(raw);
    return { dtype, dims, data };
  }
  // int32, int16, int8, uint8, uint16, bool, float16 (bit pattern) are stored in int32_data.
  const values: ArrayLike<number | LongLike> =
    dtype === 'float32' ? (t.floatData ?? []) : dtype === 'float64' ? (t.doubleData ?? []) : dtype === 'int64' ? ((t.int64Data ?? []) as LongLike[]) : (t.int32Data ?? []);
  if (values.length !== n) throw new ProactError(`${where}: holds ${values.length} values but dims [${dims}] need ${n}; the model is corrupted`);
  const data = allocate(dtype, n);
  if (data instanceof BigInt64Array) for (let i = 0; i < n; i++) data[i] = BigInt(num(values[i]));
  else for (let i = 0; i < n; i++) data[i] = values[i] as number;
  return { dtype, dims, data };
}

/** Loads external tensor data, refusing any path that leaves the model's folder. */
function readExternal(t: onnxProto.onnx.ITensorProto, where: string, expectedBytes: number, baseDir?: string): Uint8Array {
  const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = kv.get('location');
  if (!location) throw new ProactError(`${where}: external data without a 'location'; the model is malformed`);
  if (!baseDir) throw new ProactError(`${where}: external data '${location}' needs the model's folder; load the model from a file`);
  const full = resolve(baseDir, location);
  const rel = relative(baseDir, full);
  if (isAbsolute(location) || rel.startsWith('..') || isAbsolute(rel))
    throw new ProactError(`${where}: external data path '${location}' points outside the model's folder; refusing to read it`);
  if (!existsSync(full)) throw new ProactError(`${where}: external data file '${location}' is missing next to the model`);
  if (!statSync(full).isFile()) throw new ProactError(`${where}: external data path '${location}' is not a file`);
  // A symbolic link inside the folder may point anywhere: the file it reaches must be inside too.
  const realRel = relative(realpathSync(baseDir), realpathSync(full));
  if (realRel.startsWith('..') || isAbsolute(realRel))
    throw new ProactError(`${where}: external data file '${location}' is a link to a file outside the model's folder; refusing to read it`);
  const offset = Number(kv.get('offset') ?? '0');
  const length = kv.has('length') ? Number(kv.get('length')) : expectedBytes;
  if (!Number.isSafeInteger(offset) || offset < 0 || length !== expectedBytes)
    throw new ProactError(`${where}: external data offset/length (${offset}/${length}) do not match the ${expectedBytes} bytes the dims need`);
  const size = statSync(full).size;
  if (offset + length > size) throw new ProactError(`${where}: external data file '${basename(full)}' is too short (${size} bytes, need ${offset + length})`);
  const buf = new Uint8Array(length);
  const fd = openSync(full, 'r');
  try {
    readSync(fd, buf, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return buf;
}

function encodeTensor(name: string, t: Tensor): onnxProto.onnx.ITensorProto {
  return onnx.TensorProto.create({
    name,
    dims: t.dims,
    dataType: ONNX_DTYPE[t.dtype],
    rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  });
}

function encodeAttr(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'float':
      return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.value });
    case 'int':
      return onnx.AttributeProto.create({ name, type: T.INT, i: a.value });
    case 'string':
      return onnx.AttributeProto.create({ name, type: T.STRING, s: Buffer.from(a.value, 'utf8') });
    case 'tensor':
      return onnx.AttributeProto.create({ name, type: T.TENSOR, t: encodeTensor('', a.value) });
    case 'floats':
      return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: a.value });
    case 'ints':
      return onnx.AttributeProto.create({ name, type: T.INTS, ints: a.value });
    case 'strings':
      return onnx.AttributeProto.create({ name, type: T.STRINGS, strings: a.value.map((s) => Buffer.from(s, 'utf8')) });
  }
}

function encodeValueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: { dim: v.dims.map((d, k) => (d >= 0 ? { dimValue: d } : { dimParam: v.dimNames?.[k] ?? (k === 0 ? 'batch' : `d${k}`) })) },
      },
    },
  });
}

/** Serialises the IR as an ONNX model (IR version 8, the graph's opset). */
export function writeOnnx(g: Graph): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'proact',
    producerVersion: TOOL_VERSION,
    opsetImport: [{ domain: '', version: g.opset }],
    metadataProps: Object.entries(g.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      node: g.nodes.map((n) =>
        onnx.NodeProto.create({
          name: n.name,
          opType: n.op,
          domain: n.domain ?? '',
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attrs).map(([k, a]) => encodeAttr(k, a)),
        }),
      ),
      initializer: [...g.initializers].map(([name, t]) => encodeTensor(name, t)),
      input: g.inputs.map(encodeValueInfo),
      output: g.outputs.map(encodeValueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
