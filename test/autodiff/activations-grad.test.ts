/** Finite-difference checks of the clipped activations (src/harden/activations.ts) w.r.t. x and T. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, f32, numel } from '../../src/graph/index.js';
import { replaceActivation, thresholdShape, type ActivationKind, type Granularity } from '../../src/harden/activations.js';
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
