/**
 * A model prepared for fault injection: its fault surface (conv/linear weights and biases, clipping
 * thresholds, weight bounds) with clean values quantised to the campaign's number format, and the
 * serialised ONNX bytes with the byte offset of every surface tensor. A trial copies the bytes,
 * writes the faulty values at their offsets and creates a fresh onnxruntime session: weights stay
 * constant initializers, so onnxruntime pre-packs them and runs at full speed (see docs/benchmarks.md
 * for the comparison with weights fed as graph inputs).
 */
import { createHash, randomBytes } from 'node:crypto';
import { ProactError } from '../util/errors.js';
import { isThresholdName, parameterLayers, writeOnnx, type Graph } from '../graph/index.js';
import { DEFAULT_FAULT_MODEL, SURFACE_KINDS, quantize, type FaultPlan, type SurfaceKind, type SurfaceTensor } from '../faults/index.js';

export interface SurfaceOptions {
  /** Number format of stored values (default float32). */
  format?: string;
  /** Which stored tensors can be hit (default: all kinds: weights, biases, thresholds and weight bounds). */
  kinds?: readonly SurfaceKind[];
  /**
   * The reference surface: scalar thresholds and bounds are immune, and keep their float32 values
   * under any format (the reference quantises the model before adding thresholds and never hits a
   * scalar one, so it never quantises one). Default false: every tensor is stored in the format.
   */
  referenceSurface?: boolean;
}

export interface FaultableModel {
  /** Surface tensors with their clean values under the format. */
  surface: SurfaceTensor[];
  /** Serialised model holding the quantised clean values. */
  bytes: Uint8Array;
  /** Byte offset in `bytes` of each surface tensor's first float32 value. */
  offsets: Record<string, number>;
}

/**
 * The fault surface of a graph: weights and biases of Conv/Gemm/MatMul layers (read directly or
 * through their weight bounds), the weight bounds, and threshold initializers. A single-element
 * threshold or bound is flagged `scalarThreshold` (immune under the reference surface).
 */
export function faultSurface(g: Graph, opts: SurfaceOptions = {}): SurfaceTensor[] {
  const kinds = new Set(opts.kinds ?? SURFACE_KINDS);
  const format = opts.format ?? DEFAULT_FAULT_MODEL.format;
  const out: SurfaceTensor[] = [];
  const seen = new Set<string>();
  const push = (name: string, kind: SurfaceKind) => {
    if (seen.has(name) || !kinds.has(kind)) return;
    const t = g.initializers.get(name)!;
    if (t.dtype !== 'float32') throw new ProactError(`tensor '${name}' is ${t.dtype}; fault injection needs float32 parameters in the ONNX file`);
    seen.add(name);
    const scalar = (kind === 'threshold' || kind === 'bound') && t.data.length === 1;
    const values = scalar && opts.referenceSurface ? Float32Array.from(t.data as Float32Array) : quantize(t.data as Float32Array, format, t.dims);
    const entry: SurfaceTensor = scalar
      ? { name, kind, dims: [...t.dims], values, scalarThreshold: true }
      : { name, kind, dims: [...t.dims], values };
    out.push(entry);
  };
  for (const l of parameterLayers(g)) {
    push(l.weight, 'weight');
    if (l.bias) push(l.bias, 'bias');
  }
  for (const l of parameterLayers(g)) for (const b of l.bounds ?? []) push(b, 'bound');
  for (const name of g.initializers.keys()) if (isThresholdName(name)) push(name, 'threshold');
  // An empty list of kinds is a campaign of activation faults only.
  if (out.length === 0 && kinds.size > 0) throw new ProactError('the model has no conv/linear weights, thresholds or weight bounds to inject faults into');
  return out;
}

/**
 * Serialises `g` with the surface tensors' clean (quantised) values and finds each tensor's byte
 * offset. Offsets are located by first writing a random marker into each tensor and searching for it
 * (retrying until every marker is unique in the file), then the real values are written in place.
 */
export function makeFaultable(g: Graph, opts: SurfaceOptions = {}): FaultableModel {
  const surface = faultSurface(g, opts);
  for (let attempt = 0; attempt < 8; attempt++) {
    const marked = g.clone();
    const markers = new Map<string, Buffer>();
    for (const t of surface) {
      const marker = randomBytes(Math.max(4, Math.min(16, t.values.length * 4)));
      const data = new Float32Array(t.values.length);
      new Uint8Array(data.buffer).set(marker);
      marked.initializers.set(t.name, { dtype: 'float32', dims: [...t.dims], data });
      markers.set(t.name, marker);
    }
    const bytes = Buffer.from(writeOnnx(marked));
    const offsets: Record<string, number> = {};
    let unique = true;
    for (const [name, marker] of markers) {
      const at = bytes.indexOf(marker);
      if (at < 0 || bytes.indexOf(marker, at + 1) >= 0) {
        unique = false;
        break;
      }
      offsets[name] = at;
    }
    if (!unique) continue;
    for (const t of surface) bytes.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), offsets[t.name]!);
    return { surface, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), offsets };
  }
  throw new ProactError('could not locate the parameter tensors in the serialised model (marker collision 8 times); please report this');
}

/** The model bytes with the faulty values of `plan` written in (a copy; `model.bytes` is not changed). */
export function applyPlanToBytes(model: Pick<FaultableModel, 'bytes' | 'offsets'>, faults: readonly Pick<FaultPlan['faults'][number], 'tensor' | 'index' | 'after'>[]): Uint8Array {
  const out = model.bytes.slice();
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (const f of faults) {
    const at = model.offsets[f.tensor];
    if (at === undefined) throw new ProactError(`fault plan hits tensor '${f.tensor}', which this model does not have: replay the plan on the model it was made for`);
    view.setFloat32(at + f.index * 4, f.after, true);
  }
  return out;
}

/** sha256 of bytes, hex. */
export function sha256(bytes: Uint8Array | ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).digest('hex');
}
