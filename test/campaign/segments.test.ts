// The model run in segments: activation flips and stuck-at weights checked bit for bit against an
// independent evaluator; delayed start, workers, shards and replay give the campaign's trials exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, f32, int, ints, prepareGraph, writeOnnx } from '../../src/graph/index.js';
import { ActivationPlanner, FaultPlanner, parseFormat, type ActivationFault, type Fault } from '../../src/faults/index.js';
import { activationSurfaceOf, cutValues, mergeStores, parseShard, runCampaign, runSegments, segmentGraph, startBoundaries, type CampaignOptions } from '../../src/campaign/index.js';
import { flipByHand } from '../faults/util.js';
import { trialsOf } from '../helpers/stores.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { runCli } from '../helpers/cli.js';
import { sharedFile } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-segments-'));
const FORMATS = ['float32', 'float16', 'bfloat16', 'q15.16', 'int8', 'int8-channel'];

/**
 * A model whose arithmetic is exact for any faulty value, so a plain evaluator must agree with
 * onnxruntime bit for bit whatever order either sums in: conv1 sees dyadic images and weights (every
 * sum exact), conv2 is a 1x1 conv with one power-of-two weight per output, and the Gemm is the identity.
 */
function exactModel(): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'image', dtype: 'float32', dims: [-1, 1, 6, 6] }];
  const w1 = [1, -2, 3, 0, 2, -1, -3, 1, 2, -1, 0, 2, 1, -2, 1, 3, -1, 0].map((k) => k / 8);
  g.initializers.set('conv1.weight', f32([2, 1, 3, 3], w1));
  g.initializers.set('conv1.bias', f32([2], [1 / 4, -1 / 8]));
  g.add('Conv', ['image', 'conv1.weight', 'conv1.bias'], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, { name: 'conv1', outputs: ['c1'] });
  g.add('Relu', ['c1'], {}, { name: 'relu1', outputs: ['r1'] });
  g.initializers.set('conv2.weight', f32([2, 2, 1, 1], [2, 0, 0, 0.5]));
  g.initializers.set('conv2.bias', f32([2], [0, 0]));
  g.add('Conv', ['r1', 'conv2.weight', 'conv2.bias'], { kernel_shape: ints([1, 1]) }, { name: 'conv2', outputs: ['c2'] });
  g.add('Relu', ['c2'], {}, { name: 'relu2', outputs: ['r2'] });
  g.add('Flatten', ['r2'], { axis: int(1) }, { name: 'flatten', outputs: ['f'] });
  const eye = new Float32Array(72 * 72);
  for (let i = 0; i < 72; i++) eye[i * 72 + i] = 1;
  g.initializers.set('fc.weight', f32([72, 72], eye));
  g.initializers.set('fc.bias', f32([72], new Float32Array(72)));
  g.add('Gemm', ['f', 'fc.weight', 'fc.bias'], { transB: int(1) }, { name: 'fc', outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 72] }];
  return prepareGraph(g);
}

const IMAGES = 8;
function images(): Float32Array {
  const x = new Float32Array(IMAGES * 36);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s >>> 28) / 16; // k / 16, k in 0..15
  }
  return x;
}

/** The model by hand, applying activation faults after each layer and reading the (faulty) weights given. */
function evaluate(x: Float32Array, weights: Map<string, Float32Array>, faults: readonly ActivationFault[], format: string): Float32Array[] {
  const out: Float32Array[] = [];
  for (let n = 0; n < IMAGES; n++) {
    const mine = faults.filter((f) => f.image === n);
    const hit = (layer: string, v: Float32Array, dims: number[]): Float32Array => {
      const clean = v.slice();
      for (const index of new Set(mine.filter((f) => f.layer === layer).map((f) => f.index))) {
        v[index] = flipByHand(format, clean, dims, index, mine.filter((f) => f.layer === layer && f.index === index).map((f) => f.bit));
      }
      return v;
    };
    const w1 = weights.get('conv1.weight')!;
    const b1 = weights.get('conv1.bias')!;
    const c1 = new Float32Array(72);
    for (let o = 0; o < 2; o++)
      for (let y = 0; y < 6; y++)
        for (let xx = 0; xx < 6; xx++) {
          let sum = b1[o]!;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const iy = y + ky - 1;
              const ix = xx + kx - 1;
              if (iy >= 0 && iy < 6 && ix >= 0 && ix < 6) sum += w1[o * 9 + ky * 3 + kx]! * x[n * 36 + iy * 6 + ix]!;
            }
          c1[o * 36 + y * 6 + xx] = sum; // exact: dyadic values with few bits
        }
    hit('c1', c1, [2, 6, 6]);
    const relu = (v: Float32Array) => v.map((a) => (Number.isNaN(a) ? a : a > 0 ? a : 0));
    const r1 = hit('r1', relu(c1), [2, 6, 6]);
    const w2 = weights.get('conv2.weight')!;
    const c2 = new Float32Array(72);
    // One rounding per output: the only nonzero product (the zero weights give 0, or NaN on Inf/NaN).
    for (let o = 0; o < 2; o++) for (let p = 0; p < 36; p++) c2[o * 36 + p] = Math.fround(w2[o * 2]! * r1[p]! + w2[o * 2 + 1]! * r1[36 + p]!);
    hit('c2', c2, [2, 6, 6]);
    const r2 = hit('r2', relu(c2), [2, 6, 6]);
    const w3 = weights.get('fc.weight')!;
    const logits = new Float32Array(72);
    for (let i = 0; i < 72; i++) {
      let sum = 0;
      for (let j = 0; j < 72; j++) sum += w3[i * 72 + j]! * r2[j]!;
      logits[i] = sum;
    }
    out.push(hit('logits', logits, [72]));
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i]!)));
}

const graph = exactModel();
const clean = new Map([...graph.initializers].map(([k, t]) => [k, t.data as Float32Array]));
const evalSet = { x: images(), labels: new Int32Array(IMAGES), count: IMAGES, shape: [1, 6, 6] as const };

test('activation flips in every format give the logits of an independent evaluator bit for bit', async () => {
  const layers = activationSurfaceOf(graph, ['activation']);
  assert.deepEqual(layers.map((l) => l.name), ['c1', 'r1', 'c2', 'r2', 'logits']);
  let changed = 0;
  for (const format of FORMATS) {
    // No stored-tensor kinds: the weights keep their float32 values (with weight kinds, int8 would quantise them).
    const model = segmentGraph(graph, cutValues(graph, layers), { format, kinds: [] });
    const all = Int32Array.from({ length: IMAGES }, (_, i) => i);
    for (const trial of [0, 1]) {
      const planner = new ActivationPlanner(layers, { seed: 3, format });
      const activations = planner.plan(4 / planner.bitsPerImage, trial, all); // about 4 flips per image
      assert.ok(activations.length >= IMAGES, `${format}: ${activations.length} flips`);
      const faults = { weights: [], activations };
      const r = await runSegments({ segments: model, evalSet, batchSize: 3, threads: 1, format, policy: 'ieee' }, startBoundaries(model, all, faults, true), faults, true);
      const expected = evaluate(evalSet.x, clean, activations, format);
      const reference = evaluate(evalSet.x, clean, [], format);
      for (let n = 0; n < IMAGES; n++) {
        assert.ok(sameBits(r.logits!.get(n)!, expected[n]!), `${format} trial ${trial} image ${n}: ${r.logits!.get(n)} vs ${expected[n]}`);
        if (!sameBits(expected[n]!, reference[n]!)) changed++;
      }
    }
  }
  assert.ok(changed > 20, `faults changed the logits of ${changed} images`);
});

test('stuck-at faults in the stored weights give the logits of the evaluator on the faulty weights bit for bit', async () => {
  const model = segmentGraph(graph, cutValues(graph, []), { format: 'float32', kinds: ['weight', 'bias'] });
  const surface = ['conv2.weight', 'fc.weight'].map((name) => ({ name, kind: 'weight' as const, dims: graph.initializers.get(name)!.dims, values: clean.get(name)! }));
  const all = Int32Array.from({ length: IMAGES }, (_, i) => i);
  let masked = 0;
  let effective = 0;
  for (const fault of ['stuck-at-0', 'stuck-at-1'] as const) {
    for (const trial of [0, 1, 2]) {
      const plan = new FaultPlanner(surface, { seed: 8, faults: { fault } }).plan(3e-5, trial);
      const changing = plan.faults.filter((f: Fault) => !Object.is(f.before, f.after));
      masked += plan.faults.length - changing.length;
      effective += changing.length;
      const weights = new Map(clean);
      for (const f of changing) {
        const copy = weights.get(f.tensor)!.slice();
        copy[f.index] = f.after;
        weights.set(f.tensor, copy);
      }
      const faults = { weights: changing, activations: [] };
      const r = await runSegments({ segments: model, evalSet, batchSize: 4, threads: 1, format: 'float32', policy: 'ieee' }, startBoundaries(model, all, faults, true), faults, true);
      const expected = evaluate(evalSet.x, weights, [], 'float32');
      for (let n = 0; n < IMAGES; n++) assert.ok(sameBits(r.logits!.get(n)!, expected[n]!), `${fault} trial ${trial} image ${n}`);
    }
  }
  assert.ok(masked > 0 && effective > 0, `${masked} masked and ${effective} effective stuck cells`);
  // A word of the float format: the planner encodes it as the test does (formats.test.ts checks the codec).
  assert.equal(parseFormat('float32').bits, 32);
});

// ---------------------------------------------------------------- campaigns

const tiny = writeTinyCnn(join(dir, 'tiny.onnx'));
const base: Omit<CampaignOptions, 'db'> = { model: tiny, data: 'mnist', bers: [1e-4, 1e-3], trials: 4, evalLimit: 200, seed: 11, batchSize: 64 };

test('activation-fault campaigns: identical trials with 1 and 2 workers, as merged shards and resumed; faults show + replay give the stored trial', async () => {
  const opts = { ...base, faults: { surface: 'weight,bias,activation:conv,activation:act' } };
  const one = join(dir, 'act1.sqlite');
  const two = join(dir, 'act2.sqlite');
  await runCampaign({ ...opts, db: one, workers: 1 });
  await runCampaign({ ...opts, db: two, workers: 2 });
  const a = trialsOf(one);
  assert.equal(a.length, 8);
  assert.deepEqual(trialsOf(two), a);
  const shards = [1, 2].map((i) => join(dir, `act-shard${i}.sqlite`));
  for (let i = 0; i < 2; i++) await runCampaign({ ...opts, db: shards[i]!, shard: parseShard(`${i + 1}/2`), sampling: 'plain', images: 'all' });
  const merged = join(dir, 'act-merged.sqlite');
  mergeStores(shards, merged);
  assert.deepEqual(trialsOf(merged), a);
  // Activation faults are counted and change results: more faults than the weights alone hold at 1e-4.
  const rows = a.map((r) => JSON.parse(r) as number[]);
  const weightOnly = join(dir, 'weights.sqlite');
  await runCampaign({ ...base, db: weightOnly, faults: { surface: 'weight,bias' } });
  const w = trialsOf(weightOnly).map((r) => JSON.parse(r) as number[]);
  assert.ok(rows.every((r, i) => r[5]! > w[i]![5]!), 'activation faults are added to the weight faults');
  assert.notDeepEqual(rows.map((r) => r[2]), w.map((r) => r[2]), 'activation faults change accuracies');

  // Interrupted after its third trial and resumed: the same trials as the uninterrupted run.
  const resumed = join(dir, 'act-resumed.sqlite');
  const signal = { aborted: false };
  let seen = 0;
  const first = await runCampaign({ ...opts, db: resumed, signal, onTrial: () => (signal.aborted = ++seen >= 3) });
  assert.equal(first.interrupted, true);
  assert.ok(trialsOf(resumed).length < 8);
  await runCampaign({ ...opts, db: resumed, resume: true });
  assert.deepEqual(trialsOf(resumed), a);

  const trial = rows.find((r) => r[0] === 1e-3)!;
  const plan = join(dir, 'act-plan.json');
  const surface = 'weight,bias,activation:conv,activation:act';
  const show = runCli(['faults', 'show', '--model', tiny, '--ber', '1e-3', '--trial', String(trial[1]), '--seed', '11', '--surface', surface, '--data', 'mnist', '--eval-limit', '200', '--out', plan, '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal((JSON.parse(show.stdout) as { activations: unknown[] }).activations.length + (JSON.parse(show.stdout) as { faults: unknown[] }).faults.length, trial[5]);
  const replay = runCli(['faults', 'replay', '--model', tiny, '--plan', plan, '--data', 'mnist', '--eval-limit', '200', '--batch', '64', '--surface', surface, '--json']);
  assert.equal(replay.code, 0, replay.stderr);
  const r = JSON.parse(replay.stdout) as { accuracy: number; sdc: number; due: number; faults: number };
  assert.deepEqual([r.accuracy, r.sdc, r.due, r.faults], [trial[2], trial[3], trial[4], trial[5]]);
  // The replay refuses a plan whose activation faults were edited.
  const edited = join(dir, 'act-plan-edited.json');
  const text = JSON.stringify(JSON.parse(show.stdout) as object).replace(/"activations":\[\["([^"]+)",(\d+),(\d+),(\d+)\]/, (_m, l: string, i: string, e: string, b: string) => `"activations":[["${l}",${i},${e},${(Number(b) + 1) % 32}]`);
  writeFileSync(edited, text);
  const bad = runCli(['faults', 'replay', '--model', tiny, '--plan', edited, '--data', 'mnist', '--eval-limit', '200', '--surface', surface]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /edited or made with other options/);
});

test('delayed start and stuck-at faults: the same trials with and without the cache of clean activations', async () => {
  for (const fault of ['flip', 'stuck-at-1'] as const) {
    const on = join(dir, `delayed-on-${fault}.sqlite`);
    const off = join(dir, `delayed-off-${fault}.sqlite`);
    let cached = 0;
    await runCampaign({ ...base, bers: [1e-4, 1e-3, 1e-2], trials: 6, faults: { fault }, db: on, onStart: (i) => (cached = i.cache?.boundaries ?? 0) });
    assert.equal(cached, 2, 'both cut points of the tiny CNN serve delayed starts');
    await runCampaign({ ...base, bers: [1e-4, 1e-3, 1e-2], trials: 6, faults: { fault }, db: off, cacheMb: 0 });
    const a = trialsOf(on);
    assert.deepEqual(a, trialsOf(off));
    assert.ok(new Set(a.map((r) => JSON.parse(r)[2])).size > 3, `${fault}: trial accuracies vary`);
  }
  // A stuck-at campaign is another campaign than the bit-flip one (its own key and results).
  assert.notDeepEqual(trialsOf(join(dir, 'delayed-on-flip.sqlite')), trialsOf(join(dir, 'delayed-on-stuck-at-1.sqlite')));
  // A stuck-at trial replays bit for bit from its plan.
  const row = trialsOf(join(dir, 'delayed-on-stuck-at-1.sqlite')).map((r) => JSON.parse(r) as number[]).find((r) => r[0] === 1e-2 && r[1] === 3)!;
  const plan = join(dir, 'stuck-plan.json');
  const show = runCli(['faults', 'show', '--model', tiny, '--ber', '1e-2', '--trial', '3', '--seed', '11', '--fault', 'stuck-at-1', '--out', plan, '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal((JSON.parse(show.stdout) as { fault: string }).fault, 'stuck-at-1');
  const replay = runCli(['faults', 'replay', '--model', tiny, '--plan', plan, '--data', 'mnist', '--eval-limit', '200', '--batch', '64', '--json']);
  assert.equal(replay.code, 0, replay.stderr);
  const r = JSON.parse(replay.stdout) as { accuracy: number; sdc: number; due: number; faults: number };
  assert.deepEqual([r.accuracy, r.sdc, r.due, r.faults], [row[2], row[3], row[4], row[5]]);
});

test('resnet20.onnx: delayed start gives the whole model\'s trials, with most cut points of stages 2 and 3 cached', async (t) => {
  const model = sharedFile(t, 'models/resnet20.onnx');
  const data = model && sharedFile(t, 'data/cifar10-jpeg75');
  if (!model || !data) return;
  const opts = { model, data, bers: [1e-6, 1e-5], trials: 4, evalLimit: 128, seed: 3, batchSize: 128 };
  let cached = 0;
  const on = join(dir, 'r20-on.sqlite');
  const off = join(dir, 'r20-off.sqlite');
  await runCampaign({ ...opts, db: on, onStart: (i) => (cached = i.cache?.boundaries ?? 0) });
  await runCampaign({ ...opts, db: off, cacheMb: 0 });
  assert.ok(cached >= 10, `${cached} cut points cached`);
  const a = trialsOf(on);
  assert.deepEqual(a, trialsOf(off));
  assert.ok(new Set(a.map((r) => JSON.parse(r)[2])).size > 2, 'faults change accuracies');
});
