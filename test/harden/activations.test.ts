import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, f32, readOnnx, writeOnnx, activationLayers, scalarF32, ints, type Tensor } from '../../src/graph/index.js';
import { Session } from '../../src/runtime/index.js';
import { isProactError } from '../../src/util/errors.js';
import {
  hardenGraph,
  replaceActivation,
  smoothGuardMargin,
  thresholdShape,
  type ActivationKind,
  type Granularity,
} from '../../src/harden/activations.js';

/** A graph y = Relu(x) with x of dims [batch, ...sample]. */
function reluGraph(sample: number[]): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [-1, ...sample] }];
  g.add('Relu', ['x'], {}, { name: 'act', outputs: ['y'] });
  g.outputs = [{ name: 'y', dtype: 'float32', dims: [-1, ...sample] }];
  return g;
}

async function run(g: Graph, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await Session.create(g);
  const out = await s.run({ x: { data: x, dims } });
  await s.release();
  return out['y']!.data;
}

/** The threshold of element i of a [batch, ...sample] tensor, for a threshold broadcast from the right. */
function thresholdAt(t: Tensor, sample: number[], i: number): number {
  const idx: number[] = [];
  let rest = i;
  for (let k = sample.length - 1; k >= 0; k--) {
    idx.unshift(rest % sample[k]!);
    rest = Math.floor(rest / sample[k]!);
  }
  const tIdx = idx.slice(idx.length - t.dims.length);
  let flat = 0;
  t.dims.forEach((d, k) => (flat = flat * d + (d === 1 ? 0 : tIdx[k]!)));
  return t.data[flat] as number;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const EXPECTED: Record<ActivationKind, (x: number, t: number) => number> = {
  relu: (x) => (x > 0 ? x : 0),
  'clip-zero': (x, t) => (x > 0 && x <= t ? x : 0),
  'clip-sat': (x, t) => (x > t ? t : x > 0 ? x : 0),
  'smooth-zero': (x, t) => (x > t + smoothGuardMargin(20) || Number.isNaN(x) ? 0 : Math.max(0, x * sigmoid(20 * (t - x)))),
};

/** Special values around a threshold t: -Inf, negative, 0, inside, exactly T, just above, far above, +Inf, NaN. */
const specials = (t: number) => [-Infinity, -1, 0, t / 2, t, t + 1e-3, t + 0.5, t + 100, 1e30, Infinity, NaN];

const layouts: { name: string; sample: number[] }[] = [
  { name: 'conv [C,H,W]', sample: [2, 2, 3] },
  { name: 'linear [N]', sample: [4] },
];

for (const kind of ['clip-zero', 'clip-sat', 'smooth-zero'] as const) {
  for (const layout of layouts) {
    for (const granularity of ['layer', 'channel', 'neuron'] as const) {
      test(`${kind} ${granularity} on ${layout.name}: values incl. Inf, NaN, negatives and exactly T`, async () => {
        const g = reluGraph(layout.sample);
        const tDims = thresholdShape(layout.sample, granularity);
        const n = tDims.reduce((a, b) => a * b, 1);
        const threshold = f32(tDims, Array.from({ length: n }, (_, k) => 1 + 0.5 * k));
        const done = replaceActivation(g, 'act', { kind, threshold, thresholdName: 'T', guard: true }, layout.sample);
        assert.equal(done.thresholdName, 'T');
        assert.equal(g.initializers.get('T'), threshold);
        // Fill a batch with the special values of each element's own threshold.
        const per = layout.sample.reduce((a, b) => a * b, 1);
        const batch = specials(0).length;
        const x = new Float32Array(batch * per);
        for (let b = 0; b < batch; b++) for (let i = 0; i < per; i++) x[b * per + i] = specials(thresholdAt(threshold, layout.sample, i))[b]!;
        const y = await run(g, x, [batch, ...layout.sample]);
        for (let i = 0; i < x.length; i++) {
          const tv = thresholdAt(threshold, layout.sample, i % per);
          const want = EXPECTED[kind](x[i]!, tv);
          assert.ok(Number.isFinite(y[i]!), `${kind}: x=${x[i]} T=${tv} gave ${y[i]}, expected a finite value`);
          assert.ok(Math.abs(y[i]! - want) <= 1e-6 + 1e-5 * Math.abs(want), `${kind}: x=${x[i]} T=${tv}: got ${y[i]}, expected ${want}`);
        }
      });
    }
  }
}

test('smooth-zero: the plain (training) form turns +Inf into NaN, which is why inference uses the guard', async () => {
  const x = Float32Array.of(Infinity, 1, 2, 30);
  const plain = reluGraph([4]);
  replaceActivation(plain, 'act', { kind: 'smooth-zero', threshold: scalarF32(2), thresholdName: 'T' });
  const guarded = reluGraph([4]);
  replaceActivation(guarded, 'act', { kind: 'smooth-zero', threshold: scalarF32(2), thresholdName: 'T', guard: true });
  const yp = await run(plain, x, [1, 4]);
  const yg = await run(guarded, x, [1, 4]);
  assert.ok(Number.isNaN(yp[0]!));
  assert.equal(yg[0], 0);
  // Finite inputs: both forms agree exactly (beyond T + 10 onnxruntime's sigmoid is already 0).
  assert.deepEqual(Array.from(yp.subarray(1)), Array.from(yg.subarray(1)));
  assert.ok(Math.abs(yp[2]! - 1) < 1e-6, `at x = T the smooth clip gives T/2, got ${yp[2]}`);
  assert.equal(yp[3], 0);
});

test('relu kind keeps the Relu node and adds no threshold', () => {
  const g = reluGraph([3]);
  const done = replaceActivation(g, 'act', { kind: 'relu' });
  assert.equal(done.thresholdName, undefined);
  assert.deepEqual(g.nodes.map((n) => n.op), ['Relu']);
  assert.equal(g.initializers.size, 0);
});

test('thresholdShape for each granularity', () => {
  const cases: [number[], Granularity, number[]][] = [
    [[16, 32, 32], 'layer', []],
    [[16, 32, 32], 'channel', [16, 1, 1]],
    [[16, 32, 32], 'neuron', [16, 32, 32]],
    [[10], 'layer', []],
    [[10], 'channel', [10]],
    [[10], 'neuron', [10]],
  ];
  for (const [dims, gran, want] of cases) assert.deepEqual(thresholdShape(dims, gran), want, `${gran} of [${dims}]`);
  assert.throws(() => thresholdShape([-1, 4], 'neuron'), isProactError);
  assert.throws(() => thresholdShape([4], 'pixel' as Granularity), isProactError);
});

/** conv -> relu -> conv -> relu -> flatten -> gemm -> relu: three activation layers of two kinds of dims. */
function smallNet(): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 4, 4] }];
  const w1 = g.addConstant('w1', f32([2, 1, 3, 3], Array.from({ length: 18 }, (_, k) => ((k * 7) % 5) / 5 - 0.3)));
  const w2 = g.addConstant('w2', f32([3, 2, 3, 3], Array.from({ length: 54 }, (_, k) => ((k * 3) % 7) / 7 - 0.4)));
  const w3 = g.addConstant('w3', f32([5, 48], Array.from({ length: 240 }, (_, k) => ((k * 5) % 11) / 11 - 0.43)));
  const [c1] = g.add('Conv', ['input', w1], { pads: ints([1, 1, 1, 1]) }, { name: 'conv1' });
  const [r1] = g.add('Relu', [c1!], {}, { name: 'relu1' });
  const [c2] = g.add('Conv', [r1!, w2], { pads: ints([1, 1, 1, 1]) }, { name: 'conv2' });
  const [r2] = g.add('Relu', [c2!], {}, { name: 'relu2' });
  const [f] = g.add('Flatten', [r2!], {}, { name: 'flatten' });
  const [fc] = g.add('Gemm', [f!, w3], { transB: { type: 'int', value: 1 } }, { name: 'fc' });
  g.add('Relu', [fc!], {}, { name: 'relu3', outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 5] }];
  return g;
}

test('hardenGraph: a mixed plan rewrites in place, keeps order and output names, survives ONNX export, records metadata', async () => {
  const g = smallNet();
  const layers = activationLayers(g);
  assert.deepEqual(layers.map((l) => l.dims), [[2, 4, 4], [3, 4, 4], [5]]);
  const done = hardenGraph(g, [
    { node: 'relu1', kind: 'clip-sat', threshold: f32([], [0.5]) },
    { node: 'relu2', kind: 'smooth-zero', threshold: f32([3, 1, 1], [0.4, 0.6, 0.8]), thresholdName: 'relu2.T', guard: true },
    { node: 'relu3', kind: 'clip-zero', threshold: f32([5], [0.05, 0.1, 0.15, 0.2, 0.25]) },
  ]);
  assert.deepEqual(done.map((d) => d.thresholdName), ['relu1.threshold', 'relu2.T', 'relu3.threshold']);
  assert.equal(g.nodes.filter((n) => n.op === 'Relu').length, 2); // the inner Relus of clip-zero and guarded smooth-zero
  assert.deepEqual(JSON.parse(g.metadata['proact.activations']!).map((r: { kind: string }) => r.kind), ['clip-sat', 'smooth-zero', 'clip-zero']);
  const back = readOnnx(writeOnnx(g));
  for (const name of ['relu1.threshold', 'relu2.T', 'relu3.threshold']) assert.ok(back.initializers.has(name), `${name} is a named initializer`);
  // Every activation's output equals its form applied to its own pre-activation, element by element.
  for (const [k, d] of done.entries()) {
    const dims = [-1, ...layers[k]!.dims];
    back.outputs.push({ name: d.input, dtype: 'float32' as const, dims }, ...(d.output === 'logits' ? [] : [{ name: d.output, dtype: 'float32' as const, dims }]));
  }
  const x = Float32Array.from({ length: 2 * 16 }, (_, k) => Math.sin(k) * 3);
  const s = await Session.create(back);
  const out = await s.run({ input: { data: x, dims: [2, 1, 4, 4] } });
  await s.release();
  for (const [k, d] of done.entries()) {
    const pre = out[d.input]!.data, post = out[d.output]!.data;
    const t = g.initializers.get(d.thresholdName!)!;
    const sample = layers[k]!.dims;
    let clipped = 0;
    for (let i = 0; i < pre.length; i++) {
      const tv = thresholdAt(t, sample, i % (pre.length / 2));
      const want = EXPECTED[d.kind](pre[i]!, tv);
      if (pre[i]! > tv) clipped++;
      assert.ok(Math.abs(post[i]! - want) <= 1e-6 + 1e-5 * Math.abs(want), `${d.node} (${d.kind}) element ${i}: x=${pre[i]} T=${tv} got ${post[i]}, expected ${want}`);
    }
    assert.ok(clipped > 0, `${d.node}: the check needs some values above T`);
  }
});

test('hardenGraph and replaceActivation reject bad plans with one-line errors', () => {
  const g = smallNet();
  assert.throws(() => hardenGraph(g, [{ node: 'nope', kind: 'clip-zero', threshold: scalarF32(1) }]), /no node named 'nope'/);
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'conv1', kind: 'clip-zero', threshold: scalarF32(1) }]), /is a Conv, not an activation layer/);
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'relu1', kind: 'clip-zero' }]), /needs a threshold/);
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'relu1', kind: 'clip-zero', threshold: f32([3, 1, 1], [1, 2, 3]) }]), /does not broadcast/);
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'relu3', kind: 'clip-zero', threshold: f32([4], [1, 2, 3, 4]) }]), /does not broadcast/);
  assert.throws(
    () => hardenGraph(smallNet(), [{ node: 'relu1', kind: 'clip-zero', threshold: scalarF32(1) }, { node: 'relu1', kind: 'clip-sat', threshold: scalarF32(1) }]),
    /twice/,
  );
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'relu1', kind: 'clip-zero', threshold: scalarF32(1), thresholdName: 'w1' }]), /already used/);
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'relu1', kind: 'smooth-zero', threshold: scalarF32(1), k: 0 }]), /k > 0/);
  assert.throws(() => hardenGraph(smallNet(), [{ node: 'relu1', kind: 'clamp' as ActivationKind, threshold: scalarF32(1) }]), isProactError);
});

// A bit flip can hit a threshold too (campaigns inject faults there): bit 30 of a T in [1, 2) gives NaN
// (+Inf for T = 1 exactly), bit 31 makes T negative. For every x each form must then give: clip-zero and
// guarded smooth-zero zero the element when T is NaN (x <= NaN is false); clip-sat passes max(x, 0)
// unclipped (x > NaN is false). A NaN element in the last activation layer would make every logit NaN
// for every image. One double fault stays NaN and is documented: smooth-zero with T = +Inf and x = +Inf
// (Inf * sigmoid(Inf - Inf)); the unprotected model gives Inf there.
for (const kind of ['clip-zero', 'clip-sat', 'smooth-zero'] as const) {
  test(`${kind} with a faulty threshold (NaN, +Inf, negative) never outputs NaN`, async () => {
    const xs = [-Infinity, -1, 0, 0.5, 1.5, 3, 1e30, Infinity, NaN].map(Math.fround);
    for (const t of [NaN, Infinity, -1.5]) {
      const g = reluGraph([xs.length]);
      replaceActivation(g, 'act', { kind, threshold: f32([xs.length], xs.map(() => t)), thresholdName: 'T', guard: true }, [xs.length]);
      const y = await run(g, Float32Array.from(xs), [1, xs.length]);
      xs.forEach((x, i) => {
        if (kind === 'smooth-zero' && t === Infinity && x === Infinity) return;
        assert.ok(!Number.isNaN(y[i]!), `${kind}: x=${x} T=${t} gave NaN`);
        if (Number.isNaN(t)) assert.equal(y[i], kind === 'clip-sat' && x > 0 ? x : 0, `${kind}: x=${x} T=NaN`);
        if (t < 0 && kind !== 'clip-sat') assert.equal(y[i], 0, `${kind}: x=${x} T=${t}`);
      });
    }
  });
}
