/**
 * Optimisers over named Float32Array parameters, with the update rules of torch.optim (SGD, Adam,
 * AdamW) so that hyper-parameters carry over from PyTorch recipes unchanged. Arithmetic is float64
 * on float32-stored values; parameters and state are rounded to float32 after each step, as PyTorch
 * stores them, so results agree with PyTorch to float32 rounding.
 *
 * Per-parameter groups (like torch param_groups) override the learning rate, weight decay and
 * momentum of the parameters they name; every other parameter uses the defaults. A schedule scales
 * every group's learning rate by one factor per step and may set the momentum (SGD) or beta1 (Adam).
 */
import { ProactError } from '../util/errors.js';

export type OptimizerKind = 'sgd' | 'adam' | 'adamw';

export interface ParamGroup {
  /** Names of the parameters in this group. */
  params: string[];
  lr?: number;
  weightDecay?: number;
  /** SGD momentum, or Adam/AdamW beta1. */
  momentum?: number;
}

export interface OptimizerOptions {
  kind: OptimizerKind;
  /** Learning rate (the peak rate under a one-cycle schedule). */
  lr: number;
  /**
   * Weight decay: for SGD and Adam an L2 term wd * p added to the gradient (torch `weight_decay`); for
   * AdamW the decoupled decay p *= 1 - lr * wd (torch.optim.AdamW). Default 0, AdamW 0.01 as torch.
   */
  weightDecay?: number;
  /** SGD momentum (default 0) or Adam beta1 (default 0.9). */
  momentum?: number;
  /** SGD dampening (default 0). */
  dampening?: number;
  /** SGD Nesterov momentum (default false; needs momentum > 0 and dampening 0, as torch). */
  nesterov?: boolean;
  /** Adam beta2 (default 0.999). */
  beta2?: number;
  /** Adam epsilon (default 1e-8). */
  eps?: number;
  groups?: ParamGroup[];
}

/** Per-step settings from a schedule. */
export interface StepSettings {
  /** Multiplies every group's learning rate (default 1). */
  lrFactor?: number;
  /** Replaces every group's momentum / beta1 for this step (one-cycle momentum cycling). */
  momentum?: number;
}

/** Everything needed to continue optimising exactly where a run stopped. */
export interface OptimizerState {
  kind: OptimizerKind;
  /** Number of steps taken. */
  step: number;
  /** Buffers by `<slot>:<parameter>`: `momentum:` for SGD, `exp_avg:` and `exp_avg_sq:` for Adam/AdamW. */
  buffers: Map<string, Float32Array>;
}

interface ResolvedGroup {
  lr: number;
  weightDecay: number;
  momentum: number;
}

const KINDS: readonly OptimizerKind[] = ['sgd', 'adam', 'adamw'];

export class Optimizer {
  readonly options: Readonly<Required<Omit<OptimizerOptions, 'groups'>>> & { readonly groups: readonly ParamGroup[] };
  private stepCount = 0;
  private readonly buffers = new Map<string, Float32Array>();
  private readonly groupOf = new Map<string, ResolvedGroup>();
  private readonly defaults: ResolvedGroup;

  constructor(options: OptimizerOptions) {
    const kind = options.kind;
    if (!KINDS.includes(kind)) throw new ProactError(`optimizer '${String(kind)}' is unknown: use sgd, adam or adamw`);
    const o = {
      kind,
      lr: options.lr,
      weightDecay: options.weightDecay ?? (kind === 'adamw' ? 0.01 : 0),
      momentum: options.momentum ?? (kind === 'sgd' ? 0 : 0.9),
      dampening: options.dampening ?? 0,
      nesterov: options.nesterov ?? false,
      beta2: options.beta2 ?? 0.999,
      eps: options.eps ?? 1e-8,
      groups: options.groups ?? [],
    };
    checkHyper('learning rate', o.lr, 0, Infinity);
    checkHyper('weight decay', o.weightDecay, 0, Infinity);
    checkHyper(kind === 'sgd' ? 'momentum' : 'beta1', o.momentum, 0, kind === 'sgd' ? Infinity : 1, kind !== 'sgd');
    checkHyper('beta2', o.beta2, 0, 1, true);
    checkHyper('epsilon', o.eps, 0, Infinity);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0))
      throw new ProactError('Nesterov momentum needs momentum > 0 and dampening 0 (as torch.optim.SGD): set --momentum, e.g. 0.9');
    this.options = o;
    this.defaults = { lr: o.lr, weightDecay: o.weightDecay, momentum: o.momentum };
    for (const g of o.groups) {
      const resolved: ResolvedGroup = { lr: g.lr ?? o.lr, weightDecay: g.weightDecay ?? o.weightDecay, momentum: g.momentum ?? o.momentum };
      checkHyper('group learning rate', resolved.lr, 0, Infinity);
      checkHyper('group weight decay', resolved.weightDecay, 0, Infinity);
      for (const name of g.params) {
        if (this.groupOf.has(name)) throw new ProactError(`parameter '${name}' is listed in two optimizer groups: list each parameter once`);
        this.groupOf.set(name, resolved);
      }
    }
  }

  get kind(): OptimizerKind {
    return this.options.kind;
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** The learning rate a parameter gets at a given schedule factor. */
  learningRate(name: string, lrFactor = 1): number {
    return (this.groupOf.get(name) ?? this.defaults).lr * lrFactor;
  }

  /** One update of every parameter in `params` from its gradient in `grads` (same names, same sizes). */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, settings: StepSettings = {}): void {
    const lrFactor = settings.lrFactor ?? 1;
    this.stepCount++;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new ProactError(`optimizer: no gradient for parameter '${name}'; the gradient graph must output grad:${name}`);
      if (g.length !== p.length) throw new ProactError(`optimizer: gradient of '${name}' has ${g.length} values, the parameter ${p.length}`);
      const group = this.groupOf.get(name) ?? this.defaults;
      const lr = group.lr * lrFactor;
      const momentum = settings.momentum ?? group.momentum;
      if (this.options.kind === 'sgd') this.sgd(name, p, g, lr, group.weightDecay, momentum);
      else this.adam(name, p, g, lr, group.weightDecay, momentum);
    }
  }

  /**
   * torch.optim.SGD: g += wd * p; buf = g on the first step, else buf = mu * buf + (1 - dampening) * g;
   * g = nesterov ? g + mu * buf : buf; p -= lr * g.
   */
  private sgd(name: string, p: Float32Array, g: Float32Array, lr: number, wd: number, mu: number): void {
    const { dampening, nesterov } = this.options;
    let buf: Float32Array | undefined;
    let first = false;
    if (mu !== 0) {
      buf = this.buffers.get(`momentum:${name}`);
      if (!buf) {
        buf = new Float32Array(p.length);
        this.buffers.set(`momentum:${name}`, buf);
        first = true;
      }
    }
    for (let i = 0; i < p.length; i++) {
      let d = g[i]! + wd * p[i]!;
      if (buf) {
        const b = (buf[i] = first ? d : mu * buf[i]! + (1 - dampening) * d);
        d = nesterov ? d + mu * b : b;
      }
      p[i] = p[i]! - lr * d;
    }
  }

  /**
   * torch.optim.Adam / AdamW with step t (1-based):
   * AdamW first decays p *= 1 - lr * wd; Adam instead adds wd * p to the gradient. Then
   * m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g^2;
   * p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
   */
  private adam(name: string, p: Float32Array, g: Float32Array, lr: number, wd: number, beta1: number): void {
    const { beta2, eps, kind } = this.options;
    const m = this.buffer(`exp_avg:${name}`, p.length);
    const v = this.buffer(`exp_avg_sq:${name}`, p.length);
    const t = this.stepCount;
    const stepSize = lr / (1 - beta1 ** t);
    const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
    const decay = kind === 'adamw' ? 1 - lr * wd : 1;
    const l2 = kind === 'adam' ? wd : 0;
    for (let i = 0; i < p.length; i++) {
      const pi = kind === 'adamw' ? Math.fround(p[i]! * decay) : p[i]!;
      const gi = g[i]! + l2 * pi;
      const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * gi);
      const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi);
      p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
  }

  private buffer(key: string, n: number): Float32Array {
    let b = this.buffers.get(key);
    if (!b) {
      b = new Float32Array(n);
      this.buffers.set(key, b);
    }
    return b;
  }

  /** A copy of the optimiser's state (for checkpoints). */
  state(): OptimizerState {
    return { kind: this.options.kind, step: this.stepCount, buffers: new Map([...this.buffers].map(([k, b]) => [k, b.slice()])) };
  }

  /** Restores a state saved by {@link Optimizer.state}. */
  loadState(s: OptimizerState): void {
    if (s.kind !== this.options.kind)
      throw new ProactError(`checkpoint holds ${s.kind} optimizer state but the run uses ${this.options.kind}: resume with --optimizer ${s.kind}`);
    if (!Number.isInteger(s.step) || s.step < 0) throw new ProactError(`checkpoint optimizer step ${s.step} is invalid (the checkpoint is corrupted)`);
    this.stepCount = s.step;
    this.buffers.clear();
    for (const [k, b] of s.buffers) this.buffers.set(k, b.slice());
  }
}

function checkHyper(what: string, v: number, min: number, max: number, openMax = false): void {
  if (!Number.isFinite(v) || v < min || (openMax ? v >= max : v > max))
    throw new ProactError(
      `optimizer ${what} ${v} is invalid: expected ${max === Infinity ? `a number >= ${min}` : `a number in [${min}, ${max}${openMax ? ')' : ']'}`}`,
    );
}
