/** Activation layers recognised by pattern (src/graph/patterns.ts): every export form, and what is not a layer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, activationLayers, f32, scalarF32, summarizeGraph, unclippableActivations } from '../../src/graph/index.js';
import { VARIANTS, convThen } from '../helpers/activations.js';

for (const v of VARIANTS) {
  test(`pattern: ${v.name} is one ${v.fn} layer spanning its ${'nodes'}`, () => {
    const { graph, nodes } = convThen(v);
    const layers = activationLayers(graph);
    assert.equal(layers.length, 1, JSON.stringify(layers));
    const l = layers[0]!;
    assert.equal(l.fn, v.fn);
    assert.equal(l.input, 'conv_out0', 'x is the conv output');
    assert.equal(l.output, graph.outputs[0]!.name);
    assert.equal(l.node, graph.nodes.at(-1)!.name, 'the layer is named by its last node');
    assert.equal(l.nodes.length, nodes);
    assert.deepEqual(l.dims, [4, 4, 4]);
    assert.deepEqual(summarizeGraph(graph).activationKinds, { [v.fn]: 1 });
  });
}

test('pattern: a Clip on a weight path (weight-range clipping) is not a ReLU6, a Clip on the activation is', () => {
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 3, 6, 6] }];
  g.initializers.set('w', f32([4, 3, 3, 3], new Float32Array(108).fill(0.1)));
  g.initializers.set('lo0', scalarF32(0));
  g.initializers.set('hi6', scalarF32(6));
  // Clip(W, 0, 6) (bounds that would read as ReLU6) on the weight, and a weight computed from weights only.
  const [wc] = g.add('Clip', ['w', 'lo0', 'hi6'], {}, { name: 'weight_clip' });
  const [wd] = g.add('Mul', [wc!, 'hi6'], {}, { name: 'weight_scale' });
  const [wc2] = g.add('Clip', [wd!, 'lo0', 'hi6'], {}, { name: 'weight_clip2' });
  const [y] = g.add('Conv', ['input', wc2!], {}, { name: 'conv' });
  g.add('Clip', [y!, 'lo0', 'hi6'], {}, { name: 'relu6', outputs: ['out'] });
  g.outputs = [{ name: 'out', dtype: 'float32', dims: [-1, 4, 4, 4] }];
  assert.deepEqual(activationLayers(g).map((l) => [l.node, l.fn]), [['relu6', 'relu6']]);
});

test('pattern: Clip with min != 0, a bounded activation and an intermediate used twice are not layers', () => {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [-1, 4] }];
  g.initializers.set('m1', scalarF32(-1));
  g.initializers.set('p1', scalarF32(1));
  const [h] = g.add('Clip', ['x', 'm1', 'p1'], {}, { name: 'hardtanh' });
  const [s] = g.add('Sigmoid', [h!], {}, { name: 'sig' });
  // x * Sigmoid(x) whose Sigmoid also feeds the output: not a SiLU (removing it would break the output).
  const [silu] = g.add('Mul', [h!, s!], {}, { name: 'not_silu' });
  g.outputs = [
    { name: silu!, dtype: 'float32', dims: [-1, 4] },
    { name: s!, dtype: 'float32', dims: [-1, 4] },
  ];
  assert.deepEqual(activationLayers(g), []);
});

test('pattern: the Clip inside a decomposed HardSwish is not a second layer; Elu is named as unclippable', () => {
  const hs = VARIANTS.find((v) => v.name.startsWith('x * Clip'))!;
  const { graph } = convThen(hs);
  assert.deepEqual(activationLayers(graph).map((l) => l.fn), ['hardswish']);
  const [e] = graph.add('Elu', [graph.outputs[0]!.name], {}, { name: 'elu' });
  graph.outputs = [{ name: e!, dtype: 'float32', dims: [-1, 4, 4, 4] }];
  assert.deepEqual(unclippableActivations(graph), [{ node: 'elu', op: 'Elu' }]);
});

test('pattern: a PRelu whose slopes are computed is not a layer but is named as unclippable', () => {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [-1, 4] }];
  const [slope] = g.add('Sigmoid', ['x'], {}, { name: 'slope' });
  g.add('PRelu', ['x', slope!], {}, { name: 'prelu', outputs: ['y'] });
  g.outputs = [{ name: 'y', dtype: 'float32', dims: [-1, 4] }];
  assert.deepEqual(activationLayers(g), []);
  assert.deepEqual(unclippableActivations(g), [{ node: 'prelu', op: 'PRelu' }]);
});
