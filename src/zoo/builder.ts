/**
 * A small helper to write CNNs as IR graphs layer by layer, tracking each value's per-sample shape,
 * naming parameters as PyTorch does (`conv1.weight`, `layer1.0.conv2.bias`) and initialising them
 * from a seeded generator. Two Kaiming-uniform schemes:
 * - `torch`: PyTorch's defaults for Conv2d and Linear, kaiming_uniform_(a = sqrt(5)) for weights and
 *   U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases, which both come to U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * - `kaiming`: kaiming_uniform_(nonlinearity = 'relu') (He et al. 2015), U(-sqrt(6/fan_in), sqrt(6/fan_in))
 *   weights and zero biases: keeps the signal's scale through deep stacks of conv-ReLU without BatchNorm,
 *   where the `torch` scheme shrinks it by about sqrt(6) per layer (VGG-16's logits then barely depend
 *   on the input).
 * Draws: each layer's weights (row-major), then its biases (`torch` only), layer after layer in
 * construction order, each value (2u - 1) * bound with u = rng.uint32() / 2^32 (32 random bits are
 * plenty for a float32).
 */
import { Graph, f32, i64, int, ints, type Tensor } from '../graph/index.js';
import type { ImageShape } from '../data/index.js';
import { ProactBug, ProactError } from '../util/errors.js';
import { Rng, checkSeed } from '../train/index.js';

export interface ConvSpec {
  /** Parameter prefix, e.g. `features.0` or `layer1.0.conv1`. */
  name: string;
  out: number;
  kernel: number;
  stride?: number;
  pad?: number;
  bias?: boolean;
  /** Grouped convolution: `groups` = input channels = `out` is a depthwise conv (MobileNet). Default 1. */
  groups?: number;
}

export type InitScheme = 'torch' | 'kaiming';

export class NetBuilder {
  readonly graph = new Graph();
  private readonly rng: Rng;
  private readonly shapes = new Map<string, number[]>();

  constructor(
    name: string,
    inputShape: ImageShape,
    seed: number,
    readonly init: InitScheme = 'torch',
  ) {
    checkSeed(seed, 'model init seed');
    if (inputShape.some((d) => !Number.isInteger(d) || d < 1))
      throw new ProactError(`${name}: input shape [${inputShape.join(', ')}] is invalid: expected positive channels, height and width`);
    this.rng = Rng.fromSeed(seed);
    this.graph.name = name;
    this.graph.opset = 13;
    this.graph.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, ...inputShape], dimNames: ['batch', undefined, undefined, undefined] }];
    this.shapes.set('input', [...inputShape]);
  }

  /** Per-sample dims of a value built so far. */
  dims(value: string): number[] {
    const d = this.shapes.get(value);
    if (!d) throw new ProactBug(`NetBuilder: unknown value '${value}'`);
    return d;
  }

  private uniform(dims: number[], bound: number): Tensor {
    const t = f32(dims);
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] = (2 * (this.rng.uint32() / 4294967296) - 1) * bound;
    return t;
  }

  /** Initial weights and bias of a layer with `fanIn` inputs per output. */
  private weightsAndBias(weightDims: number[], out: number, fanIn: number): { weight: Tensor; bias: () => Tensor } {
    if (this.init === 'kaiming') return { weight: this.uniform(weightDims, Math.sqrt(6 / fanIn)), bias: () => f32([out]) };
    const bound = 1 / Math.sqrt(fanIn);
    return { weight: this.uniform(weightDims, bound), bias: () => this.uniform([out], bound) };
  }

  private parameter(name: string, t: Tensor): string {
    if (this.graph.initializers.has(name)) throw new ProactBug(`NetBuilder: parameter '${name}' defined twice`);
    this.graph.initializers.set(name, t);
    return name;
  }

  private node(op: string, inputs: string[], attrs: Parameters<Graph['add']>[2], name: string, outDims: number[], output?: string): string {
    const out = this.graph.add(op, inputs, attrs, { name, ...(output ? { outputs: [output] } : {}) })[0]!;
    this.shapes.set(out, outDims);
    return out;
  }

  conv(x: string, s: ConvSpec): string {
    const [cin, h, w] = this.dims(x) as [number, number, number];
    const stride = s.stride ?? 1;
    const pad = s.pad ?? 0;
    const groups = s.groups ?? 1;
    if (cin % groups !== 0 || s.out % groups !== 0) throw new ProactBug(`NetBuilder: conv '${s.name}' with ${groups} groups needs channels divisible by it (${cin} in, ${s.out} out)`);
    const init = this.weightsAndBias([s.out, cin / groups, s.kernel, s.kernel], s.out, (cin / groups) * s.kernel * s.kernel);
    const inputs = [x, this.parameter(`${s.name}.weight`, init.weight)];
    if (s.bias ?? true) inputs.push(this.parameter(`${s.name}.bias`, init.bias()));
    const oh = Math.floor((h + 2 * pad - s.kernel) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - s.kernel) / stride) + 1;
    if (oh < 1 || ow < 1) throw new ProactError(`${this.graph.name}: layer ${s.name} gets a ${h}x${w} input, too small for its ${s.kernel}x${s.kernel} kernel: use larger images`);
    const attrs = { kernel_shape: ints([s.kernel, s.kernel]), strides: ints([stride, stride]), pads: ints([pad, pad, pad, pad]), dilations: ints([1, 1]), group: int(groups) };
    return this.node('Conv', inputs, attrs, s.name, [s.out, oh, ow]);
  }

  linear(x: string, name: string, out: number, output?: string): string {
    const d = this.dims(x);
    if (d.length !== 1) throw new ProactBug(`NetBuilder: linear '${name}' needs a flat input, got [${d}]`);
    const init = this.weightsAndBias([out, d[0]!], out, d[0]!);
    const weight = this.parameter(`${name}.weight`, init.weight);
    const bias = this.parameter(`${name}.bias`, init.bias());
    return this.node('Gemm', [x, weight, bias], { transB: int(1) }, name, [out], output);
  }

  relu(x: string, name: string): string {
    return this.node('Relu', [x], {}, name, [...this.dims(x)]);
  }

  /**
   * ReLU6 as PyTorch exports nn.ReLU6: Clip(x, 0, 6) with the bounds as (shared) scalar initializers,
   * which src/graph/patterns.ts recognises as an activation layer.
   */
  relu6(x: string, name: string): string {
    const g = this.graph;
    if (!g.initializers.has('relu6.min')) {
      g.initializers.set('relu6.min', f32([], Float32Array.of(0)));
      g.initializers.set('relu6.max', f32([], Float32Array.of(6)));
    }
    return this.node('Clip', [x, 'relu6.min', 'relu6.max'], {}, name, [...this.dims(x)]);
  }

  maxPool(x: string, name: string, kernel = 2): string {
    const [c, h, w] = this.dims(x) as [number, number, number];
    const oh = Math.floor(h / kernel);
    const ow = Math.floor(w / kernel);
    if (oh < 1 || ow < 1) throw new ProactError(`${this.graph.name}: max-pool ${name} gets a ${h}x${w} input, too small for a ${kernel}x${kernel} window: use larger images`);
    return this.node('MaxPool', [x], { kernel_shape: ints([kernel, kernel]), strides: ints([kernel, kernel]), pads: ints([0, 0, 0, 0]) }, name, [c, oh, ow]);
  }

  globalAveragePool(x: string, name: string): string {
    const [c] = this.dims(x) as [number];
    return this.node('GlobalAveragePool', [x], {}, name, [c, 1, 1]);
  }

  flatten(x: string, name: string): string {
    const n = this.dims(x).reduce((a, b) => a * b, 1);
    return this.node('Flatten', [x], { axis: int(1) }, name, [n]);
  }

  add(a: string, b: string, name: string): string {
    return this.node('Add', [a, b], {}, name, [...this.dims(a)]);
  }

  /**
   * The option-A shortcut of CIFAR ResNets (He et al. 2016): x[:, :, ::2, ::2] then zero channels
   * added on both sides, (outChannels - C) / 2 each, as `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))`.
   */
  shortcutA(x: string, name: string, outChannels: number): string {
    const [c, h, w] = this.dims(x) as [number, number, number];
    const extra = outChannels - c;
    if (extra < 0 || extra % 2 !== 0) throw new ProactBug(`NetBuilder: option-A shortcut from ${c} to ${outChannels} channels`);
    const g = this.graph;
    const starts = g.addConstant(`${name}.starts`, i64([0, 0]));
    const ends = g.addConstant(`${name}.ends`, i64([h, w]));
    const axes = g.addConstant(`${name}.axes`, i64([2, 3]));
    const steps = g.addConstant(`${name}.steps`, i64([2, 2]));
    const sliced = this.node('Slice', [x, starts, ends, axes, steps], {}, `${name}.slice`, [c, Math.ceil(h / 2), Math.ceil(w / 2)]);
    const half = extra / 2;
    const pads = g.addConstant(`${name}.pads`, i64([0, half, 0, 0, 0, half, 0, 0]));
    return this.node('Pad', [sliced, pads], { mode: { type: 'string', value: 'constant' } }, `${name}.pad`, [outChannels, Math.ceil(h / 2), Math.ceil(w / 2)]);
  }

  /** Declares `logits` (the value built last) as the graph's output and returns the graph. */
  finish(logits: string, arch: string, seed: number): Graph {
    const d = this.dims(logits);
    this.graph.outputs = [{ name: logits, dtype: 'float32', dims: [-1, ...d], dimNames: ['batch', undefined] }];
    this.graph.metadata['proact.arch'] = arch;
    this.graph.metadata['proact.init_seed'] = String(seed);
    this.graph.metadata['proact.init'] = this.init;
    return this.graph;
  }
}
