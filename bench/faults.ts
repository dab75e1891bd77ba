/**
 * `npm run bench -- faults [--runs N]`: the two ways to give onnxruntime a faulty model, timed on
 * resnet20.onnx over 2,000 CIFAR-10 test images with one fixed fault plan.
 *
 * ORT ignores a feed for an initializer that is also a graph input, so faulty weights must get in
 * another way (../shared/docs/design.md):
 * - `patchBytes` (what src/campaign does): write the faulty values into the serialised model and create
 *   a new session per trial; weights stay constant initializers that ORT pre-packs.
 * - `weightInputs`: the surface tensors become plain graph inputs with no initializer; one session per
 *   campaign, and every run is fed the trial's (patched) weights.
 * For each: session-create time, first-run time, steady per-batch time and seconds per trial, medians
 * over `runs`. The logits of both ways are compared too (same model, so they should agree).
 */
import { loadavg } from 'node:os';
import { applyPlanToBytes, loadEvalSet, makeFaultable } from '../src/campaign/index.js';
import { openDataset } from '../src/data/index.js';
import { FaultPlanner, applyPlan, type FaultPlan, type SurfaceTensor } from '../src/faults/index.js';
import { prepareGraph, readOnnxFile, writeOnnx, type Graph } from '../src/graph/index.js';
import { Session, type Feeds } from '../src/runtime/index.js';
import { median, requireShared } from './common.js';

const IMAGES = 2000;
const BATCH = 250; // the campaign's default
const THREADS = 2; // a one-worker campaign's default
const PLAN = { seed: 1, ber: 1e-5, trial: 0 }; // campaign defaults otherwise: float32, bernoulli, ieee

interface Batch {
  x: Float32Array;
  dims: number[];
}

interface TrialTiming {
  /** Session creation (for patchBytes including the copy and patch of the model bytes). */
  sessionCreateMs: number;
  firstRunMs: number;
  /** Median over the batches after the first. */
  steadyBatchMs: number;
  /** One whole trial: everything a campaign pays per trial with this way. */
  trialSeconds: number;
  logits: Float32Array;
}

/** Runs every batch; times the first and the others apart. */
async function runBatches(session: Session, batches: readonly Batch[], extra: Feeds = {}): Promise<{ firstRunMs: number; steadyBatchMs: number; logits: Float32Array }> {
  const input = session.inputNames.find((n) => !(n in extra))!;
  const output = session.outputNames[0]!;
  const times: number[] = [];
  const chunks: Float32Array[] = [];
  for (const b of batches) {
    const t0 = performance.now();
    const out = await session.run({ ...extra, [input]: { data: b.x, dims: b.dims } }, [output]);
    times.push(performance.now() - t0);
    chunks.push(Float32Array.from(out[output]!.data));
  }
  const logits = new Float32Array(chunks.reduce((s, c) => s + c.length, 0));
  chunks.reduce((at, c) => (logits.set(c, at), at + c.length), 0);
  return { firstRunMs: times[0]!, steadyBatchMs: median(times.slice(1)), logits };
}

/** Way (a): patched model bytes, a fresh session per trial (the campaign's way). */
async function patchBytesTrial(faultable: ReturnType<typeof makeFaultable>, plan: FaultPlan, batches: readonly Batch[]): Promise<TrialTiming> {
  const t0 = performance.now();
  const session = await Session.create(applyPlanToBytes(faultable, plan.faults), { threads: THREADS });
  const sessionCreateMs = performance.now() - t0;
  try {
    const r = await runBatches(session, batches);
    return { sessionCreateMs, ...r, trialSeconds: (performance.now() - t0) / 1000 };
  } finally {
    await session.release();
  }
}

/** The graph with the surface tensors turned into plain graph inputs (no initializer). */
function weightsAsInputs(graph: Graph, surface: readonly SurfaceTensor[]): Uint8Array {
  const g = graph.clone();
  for (const t of surface) {
    g.initializers.delete(t.name);
    g.inputs.push({ name: t.name, dtype: 'float32', dims: [...t.dims] });
  }
  return writeOnnx(g);
}

/** The trial's weights as feeds: the clean tensors with the plan's patched copies in place. */
function weightFeeds(clean: ReadonlyMap<string, Float32Array>, surface: readonly SurfaceTensor[], plan: FaultPlan): Feeds {
  const patched = applyPlan(clean, plan);
  const feeds: Feeds = {};
  for (const t of surface) feeds[t.name] = { data: patched.get(t.name) ?? clean.get(t.name)!, dims: t.dims };
  return feeds;
}

/**
 * Way (b): one session per campaign fed the weights on every run. The session is created once, so a
 * campaign pays its creation and first run once; every later trial costs the steady trial measured here
 * (the second trial on the session).
 */
async function weightInputsTrials(bytes: Uint8Array, surface: readonly SurfaceTensor[], plan: FaultPlan, batches: readonly Batch[]): Promise<{ first: TrialTiming; later: TrialTiming }> {
  const clean = new Map(surface.map((t) => [t.name, t.values]));
  const t0 = performance.now();
  const session = await Session.create(bytes, { threads: THREADS });
  const sessionCreateMs = performance.now() - t0;
  try {
    const trial = async (start: number): Promise<Omit<TrialTiming, 'sessionCreateMs'>> => {
      const r = await runBatches(session, batches, weightFeeds(clean, surface, plan));
      return { ...r, trialSeconds: (performance.now() - start) / 1000 };
    };
    const first = { sessionCreateMs, ...(await trial(t0)) };
    const later = { sessionCreateMs: 0, ...(await trial(performance.now())) };
    return { first, later };
  } finally {
    await session.release();
  }
}

function summary(timings: readonly TrialTiming[]): Record<string, number | number[]> {
  const pick = (k: 'sessionCreateMs' | 'firstRunMs' | 'steadyBatchMs' | 'trialSeconds') => median(timings.map((t) => t[k]));
  return {
    sessionCreateMs: pick('sessionCreateMs'),
    firstRunMs: pick('firstRunMs'),
    steadyBatchMs: pick('steadyBatchMs'),
    trialSeconds: pick('trialSeconds'),
    trialSecondsAll: timings.map((t) => t.trialSeconds),
  };
}

/** How far the two ways' logits agree (different kernels may sum in another order). */
function compareLogits(a: Float32Array, b: Float32Array, classes: number): Record<string, number | boolean> {
  let maxRelDiffFinite = 0;
  let nonFiniteMismatches = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isFinite(x) && Number.isFinite(y)) {
      const scale = Math.max(Math.abs(x), Math.abs(y));
      if (scale > 0) maxRelDiffFinite = Math.max(maxRelDiffFinite, Math.abs(x - y) / scale);
    } else if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) nonFiniteMismatches++;
  }
  let samePredictions = 0;
  const images = a.length / classes;
  const argmax = (v: Float32Array, i: number) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (v[i * classes + k]! > v[i * classes + best]!) best = k;
    return best;
  };
  for (let i = 0; i < images; i++) if (argmax(a, i) === argmax(b, i)) samePredictions++;
  const bitIdentical = Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return { bitIdentical, maxRelDiffFinite, nonFiniteMismatches, samePredictions, images };
}

export async function benchFaults(opts: { runs: number }): Promise<Record<string, unknown>> {
  const modelPath = requireShared('models/resnet20.onnx');
  const dataPath = requireShared('data/cifar10-jpeg75');
  const loadBefore = loadavg();
  const graph = prepareGraph(readOnnxFile(modelPath), { foldBatchNorm: true });
  const faultable = makeFaultable(graph, { kinds: ['weight', 'bias'] });
  const plan = new FaultPlanner(faultable.surface, { seed: PLAN.seed }).plan(PLAN.ber, PLAN.trial);
  const inputsModel = weightsAsInputs(graph, faultable.surface);

  const evalSet = loadEvalSet(openDataset(dataPath, { split: 'test' }), 0, IMAGES);
  const [c, h, w] = evalSet.shape;
  const batches: Batch[] = [];
  for (let start = 0; start < evalSet.count; start += BATCH) {
    const n = Math.min(BATCH, evalSet.count - start);
    // Plain copies: onnxruntime-node rejects views of the eval set's SharedArrayBuffer.
    batches.push({ x: evalSet.x.slice(start * c * h * w, (start + n) * c * h * w), dims: [n, c, h, w] });
  }

  const patch: TrialTiming[] = [];
  const inputsFirst: TrialTiming[] = [];
  const inputsLater: TrialTiming[] = [];
  for (let k = 0; k < opts.runs; k++) {
    // Alternate the order so that a change of load on the shared cores hits both ways alike.
    if (k % 2 === 0) {
      patch.push(await patchBytesTrial(faultable, plan, batches));
      const b = await weightInputsTrials(inputsModel, faultable.surface, plan, batches);
      inputsFirst.push(b.first);
      inputsLater.push(b.later);
    } else {
      const b = await weightInputsTrials(inputsModel, faultable.surface, plan, batches);
      inputsFirst.push(b.first);
      inputsLater.push(b.later);
      patch.push(await patchBytesTrial(faultable, plan, batches));
    }
  }
  const a = summary(patch);
  const b = summary(inputsLater);
  const aTrial = a.trialSeconds as number;
  const bTrial = b.trialSeconds as number;
  return {
    bench: 'faults',
    model: 'resnet20.onnx',
    images: IMAGES,
    batch: BATCH,
    threads: THREADS,
    runs: opts.runs,
    plan: { ...PLAN, format: plan.format, count: plan.count, policy: plan.policy, surface: 'weight,bias', faults: plan.faults.length },
    patchBytes: a,
    weightInputs: { ...b, sessionCreateMs: summary(inputsFirst).sessionCreateMs, firstRunMs: summary(inputsFirst).firstRunMs, firstTrialSeconds: summary(inputsFirst).trialSeconds },
    faster: aTrial <= bTrial ? 'patchBytes' : 'weightInputs',
    trialSecondsRatioWeightInputsOverPatchBytes: bTrial / aTrial,
    logits: compareLogits(patch[0]!.logits, inputsLater[0]!.logits, patch[0]!.logits.length / IMAGES),
    loadavgBefore: loadBefore.map((x) => Number(x.toFixed(2))),
    loadavgAfter: loadavg().map((x) => Number(x.toFixed(2))),
  };
}
