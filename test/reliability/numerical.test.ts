/**
 * Numerical faults: Inf and NaN from IEEE bit flips.
 * - A campaign whose flips produce Inf/NaN logits finishes and counts DUE (inputs with non-finite
 *   logits) and accuracy exactly as a direct evaluation does: the same fault plans applied to the weights
 *   through the IR (not the campaign's byte patching), run in a fresh onnxruntime session.
 * - Clipped activations map Inf/NaN as src/harden/activations.ts documents, run in onnxruntime on the
 *   hardened tiny CNN with an Inf and a -Inf weight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCampaign, openStore, makeFaultable } from '../../src/campaign/index.js';
import { openDataset } from '../../src/data/index.js';
import { FaultPlanner, applyPlan } from '../../src/faults/index.js';
import { prepareGraph, readOnnxFile, scalarF32, writeOnnx, type Graph } from '../../src/graph/index.js';
import { hardenGraph, type ActivationKind } from '../../src/harden/activations.js';
import { Session } from '../../src/runtime/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-numerical-'));
const N = 200;
const mnist = openDataset('mnist', { split: 'test' }).read(0, N);

/** Logits rows of `g` on the first N MNIST test images: correct predictions, rows with NaN, rows with Inf (no NaN). */
async function direct(g: Graph): Promise<{ correct: number; nanRows: number; infRows: number }> {
  const s = await Session.create(g, { threads: 1 });
  try {
    const out = Object.values(await s.run({ input: { data: mnist.x, dims: [N, 1, 28, 28] } }))[0]!;
    let correct = 0, nanRows = 0, infRows = 0;
    for (let i = 0; i < N; i++) {
      const row = Array.from(out.data.subarray(i * 10, i * 10 + 10));
      if (row.some(Number.isNaN)) nanRows++;
      else if (row.some((v) => !Number.isFinite(v))) infRows++;
      else if (row.indexOf(Math.max(...row)) === mnist.labels[i]) correct++;
    }
    return { correct, nanRows, infRows };
  } finally {
    await s.release();
  }
}

/**
 * The tiny CNN with biases of magnitude 1 to 2: flipping bit 30 (the exponent's top bit) of such a
 * float32 gives an all-ones exponent, i.e. +-Inf for +-1.0 (zero mantissa) and NaN otherwise. With
 * faults on the biases only (960 bits), a trial of 16 flips hits bit 30 about half the time.
 */
function exponentHeavyModel(path: string): string {
  const g = tinyCnn(1);
  const pattern = [1, -1.5, 1.25, -1, 1.75, 1, -1.25, 1.5];
  for (const name of ['conv1.bias', 'fc1.bias', 'fc2.bias']) {
    const t = g.initializers.get(name)!;
    g.initializers.set(name, { ...t, data: Float32Array.from({ length: t.data.length }, (_, i) => pattern[i % pattern.length]!) });
  }
  writeFileSync(path, writeOnnx(g));
  return path;
}

test('a campaign with Inf/NaN logits (IEEE flips of exponent bits) counts DUE and accuracy exactly as a direct evaluation', async (t) => {
  const model = exponentHeavyModel(join(dir, 'exponent-heavy.onnx'));
  const db = join(dir, 'ieee.sqlite');
  const seed = 5;
  const count = 'fixed:16';
  await runCampaign({ model, data: 'mnist', bers: [1e-3], trials: 16, evalLimit: N, batchSize: 100, seed, faults: { count, policy: 'ieee', surface: ['bias'] }, db });
  const store = openStore(db, { readonly: true });
  const stored = store.trials(store.listCampaigns()[0]!.id);
  store.close();
  assert.equal(stored.length, 16);

  const graph = prepareGraph(readOnnxFile(model));
  const faultable = makeFaultable(graph, { format: 'float32', kinds: ['bias'] });
  const planner = new FaultPlanner(faultable.surface, { seed, faults: { format: 'float32', count, policy: 'ieee' } });
  const clean = new Map(faultable.surface.map((t) => [t.name, t.values]));
  let nan = 0, inf = 0, finiteTrials = 0;
  for (const trial of stored) {
    const plan = planner.plan(trial.ber, trial.trial);
    assert.equal(plan.faults.length, trial.faults);
    const g = graph.clone();
    for (const [name, values] of applyPlan(clean, plan)) g.initializers.set(name, { dtype: 'float32', dims: [...g.initializers.get(name)!.dims], data: values });
    const d = await direct(g);
    assert.equal(Math.round(trial.due * N), d.nanRows + d.infRows, `trial ${trial.trial}: DUE`);
    assert.equal(Math.round(trial.accuracy * N), d.correct, `trial ${trial.trial}: accuracy`);
    nan += d.nanRows;
    inf += d.infRows;
    if (d.nanRows + d.infRows === 0) finiteTrials++;
  }
  // The setting produces NaN logits, Inf (non-NaN) logits, and trials with neither.
  assert.ok(nan > 0 && inf > 0, `rows with NaN logits ${nan}, with Inf logits ${inf}`);
  assert.ok(finiteTrials > 0 && finiteTrials < stored.length, `${finiteTrials} of ${stored.length} trials without DUE`);
  t.diagnostic(`${stored.length - finiteTrials} of ${stored.length} trials with DUE; ${nan} rows with NaN logits, ${inf} rows with Inf logits (of ${stored.length * N})`);
});

/** The tiny CNN with conv1's first-channel weight at +Inf and second-channel weight at -Inf, hardened with `kind` (T = 1). */
async function hardenedOutputs(kind: ActivationKind, threshold = 1): Promise<{ x: Float32Array; y: Float32Array; logits: Float32Array }> {
  const g = prepareGraph(tinyCnn(1));
  const w = g.initializers.get('conv1.weight')!;
  const data = Float32Array.from(w.data as Float32Array);
  data[4] = Infinity; // channel 0, centre tap
  data[9 + 4] = -Infinity; // channel 1, centre tap
  g.initializers.set('conv1.weight', { ...w, data });
  const relu = g.nodes.find((n) => n.op === 'Relu')!;
  const [x, y] = [relu.inputs[0]!, relu.outputs[0]!];
  if (kind !== 'relu') hardenGraph(g, [{ node: relu.name, kind, threshold: scalarF32(threshold), guard: true }]);
  g.outputs = [...g.outputs, { name: x, dtype: 'float32', dims: [-1, 4, 14, 14] }, { name: y, dtype: 'float32', dims: [-1, 4, 14, 14] }];
  const s = await Session.create(g, { threads: 1 });
  try {
    const out = await s.run({ input: { data: mnist.x.subarray(0, 8 * 784), dims: [8, 1, 28, 28] } });
    return { x: out[x]!.data, y: out[y]!.data, logits: out['logits']!.data };
  } finally {
    await s.release();
  }
}

test('clipped activations map +Inf, -Inf and NaN as documented (onnxruntime, hardened tiny CNN with Inf weights)', async () => {
  // Documented mappings (activations.ts): clip-zero NaN/+Inf/-Inf -> 0; clip-sat NaN -> 0, +Inf -> T, -Inf -> 0;
  // guarded smooth-zero NaN/+Inf/-Inf -> 0. Plain Relu keeps NaN and +Inf.
  const expected: Record<Exclude<ActivationKind, 'relu'>, (v: number) => number> = {
    'clip-zero': () => 0,
    'clip-sat': (v) => (v === Infinity ? 1 : 0),
    'smooth-zero': () => 0,
  };
  const kinds = Object.keys(expected) as Exclude<ActivationKind, 'relu'>[];
  for (const kind of kinds) {
    const { x, y, logits } = await hardenedOutputs(kind);
    const seen = { nan: 0, pos: 0, neg: 0 };
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (Number.isNaN(v)) seen.nan++;
      else if (v === Infinity) seen.pos++;
      else if (v === -Infinity) seen.neg++;
      else continue;
      assert.equal(y[i], expected[kind](v), `${kind}: ${v} -> ${y[i]}`);
    }
    // The weights give all three kinds of pre-activation (Inf x 0-pixel = NaN).
    assert.ok(seen.nan > 0 && seen.pos > 0 && seen.neg > 0, `${kind}: ${JSON.stringify(seen)}`);
    assert.ok(y.every(Number.isFinite), `${kind}: every activation finite`);
    assert.ok(logits.every(Number.isFinite), `${kind}: logits finite (no DUE)`);
  }
  // The unprotected model: Relu passes NaN and +Inf on, and the logits are not finite (a DUE).
  const plain = await hardenedOutputs('relu');
  assert.ok(plain.y.some(Number.isNaN) && plain.y.some((v) => v === Infinity));
  assert.ok(!plain.logits.every(Number.isFinite));
});

test('a NaN threshold: clip-zero outputs 0 for the whole layer, clip-sat passes max(x, 0) unclipped', async () => {
  const zero = await hardenedOutputs('clip-zero', NaN);
  assert.ok(zero.y.every((v) => v === 0));
  const sat = await hardenedOutputs('clip-sat', NaN);
  for (let i = 0; i < sat.x.length; i++) {
    const v = sat.x[i]!;
    assert.equal(sat.y[i], v > 0 ? v : 0, `clip-sat with NaN threshold: ${v} -> ${sat.y[i]}`);
  }
});
