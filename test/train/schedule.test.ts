/** Learning-rate schedules against values worked by hand from their definitions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantSchedule, makeSchedule, oneCycleSchedule, warmupCosineSchedule } from '../../src/train/index.js';

const near = (a: number | undefined, b: number, tol = 1e-9): void => assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('constant schedule keeps the base rate', () => {
  const s = constantSchedule();
  for (const step of [0, 1, 1000]) assert.deepEqual(s.at(step), { lrFactor: 1 });
});

test('warm-up then cosine: constant warm-up factor, then (1 + cos(pi t / T)) / 2 from 1 down', () => {
  const s = warmupCosineSchedule({ totalSteps: 10, warmupSteps: 2, warmupFactor: 0.1 });
  near(s.at(0).lrFactor, 0.1);
  near(s.at(1).lrFactor, 0.1);
  near(s.at(2).lrFactor, 1); // t = 0
  near(s.at(4).lrFactor, 0.8535533906); // t = 2 of T = 8: (1 + cos(pi/4)) / 2 = (1 + 0.7071067812) / 2
  near(s.at(6).lrFactor, 0.5); // t = 4: cos(pi/2) = 0
  near(s.at(9).lrFactor, 0.0380602337); // t = 7: (1 + cos(7pi/8)) / 2 = (1 - 0.9238795325) / 2
  const floor = warmupCosineSchedule({ totalSteps: 10, minFactor: 0.2 });
  near(floor.at(0).lrFactor, 1);
  near(floor.at(5).lrFactor, 0.6); // 0.2 + 0.8 * 0.5
  near(floor.at(10).lrFactor, 0.2);
});

test('one-cycle follows torch OneCycleLR (cos): 1/25 -> 1 over 30% of the steps, then -> 1/25e4, momentum inverse', () => {
  const s = oneCycleSchedule({ totalSteps: 10 });
  // Phase 1 ends at step 0.3 * 10 - 1 = 2.
  near(s.at(0).lrFactor, 0.04);
  near(s.at(1).lrFactor, 0.52); // 1 + (0.04 - 1) / 2 * (cos(pi/2) + 1)
  near(s.at(2).lrFactor, 1);
  // Step 3: pct = 1/7 of phase 2 (steps 2..9): 4e-6 + (1 - 4e-6) / 2 * (cos(pi/7) + 1), cos(pi/7) = 0.9009688679.
  near(s.at(3).lrFactor, 4e-6 + ((1 - 4e-6) / 2) * 1.9009688679);
  near(s.at(9).lrFactor, 4e-6);
  near(s.at(0).momentum, 0.95);
  near(s.at(1).momentum, 0.9); // 0.85 + (0.95 - 0.85) / 2
  near(s.at(2).momentum, 0.85);
  near(s.at(9).momentum, 0.95);
  assert.equal(oneCycleSchedule({ totalSteps: 10, cycleMomentum: false }).at(1).momentum, undefined);
  assert.throws(() => s.at(11), /beyond the 10 total steps/);
});

test('makeSchedule builds each kind for a run length and rejects bad settings', () => {
  assert.equal(makeSchedule({ kind: 'constant' }, 5).kind, 'constant');
  near(makeSchedule({ kind: 'cosine', warmupSteps: 1, warmupFactor: 0.5 }, 5).at(0).lrFactor, 0.5);
  near(makeSchedule({ kind: 'onecycle' }, 100).at(29).lrFactor, 1);
  assert.throws(() => makeSchedule({ kind: 'step' as 'constant' }, 5), /schedule 'step' is unknown/);
  assert.throws(() => warmupCosineSchedule({ totalSteps: 5, warmupSteps: 5 }), /5 warm-up steps is invalid/);
  assert.throws(() => warmupCosineSchedule({ totalSteps: 0 }), /total steps 0 is invalid/);
  assert.throws(() => oneCycleSchedule({ totalSteps: 2 }), /leave an empty phase/);
});
