/** `proact harden --method fitact|proact`: the CLI wiring of the threshold-training methods, on the tiny MNIST CNN. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { thresholdsFromJSON } from '../../src/harden/index.js';
import { assertDecisionsFollowRule } from '../helpers/decisions.js';
import { expectUserError, runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import type { HardenCliResult } from '../../src/cli/harden.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-harden-cli-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'), 6);
const small = ['--profile-images', '400', '--validation', '200', '--seed', '9'];

test('harden fitact and proact: wired with their budgets, smooth-zero thresholds recorded with k and guard', () => {
  const budget = ['--train-images', '64', '--warmup-epochs', '0', '--batch', '32'];
  const fit = runCli(['harden', '--method', 'fitact', '--model', model, '--data', 'mnist', '--out', join(dir, 'fit.onnx'), ...small, ...budget, '--epochs', '1', '--json']);
  assert.equal(fit.code, 0, fit.stderr);
  const fitSet = thresholdsFromJSON(readFileSync(join(dir, 'fit.thresholds.json'), 'utf8'));
  assert.equal(fitSet.method, 'fitact');
  assert.deepEqual(fitSet.thresholds.map((t) => [t.kind, t.granularity]), [['smooth-zero', 'neuron'], ['smooth-zero', 'neuron']]);
  assert.equal(fitSet.k, 20);
  assert.equal(fitSet.guard, true);

  const pro = runCli([
    'harden', '--method', 'proact', '--model', model, '--data', 'mnist', '--out', join(dir, 'pro.onnx'), ...small, ...budget,
    '--weight-decays', '4e-1,4e-3', '--scalar-epochs', '1', '--vector-epochs', '1', '--tolerance', '1', '--json',
  ]);
  assert.equal(pro.code, 0, pro.stderr);
  const proSet = thresholdsFromJSON(readFileSync(join(dir, 'pro.thresholds.json'), 'utf8'));
  assert.deepEqual(proSet.thresholds.map((t) => [t.kind, t.granularity]), [['smooth-zero', 'layer'], ['smooth-zero', 'neuron']], 'HyReLU');
  // Every decision follows the rule at the 1-point tolerance given (not a tolerance that accepts anything).
  assertDecisionsFollowRule(join(dir, 'pro.onnx'), pro.stderr, { tolerance: 0.01, weightDecays: [0.4, 0.004], layers: 2 });
  assert.equal((JSON.parse(pro.stdout) as HardenCliResult).thresholdValues, 1 + 16);
});

test('harden proact --flat-warmup --no-early-rollback: both reach the trials; other methods refuse them', () => {
  const out = join(dir, 'flat.onnx');
  const r = runCli([
    'harden', '--method', 'proact', '--model', model, '--data', 'mnist', '--out', out, ...small,
    '--train-images', '64', '--batch', '32', '--weight-decays', '4e-1,0', '--scalar-epochs', '1', '--vector-epochs', '1',
    '--warmup-epochs', '1', '--flat-warmup', '--no-early-rollback', '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const decisions = (JSON.parse(readFileSync(join(dir, 'flat.decisions.json'), 'utf8')) as { decisions: { setting: Record<string, number> }[] }).decisions;
  assert.ok(decisions.length >= 2);
  for (const d of decisions) {
    assert.equal(d.setting['warmupFactor'], 1);
    assert.equal(d.setting['epochsRun'], 2, 'no early rollback: every trial runs its warm-up epoch and its epoch');
  }
  expectUserError(runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', join(dir, 'r.onnx'), '--flat-warmup']), /--flat-warmup: only fitact and proact/);
  expectUserError(runCli(['harden', '--method', 'fitact', '--model', model, '--data', 'mnist', '--out', join(dir, 'r.onnx'), '--no-early-rollback']), /--no-early-rollback: only proact rolls trials back/);
});
