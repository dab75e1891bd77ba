/** The fused smooth-zero rule gives the per-op rules' gradients with fewer full-size ops. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, f32, numel, ints } from '../../src/graph/index.js';
import { replaceActivation, thresholdShape } from '../../src/harden/activations.js';
import { buildGradientGraph, gradName } from '../../src/autodiff/index.js';
import { Session } from '../../src/runtime/index.js';
import { rng, uniform } from './fdcheck.js';

const rand = rng(31);
const SAMPLE = [3, 4, 4];

/** x -> conv -> smooth-zero(T) -> sum(R * y): x and T both need gradients, the conv keeps x upstream. */
function net(granularity: 'layer' | 'channel' | 'neuron', guard: boolean): Graph {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [-1, 3, 4, 4] }];
  g.initializers.set('w', f32([3, 3, 3, 3], uniform(rand, 81, -0.5, 0.5)));
  const [c] = g.add('Conv', ['x', 'w'], { pads: ints([1, 1, 1, 1]) });
  g.add('Relu', [c!], {}, { name: 'act', outputs: ['a'] });
  const tDims = thresholdShape(SAMPLE, granularity);
  replaceActivation(g, 'act', { kind: 'smooth-zero', threshold: f32(tDims, uniform(rand, numel(tDims), 0.2, 0.8)), thresholdName: 'T', guard });
  g.initializers.set('r', f32([2, ...SAMPLE], uniform(rand, 2 * numel(SAMPLE), -1, 1)));
  const [p] = g.add('Mul', ['a', 'r']);
  g.add('ReduceSum', [p!], { keepdims: { type: 'int', value: 0 } }, { outputs: ['loss'] });
  g.outputs = [{ name: 'loss', dtype: 'float32', dims: [] }];
  return g;
}

const x = uniform(rand, 2 * 48, -1, 2);

for (const granularity of ['layer', 'channel', 'neuron'] as const) {
  for (const guard of [false, true]) {
    test(`smooth-zero ${granularity}${guard ? ' (guarded)' : ''}: fused and per-op gradients agree to 1e-6`, async () => {
      const g = net(granularity, guard);
      const t = g.initializers.get('T')!;
      const feeds = { x: { data: x, dims: [2, 3, 4, 4] }, T: { data: t.data as Float32Array, dims: t.dims } };
      const run = async (fuse: boolean) => {
        const gg = buildGradientGraph(g, { loss: 'loss', wrt: ['x', 'T'], fuse });
        const s = await Session.create(gg);
        const out = await s.run(feeds);
        await s.release();
        return { gg, out };
      };
      const fused = await run(true), plain = await run(false);
      assert.ok(fused.gg.nodes.length < plain.gg.nodes.length, `fused ${fused.gg.nodes.length} nodes vs per-op ${plain.gg.nodes.length}`);
      for (const name of [gradName('x'), gradName('T')]) {
        const a = fused.out[name]!.data, b = plain.out[name]!.data;
        const scale = Math.max(...Array.from(b, Math.abs));
        assert.ok(scale > 0);
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * scale, `${name}[${i}]: fused ${a[i]} per-op ${b[i]}`);
      }
    });
  }
}

test('only the T gradient: the fused rule emits 4 full-size ops (no Sigmoid derivative, no mask, no Sum)', () => {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [-1, 3, 4, 4] }];
  g.add('Relu', ['x'], {}, { name: 'act', outputs: ['a'] });
  replaceActivation(g, 'act', { kind: 'smooth-zero', threshold: f32([], [0.5]), thresholdName: 'T' });
  g.add('ReduceSum', ['a'], { keepdims: { type: 'int', value: 0 } }, { outputs: ['loss'] });
  const forward = g.nodes.length;
  const gg = buildGradientGraph(g, { loss: 'loss', wrt: ['T'] });
  // Shape + Expand of the loss gradient (dynamic batch), then Mul, Sub, Mul and the ReduceSum over
  // every axis (the full-size ops), then the reshape to T's dims, * k and the output Identity.
  assert.deepEqual(gg.nodes.slice(forward).map((n) => n.op), ['Shape', 'Expand', 'Mul', 'Sub', 'Mul', 'ReduceSum', 'Reshape', 'Mul', 'Identity']);
});

test('the pattern is not fused when an intermediate value is used elsewhere (here the gate is a graph output)', () => {
  const g = net('layer', false);
  const gate = g.nodes.find((n) => n.op === 'Sigmoid')!.outputs[0]!;
  g.outputs.push({ name: gate, dtype: 'float32', dims: [-1, 3, 4, 4] });
  const fused = buildGradientGraph(g, { loss: 'loss', wrt: ['T'] });
  const plain = buildGradientGraph(g, { loss: 'loss', wrt: ['T'], fuse: false });
  assert.equal(fused.nodes.length, plain.nodes.length);
});
