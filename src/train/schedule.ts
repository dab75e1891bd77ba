/**
 * Learning-rate schedules, as a factor of each parameter group's base rate per optimiser step
 * (0-based: step 0 is the first update). A schedule may also set the momentum (SGD) or beta1 (Adam)
 * per step, as torch's OneCycleLR does.
 */
import { ProactError } from '../util/errors.js';
import type { StepSettings } from './optim.js';

export type ScheduleKind = 'constant' | 'cosine' | 'onecycle';

export interface Schedule {
  readonly kind: ScheduleKind;
  /** Human-readable summary, stored in training records. */
  readonly description: string;
  /** The learning-rate factor and momentum for optimiser step `step` (0-based). */
  at(step: number): StepSettings;
}

/** The base learning rate at every step. */
export function constantSchedule(): Schedule {
  return { kind: 'constant', description: 'constant', at: () => ({ lrFactor: 1 }) };
}

export interface WarmupCosineOptions {
  /** Total optimiser steps of the run. */
  totalSteps: number;
  /** Steps of warm-up before the cosine decay starts (default 0). */
  warmupSteps?: number;
  /** Learning-rate factor held constant during warm-up (default 0.1). */
  warmupFactor?: number;
  /** Factor reached at the last step (default 0), like CosineAnnealingLR's eta_min / base lr. */
  minFactor?: number;
}

/**
 * A constant warm-up, then cosine decay: factor = warmupFactor for step < W; afterwards, with
 * t = step - W and T = totalSteps - W, factor = min + (1 - min) * (1 + cos(pi * t / T)) / 2, which is
 * torch's CosineAnnealingLR(T_max = T) started after the warm-up (t = 0 gives 1; t = T would give min).
 */
export function warmupCosineSchedule(o: WarmupCosineOptions): Schedule {
  const warmup = o.warmupSteps ?? 0;
  const warmupFactor = o.warmupFactor ?? 0.1;
  const min = o.minFactor ?? 0;
  checkSteps(o.totalSteps, 'total steps');
  if (!Number.isInteger(warmup) || warmup < 0 || warmup >= o.totalSteps)
    throw new ProactError(`schedule: ${warmup} warm-up steps is invalid: expected an integer in [0, ${o.totalSteps - 1}] (fewer than the ${o.totalSteps} total steps)`);
  checkFactor('warm-up factor', warmupFactor);
  checkFactor('minimum factor', min);
  const span = o.totalSteps - warmup;
  return {
    kind: 'cosine',
    description: `${warmup ? `constant warm-up x${warmupFactor} for ${warmup} steps, then ` : ''}cosine decay to x${min} over ${span} steps`,
    at(step) {
      if (step < warmup) return { lrFactor: warmupFactor };
      const t = Math.min(step - warmup, span);
      return { lrFactor: min + ((1 - min) * (1 + Math.cos((Math.PI * t) / span))) / 2 };
    },
  };
}

export interface OneCycleOptions {
  totalSteps: number;
  /** Fraction of steps spent increasing the rate (default 0.3). */
  pctStart?: number;
  /** Initial rate = max / divFactor (default 25). */
  divFactor?: number;
  /** Final rate = initial / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** Cycle momentum inversely to the rate (default true). */
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

/**
 * torch.optim.lr_scheduler.OneCycleLR with anneal_strategy='cos', three_phase=False. The group's rate
 * is max_lr (factor 1). Phase 1 runs from step 0 to E1 = pctStart * totalSteps - 1, annealing from
 * 1/div to 1; phase 2 from E1 to totalSteps - 1, annealing from 1 to 1/(div * finalDiv). Within a
 * phase from step a to b, pct = (step - a) / (b - a) and cos-anneal(start, end) = end + (start - end)
 * * (1 + cos(pi * pct)) / 2. Momentum anneals max -> base in phase 1 and base -> max in phase 2.
 */
export function oneCycleSchedule(o: OneCycleOptions): Schedule {
  checkSteps(o.totalSteps, 'total steps');
  const pctStart = o.pctStart ?? 0.3;
  const div = o.divFactor ?? 25;
  const finalDiv = o.finalDivFactor ?? 1e4;
  const cycle = o.cycleMomentum ?? true;
  const baseM = o.baseMomentum ?? 0.85;
  const maxM = o.maxMomentum ?? 0.95;
  if (!(pctStart > 0 && pctStart < 1)) throw new ProactError(`one-cycle schedule: pctStart ${pctStart} must lie in (0, 1)`);
  if (!(div > 0) || !(finalDiv > 0)) throw new ProactError('one-cycle schedule: divFactor and finalDivFactor must be positive');
  const initial = 1 / div;
  const min = initial / finalDiv;
  const end1 = pctStart * o.totalSteps - 1;
  const end2 = o.totalSteps - 1;
  if (!(end1 > 0) || !(end2 > end1))
    throw new ProactError(`one-cycle schedule: ${o.totalSteps} steps with pctStart ${pctStart} leave an empty phase; train for more steps`);
  const anneal = (start: number, end: number, pct: number): number => end + ((start - end) * (Math.cos(Math.PI * pct) + 1)) / 2;
  return {
    kind: 'onecycle',
    description: `one-cycle (cos) over ${o.totalSteps} steps, peak at step ${end1}, x${initial} -> x1 -> x${min}`,
    at(step) {
      if (!Number.isInteger(step) || step < 0 || step > o.totalSteps)
        throw new ProactError(`one-cycle schedule: step ${step} is beyond the ${o.totalSteps} total steps it was built for`);
      const phase1 = step <= end1;
      const pct = phase1 ? step / end1 : (step - end1) / (end2 - end1);
      const lrFactor = phase1 ? anneal(initial, 1, pct) : anneal(1, min, pct);
      if (!cycle) return { lrFactor };
      return { lrFactor, momentum: phase1 ? anneal(maxM, baseM, pct) : anneal(baseM, maxM, pct) };
    },
  };
}

export interface ScheduleSpec {
  kind: ScheduleKind;
  /** Warm-up steps for 'cosine'. */
  warmupSteps?: number;
  warmupFactor?: number;
  minFactor?: number;
  pctStart?: number;
  cycleMomentum?: boolean;
}

/** Builds a schedule of `spec.kind` for a run of `totalSteps`. */
export function makeSchedule(spec: ScheduleSpec, totalSteps: number): Schedule {
  switch (spec.kind) {
    case 'constant':
      return constantSchedule();
    case 'cosine':
      return warmupCosineSchedule({
        totalSteps,
        ...(spec.warmupSteps !== undefined ? { warmupSteps: spec.warmupSteps } : {}),
        ...(spec.warmupFactor !== undefined ? { warmupFactor: spec.warmupFactor } : {}),
        ...(spec.minFactor !== undefined ? { minFactor: spec.minFactor } : {}),
      });
    case 'onecycle':
      return oneCycleSchedule({
        totalSteps,
        ...(spec.pctStart !== undefined ? { pctStart: spec.pctStart } : {}),
        ...(spec.cycleMomentum !== undefined ? { cycleMomentum: spec.cycleMomentum } : {}),
      });
    default:
      throw new ProactError(`schedule '${String((spec as { kind: unknown }).kind)}' is unknown: use constant, cosine or onecycle`);
  }
}

function checkSteps(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw new ProactError(`schedule: ${what} ${n} is invalid: expected a positive integer`);
}

function checkFactor(what: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new ProactError(`schedule: ${what} ${v} is invalid: expected a number >= 0`);
}
