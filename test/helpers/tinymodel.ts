/**
 * A small CNN for MNIST-shaped input (1x28x28) with seeded weights, written as an ONNX file: used by
 * tests that need a real model without ../shared. Weights come from a fixed-seed generator so every
 * run builds the same bytes.
 */
import { writeFileSync } from 'node:fs';
import { Graph, f32, ints, int, writeOnnx } from '../../src/graph/index.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

export function tinyCnn(seed = 1): Graph {
  const rnd = lcg(seed);
  const rand = (n: number, scale: number) => Array.from({ length: n }, () => rnd() * scale);
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 28, 28] }];
  const w1 = g.addConstant('conv1.weight', f32([4, 1, 3, 3], rand(36, 1.2)));
  const b1 = g.addConstant('conv1.bias', f32([4], rand(4, 0.2)));
  const [c1] = g.add('Conv', ['input', w1, b1], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) });
  const [r1] = g.add('Relu', [c1!]);
  const [p1] = g.add('MaxPool', [r1!], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) });
  const [f] = g.add('Flatten', [p1!], { axis: int(1) });
  const w2 = g.addConstant('fc1.weight', f32([16, 196], rand(16 * 196, 0.3)));
  const b2 = g.addConstant('fc1.bias', f32([16], rand(16, 0.1)));
  const [h] = g.add('Gemm', [f!, w2, b2], { transB: int(1) });
  const [r2] = g.add('Relu', [h!]);
  const w3 = g.addConstant('fc2.weight', f32([10, 16], rand(160, 0.8)));
  const b3 = g.addConstant('fc2.bias', f32([10], rand(10, 0.1)));
  g.add('Gemm', [r2!, w3, b3], { transB: int(1) }, { outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 10] }];
  return g;
}

export function writeTinyCnn(path: string, seed = 1): string {
  writeFileSync(path, writeOnnx(tinyCnn(seed)));
  return path;
}
