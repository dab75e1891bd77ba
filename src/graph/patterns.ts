/**
 * Activation layers recognised by pattern in the IR. Exporters write the same activation in several
 * ways: ReLU6 is `Clip(x, 0, 6)`, SiLU is `x * Sigmoid(x)`, HardSwish is an op (opset 14) or
 * `x * HardSigmoid(x)` or `x * Clip(x + 3, 0, 6) / 6`, GELU is `0.5 x (1 + erf(x / sqrt 2))` or its
 * tanh approximation, in any order of the commutative Mul/Add operands. Every form is matched here so
 * that hardening, profiling and overhead work on "activation layers", whatever function they compute.
 *
 * How: products and sums are flattened (a chain of single-use Mul nodes, Div by a constant included, is
 * one multiset of factors), and a pattern is matched against the multiset with backtracking, so operand
 * order and association do not matter. The value the pattern's `x` binds to must be the same tensor
 * everywhere in the pattern, every intermediate value must feed only the pattern, and x must be a
 * *computed activation*: a value that depends on the graph's data input. The last rule keeps a Clip on
 * a weight (weight-range clipping writes `Clip(W, lo, hi)` before a Conv) from being mistaken for a
 * ReLU6: its input depends on initializers only.
 */
import { attrFloat, type Graph, type Node } from './ir.js';
import { numel, toNumbers, type Tensor } from './tensor.js';

/** The function an activation layer computes. */
export type ActivationFunction = 'relu' | 'relu6' | 'clipped-relu' | 'leaky-relu' | 'prelu' | 'silu' | 'hardswish' | 'gelu-erf' | 'gelu-tanh';
export const ACTIVATION_FUNCTIONS: readonly ActivationFunction[] = ['relu', 'relu6', 'clipped-relu', 'leaky-relu', 'prelu', 'silu', 'hardswish', 'gelu-erf', 'gelu-tanh'];

/**
 * Unbounded activations proact recognises but cannot clip (no clipped form is defined for them).
 * Bounded ones (Sigmoid, Tanh, HardSigmoid, Softsign, a Clip with both bounds) need no clipping: a
 * fault cannot push their output out of range, so they are neither layers nor errors.
 */
export const UNCLIPPABLE_ACTIVATION_OPS: readonly string[] = ['Elu', 'Selu', 'Celu', 'Softplus', 'ThresholdedRelu'];

/** A matched activation: the nodes it spans and its parameters. */
export interface ActivationMatch {
  fn: ActivationFunction;
  /** The pre-activation value. */
  input: string;
  /** The last node of the pattern (its output is the activation's output). */
  root: Node;
  /** Every node of the pattern, the root included. */
  nodes: Node[];
  /** leaky-relu: the negative slope. */
  alpha?: number;
  /** prelu: the initializer holding the slopes. */
  slope?: string;
  /** relu6/clipped-relu: the upper bound of the original Clip. */
  cap?: number;
}

type Pat =
  | { x: true }
  | { c: number }
  | { op: string; in: Pat[]; check?: (n: Node, c: Consts) => boolean }
  | { prod: Pat[] }
  | { sum: Pat[] }
  | { any: Pat[] };

interface State {
  x: string | undefined;
  nodes: Node[];
}

type Consts = (name: string) => number | undefined;

const X: Pat = { x: true };
const C = (c: number): Pat => ({ c });
const op = (name: string, ...ins: Pat[]): Pat => ({ op: name, in: ins });

const SQRT_HALF = Math.SQRT1_2;
const GELU_BETA = Math.sqrt(2 / Math.PI);
const GELU_KAPPA = 0.044715;

/** Bounds of a Clip node (opset < 11: attributes; later: optional constant inputs), or undefined if not constant. */
export function clipBounds(n: Node, consts: Consts): { min: number; max: number } | undefined {
  if (n.op !== 'Clip') return undefined;
  if (n.inputs.length <= 1 && (n.attrs['min'] || n.attrs['max'])) return { min: attrFloat(n, 'min', -Infinity), max: attrFloat(n, 'max', Infinity) };
  const bound = (k: number, dflt: number) => {
    const name = n.inputs[k];
    if (!name) return dflt;
    return consts(name);
  };
  const min = bound(1, -Infinity), max = bound(2, Infinity);
  return min === undefined || max === undefined ? undefined : { min, max };
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));

const PATTERNS: { fn: ActivationFunction; pat: Pat }[] = [
  // x * Sigmoid(x): SiLU / Swish, as PyTorch exports nn.SiLU.
  { fn: 'silu', pat: { prod: [X, op('Sigmoid', X)] } },
  // x * HardSigmoid(x; 1/6, 1/2) (PyTorch before opset 14) and x * Clip(x + 3, 0, 6) / 6 (hand-written).
  {
    fn: 'hardswish',
    pat: {
      prod: [X, { op: 'HardSigmoid', in: [X], check: (n) => near(attrFloat(n, 'alpha', 0.2), 1 / 6) && near(attrFloat(n, 'beta', 0.5), 0.5) }],
    },
  },
  {
    fn: 'hardswish',
    pat: {
      prod: [
        X,
        { op: 'Clip', in: [{ sum: [X, C(3)] }], check: (n, c) => { const b = clipBounds(n, c); return !!b && b.min === 0 && near(b.max, 6); } },
        C(1 / 6),
      ],
    },
  },
  // 0.5 x (1 + erf(x / sqrt 2)): PyTorch's nn.GELU() before opset 20.
  { fn: 'gelu-erf', pat: { prod: [C(0.5), X, { sum: [C(1), op('Erf', { prod: [X, C(SQRT_HALF)] })] }] } },
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): nn.GELU(approximate='tanh'); x^3 as Pow or x*x*x.
  {
    fn: 'gelu-tanh',
    pat: {
      prod: [
        C(0.5),
        X,
        {
          sum: [
            C(1),
            op('Tanh', {
              prod: [C(GELU_BETA), { sum: [X, { any: [{ prod: [C(GELU_KAPPA), X, X, X] }, { prod: [C(GELU_KAPPA), op('Pow', X, C(3))] }] }] }],
            }),
          ],
        },
      ],
    },
  },
];

/** Matcher over one graph: producers, consumers and constant scalars resolved once. */
class Matcher {
  private readonly producers: Map<string, Node>;
  private readonly consumers: Map<string, Node[]>;
  private readonly outputs: Set<string>;

  constructor(
    private readonly g: Graph,
    readonly consts: Consts,
  ) {
    this.producers = g.producers();
    this.consumers = g.consumers();
    this.outputs = new Set(g.outputs.map((o) => o.name));
  }

  /** A value that only `n` reads (and is no graph output): an intermediate the pattern may own. */
  private ownedBy(value: string, n: Node): boolean {
    const c = this.consumers.get(value) ?? [];
    return !this.outputs.has(value) && c.length === 1 && c[0] === n;
  }

  /** Factors of a product rooted at `value` (Div by a constant is a factor 1/c), with the nodes it spans. */
  private flatten(value: string, op: 'Mul' | 'Add', root: boolean, reader: Node | undefined, depth = 0): { terms: string[]; recip: number[]; nodes: Node[] } {
    const p = this.producers.get(value);
    // The patterns have at most 4 terms; a deeper chain cannot match, and is not walked (no deep recursion).
    const owned = (root || (reader !== undefined && this.ownedBy(value, reader))) && depth < 6;
    if (p && owned && p.op === op && p.inputs.length === 2) {
      const a = this.flatten(p.inputs[0]!, op, false, p, depth + 1);
      const b = this.flatten(p.inputs[1]!, op, false, p, depth + 1);
      return { terms: [...a.terms, ...b.terms], recip: [...a.recip, ...b.recip], nodes: [p, ...a.nodes, ...b.nodes] };
    }
    if (p && owned && op === 'Mul' && p.op === 'Div') {
      const d = this.consts(p.inputs[1]!);
      if (d !== undefined && d !== 0) {
        const a = this.flatten(p.inputs[0]!, op, false, p, depth + 1);
        return { terms: a.terms, recip: [...a.recip, 1 / d], nodes: [p, ...a.nodes] };
      }
    }
    return { terms: [value], recip: [], nodes: [] };
  }

  /** Matches `value` (read by `reader`, or the pattern's root when undefined) against `pat`. */
  match(value: string, pat: Pat, s: State, reader: Node | undefined): State[] {
    if ('x' in pat) {
      if (s.x === undefined) return this.consts(value) === undefined ? [{ ...s, x: value }] : [];
      return s.x === value ? [s] : [];
    }
    if ('c' in pat) {
      const v = this.consts(value);
      return v !== undefined && near(v, pat.c) ? [s] : [];
    }
    if ('any' in pat) return pat.any.flatMap((p) => this.match(value, p, s, reader));
    const owned = reader === undefined || this.ownedBy(value, reader);
    if (!owned) return [];
    if ('op' in pat) {
      const n = this.producers.get(value);
      if (!n || n.op !== pat.op || (pat.check && !pat.check(n, this.consts))) return [];
      // Extra inputs of the node (Clip bounds, Pow exponent) are checked by `check` or by a constant pattern.
      let states: State[] = [{ ...s, nodes: [...s.nodes, n] }];
      pat.in.forEach((p, k) => (states = states.flatMap((st) => this.match(n.inputs[k]!, p, st, n))));
      return states;
    }
    const kind = 'prod' in pat ? 'Mul' : 'Add';
    const want = 'prod' in pat ? pat.prod : pat.sum;
    const n = this.producers.get(value);
    if (!n || n.op !== kind && !(kind === 'Mul' && n.op === 'Div')) return [];
    const flat = this.flatten(value, kind, true, undefined);
    if (flat.terms.length + flat.recip.length !== want.length) return [];
    // Constant terms: reciprocals of divisors are constants too; the rest are values to match.
    const terms: { value?: string; constant?: number; reader: Node }[] = [];
    const readerOf = (t: string) => flat.nodes.find((m) => m.inputs.includes(t))!;
    for (const t of flat.terms) terms.push({ value: t, reader: readerOf(t) });
    for (const r of flat.recip) terms.push({ constant: r, reader: n });
    const base: State = { ...s, nodes: [...s.nodes, ...flat.nodes] };
    // Backtracking assignment of terms to sub-patterns (at most 4 terms in the patterns above).
    const assign = (k: number, used: boolean[], st: State): State[] => {
      if (k === want.length) return [st];
      const p = want[k]!;
      const out: State[] = [];
      terms.forEach((t, i) => {
        if (used[i]) return;
        let next: State[];
        if (t.constant !== undefined) next = 'c' in p && near(t.constant, p.c) ? [st] : [];
        else next = this.match(t.value!, p, st, t.reader);
        for (const st2 of next) {
          const u = [...used];
          u[i] = true;
          out.push(...assign(k + 1, u, st2));
        }
      });
      return out;
    };
    return assign(0, new Array<boolean>(terms.length).fill(false), base);
  }
}

/** Values that depend on a data input of the graph (computed activations), as opposed to weight paths. */
export function dataDependentValues(g: Graph): Set<string> {
  const dep = new Set(g.dataInputs().map((v) => v.name));
  for (const n of g.nodes) if (n.inputs.some((i) => i && dep.has(i))) for (const o of n.outputs) if (o) dep.add(o);
  return dep;
}

/** Scalar value of a constant (an initializer with one element, or all elements equal), else undefined. */
function constantScalar(g: Graph): Consts {
  return (name) => {
    const t: Tensor | undefined = g.initializers.get(name);
    if (!t || numel(t.dims) === 0 || t.dtype === 'bool') return undefined;
    if (numel(t.dims) > 64) return undefined;
    const v = toNumbers(t);
    return v.every((e) => e === v[0]) ? v[0] : undefined;
  };
}

/**
 * Every activation in `g`, in execution order (the order of the root nodes), each with its function.
 * Compound patterns are matched first, so the `Clip(x + 3, 0, 6)` inside a decomposed HardSwish is
 * part of that HardSwish, not a ReLU6 of its own.
 */
export function matchActivations(g: Graph): ActivationMatch[] {
  const consts = constantScalar(g);
  const computed = dataDependentValues(g);
  const m = new Matcher(g, consts);
  const compound = new Map<Node, ActivationMatch>();
  const inside = new Set<Node>();
  for (const n of g.nodes) {
    if (n.op !== 'Mul' && n.op !== 'Div') continue;
    if (inside.has(n)) continue;
    for (const { fn, pat } of PATTERNS) {
      const found = m.match(n.outputs[0]!, pat, { x: undefined, nodes: [] }, undefined).find((s) => s.x !== undefined && computed.has(s.x));
      if (!found) continue;
      const nodes = [...new Set(found.nodes)];
      compound.set(n, { fn, input: found.x!, root: n, nodes });
      for (const k of nodes) if (k !== n) inside.add(k);
      break;
    }
  }
  // A root found before a larger pattern swallowed it (not possible for the patterns above, which all
  // end in their outermost Mul) would be dropped here.
  for (const k of inside) compound.delete(k);
  const out: ActivationMatch[] = [];
  for (const n of g.nodes) {
    const c = compound.get(n);
    if (c) {
      out.push(c);
      continue;
    }
    if (inside.has(n)) continue;
    const x = n.inputs[0];
    // Only a computed activation tensor can be an activation layer: a Clip on a weight path is not one.
    if (!x || !computed.has(x)) continue;
    const single = (fn: ActivationFunction, extra: Partial<ActivationMatch> = {}): void => {
      out.push({ fn, input: x, root: n, nodes: [n], ...extra });
    };
    switch (n.op) {
      case 'Relu':
        single('relu');
        break;
      case 'LeakyRelu':
        single('leaky-relu', { alpha: attrFloat(n, 'alpha', 0.01) });
        break;
      case 'PRelu':
        if (n.inputs[1] && g.initializers.has(n.inputs[1])) single('prelu', { slope: n.inputs[1] });
        break;
      case 'HardSwish':
        single('hardswish');
        break;
      case 'Clip': {
        const b = clipBounds(n, consts);
        if (!b || b.min !== 0) break;
        if (b.max === Infinity) single('relu');
        else if (b.max > 0) single(b.max === 6 ? 'relu6' : 'clipped-relu', { cap: b.max });
        break;
      }
    }
  }
  return out;
}

/** Activations proact cannot clip (UNCLIPPABLE_ACTIVATION_OPS, PRelu with computed slopes) on computed tensors: node and op. */
export function unclippableActivations(g: Graph): { node: string; op: string }[] {
  const computed = dataDependentValues(g);
  // A PRelu whose slopes are computed (not stored) has no fixed function to rebuild in a clipped form.
  const unclippable = (n: Node) => UNCLIPPABLE_ACTIVATION_OPS.includes(n.op) || (n.op === 'PRelu' && !g.initializers.has(n.inputs[1] ?? ''));
  return g.nodes.filter((n) => unclippable(n) && computed.has(n.inputs[0] ?? '')).map((n) => ({ node: n.name, op: n.op }));
}

/** How a function is named to users ("ReLU6 (Clip 0..6)"). */
export function describeActivation(fn: ActivationFunction, cap?: number): string {
  switch (fn) {
    case 'relu':
      return 'ReLU';
    case 'relu6':
      return 'ReLU6';
    case 'clipped-relu':
      return `clipped ReLU (Clip 0..${cap ?? '?'})`;
    case 'leaky-relu':
      return 'LeakyReLU';
    case 'prelu':
      return 'PReLU';
    case 'silu':
      return 'SiLU';
    case 'hardswish':
      return 'HardSwish';
    case 'gelu-erf':
      return 'GELU (erf)';
    case 'gelu-tanh':
      return 'GELU (tanh)';
  }
}
