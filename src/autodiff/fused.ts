/**
 * Fused backward rules for multi-node patterns whose per-op backward is wasteful. They change no
 * result (the per-op rules give the same gradients, see test/autodiff/fused.test.ts), only how many
 * full-size elementwise ops the gradient graph runs.
 *
 * smooth-zero (training form of src/harden/activations.ts):
 *   d = Sub(T, x); u = Mul(d, k); s = Sigmoid(u); z = Mul(x, s); y = Relu(z)
 * Per-op rules emit 12 full-size ops (Relu mask, both Mul gradients, the Sigmoid derivative, the
 * scale by k, Neg, and a Sum of the two paths into x). With y = x s wherever y > 0:
 *   dT = k * sum(dy * y * (1 - s))                       (no mask: y is already 0 where clamped)
 *   dx = Where(y > 0, dy * s, 0) - k * dy * y * (1 - s)
 * which is 4 full-size ops when only T needs a gradient (threshold training) and 9 with x too.
 */
import type { Graph, Node } from '../graph/index.js';
import type { Rule } from './rules.js';

export interface Fusion {
  /** The last node of the pattern: the backward pass applies the fused rule when it reaches it. */
  head: Node;
  /** A stand-in node for the rule: the pattern's external inputs and the head's outputs. */
  node: Node;
  rule: Rule;
}

const smoothZeroRule = (k: number, s: string): Rule => (c, dy) => {
  const y = c.node.outputs[0]!;
  const e = c.e;
  const t = c.node.inputs[1]!;
  // b = dy * y * (1 - s) = dy * x * s * (1 - s) where y > 0, and 0 where the Relu clamps.
  const b = e.op('Mul', [e.op('Mul', [dy, y]), e.op('Sub', [e.scalar(1), s])]);
  return [
    c.needs(0)
      ? e.op('Sub', [e.where(e.op('Greater', [y, e.scalar(0)]), e.op('Mul', [dy, s]), e.scalar(0)), e.op('Mul', [b, e.scalar(k)])])
      : undefined,
    c.needs(1) ? e.op('Mul', [e.unbroadcast(b, c.dims(y), t), e.scalar(k)]) : undefined,
  ];
};

/** Finds the smooth-zero patterns whose intermediate values feed nothing else. */
export function findFusions(g: Graph, constants: (name: string) => number | undefined): Map<Node, Fusion> {
  const producers = g.producers();
  const consumers = g.consumers();
  const only = (value: string, n: Node) => (consumers.get(value) ?? []).length === 1 && consumers.get(value)![0] === n && !g.outputs.some((o) => o.name === value);
  const fusions = new Map<Node, Fusion>();
  for (const relu of g.nodes) {
    if (relu.op !== 'Relu') continue;
    const mul = producers.get(relu.inputs[0]!);
    if (mul?.op !== 'Mul' || !only(mul.outputs[0]!, relu)) continue;
    const [x, s] = mul.inputs as [string, string];
    const sigmoid = producers.get(s);
    if (sigmoid?.op !== 'Sigmoid' || !only(s, mul)) continue;
    const scale = producers.get(sigmoid.inputs[0]!);
    if (scale?.op !== 'Mul' || !only(scale.outputs[0]!, sigmoid)) continue;
    const k = constants(scale.inputs[1]!);
    const sub = producers.get(scale.inputs[0]!);
    if (k === undefined || sub?.op !== 'Sub' || !only(sub.outputs[0]!, scale) || sub.inputs[1] !== x) continue;
    const node: Node = { name: relu.name, op: 'SmoothZero', inputs: [x, sub.inputs[0]!], outputs: [...relu.outputs], attrs: {} };
    fusions.set(relu, { head: relu, node, rule: smoothZeroRule(k, s) });
  }
  return fusions;
}
