/**
 * Optimisers against the update formulas of torch.optim, written out here for a 3-element tensor:
 * step-1 values worked by hand, and steps 2-3 from a plain reference implementation of the formulas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Optimizer, type OptimizerOptions } from '../../src/train/index.js';
import { ProactError } from '../../src/util/errors.js';

const P0 = [1, -2, 0.5];
const GRADS = [
  [0.1, -0.2, 0.3],
  [-0.4, 0.5, 0.05],
  [0.2, 0.2, -0.1],
];

function close(actual: ArrayLike<number>, expected: number[], rel = 1e-6, what = ''): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = rel * Math.max(1, Math.abs(expected[i]!));
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`);
  }
}

/** Runs `steps` updates of parameter `p` with the optimiser; returns the values after each step. */
function run(opts: OptimizerOptions, steps = 3): number[][] {
  const opt = new Optimizer(opts);
  const p = Float32Array.from(P0);
  const params = new Map([['p', p]]);
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    opt.step(params, new Map([['p', Float32Array.from(GRADS[s]!)]]));
    out.push(Array.from(p));
  }
  return out;
}

// torch.optim.SGD, per element: d = g + wd p; buf = d (first step) or mu buf + (1 - dampening) d;
// d = nesterov ? d + mu buf : buf; p = p - lr d.
function sgdReference(lr: number, mu: number, wd: number, nesterov: boolean, dampening = 0): number[][] {
  const p = [...P0];
  const buf = [0, 0, 0];
  const out: number[][] = [];
  GRADS.forEach((g, step) => {
    for (let i = 0; i < 3; i++) {
      let d = g[i]! + wd * p[i]!;
      if (mu !== 0) {
        buf[i] = step === 0 ? d : mu * buf[i]! + (1 - dampening) * d;
        d = nesterov ? d + mu * buf[i]! : buf[i]!;
      }
      p[i] = p[i]! - lr * d;
    }
    out.push([...p]);
  });
  return out;
}

// torch.optim.Adam / AdamW, per element, t = 1, 2, ...: AdamW: p = p (1 - lr wd); Adam: g = g + wd p;
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
function adamReference(lr: number, wd: number, decoupled: boolean, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[][] {
  const p = [...P0];
  const m = [0, 0, 0];
  const v = [0, 0, 0];
  const out: number[][] = [];
  GRADS.forEach((g, step) => {
    const t = step + 1;
    for (let i = 0; i < 3; i++) {
      if (decoupled) p[i] = p[i]! * (1 - lr * wd);
      const gi = g[i]! + (decoupled ? 0 : wd * p[i]!);
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      p[i] = p[i]! - (lr / (1 - b1 ** t)) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + eps));
    }
    out.push([...p]);
  });
  return out;
}

test('plain SGD: p - lr * g, step by step', () => {
  const out = run({ kind: 'sgd', lr: 0.1 });
  close(out[0]!, [0.99, -1.98, 0.47]);
  close(out[1]!, [1.03, -2.03, 0.465]);
  close(out[2]!, [1.01, -2.05, 0.475]);
});

test('SGD with momentum and weight decay matches the torch formulas', () => {
  const out = run({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
  // Step 1 by hand: d = g + 0.01 p = [0.11, -0.22, 0.305]; buf = d; p -= 0.1 d.
  close(out[0]!, [0.989, -1.978, 0.4695]);
  const ref = sgdReference(0.1, 0.9, 0.01, false);
  out.forEach((p, k) => close(p, ref[k]!, 1e-6, `step ${k + 1}`));
});

test('SGD with Nesterov momentum matches the torch formulas', () => {
  const out = run({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true });
  // Step 1 by hand: d = [0.11, -0.22, 0.305]; buf = d; d + 0.9 buf = 1.9 d; p -= 0.1 * 1.9 d.
  close(out[0]!, [0.9791, -1.9582, 0.44205]);
  const ref = sgdReference(0.1, 0.9, 0.01, true);
  out.forEach((p, k) => close(p, ref[k]!, 1e-6, `step ${k + 1}`));
  // Nesterov differs from heavy-ball momentum from the first step on.
  assert.notEqual(out[0]![0], run({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 })[0]![0]);
});

test('SGD dampening applies from the second step (the first buffer is the raw gradient)', () => {
  const out = run({ kind: 'sgd', lr: 0.1, momentum: 0.9, dampening: 0.5 });
  close(out[0]!, [0.99, -1.98, 0.47]);
  const ref = sgdReference(0.1, 0.9, 0, false, 0.5);
  out.forEach((p, k) => close(p, ref[k]!, 1e-6, `step ${k + 1}`));
});

test('Adam bias correction: the first step moves each weight by lr * sign(g)', () => {
  const out = run({ kind: 'adam', lr: 0.01 });
  // m_hat = g and v_hat = g^2 at t = 1, so the step is lr * g / (|g| + eps).
  close(out[0]!, [0.99, -1.99, 0.49], 1e-7);
  const ref = adamReference(0.01, 0, false);
  out.forEach((p, k) => close(p, ref[k]!, 1e-6, `step ${k + 1}`));
  // Step 2 by hand for element 0: m = 0.9*0.01 + 0.1*(-0.4) = -0.031, v = 0.999*1e-5 + 0.001*0.16 = 1.6999e-4,
  // m_hat = -0.031/0.19, v_hat = 1.6999e-4/0.001999, p = 0.99 - 0.01 * m_hat / sqrt(v_hat).
  const mHat = -0.031 / 0.19;
  const vHat = 1.6999e-4 / (1 - 0.999 ** 2);
  close([out[1]![0]!], [0.99 - (0.01 * mHat) / (Math.sqrt(vHat) + 1e-8)], 1e-6);
});

test('Adam weight decay is an L2 term in the gradient (torch.optim.Adam)', () => {
  const out = run({ kind: 'adam', lr: 0.01, weightDecay: 0.1 });
  // g + 0.1 p = [0.2, -0.4, 0.35]: same signs, so step 1 is again lr * sign.
  close(out[0]!, [0.99, -1.99, 0.49], 1e-7);
  const ref = adamReference(0.01, 0.1, false);
  out.forEach((p, k) => close(p, ref[k]!, 1e-6, `step ${k + 1}`));
});

test('AdamW decays the weights decoupled from the gradient (torch.optim.AdamW)', () => {
  const out = run({ kind: 'adamw', lr: 0.01, weightDecay: 0.1 });
  // p (1 - 0.01 * 0.1) - 0.01 sign(g)
  close(out[0]!, [0.989, -1.988, 0.4895], 1e-7);
  const ref = adamReference(0.01, 0.1, true);
  out.forEach((p, k) => close(p, ref[k]!, 1e-6, `step ${k + 1}`));
  // torch's AdamW default weight decay is 0.01.
  assert.equal(new Optimizer({ kind: 'adamw', lr: 1e-3 }).options.weightDecay, 0.01);
});

test('parameter groups set their own learning rate and weight decay; the schedule scales every group', () => {
  const opt = new Optimizer({ kind: 'sgd', lr: 0.01, groups: [{ params: ['a'], lr: 0.1, weightDecay: 1 }] });
  const a = Float32Array.from([1, 2, 3]);
  const b = Float32Array.from([1, 2, 3]);
  const g = Float32Array.from([1, 1, 1]);
  opt.step(new Map([['a', a], ['b', b]]), new Map([['a', g], ['b', g]]), { lrFactor: 0.5 });
  close(a, [1 - 0.05 * 2, 2 - 0.05 * 3, 3 - 0.05 * 4]);
  close(b, [1 - 0.005, 2 - 0.005, 3 - 0.005]);
  assert.equal(opt.learningRate('a', 0.5), 0.05);
  assert.equal(opt.learningRate('b'), 0.01);
});

test('a momentum set by the schedule replaces beta1 for that step', () => {
  const opt = new Optimizer({ kind: 'adam', lr: 0.01 });
  const p = Float32Array.from(P0);
  opt.step(new Map([['p', p]]), new Map([['p', Float32Array.from(GRADS[0]!)]]), { momentum: 0.5 });
  close(p, [0.99, -1.99, 0.49], 1e-7); // bias correction with beta1 = 0.5 still gives lr * sign at t = 1
  opt.step(new Map([['p', p]]), new Map([['p', Float32Array.from(GRADS[1]!)]]), { momentum: 0.5 });
  const m = 0.5 * 0.5 * 0.1 + 0.5 * -0.4;
  const v = 0.999 * 0.001 * 0.01 + 0.001 * 0.16;
  close([p[0]!], [0.99 - ((0.01 / (1 - 0.25)) * m) / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8)], 1e-6);
});

test('state() and loadState() continue a run bit for bit', () => {
  for (const kind of ['sgd', 'adam', 'adamw'] as const) {
    const opts: OptimizerOptions = { kind, lr: 0.05, momentum: 0.9, weightDecay: 0.01, ...(kind === 'sgd' ? { nesterov: true } : {}) };
    const straight = run(opts)[2]!;
    const first = new Optimizer(opts);
    const p = Float32Array.from(P0);
    first.step(new Map([['p', p]]), new Map([['p', Float32Array.from(GRADS[0]!)]]));
    const saved = first.state();
    first.step(new Map([['p', Float32Array.from(p)]]), new Map([['p', Float32Array.from(GRADS[2]!)]])); // must not leak into `saved`
    const second = new Optimizer(opts);
    second.loadState(saved);
    assert.equal(second.steps, 1);
    for (const g of GRADS.slice(1)) second.step(new Map([['p', p]]), new Map([['p', Float32Array.from(g)]]));
    assert.deepEqual(Array.from(p), straight, kind);
  }
});

test('bad hyper-parameters and mismatched inputs are user errors', () => {
  assert.throws(() => new Optimizer({ kind: 'sgd', lr: -1 }), /learning rate -1 is invalid/);
  assert.throws(() => new Optimizer({ kind: 'adam', lr: 0.1, momentum: 1 }), /beta1 1 is invalid/);
  assert.throws(() => new Optimizer({ kind: 'sgd', lr: 0.1, nesterov: true }), /Nesterov momentum needs momentum > 0/);
  assert.throws(() => new Optimizer({ kind: 'rmsprop' as 'sgd', lr: 0.1 }), /optimizer 'rmsprop' is unknown/);
  assert.throws(() => new Optimizer({ kind: 'sgd', lr: 0.1, groups: [{ params: ['a'] }, { params: ['a'] }] }), /listed in two optimizer groups/);
  const opt = new Optimizer({ kind: 'sgd', lr: 0.1 });
  const p = new Map([['w', new Float32Array(3)]]);
  assert.throws(() => opt.step(p, new Map()), (e: unknown) => e instanceof ProactError && /no gradient for parameter 'w'/.test(e.message));
  assert.throws(() => opt.step(p, new Map([['w', new Float32Array(2)]])), /has 2 values, the parameter 3/);
  assert.throws(() => new Optimizer({ kind: 'adam', lr: 0.1 }).loadState(opt.state()), /holds sgd optimizer state but the run uses adam/);
});
