/**
 * Tiny models with one activation of each kind, written the ways exporters write them (PyTorch's
 * opset-13 exports and hand-written variants), for the pattern, form and CLI tests.
 */
import { Graph, f32, float, scalarF32, type ActivationFunction } from '../../src/graph/index.js';
import { mulberry32 } from '../../src/data/index.js';

export interface ActivationVariant {
  name: string;
  fn: ActivationFunction;
  /** Appends the activation of `x` to `g`; returns the output value and the number of nodes it spans. */
  build(g: Graph, x: string): { y: string; nodes: number };
}

const c = (g: Graph, base: string, v: number) => g.addConstant(base, scalarF32(v));
const op = (g: Graph, type: string, inputs: string[], attrs: Graph['nodes'][number]['attrs'] = {}) => g.add(type, inputs, attrs)[0]!;

export const VARIANTS: ActivationVariant[] = [
  { name: 'Relu', fn: 'relu', build: (g, x) => ({ y: op(g, 'Relu', [x]), nodes: 1 }) },
  { name: 'Clip(x, 0, 6) with bound inputs (opset 11+)', fn: 'relu6', build: (g, x) => ({ y: op(g, 'Clip', [x, c(g, 'lo', 0), c(g, 'hi', 6)]), nodes: 1 }) },
  { name: 'Clip(x, 0, 4)', fn: 'clipped-relu', build: (g, x) => ({ y: op(g, 'Clip', [x, c(g, 'lo', 0), c(g, 'hi', 4)]), nodes: 1 }) },
  { name: 'Clip(x, 0) without max', fn: 'relu', build: (g, x) => ({ y: op(g, 'Clip', [x, c(g, 'lo', 0)]), nodes: 1 }) },
  { name: 'LeakyRelu alpha 0.1', fn: 'leaky-relu', build: (g, x) => ({ y: op(g, 'LeakyRelu', [x], { alpha: float(0.1) }), nodes: 1 }) },
  { name: 'PRelu with per-channel slopes', fn: 'prelu', build: (g, x) => ({ y: op(g, 'PRelu', [x, g.addConstant('slope', f32([4, 1, 1], Float32Array.of(0.05, 0.1, 0.2, 0.3)))]), nodes: 1 }) },
  { name: 'x * Sigmoid(x)', fn: 'silu', build: (g, x) => ({ y: op(g, 'Mul', [x, op(g, 'Sigmoid', [x])]), nodes: 2 }) },
  { name: 'Sigmoid(x) * x', fn: 'silu', build: (g, x) => ({ y: op(g, 'Mul', [op(g, 'Sigmoid', [x]), x]), nodes: 2 }) },
  { name: 'HardSwish op (opset 14)', fn: 'hardswish', build: (g, x) => ({ y: op(g, 'HardSwish', [x]), nodes: 1 }) },
  {
    name: 'x * HardSigmoid(x; 1/6, 0.5)',
    fn: 'hardswish',
    build: (g, x) => ({ y: op(g, 'Mul', [x, op(g, 'HardSigmoid', [x], { alpha: float(1 / 6), beta: float(0.5) })]), nodes: 2 }),
  },
  {
    name: 'x * Clip(x + 3, 0, 6) / 6',
    fn: 'hardswish',
    build: (g, x) => {
      const relu6 = op(g, 'Clip', [op(g, 'Add', [x, c(g, 'three', 3)]), c(g, 'lo', 0), c(g, 'hi', 6)]);
      return { y: op(g, 'Div', [op(g, 'Mul', [x, relu6]), c(g, 'six', 6)]), nodes: 4 };
    },
  },
  {
    name: 'GELU erf, as torch exports it: (x * (erf(x / sqrt2) + 1)) * 0.5',
    fn: 'gelu-erf',
    build: (g, x) => {
      const erf = op(g, 'Erf', [op(g, 'Div', [x, c(g, 'sqrt2', Math.SQRT2)])]);
      return { y: op(g, 'Mul', [op(g, 'Mul', [x, op(g, 'Add', [erf, c(g, 'one', 1)])]), c(g, 'half', 0.5)]), nodes: 5 };
    },
  },
  {
    name: 'GELU erf, other order: (0.5 * x) * (1 + erf(x * 0.7071))',
    fn: 'gelu-erf',
    build: (g, x) => {
      const erf = op(g, 'Erf', [op(g, 'Mul', [x, c(g, 'rs', Math.SQRT1_2)])]);
      return { y: op(g, 'Mul', [op(g, 'Mul', [c(g, 'half', 0.5), x]), op(g, 'Add', [c(g, 'one', 1), erf])]), nodes: 5 };
    },
  },
  {
    name: 'GELU tanh with x*x*x, as torch exports approximate=tanh',
    fn: 'gelu-tanh',
    build: (g, x) => {
      const cube = op(g, 'Mul', [x, op(g, 'Mul', [x, x])]);
      const inner = op(g, 'Mul', [c(g, 'beta', Math.sqrt(2 / Math.PI)), op(g, 'Add', [x, op(g, 'Mul', [c(g, 'kappa', 0.044715), cube])])]);
      return { y: op(g, 'Mul', [c(g, 'half', 0.5), op(g, 'Mul', [x, op(g, 'Add', [c(g, 'one', 1), op(g, 'Tanh', [inner])])])]), nodes: 9 };
    },
  },
  {
    name: 'GELU tanh with Pow(x, 3)',
    fn: 'gelu-tanh',
    build: (g, x) => {
      const cube = op(g, 'Pow', [x, c(g, 'three', 3)]);
      const inner = op(g, 'Mul', [op(g, 'Add', [x, op(g, 'Mul', [cube, c(g, 'kappa', 0.044715)])]), c(g, 'beta', Math.sqrt(2 / Math.PI))]);
      return { y: op(g, 'Mul', [op(g, 'Mul', [x, c(g, 'half', 0.5)]), op(g, 'Add', [op(g, 'Tanh', [inner]), c(g, 'one', 1)])]), nodes: 8 };
    },
  },
];

/** input [batch, 3, 6, 6] -> Conv 3x3 (4 channels, seeded weights) -> the activation -> output `y` [batch, 4, 4, 4]. */
export function convThen(variant: ActivationVariant, seed = 1): { graph: Graph; nodes: number } {
  const g = new Graph();
  g.opset = variant.name.includes('opset 14') ? 14 : 13;
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 3, 6, 6] }];
  const rand = mulberry32(seed);
  const w = f32([4, 3, 3, 3], Float32Array.from({ length: 108 }, () => (rand() - 0.5) * 1.2));
  const b = f32([4], Float32Array.from({ length: 4 }, () => (rand() - 0.5) * 0.4));
  g.initializers.set('conv.weight', w);
  g.initializers.set('conv.bias', b);
  const [x] = g.add('Conv', ['input', 'conv.weight', 'conv.bias'], {}, { name: 'conv' });
  const { y, nodes } = variant.build(g, x!);
  g.outputs = [{ name: y, dtype: 'float32', dims: [-1, 4, 4, 4] }];
  return { graph: g, nodes };
}

/** The activation applied directly to the graph input `x` [2, 4, 3, 3] (a data input counts as computed). */
export function onInput(variant: ActivationVariant): Graph {
  const g = new Graph();
  g.opset = variant.name.includes('opset 14') ? 14 : 13;
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [2, 4, 3, 3] }];
  const { y } = variant.build(g, 'x');
  g.outputs = [{ name: y, dtype: 'float32', dims: [2, 4, 3, 3] }];
  return g;
}
