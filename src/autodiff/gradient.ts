/**
 * Reverse-mode autodiff on the IR: walks the forward graph backwards from a scalar loss and, for each
 * node on a path from a wrt tensor to the loss, lets the op's rule (rules.ts) append its backward
 * nodes. The result is one ONNX graph that computes the loss and the gradients in onnxruntime.
 */
import { ProactError } from '../util/errors.js';
import { inferShapes, numel, removeDeadNodes, tensor, tensorAttr, type Graph, type Node, type Tensor, type ValueInfo } from '../graph/index.js';
import { Emitter } from './emit.js';
import { RULES, type RuleContext } from './rules.js';
import { findFusions, type Fusion } from './fused.js';

export interface GradientOptions {
  /** Name of the scalar loss value (dims [] or [1]). */
  loss: string;
  /** Tensors to differentiate with respect to: initializers, graph inputs or intermediate values. */
  wrt: readonly string[];
  /** Forward values to output after the gradients (e.g. the logits, for accuracy). */
  extraOutputs?: readonly string[];
  /** Use the fused rules of fused.ts (default true; false gives the per-op rules, for testing). */
  fuse?: boolean;
}

/** The name of the gradient output for `name`. */
export const gradName = (name: string): string => `grad:${name}`;

/** Ops that have a backward rule. */
export const DIFFERENTIABLE_OPS: readonly string[] = Object.keys(RULES).sort();

/**
 * Returns a new graph (the input is untouched) whose outputs are the loss, then `grad:<name>` for each
 * wrt name (same dims as the tensor), then `extraOutputs`. Wrt initializers become graph inputs, to be
 * fed every step (onnxruntime ignores feeds for initializers); other initializers stay constant so
 * onnxruntime can pre-pack them. Only nodes on a path from a wrt tensor to the loss get backward
 * nodes, and only for inputs that depend on a wrt tensor (no weight gradients when only thresholds are
 * wanted). A wrt tensor the loss does not depend on gets a zero gradient.
 */
export function buildGradientGraph(g: Graph, opts: GradientOptions): Graph {
  const out = g.clone();
  const types = inferShapes(out);
  const { loss, wrt } = opts;
  const lossType = types.get(loss);
  if (!lossType) throw new ProactError(`buildGradientGraph: no value named '${loss}' in the graph; pass the name a loss builder (addSoftmaxCrossEntropy, ...) returned`);
  if (lossType.dtype !== 'float32' && lossType.dtype !== 'float64')
    throw new ProactError(`buildGradientGraph: the loss '${loss}' is ${lossType.dtype}; it must be a float scalar`);
  if (lossType.dims.includes(-1) || numel(lossType.dims) !== 1)
    throw new ProactError(`buildGradientGraph: the loss '${loss}' has dims [${lossType.dims}]; it must be a scalar (reduce it, e.g. with ReduceMean)`);
  if (wrt.length === 0) throw new ProactError('buildGradientGraph: wrt is empty; name at least one tensor to differentiate with respect to');
  const wrtSet = new Set<string>();
  for (const w of wrt) {
    if (wrtSet.has(w)) throw new ProactError(`buildGradientGraph: wrt lists '${w}' twice`);
    wrtSet.add(w);
    const t = types.get(w);
    if (!t) throw new ProactError(`buildGradientGraph: wrt names '${w}', which is not a value of the graph (initializer, input or node output)`);
    if (t.dtype !== lossType.dtype) throw new ProactError(`buildGradientGraph: wrt '${w}' is ${t.dtype}; gradients exist only for ${lossType.dtype} tensors like the loss`);
    if (out.initializers.has(w)) {
      out.initializers.delete(w);
      out.inputs.push({ name: w, dtype: t.dtype, dims: [...t.dims] });
    }
  }
  for (const name of opts.extraOutputs ?? [])
    if (!types.has(name)) throw new ProactError(`buildGradientGraph: extraOutputs names '${name}', which is not a value of the graph`);

  // Values that depend on a wrt tensor, and values the loss depends on.
  const fromWrt = new Set(wrtSet);
  for (const n of out.nodes) if (n.inputs.some((i) => fromWrt.has(i))) for (const o of n.outputs) if (o) fromWrt.add(o);
  const toLoss = new Set([loss]);
  for (let k = out.nodes.length - 1; k >= 0; k--) {
    const n = out.nodes[k]!;
    if (n.outputs.some((o) => toLoss.has(o))) for (const i of n.inputs) if (i) toLoss.add(i);
  }

  const e = new Emitter(out, types, lossType.dtype);
  let opset = out.opset;
  const constantNodes = new Map<string, Tensor>();
  for (const n of out.nodes) if (n.op === 'Constant' && n.attrs['value']?.type === 'tensor') constantNodes.set(n.outputs[0]!, n.attrs['value'].value);

  const scalarConstant = (name: string): number | undefined => {
    const t = wrtSet.has(name) ? undefined : (out.initializers.get(name) ?? constantNodes.get(name));
    return t && numel(t.dims) === 1 && (t.dtype === 'float32' || t.dtype === 'float64') ? Number(t.data[0]) : undefined;
  };
  const fusions = opts.fuse === false ? new Map<Node, Fusion>() : findFusions(out, scalarConstant);

  const grads = new Map<string, string[]>();
  const addGrad = (name: string, grad: string) => {
    const list = grads.get(name);
    if (list) list.push(grad);
    else grads.set(name, [grad]);
  };
  addGrad(loss, out.addConstant('grad.seed', tensor(lossType.dtype, lossType.dims, [1])));

  const forward = [...out.nodes];
  for (let k = forward.length - 1; k >= 0; k--) {
    const fusion = fusions.get(forward[k]!);
    const n = fusion ? fusion.node : forward[k]!;
    if (!n.outputs.some((o) => grads.has(o) && toLoss.has(o)) || !n.inputs.some((i) => fromWrt.has(i))) continue;
    if (n.outputs.slice(1).some((o) => grads.has(o)))
      throw new ProactError(`autodiff: node '${n.name}' (${n.op}): only its first output can carry a gradient`);
    const rule = fusion ? fusion.rule : RULES[n.op];
    if (!rule)
      throw new ProactError(
        `autodiff: no gradient rule for op '${n.op}' (node '${n.name}'), which lies between a wrt tensor and the loss; supported: ${DIFFERENTIABLE_OPS.join(', ')}`,
      );
    e.scope = `grad/${n.name}`;
    const dy = e.sum(grads.get(n.outputs[0]!)!);
    const ctx: RuleContext = {
      node: n,
      e,
      needs: (i) => !!n.inputs[i] && fromWrt.has(n.inputs[i]!),
      dims: (name) => e.dims(name),
      constant: (name, what) => {
        const t = out.initializers.get(name) ?? constantNodes.get(name);
        if (!t || wrtSet.has(name)) throw new ProactError(`autodiff: node '${n.name}' (${n.op}): ${what} ('${name}') must be a constant; run prepareGraph(g) first`);
        return t;
      },
      constantOrUndefined: (name) => (wrtSet.has(name) ? undefined : (out.initializers.get(name) ?? constantNodes.get(name))),
      requireOpset: (v) => {
        opset = Math.max(opset, v);
      },
    };
    const inputGrads = rule(ctx, dy);
    n.inputs.forEach((input, i) => {
      if (!ctx.needs(i)) return;
      const grad = inputGrads[i];
      if (grad === null) return; // no gradient by definition (a condition, a shape)
      if (grad === undefined) throw new ProactError(`autodiff: node '${n.name}' (${n.op}): no gradient rule for input ${i} ('${input}')`);
      addGrad(input, grad);
    });
  }

  const outputs: ValueInfo[] = [{ name: loss, dtype: lossType.dtype, dims: [...lossType.dims] }];
  for (const w of wrt) {
    const t = types.get(w)!;
    e.scope = `grad/${w}`;
    const parts = grads.get(w);
    const value = parts ? e.sum(parts) : zerosLike(e, w);
    out.add('Identity', [value], {}, { name: `grad/${w}/output`, outputs: [gradName(w)] });
    outputs.push({ name: gradName(w), dtype: t.dtype, dims: [...t.dims] });
  }
  for (const name of opts.extraOutputs ?? []) {
    const t = types.get(name)!;
    outputs.push({ name, dtype: t.dtype, dims: [...t.dims] });
  }
  out.outputs = outputs;
  out.opset = opset;
  removeDeadNodes(out);
  out.metadata['proact.gradient'] = JSON.stringify({ loss, wrt });
  return out;
}

function zerosLike(e: Emitter, name: string): string {
  return e.op('ConstantOfShape', [e.shapeTensor(name)], { value: tensorAttr(tensor(e.floatType, [1], [0])) });
}
