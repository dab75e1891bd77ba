/**
 * The graph IR: nodes in ONNX terms (op type, named inputs and outputs, typed attributes), constant
 * tensors as initializers, and graph inputs/outputs with shapes. It is deliberately close to ONNX so
 * import and export are lossless, but it is plain mutable data that passes can rewrite.
 */
import { ProactError } from '../util/errors.js';
import type { DType, Tensor } from './tensor.js';

export type Attr =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] };

export interface Node {
  name: string;
  op: string;
  /** Input value names; '' marks an omitted optional input (as in ONNX). */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  domain?: string;
}

/** A dimension: a number, or -1 when unknown (the dynamic batch dimension). */
export type Dims = number[];

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** -1 for a dynamic dimension; `dimNames` keeps the symbolic names for export. */
  dims: Dims;
  dimNames?: (string | undefined)[];
}

export class Graph {
  name = 'proact';
  nodes: Node[] = [];
  initializers = new Map<string, Tensor>();
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  opset = 13;
  producerName = 'proact';
  /** Free-form metadata carried into the ONNX file's metadata_props (e.g. hardening method). */
  metadata: Record<string, string> = {};

  /** A copy whose node list and maps can be changed freely; tensors are shared (treat them as immutable). */
  clone(): Graph {
    const g = new Graph();
    g.name = this.name;
    g.nodes = this.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } }));
    g.initializers = new Map(this.initializers);
    g.inputs = this.inputs.map((v) => ({ ...v, dims: [...v.dims] }));
    g.outputs = this.outputs.map((v) => ({ ...v, dims: [...v.dims] }));
    g.opset = this.opset;
    g.producerName = this.producerName;
    g.metadata = { ...this.metadata };
    return g;
  }

  /** Map from value name to the node that produces it. */
  producers(): Map<string, Node> {
    const m = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) m.set(o, n);
    return m;
  }

  /** Map from value name to the nodes that read it. */
  consumers(): Map<string, Node[]> {
    const m = new Map<string, Node[]>();
    for (const n of this.nodes)
      for (const i of n.inputs) {
        if (!i) continue;
        const list = m.get(i);
        if (list) list.push(n);
        else m.set(i, [n]);
      }
    return m;
  }

  /** The real (non-initializer) graph inputs. */
  dataInputs(): ValueInfo[] {
    return this.inputs.filter((v) => !this.initializers.has(v.name));
  }

  /** A value name not yet used in the graph, derived from `base`. */
  uniqueName(base: string): string {
    if (!this.nameSet) {
      this.nameSet = new Set<string>();
      for (const n of this.nodes) {
        this.nameSet.add(n.name);
        for (const o of n.outputs) this.nameSet.add(o);
      }
      for (const k of this.initializers.keys()) this.nameSet.add(k);
      for (const v of this.inputs) this.nameSet.add(v.name);
    }
    let name = base;
    for (let k = 1; this.nameSet.has(name); k++) name = `${base}_${k}`;
    this.nameSet.add(name);
    return name;
  }
  private nameSet: Set<string> | undefined;

  /** Appends a node with fresh output names; returns its output names. */
  add(op: string, inputs: string[], attrs: Record<string, Attr> = {}, opts: { name?: string; outputs?: number | string[] } = {}): string[] {
    const base = opts.name ?? op;
    const nodeName = this.uniqueName(base);
    const outs =
      Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, k) => this.uniqueName(`${nodeName}_out${k}`));
    this.nodes.push({ name: nodeName, op, inputs, outputs: outs, attrs });
    return outs;
  }

  /** Adds an initializer under a fresh name derived from `base`; returns the name. */
  addConstant(base: string, t: Tensor): string {
    const name = this.uniqueName(base);
    this.initializers.set(name, t);
    return name;
  }

  /** Sorts nodes topologically (stable: keeps the original order where possible). Throws on a cycle. */
  topoSort(): void {
    const available = new Set<string>([...this.initializers.keys(), ...this.inputs.map((v) => v.name), '']);
    const remaining = [...this.nodes];
    const sorted: Node[] = [];
    const produced = this.producers();
    while (remaining.length) {
      let progressed = false;
      for (let k = 0; k < remaining.length; k++) {
        const n = remaining[k]!;
        if (n.inputs.every((i) => available.has(i))) {
          sorted.push(n);
          for (const o of n.outputs) available.add(o);
          remaining.splice(k, 1);
          k--;
          progressed = true;
        }
      }
      if (!progressed) {
        const n = remaining[0]!;
        const missing = n.inputs.filter((i) => !available.has(i));
        const dangling = missing.filter((i) => !produced.has(i));
        if (dangling.length)
          throw new ProactError(`node '${n.name}' (${n.op}) reads '${dangling[0]}', which no node, input or initializer defines: the model is malformed`);
        throw new ProactError(`the graph has a cycle through node '${n.name}' (${n.op}): an ONNX graph must be acyclic`);
      }
    }
    this.nodes = sorted;
  }
}

// Attribute helpers: typed reads with defaults, so op code stays short.
export function attrInt(n: Node, key: string, dflt: number): number {
  const a = n.attrs[key];
  return a && a.type === 'int' ? a.value : dflt;
}
export function attrFloat(n: Node, key: string, dflt: number): number {
  const a = n.attrs[key];
  return a && (a.type === 'float' || a.type === 'int') ? a.value : dflt;
}
export function attrInts(n: Node, key: string, dflt: number[] | undefined): number[] | undefined {
  const a = n.attrs[key];
  return a && a.type === 'ints' ? a.value : dflt;
}
export function attrString(n: Node, key: string, dflt: string): string {
  const a = n.attrs[key];
  return a && a.type === 'string' ? a.value : dflt;
}
export const ints = (value: number[]): Attr => ({ type: 'ints', value });
export const int = (value: number): Attr => ({ type: 'int', value });
export const float = (value: number): Attr => ({ type: 'float', value });
export const tensorAttr = (value: Tensor): Attr => ({ type: 'tensor', value });

/**
 * Clipping thresholds are initializers whose name starts with this prefix (e.g.
 * `proact.threshold.3` for the fourth activation layer): fault campaigns find them by name, so they
 * are part of the fault surface like weights, and any tool (Netron) shows them.
 */
export const THRESHOLD_PREFIX = 'proact.threshold.';
export const isThresholdName = (name: string): boolean => name.startsWith(THRESHOLD_PREFIX);

/**
 * Weight bounds are initializers named `proact.bound.<tensor>.min` / `.max`: the clean range of one
 * stored weight or bias tensor, applied by a Clip (or Min/Max, for per-channel bounds) between the
 * stored tensor and the layer that reads it (see src/harden/weightclip.ts). Like thresholds, they are
 * stored values that campaigns find by name and hit.
 */
export const WEIGHT_BOUND_PREFIX = 'proact.bound.';
export const isWeightBoundName = (name: string): boolean => name.startsWith(WEIGHT_BOUND_PREFIX);

/**
 * Stored guards (thresholds and weight bounds): values a fault campaign patches in the stored model, so
 * every node that reads one must stay in the graph and read it at run time.
 */
export const isStoredGuardName = (name: string): boolean => isThresholdName(name) || isWeightBoundName(name);
