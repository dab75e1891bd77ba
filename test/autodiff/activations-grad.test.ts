/** Finite-difference checks of the clipped activations (src/harden/activations.ts) w.r.t. x and T. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, activationLayers, f32, numel } from '../../src/graph/index.js';
import { hardenGraph, replaceActivation, thresholdShape, type ActivationKind, type Granularity } from '../../src/harden/activations.js';
import { VARIANTS, onInput } from '../helpers/activations.js';
import { checkGradients, rng, uniform } from './fdcheck.js';

const SAMPLE = [3, 4, 4];
const rand = rng(99);

for (const kind of ['smooth-zero', 'clip-sat', 'clip-zero'] as const satisfies readonly ActivationKind[]) {
  for (const granularity of ['layer', 'channel', 'neuron'] as const satisfies readonly Granularity[]) {
    test(`${kind} (${granularity} thresholds): gradient w.r.t. x and T matches central differences`, async () => {
      const tDims = thresholdShape(SAMPLE, granularity);
      const tValues = uniform(rand, numel(tDims), 0.6, 1.2);
      const g = new Graph();
      g.inputs = [{ name: 'x', dtype: 'float32', dims: [2, ...SAMPLE] }];
      g.add('Relu', ['x'], {}, { name: 'act', outputs: ['y'] });
      g.outputs = [{ name: 'y', dtype: 'float32', dims: [2, ...SAMPLE] }];
      replaceActivation(g, 'act', { kind, threshold: f32(tDims, tValues), thresholdName: 'T' }, SAMPLE);
      // x spans 0 and every T, keeping 0.05 from each kink (0, and T for the hard clips); about a
      // third of the values lie above T. The smooth form varies on a scale of 1/k = 0.05: its
      // truncation error (eps^2 k^3) needs eps = 5e-4; the hard forms are exact away from kinks.
      const x = uniform(rand, 2 * numel(SAMPLE), -0.5, 1.8, kind === 'smooth-zero' ? [0] : [0, ...tValues], 0.05);
      const r = await checkGradients(g, { feeds: { x: { dims: [2, ...SAMPLE], data: x } }, wrt: ['x', 'T'], eps: kind === 'smooth-zero' ? 5e-4 : 1e-3 });
      assert.ok(r.worst < 1e-3, r.details.join('\n'));
      assert.ok(r.grads['x']!.some((v) => v !== 0));
      // clip-zero is flat in T away from x = T: its exact gradient is 0, and the differences agree.
      if (kind === 'clip-zero') assert.ok(r.grads['T']!.every((v) => v === 0));
      else assert.ok(r.grads['T']!.some((v) => v !== 0));
    });
  }
}

// The forms of the other activation kinds (GENERIC_FORMS on a = f(x)), w.r.t. x and T. Kinks: x = 0
// (LeakyReLU, PReLU, and where the smooth form's positive side starts), x = +-3 (HardSwish) are
// avoided by a gap; a = T (the hard clips) is handled by kink-aware directions.
for (const v of VARIANTS.filter((w, i) => VARIANTS.findIndex((u) => u.fn === w.fn) === i && !['relu', 'relu6', 'clipped-relu'].includes(w.fn))) {
  for (const kind of ['smooth-zero', 'clip-sat', 'clip-zero'] as const) {
    test(`${v.fn} as ${kind} (channel thresholds): gradient w.r.t. x and T matches central differences`, async () => {
      const g = onInput(v);
      const layer = activationLayers(g)[0]!;
      const tValues = Float32Array.of(0.8, 1.2, 1.6, 2.0);
      hardenGraph(g, [{ node: layer.node, kind, threshold: f32([4, 1, 1], tValues), thresholdName: 'T' }]);
      const x = uniform(rand, 72, -3.5, 3.5, [0, -3, 3], 0.05);
      const r = await checkGradients(g, { feeds: { x: { dims: [2, 4, 3, 3], data: x } }, wrt: ['x', 'T'], eps: kind === 'smooth-zero' ? 5e-4 : 1e-3, kinkAware: true });
      // The smooth form's gate is steep (k = 20) at a = T, where f'(x) != 1 also scales it: truncation
      // (eps^2 k^3) and float32 noise reach ~2e-3 on a projection that happens to be small; a wrong
      // rule is off by O(1).
      assert.ok(r.worst < (kind === 'smooth-zero' ? 3e-3 : 1e-3), r.details.join('\n'));
      assert.ok(r.grads['x']!.some((g) => g !== 0));
      if (kind === 'clip-zero') assert.ok(r.grads['T']!.every((g) => g === 0));
      else assert.ok(r.grads['T']!.some((g) => g !== 0));
    });
  }
}
