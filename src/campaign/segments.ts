/**
 * The graph run in segments: cut after chosen activation values, each segment its own onnxruntime
 * session, the values that cross a cut handed from one session to the next in JavaScript.
 *
 * Why: two things need to stand between two layers. (1) Activation faults (faults/activation.ts) flip
 * bits of a value one layer produced, in the stored word of the campaign's number format: the prefix
 * session computes the value, JavaScript flips the bits, the rest of the graph reads the faulty value,
 * so the result is exact for any format. (2) Delayed start: a weight-fault trial computes the same clean
 * values as the clean model up to the first segment that reads a faulty tensor, so it can start there
 * from clean values cached once per campaign (within a memory bound), and only the segments holding
 * faults need a fresh session. At low BER on ResNet-20 most trials' first fault is in the last stage.
 *
 * Segments: the data-dependent nodes in topological order, cut after the node producing each cut value.
 * Constant subgraphs (weight clipping on a stored weight, shape arithmetic) are copied into every
 * segment that reads them, so only activations (float32, batch first) cross a cut. Boundary b is the
 * state before segment b: the values computed before it that segments >= b read (boundary 0: the
 * image; the last boundary: the logits). A stored tensor that several segments read (a shared
 * constant) is patched in each of them, so a fault in it is seen everywhere as in the whole model.
 */
import { ProactError } from '../util/errors.js';
import { activationLayers, dataDependentValues, inferShapes, parameterLayers, readOnnx, writeOnnx, Graph, type Node, type ValueInfo } from '../graph/index.js';
import { applyActivationFaults, toFormat, type ActivationFault, type ActivationLayerShape, type FloatPolicy, type SurfaceKind } from '../faults/index.js';
import { Session } from '../runtime/index.js';
import { applyPlanToBytes, makeFaultable } from './model.js';

/** The evaluation images a segmented run reads: trial.ts's EvalSet without its labels (defined here, as trial.ts imports this file). */
export interface EvalImages {
  x: Float32Array;
  count: number;
  shape: readonly [number, number, number];
}

/** One segment, serialised: what a worker thread needs to create its session. */
export interface SegmentSpec {
  bytes: Uint8Array;
  /** Byte offsets of the surface tensors this segment reads (applyPlanToBytes). */
  offsets: Record<string, number>;
  inputs: string[];
  outputs: string[];
}

/** Clean boundary values kept for every evaluation image (shared with worker threads). */
export interface SegmentCache {
  /** Cached boundaries, ascending (boundary 0, the images, is always available). */
  boundaries: number[];
  /** `${boundary}:${value}` -> evalCount x per-image values (a SharedArrayBuffer). */
  values: Record<string, Float32Array>;
  /** Bytes held. */
  bytes: number;
}

export interface SegmentedModel {
  segments: SegmentSpec[];
  /** The data input and the logits. */
  input: string;
  output: string;
  /** Per-image dims of every value that crosses a cut (and of the input and output). */
  dims: Record<string, number[]>;
  /** live[b]: values held at boundary b (b = 0 .. segments.length). */
  live: string[][];
  /** Activation value -> the boundary where its faults are applied (after the segment producing it). */
  layerBoundary: Record<string, number>;
  /** Surface tensor -> the segments that read it, ascending. */
  tensorSegments: Record<string, number[]>;
  /** The model takes a fixed batch of one image. */
  fixedBatch: boolean;
  /**
   * Values the cache may hold: the activation layers' outputs. Exposing one as an extra output of the
   * whole model keeps the fusion that produces it; exposing a Conv output would split a Conv+Add fusion
   * and change the bits after it, so boundaries holding one are never cached.
   */
  cacheable: string[];
  /** Number format and surface kinds the segments were serialised with (makeFaultable). */
  format: string;
  kinds: SurfaceKind[];
  cache?: SegmentCache;
}

const numel = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/**
 * The activation layers `selectors` name, in execution order: outputs of Conv (activation:conv),
 * Gemm/MatMul (activation:gemm) and activation layers (activation:act, as `proact eval --layers` lists
 * them), or of the node named after `activation:`.
 */
export function activationSurfaceOf(g: Graph, selectors: readonly string[]): ActivationLayerShape[] {
  const types = inferShapes(g);
  const input = g.dataInputs()[0]?.name;
  const dd = dataDependentValues(g);
  const acts = new Set(activationLayers(g, types).map((l) => l.node));
  const wanted = new Set<string>();
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const kinds = new Set<string>();
  for (const s of selectors) {
    if (s === 'activation') ['conv', 'gemm', 'act'].forEach((k) => kinds.add(k));
    else if (s === 'activation:conv' || s === 'activation:gemm' || s === 'activation:act') kinds.add(s.slice('activation:'.length));
    else if (s.startsWith('activation:')) {
      const name = s.slice('activation:'.length);
      const n = byName.get(name);
      if (!n || !dd.has(n.outputs[0] ?? '')) throw new ProactError(`--surface ${s}: the model has no computed node '${name}': name a Conv, Gemm or activation node (proact eval --layers lists them), or use activation:conv, activation:gemm, activation:act`);
      wanted.add(n.name);
    } else throw new ProactError(`--surface ${s}: not an activation selector: use activation, activation:conv, activation:gemm, activation:act or activation:<node name>`);
  }
  const out: ActivationLayerShape[] = [];
  for (const n of g.nodes) {
    const value = n.outputs[0];
    if (!value || !dd.has(value) || value === input) continue;
    const kind = n.op === 'Conv' || n.op === 'ConvTranspose' ? 'conv' : n.op === 'Gemm' || n.op === 'MatMul' ? 'gemm' : acts.has(n.name) ? 'act' : undefined;
    if (!wanted.has(n.name) && (kind === undefined || !kinds.has(kind))) continue;
    const t = types.get(value);
    if (!t || t.dtype !== 'float32' || t.dims.length < 1 || t.dims.slice(1).some((d) => d < 1)) {
      throw new ProactError(`--surface: the output of node '${n.name}' has no known float32 shape with the batch first: choose other layers`);
    }
    out.push({ name: value, dims: t.dims.slice(1) });
  }
  if (out.length === 0) throw new ProactError(`--surface ${selectors.join(',')}: the model has no such layer: use activation:conv, activation:gemm, activation:act or a node name`);
  return out;
}

/** The cut values of a campaign: its activation surface, and every activation layer's output (delayed start). */
export function cutValues(g: Graph, surface: readonly ActivationLayerShape[]): string[] {
  const cuts = new Set(surface.map((l) => l.name));
  for (const l of activationLayers(g)) cuts.add(l.output);
  return [...cuts];
}

/**
 * Cuts `g` (a prepared graph) after each value of `cuts` and serialises the segments with the campaign's
 * number format on the fault surface (`kinds`), as makeFaultable prepares the whole model.
 */
export function segmentGraph(g: Graph, cuts: readonly string[], opts: { format: string; kinds: readonly SurfaceKind[] }): SegmentedModel {
  const dataInputs = g.dataInputs();
  if (dataInputs.length !== 1 || g.outputs.length < 1) throw new ProactError('segmented runs need a model with one image input and a logits output');
  const input = dataInputs[0]!.name;
  const output = g.outputs[0]!.name;
  const types = inferShapes(g);
  const dd = dataDependentValues(g);
  const producer = g.producers();
  const ddNodes = g.nodes.filter((n) => n.outputs.some((o) => o && dd.has(o)));
  const cutSet = new Set(cuts);
  for (const c of cuts) if (!dd.has(c) || !producer.has(c)) throw new ProactError(`cannot cut the model at '${c}': it is not a value the model computes`);

  // Segment of each data-dependent node: cut after the node that produces a cut value.
  const segmentOf = new Map<Node, number>();
  let k = 0;
  ddNodes.forEach((n, i) => {
    segmentOf.set(n, k);
    if (n.outputs.some((o) => cutSet.has(o)) && i < ddNodes.length - 1) k++;
  });
  const count = k + 1;
  const valueSegment = new Map<string, number>([[input, -1]]);
  for (const n of ddNodes) for (const o of n.outputs) if (o) valueSegment.set(o, segmentOf.get(n)!);

  // Constant subgraphs a segment reads are copied into it (in the original order).
  const constNodesOf = (nodes: Node[]): Node[] => {
    const need = new Set<Node>();
    const visit = (value: string): void => {
      const p = producer.get(value);
      if (!p || dd.has(value) || need.has(p)) return;
      need.add(p);
      p.inputs.forEach((i) => i && visit(i));
    };
    for (const n of nodes) n.inputs.forEach((i) => i && visit(i));
    return g.nodes.filter((n) => need.has(n));
  };

  const readers = new Map<string, number[]>(); // data-dependent value -> segments reading it
  for (const n of ddNodes) for (const i of n.inputs) if (i && dd.has(i)) (readers.get(i) ?? readers.set(i, []).get(i)!).push(segmentOf.get(n)!);
  const crossingDims = (value: string): number[] => {
    const t = types.get(value);
    if (!t || t.dtype !== 'float32' || t.dims.length < 1 || t.dims.slice(1).some((d) => d < 0)) {
      throw new ProactError(`cannot cut the model before '${value}': only float32 values with the batch first and known sizes can cross a cut`);
    }
    return t.dims.slice(1);
  };
  const dims: Record<string, number[]> = { [input]: crossingDims(input), [output]: crossingDims(output) };
  const live: string[][] = [];
  for (let b = 0; b <= count; b++) {
    const held: string[] = [];
    for (const [value, seg] of valueSegment) {
      const reads = readers.get(value) ?? [];
      if (seg < b && (reads.some((r) => r >= b) || (value === output && b === count))) held.push(value);
    }
    for (const v of held) dims[v] ??= crossingDims(v);
    live.push(held);
  }

  const segments: SegmentSpec[] = [];
  const tensorSegments: Record<string, number[]> = {};
  const batchDim = dataInputs[0]!.dims[0] ?? -1;
  for (let s = 0; s < count; s++) {
    const own = ddNodes.filter((n) => segmentOf.get(n) === s);
    const nodes = [...constNodesOf(own), ...own];
    const sub = new Graph();
    sub.name = `${g.name}.segment${s}`;
    sub.opset = g.opset;
    sub.nodes = nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } }));
    const produced = new Set(nodes.flatMap((n) => n.outputs));
    const reads = new Set(nodes.flatMap((n) => n.inputs).filter((i) => i));
    for (const name of reads) {
      const t = g.initializers.get(name);
      if (t) sub.initializers.set(name, t);
    }
    const info = (name: string): ValueInfo => ({ name, dtype: 'float32', dims: [batchDim, ...dims[name]!] });
    const inputs = live[s]!.filter((v) => reads.has(v) && !produced.has(v));
    const outputs = live[s + 1]!.filter((v) => produced.has(v));
    sub.inputs = inputs.map(info);
    sub.outputs = outputs.map(info);
    let bytes: Uint8Array;
    let offsets: Record<string, number> = {};
    const hasSurface = parameterLayers(sub).length > 0 || [...sub.initializers.keys()].some((n) => n.startsWith('proact.'));
    if (hasSurface) {
      try {
        ({ bytes, offsets } = makeFaultable(sub, { format: opts.format, kinds: opts.kinds }));
      } catch (e) {
        // A segment holding no tensor of the campaign's surface kinds is serialised as it is.
        if (!(e instanceof ProactError) || !/no conv\/linear weights/.test(e.message)) throw e;
        bytes = writeOnnx(sub);
      }
    } else bytes = writeOnnx(sub);
    for (const t of Object.keys(offsets)) (tensorSegments[t] ??= []).push(s);
    segments.push({ bytes, offsets, inputs, outputs });
  }
  const layerBoundary: Record<string, number> = {};
  for (const c of cuts) layerBoundary[c] = valueSegment.get(c)! + 1;
  const cacheable = activationLayers(g, types).map((l) => l.output);
  return { segments, input, output, dims, live, layerBoundary, tensorSegments, fixedBatch: batchDim !== -1, cacheable, format: opts.format, kinds: [...opts.kinds] };
}

// ---------------------------------------------------------------- ranges

/**
 * Segments from..to-1 as one graph: a run needs a cut only where it flips activation bits, so a range
 * of segments with no fault between them runs as one session (each cut costs a copy of the values
 * through JavaScript and the fusions across it: about 2.5x the time of the whole model when ResNet-20
 * is cut at all its 19 activation layers).
 */
function rangeGraph(model: SegmentedModel, from: number, to: number, parsed: Graph[]): Graph {
  const g = new Graph();
  g.name = `segments ${from}-${to - 1}`;
  const seen = new Set<string>();
  for (let s = from; s < to; s++) {
    const part = (parsed[s] ??= readOnnx(model.segments[s]!.bytes, { source: `segment ${s}` }));
    g.opset = part.opset;
    for (const n of part.nodes) {
      // Constant subgraphs are copied into every segment that reads them: keep the first copy.
      if (n.outputs.every((o) => seen.has(o))) continue;
      n.outputs.forEach((o) => seen.add(o));
      g.nodes.push(n);
    }
    for (const [name, t] of part.initializers) g.initializers.set(name, t);
  }
  const reads = new Set(g.nodes.flatMap((n) => n.inputs));
  const info = (name: string): ValueInfo => ({ name, dtype: 'float32', dims: [model.fixedBatch ? 1 : -1, ...model.dims[name]!] });
  g.inputs = model.live[from]!.filter((v) => reads.has(v) && !seen.has(v)).map(info);
  g.outputs = model.live[to]!.filter((v) => seen.has(v)).map(info);
  return g;
}

interface ThreadState {
  parsed: Graph[];
  /** Clean range sessions by "from-to", least recently used first. */
  clean: Map<string, Promise<Session>>;
  /** Serialised faultable ranges by "from-to" (for weight faults). */
  faultable: Map<string, { bytes: Uint8Array; offsets: Record<string, number> }>;
}

/** Range sessions kept per thread: ResNet-20 cut at 20 points has 210 ranges; trials reuse a few. */
const MAX_RANGE_SESSIONS = 64;
const MAX_FAULTABLE_RANGES = 24;
const states = new WeakMap<SegmentedModel, ThreadState>();

function stateOf(model: SegmentedModel): ThreadState {
  let st = states.get(model);
  if (st === undefined) {
    st = { parsed: [], clean: new Map(), faultable: new Map() };
    states.set(model, st);
  }
  return st;
}

function cleanRange(model: SegmentedModel, from: number, to: number, threads: number): Promise<Session> {
  const st = stateOf(model);
  const key = `${from}-${to}`;
  let s = st.clean.get(key);
  if (s !== undefined) {
    st.clean.delete(key);
  } else {
    const bytes = to === from + 1 ? model.segments[from]!.bytes : writeOnnx(rangeGraph(model, from, to, st.parsed));
    s = Session.create(bytes, { threads, arena: false, name: `segments ${from}-${to - 1} of the model` });
    while (st.clean.size >= MAX_RANGE_SESSIONS) {
      const [oldKey, old] = st.clean.entries().next().value!;
      st.clean.delete(oldKey);
      void old.then((x) => x.release());
    }
  }
  st.clean.set(key, s);
  return s;
}

function faultableRange(model: SegmentedModel, from: number, to: number): { bytes: Uint8Array; offsets: Record<string, number> } {
  if (to === from + 1) return model.segments[from]!;
  const st = stateOf(model);
  const key = `${from}-${to}`;
  let r = st.faultable.get(key);
  if (r === undefined) {
    r = makeFaultable(rangeGraph(model, from, to, st.parsed), { format: model.format, kinds: model.kinds });
    if (st.faultable.size >= MAX_FAULTABLE_RANGES) st.faultable.delete(st.faultable.keys().next().value!);
  } else st.faultable.delete(key);
  st.faultable.set(key, r);
  return r;
}

/** Releases this thread's sessions of `model`. */
export async function releaseSegmentSessions(model: SegmentedModel): Promise<void> {
  const st = states.get(model);
  states.delete(model);
  if (st) await Promise.all([...st.clean.values()].map(async (s) => (await s).release()));
}

// ---------------------------------------------------------------- running

/** What a segmented run needs from a campaign (a subset of TrialContext). */
export interface SegmentRunContext {
  segments: SegmentedModel;
  evalSet: EvalImages;
  batchSize: number;
  threads: number;
  /** Number format and float policy of activation faults (the campaign's). */
  format: string;
  policy: FloatPolicy;
}

/** Faults of one segmented run. */
export interface SegmentFaults {
  /** Weight faults (tensor, index, after), the masked ones already left out. */
  weights: readonly { readonly tensor: string; readonly index: number; readonly after: number }[];
  activations: readonly ActivationFault[];
}

export interface SegmentRunResult {
  /** Argmax per image (-1: non-finite logits) for the images run. */
  predictions: Map<number, number>;
  /** Logits per image run (with keepLogits). */
  logits?: Map<number, Float32Array>;
}

const NEVER = Number.POSITIVE_INFINITY;
/** Exact grouping (see runSegments) while it keeps at least this many images per group on average, or this few groups. */
const MIN_IMAGES_PER_GROUP = 16;
const MIN_EXACT_GROUPS = 8;

/**
 * The boundary where each image's run starts: the first segment that reads a faulty weight, or the
 * boundary of the image's first activation fault, whichever comes first, moved back to the latest
 * cached boundary. Images no fault reaches are left out (their clean prediction stands), unless `all`.
 */
export function startBoundaries(model: SegmentedModel, images: ArrayLike<number>, faults: SegmentFaults, all: boolean): Map<number, number> {
  let weightStart = NEVER;
  for (const f of faults.weights) {
    const segs = model.tensorSegments[f.tensor];
    if (segs === undefined) throw new ProactError(`fault plan hits tensor '${f.tensor}', which this model does not have: replay the plan on the model it was made for`);
    weightStart = Math.min(weightStart, segs[0]!);
  }
  const activationStart = new Map<number, number>();
  for (const f of faults.activations) {
    const b = model.layerBoundary[f.layer];
    if (b === undefined) throw new ProactError(`activation fault hits layer '${f.layer}', which is not a cut of this model: replay the plan with the surface it was made for`);
    activationStart.set(f.image, Math.min(activationStart.get(f.image) ?? NEVER, b));
  }
  // A trial with activation faults runs every image from the input: an activation computed from a cached
  // boundary may differ in its last bits from one computed from the input, so using the cache would make
  // the trial depend on --cache-mb (not part of the campaign key) and differ from its replay.
  const cached = faults.activations.length > 0 ? [0] : [0, ...(model.cache?.boundaries ?? [])];
  const last = model.segments.length;
  const out = new Map<number, number>();
  for (let i = 0; i < images.length; i++) {
    const image = images[i]!;
    let start = Math.min(weightStart, activationStart.get(image) ?? NEVER);
    if (start === NEVER && all) start = last;
    if (start === NEVER) continue;
    let e = 0;
    for (const c of cached) if (c <= start) e = Math.max(e, c);
    out.set(image, e);
  }
  return out;
}

/** Index of the first maximum of finite logits, or -1 when any is Inf or NaN (as predictAll). */
function argmaxFinite(logits: Float32Array, offset: number, classes: number): number {
  let best = 0;
  let bestV = -Infinity;
  for (let k = 0; k < classes; k++) {
    const v = logits[offset + k]!;
    if (v - v !== 0) return -1;
    if (v > bestV) {
      bestV = v;
      best = k;
    }
  }
  return best;
}

/**
 * Runs the images of `starts` from their start boundary to the logits with `faults`. Images run in
 * groups with the same start and the same boundaries of activation faults after it: a group is cut only
 * there, and each range between cuts runs as one session (clean and kept, or fresh with the weight
 * faults when the range reads a faulty tensor).
 */
export async function runSegments(ctx: SegmentRunContext, starts: Map<number, number>, faults: SegmentFaults, keepLogits = false): Promise<SegmentRunResult> {
  const model = ctx.segments;
  const predictions = new Map<number, number>();
  const logits = keepLogits ? new Map<number, Float32Array>() : undefined;
  const last = model.segments.length;
  const byImage = new Map<number, Map<string, ActivationFault[]>>();
  for (const f of faults.activations) {
    const layers = byImage.get(f.image) ?? byImage.set(f.image, new Map()).get(f.image)!;
    (layers.get(f.layer) ?? layers.set(f.layer, []).get(f.layer)!).push(f);
  }
  const layersAt = new Map<number, string[]>();
  for (const [layer, b] of Object.entries(model.layerBoundary)) (layersAt.get(b) ?? layersAt.set(b, []).get(b)!).push(layer);
  const faultySegments = new Set<number>();
  for (const f of faults.weights) for (const s of model.tensorSegments[f.tensor] ?? []) faultySegments.add(s);
  const batchSize = model.fixedBatch ? 1 : ctx.batchSize;
  const [c, h, w] = ctx.evalSet.shape;
  const imageSize = c * h * w;
  const classes = numel(model.dims[model.output]!);
  const format = toFormat(ctx.format);

  // Groups: same start, same cuts (boundaries after the start where the image has activation faults).
  // Sparse faults (a few per image) give few groups, each cut in one or two places. Dense faults give
  // nearly one group per image: those would run one image at a time through ranges made for it alone,
  // so then images are grouped by start only and cut wherever one of them has a fault.
  const cutsOf = (image: number, start: number): number[] =>
    [...new Set([...(byImage.get(image)?.keys() ?? [])].map((l) => model.layerBoundary[l]!))].filter((b) => b > start && b < last).sort((a, b) => a - b);
  const groupBy = (exact: boolean): Map<string, { start: number; cuts: number[]; images: number[] }> => {
    const out = new Map<string, { start: number; cuts: number[]; images: number[] }>();
    for (const [image, start] of starts) {
      const cuts = cutsOf(image, start);
      const key = exact ? `${start}|${cuts.join(',')}` : `${start}`;
      const group = out.get(key) ?? out.set(key, { start, cuts: [], images: [] }).get(key)!;
      group.images.push(image);
      group.cuts = [...new Set([...group.cuts, ...cuts])].sort((a, b) => a - b);
    }
    return out;
  };
  let groups = groupBy(true);
  if (groups.size > Math.max(MIN_EXACT_GROUPS, starts.size / MIN_IMAGES_PER_GROUP)) groups = groupBy(false);
  const faulty = new Map<string, Promise<Session>>();
  const sessionFor = (from: number, to: number): Promise<Session> => {
    let touched = false;
    for (let s = from; s < to; s++) if (faultySegments.has(s)) touched = true;
    if (!touched) return cleanRange(model, from, to, ctx.threads);
    const key = `${from}-${to}`;
    let s = faulty.get(key);
    if (s === undefined) {
      const range = faultableRange(model, from, to);
      s = Session.create(applyPlanToBytes(range, faults.weights.filter((f) => f.tensor in range.offsets)), { threads: ctx.threads, name: `segments ${from}-${to - 1} of the model with the trial's faults` });
      faulty.set(key, s);
    }
    return s;
  };
  try {
    for (const group of [...groups.values()].sort((a, b) => a.start - b.start)) {
      const { start, cuts, images } = group;
      images.sort((a, b) => a - b);
      const stops = [start, ...cuts, last];
      for (let at = 0; at < images.length; at += batchSize) {
        const batch = images.slice(at, at + batchSize);
        const n = batch.length;
        const live = new Map<string, Float32Array>();
        // Gather the start boundary's values (copies: onnxruntime rejects views of a SharedArrayBuffer).
        for (const v of model.live[start]!) {
          const size = v === model.input ? imageSize : numel(model.dims[v]!);
          const source = start === 0 ? ctx.evalSet.x : model.cache!.values[`${start}:${v}`]!;
          const x = new Float32Array(n * size);
          batch.forEach((image, p) => x.set(source.subarray(image * size, (image + 1) * size), p * size));
          live.set(v, x);
        }
        for (let k = 0; k < stops.length; k++) {
          const b = stops[k]!;
          // Activation faults of the values produced just before boundary b.
          for (const layer of layersAt.get(b) ?? []) {
            const values = live.get(layer);
            if (!values) continue;
            const dims = model.dims[layer]!;
            const size = numel(dims);
            batch.forEach((image, p) => {
              const hits = byImage.get(image)?.get(layer);
              if (hits) applyActivationFaults(values.subarray(p * size, (p + 1) * size), dims, hits, format, ctx.policy);
            });
          }
          if (b === last) break;
          const to = stops[k + 1]!;
          const session = await sessionFor(b, to);
          const feeds: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
          for (const v of session.inputNames) feeds[v] = { data: live.get(v)!, dims: [n, ...model.dims[v]!] };
          const out = await session.run(feeds, session.outputNames, `running segments ${b}-${to - 1}`);
          for (const v of session.outputNames) live.set(v, out[v]!.data);
          const keep = new Set(model.live[to]);
          for (const v of [...live.keys()]) if (!keep.has(v)) live.delete(v);
        }
        const y = live.get(model.output)!;
        batch.forEach((image, p) => {
          predictions.set(image, argmaxFinite(y, p * classes, classes));
          logits?.set(image, y.slice(p * classes, (p + 1) * classes));
        });
      }
    }
  } finally {
    for (const s of faulty.values()) await (await s).release();
  }
  return { predictions, ...(logits ? { logits } : {}) };
}

/**
 * The whole model with the values of `boundaries` as extra outputs, serialised as the campaign prepares
 * it: the cache is filled by the model's own computation (the same kernels and fusions as a whole-model
 * trial; exposing an activation layer's output keeps the fusion that produces it), so a run started
 * from the cache gives the whole model's logits bit for bit.
 */
export function probeModel(g: Graph, model: SegmentedModel, boundaries: readonly number[]): Uint8Array {
  const probe = g.clone();
  const names = new Set(probe.outputs.map((o) => o.name));
  for (const b of boundaries)
    for (const v of model.live[b]!) {
      if (names.has(v) || v === model.input) continue;
      names.add(v);
      probe.outputs.push({ name: v, dtype: 'float32', dims: [model.fixedBatch ? 1 : -1, ...model.dims[v]!] });
    }
  return makeFaultable(probe, { format: model.format, kinds: model.kinds }).bytes;
}

/**
 * Which boundaries' clean values to keep within `maxBytes`: latest first, since they are the smallest
 * (ResNet-20's last stage holds 4 x fewer values than its first) and the most used (most weights, hence
 * most first faults, are in the last stage).
 */
export function cacheBoundaries(model: SegmentedModel, count: number, maxBytes: number): number[] {
  const boundaries: number[] = [];
  let bytes = 0;
  const last = model.segments.length;
  // The logits serve only activation faults in the last layer's output.
  const top = Object.values(model.layerBoundary).includes(last) ? last : last - 1;
  const cacheable = new Set([...model.cacheable, model.output]);
  for (let b = top; b >= 1; b--) {
    if (!model.live[b]!.every((v) => cacheable.has(v))) continue;
    const need = model.live[b]!.reduce((sum, v) => sum + numel(model.dims[v]!), 0) * count * 4;
    if (bytes + need > maxBytes) continue;
    boundaries.push(b);
    bytes += need;
  }
  return boundaries.sort((a, b) => a - b);
}

/** Computes the clean values of every evaluation image at `boundaries` with the probe model (probeModel). */
export async function buildSegmentCache(ctx: Omit<SegmentRunContext, 'format' | 'policy'>, boundaries: readonly number[], probe: Uint8Array): Promise<SegmentCache> {
  const model = ctx.segments;
  const count = ctx.evalSet.count;
  const values: Record<string, Float32Array> = {};
  let bytes = 0;
  for (const b of boundaries)
    for (const v of model.live[b]!) {
      values[`${b}:${v}`] = new Float32Array(new SharedArrayBuffer(count * numel(model.dims[v]!) * 4));
      bytes += count * numel(model.dims[v]!) * 4;
    }
  if (boundaries.length > 0) {
    const session = await Session.create(probe, { threads: ctx.threads, name: 'the model with its cut values as outputs' });
    try {
      const batchSize = model.fixedBatch ? 1 : ctx.batchSize;
      const [c, h, w] = ctx.evalSet.shape;
      const imageSize = c * h * w;
      for (let at = 0; at < count; at += batchSize) {
        const n = Math.min(batchSize, count - at);
        const out = await session.run({ [model.input]: { data: ctx.evalSet.x.slice(at * imageSize, (at + n) * imageSize), dims: [n, c, h, w] } }, undefined, 'computing the clean values of the cut points');
        for (const b of boundaries) for (const v of model.live[b]!) values[`${b}:${v}`]!.set(out[v]!.data, at * numel(model.dims[v]!));
      }
    } finally {
      await session.release();
    }
  }
  return { boundaries: [...boundaries], values, bytes };
}

/**
 * The cached boundaries from which a run reproduces the whole model's logits bit for bit, checked on the
 * first `images` evaluation images of the clean model; the others are dropped from the cache. Why: the
 * same values reach the rest of the graph either way, but onnxruntime may pick other kernels for a graph
 * that starts at a cut (a global average pool outside the blocked layout sums in another order), and a
 * delayed start must give exactly the trial a whole-model run gives.
 */
export async function keepExactBoundaries(ctx: Omit<SegmentRunContext, 'format' | 'policy'>, wholeModel: Uint8Array, images: number): Promise<number[]> {
  const model = ctx.segments;
  const cache = model.cache;
  if (cache === undefined || cache.boundaries.length === 0) return [];
  const n = Math.min(images, ctx.evalSet.count, model.fixedBatch ? 1 : images);
  const [c, h, w] = ctx.evalSet.shape;
  const whole = await Session.create(wholeModel, { threads: ctx.threads, name: 'the model' });
  let expected: Float32Array;
  try {
    expected = (await whole.run({ [model.input]: { data: ctx.evalSet.x.slice(0, n * c * h * w), dims: [n, c, h, w] } }, [model.output]))[model.output]!.data;
  } finally {
    await whole.release();
  }
  const dropped: number[] = [];
  const all = Array.from({ length: n }, (_, i) => i);
  for (const b of cache.boundaries) {
    const r = await runSegments({ ...ctx, format: 'float32', policy: 'ieee' }, new Map(all.map((i) => [i, b])), { weights: [], activations: [] }, true);
    const classes = numel(model.dims[model.output]!);
    const same = all.every((i) => {
      const got = r.logits!.get(i)!;
      for (let k = 0; k < classes; k++) if (!Object.is(got[k], expected[i * classes + k])) return false;
      return true;
    });
    if (!same) dropped.push(b);
  }
  await releaseSegmentSessions(model);
  if (dropped.length > 0) {
    for (const b of dropped) for (const v of model.live[b]!) {
      cache.bytes -= cache.values[`${b}:${v}`]!.length * 4;
      delete cache.values[`${b}:${v}`];
    }
    cache.boundaries = cache.boundaries.filter((b) => !dropped.includes(b));
  }
  return dropped;
}
