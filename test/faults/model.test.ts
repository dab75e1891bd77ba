/**
 * Fault plans on real models: the reference fault count on ResNet-20, plans replayed bit for bit
 * (in process from their JSON, and through `proact faults replay`), and a single exponent flip. The
 * same checks run on the tiny MNIST CNN, which needs no ../shared.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlanToBytes, loadEvalSet, makeFaultable, runTrial, sha256, type EvalSet, type FaultableModel } from '../../src/campaign/index.js';
import { openDataset } from '../../src/data/index.js';
import { FaultPlanner, PLAN_VERSION, applyPlan, float32Bits, float32FromBits, planFromJSON, planToJSON, surfaceHash, type FaultPlan } from '../../src/faults/index.js';
import { THRESHOLD_PREFIX, activationLayers, parameterLayers, prepareGraph, readOnnxFile, scalarF32, writeOnnx, type Graph } from '../../src/graph/index.js';
import { addWeightBounds, hardenGraph, type WeightBound } from '../../src/harden/index.js';
import { Session } from '../../src/runtime/index.js';
import { runCli } from '../helpers/cli.js';
import { sharedFile } from '../helpers/shared.js';
import { tinyCnn, writeTinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-faults-model-'));
const BATCH = 250; // the campaign's default batch size
const THREADS = 2; // a one-worker campaign's threads

interface Case {
  name: string;
  /** Model and data paths, or undefined after skipping. */
  files(t: TestContext): { model: string; data: string } | undefined;
  /** The reference count model's BER and the flips floor(numel * 32 * BER) summed over the layers give. */
  referenceBer: number;
  referenceFaults: number;
  layers: number;
  /** A bernoulli plan at this BER and trial changes the logits without making them all non-finite. */
  replayBer: number;
  replayTrial: number;
  images: number;
}

const cases: Case[] = [
  {
    name: 'resnet20.onnx',
    files: (t) => {
      const model = sharedFile(t, 'models/resnet20.onnx');
      const data = model && sharedFile(t, 'data/cifar10-jpeg75');
      return model && data ? { model, data } : undefined;
    },
    referenceBer: 1e-5,
    referenceFaults: 71,
    layers: 20,
    replayBer: 1e-6,
    replayTrial: 1,
    images: 250,
  },
  {
    name: 'tiny CNN',
    files: () => ({ model: writeTinyCnn(join(dir, 'tiny.onnx')), data: 'mnist' }),
    // conv1.weight 36 -> 1, fc1.weight 3136 -> 100, fc2.weight 160 -> 5; every bias < 1 flip.
    referenceBer: 1e-3,
    referenceFaults: 106,
    layers: 3,
    replayBer: 1e-4,
    replayTrial: 2,
    images: 500,
  },
];

function prepared(model: string): Graph {
  return prepareGraph(readOnnxFile(model), { foldBatchNorm: true });
}

/** The logits of a model over the eval set, batch by batch as a campaign trial runs it. */
async function logitsOf(bytes: Uint8Array, evalSet: EvalSet): Promise<Float32Array> {
  const session = await Session.create(bytes, { threads: THREADS });
  try {
    const [c, h, w] = evalSet.shape;
    const size = c * h * w;
    const chunks: Float32Array[] = [];
    for (let start = 0; start < evalSet.count; start += BATCH) {
      const n = Math.min(BATCH, evalSet.count - start);
      // onnxruntime-node rejects views of the eval set's SharedArrayBuffer.
      const x = new Float32Array(evalSet.x.subarray(start * size, (start + n) * size));
      const out = await session.run({ [session.inputNames[0]!]: { data: x, dims: [n, c, h, w] } });
      chunks.push(Float32Array.from(out[session.outputNames[0]!]!.data));
    }
    const all = new Float32Array(chunks.reduce((s, a) => s + a.length, 0));
    let at = 0;
    for (const a of chunks) {
      all.set(a, at);
      at += a.length;
    }
    return all;
  } finally {
    await session.release();
  }
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function cleanValues(faultable: FaultableModel): Map<string, Float32Array> {
  return new Map(faultable.surface.map((t) => [t.name, t.values]));
}

for (const c of cases) {
  test(`${c.name}: the reference count at BER ${c.referenceBer} injects exactly ${c.referenceFaults} faults into the weights and biases of its ${c.layers} conv/linear layers`, (t) => {
    const files = c.files(t);
    if (!files) return;
    const graph = prepared(files.model);
    const layers = parameterLayers(graph);
    assert.equal(layers.length, c.layers);
    const faultable = makeFaultable(graph, { kinds: ['weight', 'bias'] });
    const layerTensors = new Set(layers.flatMap((l) => (l.bias ? [l.weight, l.bias] : [l.weight])));
    assert.deepEqual(new Set(faultable.surface.map((s) => s.name)), layerTensors);

    const plan = new FaultPlanner(faultable.surface, { seed: 0, faults: { count: 'reference' } }).plan(c.referenceBer, 0);
    assert.equal(plan.faults.length, c.referenceFaults);
    // Per tensor: floor(numel * bits * BER), drawn with replacement.
    for (const s of faultable.surface) {
      const expected = Math.floor(s.values.length * 32 * c.referenceBer);
      assert.equal(plan.faults.filter((f) => f.tensor === s.name).length, expected, s.name);
    }
    for (const f of plan.faults) assert.ok(layerTensors.has(f.tensor) && f.index < faultable.surface.find((s) => s.name === f.tensor)!.values.length);
    // Every other trial gets the same number, at other places.
    const other = new FaultPlanner(faultable.surface, { seed: 0, faults: { count: 'reference' } }).plan(c.referenceBer, 1);
    assert.equal(other.faults.length, c.referenceFaults);
    assert.notDeepEqual(other.faults, plan.faults);
  });

  test(`${c.name}: a plan saved as JSON and replayed gives the campaign trial's faulty logits bit for bit`, async (t) => {
    const files = c.files(t);
    if (!files) return;
    // What the campaign engine builds: surface and bytes of the prepared graph, one planner.
    const faultable = makeFaultable(prepared(files.model), { format: 'float32', kinds: ['weight', 'bias', 'threshold'] });
    const planner = new FaultPlanner(faultable.surface, { seed: 0, faults: { format: 'float32', count: 'bernoulli', policy: 'ieee', referenceSurface: false } });
    const plan = planner.plan(c.replayBer, c.replayTrial);
    assert.ok(plan.faults.length > 0);
    const evalSet = loadEvalSet(openDataset(files.data, { split: 'test' }), 0, c.images);

    const campaignLogits = await logitsOf(applyPlanToBytes(faultable, plan.faults), evalSet);
    const planFile = join(dir, `${c.name.replace(/\W/g, '')}-plan.json`);
    writeFileSync(planFile, planToJSON(plan, 2));
    const replayed = planFromJSON(planToJSON(plan, 2), faultable.surface);
    assert.deepEqual(replayed, plan);
    const replayLogits = await logitsOf(applyPlanToBytes(faultable, replayed.faults), evalSet);
    assert.ok(bytesOf(replayLogits).equals(bytesOf(campaignLogits)), 'replayed logits are bit-identical');

    // The faults matter: the logits differ from the clean model's, and some stay finite.
    const cleanLogits = await logitsOf(faultable.bytes, evalSet);
    assert.ok(!bytesOf(cleanLogits).equals(bytesOf(campaignLogits)), 'the plan changes the logits');
    assert.ok(campaignLogits.some(Number.isFinite));

    // The campaign's own trial code and the CLI replay agree with these logits.
    const cli = runCli(['faults', 'replay', '--model', files.model, '--plan', planFile, '--data', files.data, '--eval-limit', String(c.images), '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const out = JSON.parse(cli.stdout) as { logitsSha256: string; accuracy: number; sdc: number; due: number; faults: number; images: number };
    assert.equal(out.logitsSha256, sha256(campaignLogits));
    assert.equal(out.images, c.images);
    assert.equal(out.faults, plan.faults.length);
    const cleanPredictions = argmaxAll(cleanLogits, evalSet.count);
    const trial = await runTrial(
      {
        seed: 0,
        bytes: faultable.bytes,
        offsets: faultable.offsets,
        evalSet,
        cleanPredictions,
        clean: { accuracy: 0, due: 0 },
        batchSize: BATCH,
        threads: THREADS,
      },
      { ber: plan.ber, trial: plan.trial, faults: plan.faults, images: evalSet.count },
    );
    assert.deepEqual([out.accuracy, out.sdc, out.due], [trial.accuracy, trial.sdc, trial.due]);
  });

  test(`${c.name}: flipping bit 30 of a weight makes a huge value and changes the output`, async (t) => {
    const files = c.files(t);
    if (!files) return;
    const graph = prepared(files.model);
    const faultable = makeFaultable(graph, { kinds: ['weight', 'bias'] });
    const weight = faultable.surface.find((s) => s.name === parameterLayers(graph)[0]!.weight)!;
    const index = weight.values.findIndex((v) => v > 0 && v < 1);
    const before = weight.values[index]!;
    const after = float32FromBits((float32Bits(before) ^ (1 << 30)) >>> 0);
    // Bit 30 is the top exponent bit: for 2^-126 <= |x| < 1 setting it multiplies x by 2^128 exactly.
    assert.equal(after, before * 2 ** 128);
    assert.ok(Math.abs(after) > 1e30 && Number.isFinite(after));

    const hand: FaultPlan = {
      version: PLAN_VERSION,
      seed: 0,
      ber: 1e-6,
      trial: 0,
      format: 'float32',
      count: 'fixed:1',
      policy: 'ieee',
      referenceSurface: false,
      stratum: null,
      surfaceHash: surfaceHash(faultable.surface),
      faults: [{ tensor: weight.name, index, bit: 30, before, after }],
    };
    const plan = planFromJSON(planToJSON(hand), faultable.surface); // a valid plan for this model
    assert.equal(applyPlan(cleanValues(faultable), plan).get(weight.name)![index], after);

    const evalSet = loadEvalSet(openDataset(files.data, { split: 'test' }), 0, c.images);
    const clean = await logitsOf(faultable.bytes, evalSet);
    const faulty = await logitsOf(applyPlanToBytes(faultable, plan.faults), evalSet);
    const classes = clean.length / evalSet.count;
    let changedImages = 0;
    for (let i = 0; i < evalSet.count; i++) {
      if (!bytesOf(clean.subarray(i * classes, (i + 1) * classes)).equals(bytesOf(faulty.subarray(i * classes, (i + 1) * classes)))) changedImages++;
    }
    // One weight of the first layer feeds every output: (nearly) every image's logits change.
    assert.ok(changedImages >= 0.9 * evalSet.count, `${changedImages} of ${evalSet.count} images changed`);
    assert.ok(faulty.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e6), 'the huge weight reaches the logits');
  });
}

// A threshold is stored once but read twice by guarded smooth-zero (gate: T - x; guard: x <= T + margin).
// The campaign patches the stored bytes, so both reads must see the fault: the patched model must give
// exactly the logits of the deployed hardened file with that threshold edited. (Before the fix, graph
// preparation folded T + margin into a fault-free constant: a NaN threshold made the whole output NaN
// instead of zeroing the layer, and a huge threshold kept its clean guard.)
for (const kind of ['smooth-zero', 'clip-zero', 'clip-sat'] as const) {
  test(`${kind}: a fault in a threshold reaches every use of it (patched campaign model = deployed model with T edited)`, async () => {
    const g = tinyCnn();
    const values = [1.25, 0.75]; // bit 30 of 1.25 gives NaN, of 0.75 a finite 2.6e38; bit 31 flips the sign
    hardenGraph(
      g,
      activationLayers(g).map((l, i) => ({ node: l.node, kind, threshold: scalarF32(values[i]!), thresholdName: `${THRESHOLD_PREFIX}${i}`, guard: kind === 'smooth-zero' })),
    );
    const path = join(dir, `tiny-${kind}.onnx`);
    writeFileSync(path, writeOnnx(g));
    const faultable = makeFaultable(prepared(path), { kinds: ['threshold'] });
    const evalSet = loadEvalSet(openDataset('mnist', { split: 'test' }), 0, 200);
    const clean = await logitsOf(faultable.bytes, evalSet);
    for (const [layer, bit] of [[0, 30], [1, 30], [0, 31], [1, 31]] as const) {
      const name = `${THRESHOLD_PREFIX}${layer}`;
      const before = values[layer]!;
      const after = float32FromBits((float32Bits(before) ^ (1 << bit)) >>> 0);
      const plan = planFromJSON(
        planToJSON({ version: PLAN_VERSION, seed: 0, ber: 1e-3, trial: 0, format: 'float32', count: 'fixed:1', policy: 'ieee', referenceSurface: false, stratum: null, surfaceHash: surfaceHash(faultable.surface), faults: [{ tensor: name, index: 0, bit, before, after }] }),
        faultable.surface,
      );
      const patched = await logitsOf(applyPlanToBytes(faultable, plan.faults), evalSet);
      const edited = readOnnxFile(path);
      (edited.initializers.get(name)!.data as Float32Array)[0] = after;
      const deployed = await logitsOf(writeOnnx(edited), evalSet);
      assert.ok(bytesOf(patched).equals(bytesOf(deployed)), `${kind}, ${name} bit ${bit} (${before} -> ${after}): patched and deployed logits differ`);
      assert.ok(!bytesOf(patched).equals(bytesOf(clean)), `${kind}, ${name} bit ${bit}: the fault changed nothing`);
      if (kind !== 'clip-sat') assert.ok(patched.every(Number.isFinite), `${kind}, ${name} bit ${bit}: non-finite logits from a threshold fault`);
    }
  });
}

// Weight bounds (weight-clip): the campaign finds each weight through its bound and patches the stored
// weight, so a flip gives the bounded value; the bounds are stored values too, and a flipped bound
// unprotects exactly the tensor (or channel) it bounds. Each patched campaign model must give exactly
// the logits of the unbounded model with the weights set by hand to what the bounds let through.
const flip30 = (v: number): number => float32FromBits((float32Bits(v) ^ (1 << 30)) >>> 0);

/** The tiny CNN bounded at `granularity`, written and read back as a campaign prepares it. */
function boundedTiny(granularity: 'tensor' | 'channel'): { path: string; bounds: WeightBound[]; faultable: FaultableModel } {
  const { graph, bounds } = addWeightBounds(prepareGraph(tinyCnn()), { granularity });
  const path = join(dir, `tiny-weight-clip-${granularity}.onnx`);
  writeFileSync(path, writeOnnx(graph));
  return { path, bounds, faultable: makeFaultable(prepared(path)) };
}

/** A valid one-trial plan for `faultable` flipping bit 30 of each listed element. */
function bit30Plan(faultable: FaultableModel, sites: readonly [string, number][]): FaultPlan {
  const values = cleanValues(faultable);
  const faults = sites.map(([tensor, index]) => {
    const before = values.get(tensor)![index]!;
    return { tensor, index, bit: 30, before, after: flip30(before) };
  });
  const plan = { version: PLAN_VERSION, seed: 0, ber: 1e-3, trial: 0, format: 'float32', count: `fixed:${faults.length}`, policy: 'ieee' as const, referenceSurface: false, stratum: null, surfaceHash: surfaceHash(faultable.surface), faults };
  return planFromJSON(planToJSON(plan), faultable.surface);
}

/** The unbounded tiny CNN with elements set by hand. */
function editedTiny(edits: readonly [string, number, number][]): Uint8Array {
  const g = prepareGraph(tinyCnn());
  for (const [tensor, index, value] of edits) {
    const t = g.initializers.get(tensor)!;
    const data = Float32Array.from(t.data as Float32Array);
    data[index] = value;
    g.initializers.set(tensor, { ...t, data });
  }
  return writeOnnx(g);
}

/** The element of `bound`'s tensor at `index` of `tensor`: per channel (row of the [out, in] Gemm weight) or the scalar. */
function boundValue(faultable: FaultableModel, bound: WeightBound, side: 'min' | 'max', index: number, rowLength: number): number {
  const values = cleanValues(faultable).get(bound[side])!;
  return values[bound.granularity === 'channel' ? Math.floor(index / rowLength) : 0]!;
}

for (const granularity of ['tensor', 'channel'] as const) {
  test(`weight-clip (${granularity}): the surface finds each weight through its bound, and flipping bit 30 of a weight gives the bounded value, not 2^128 times the weight`, async () => {
    const { path, bounds, faultable } = boundedTiny(granularity);
    // Graph preparation keeps every bound node: a folded clipped weight would be a fault-free copy.
    const graph = prepared(path);
    const boundNodes = graph.nodes.filter((n) => n.op === 'Clip' || n.op === 'Min' || n.op === 'Max').length;
    assert.equal(boundNodes, granularity === 'tensor' ? 6 : 3 * 2 + 3);
    const kinds = (kind: string) => faultable.surface.filter((t) => t.kind === kind).map((t) => t.name);
    assert.deepEqual(kinds('weight'), ['conv1.weight', 'fc1.weight', 'fc2.weight']);
    assert.deepEqual(kinds('bias'), ['conv1.bias', 'fc1.bias', 'fc2.bias']);
    assert.deepEqual(kinds('bound').sort(), bounds.flatMap((b) => [b.min, b.max]).sort());
    const boundValues = bounds.reduce((s, b) => s + 2 * b.dims.reduce((a, d) => a * d, 1), 0);
    assert.equal(boundValues, granularity === 'tensor' ? 12 : 2 * (4 + 16 + 10) + 6);
    // Stored bits include the bounds; under the reference surface the scalar bounds are immune, like scalar thresholds.
    const parameters = 36 + 4 + 16 * 196 + 16 + 160 + 10;
    assert.equal(new FaultPlanner(faultable.surface, { seed: 0 }).totalBits, 32 * (parameters + boundValues));
    assert.equal(new FaultPlanner(faultable.surface, { seed: 0, faults: { referenceSurface: true } }).totalBits, 32 * (parameters + (granularity === 'tensor' ? 0 : 2 * (4 + 16 + 10))));

    const fc1 = faultable.surface.find((t) => t.name === 'fc1.weight')!;
    const index = fc1.values.findIndex((v, i) => v > 0 && v < boundValue(faultable, bounds.find((b) => b.tensor === 'fc1.weight')!, 'max', i, 196) / 2);
    const before = fc1.values[index]!;
    assert.equal(flip30(before), before * 2 ** 128);
    const evalSet = loadEvalSet(openDataset('mnist', { split: 'test' }), 0, 200);
    const patched = await logitsOf(applyPlanToBytes(faultable, bit30Plan(faultable, [['fc1.weight', index]]).faults), evalSet);
    const hi = boundValue(faultable, bounds.find((b) => b.tensor === 'fc1.weight')!, 'max', index, 196);
    const bounded = await logitsOf(editedTiny([['fc1.weight', index, hi]]), evalSet);
    assert.ok(bytesOf(patched).equals(bytesOf(bounded)), 'the faulty weight reads as its upper bound');
    const unbounded = await logitsOf(editedTiny([['fc1.weight', index, flip30(before)]]), evalSet);
    assert.ok(!bytesOf(patched).equals(bytesOf(unbounded)));
    assert.ok(patched.every((v) => Number.isFinite(v) && Math.abs(v) < 1e3), 'bounded logits stay small');
    assert.ok(unbounded.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e30), 'without the bound the huge weight reaches the logits');
  });

  test(`weight-clip (${granularity}): flipping the exponent of a bound unprotects exactly the ${granularity} it bounds`, async () => {
    const { bounds, faultable } = boundedTiny(granularity);
    const values = cleanValues(faultable);
    const fc1Bound = bounds.find((b) => b.tensor === 'fc1.weight')!;
    const fc2Bound = bounds.find((b) => b.tensor === 'fc2.weight')!;
    const hiOf = (b: WeightBound, i: number, row: number) => boundValue(faultable, b, 'max', i, row);
    const small = (tensor: string, row: number, b: WeightBound, skipRow?: number) =>
      values.get(tensor)!.findIndex((v, i) => v > 0 && v < hiOf(b, i, row) / 2 && Math.floor(i / row) !== skipRow);
    const i1 = small('fc1.weight', 196, fc1Bound); // unprotected: its bound is hit
    const channel = Math.floor(i1 / 196);
    const i1b = small('fc1.weight', 196, fc1Bound, channel); // same tensor, another channel
    const i2 = small('fc2.weight', 16, fc2Bound); // another tensor
    const boundIndex = granularity === 'channel' ? channel : 0;
    const plan = bit30Plan(faultable, [[fc1Bound.max, boundIndex], ['fc1.weight', i1], ['fc1.weight', i1b], ['fc2.weight', i2]]);
    assert.ok(values.get(fc1Bound.max)![boundIndex]! * 2 ** 128 > flip30(values.get('fc1.weight')![i1]!), 'the flipped bound lets the flipped weight through');
    const evalSet = loadEvalSet(openDataset('mnist', { split: 'test' }), 0, 200);
    const patched = await logitsOf(applyPlanToBytes(faultable, plan.faults), evalSet);
    // Tensor-wise, the whole fc1 weight is unprotected; channel-wise, only the channel of the flipped bound.
    const i1bValue = granularity === 'tensor' ? flip30(values.get('fc1.weight')![i1b]!) : hiOf(fc1Bound, i1b, 196);
    const expected = await logitsOf(
      editedTiny([
        ['fc1.weight', i1, flip30(values.get('fc1.weight')![i1]!)],
        ['fc1.weight', i1b, i1bValue],
        ['fc2.weight', i2, hiOf(fc2Bound, i2, 16)],
      ]),
      evalSet,
    );
    assert.ok(bytesOf(patched).equals(bytesOf(expected)), 'exactly the bounded tensor (channel) of the flipped bound is unprotected');
    assert.ok(patched.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e30), 'the unprotected weight reaches the logits');
  });
}

function argmaxAll(logits: Float32Array, n: number): Int32Array {
  const classes = logits.length / n;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let finite = true;
    for (let k = 0; k < classes; k++) {
      const v = logits[i * classes + k]!;
      if (!Number.isFinite(v)) finite = false;
      else if (v > logits[i * classes + best]!) best = k;
    }
    out[i] = finite ? best : -1;
  }
  return out;
}
