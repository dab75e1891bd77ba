/**
 * FitAct on the trained tiny CNN: neuron-wise thresholds trained all at once shrink the L2 term and
 * keep accuracy; an interrupted run resumed from its checkpoint ends where the uninterrupted run does;
 * bad options are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hardenFitAct, type FitActOptions } from '../../src/harden/fitact.js';
import { graphAccuracy } from '../../src/harden/accuracy.js';
import type { ThresholdProgress } from '../../src/harden/threshold-train.js';
import { ProactError } from '../../src/util/errors.js';
import { tinySetup } from './threshold-fixtures.js';

/** sum over layers of mean(T^2): the penalty FitAct minimises besides the cross-entropy. */
function l2Term(values: readonly Float32Array[]): number {
  return values.reduce((s, v) => s + v.reduce((a, x) => a + x * x, 0) / v.length, 0);
}

/** A budget that moves the thresholds visibly in a second: lr 1e-2 instead of the reference's 1e-3. */
const TINY: FitActOptions = { images: 1000, batchSize: 64, threads: 1, epochs: 3, lr: 1e-2, lambda: 1e-2 };

test('FitAct trains neuron-wise thresholds of every layer: the L2 term shrinks and accuracy stays', async () => {
  const { graph, data, profile } = await tinySetup();
  const progress: ThresholdProgress[] = [];
  const r = await hardenFitAct(graph, data, profile, { ...TINY, onProgress: (p) => progress.push(p) });
  const before = l2Term(profile.layers.map((l) => l.neuronMax));
  const after = l2Term(r.thresholds.map((t) => t.values));
  assert.ok(after < before * 0.985, `the L2 term should shrink by more than 1.5%: ${before} -> ${after}`);
  assert.deepEqual(r.thresholds.map((t) => t.granularity), ['neuron', 'neuron']);
  assert.deepEqual(r.thresholds.map((t) => t.dims), [[4, 14, 14], [16]]);
  for (const t of r.thresholds) assert.ok(t.values.every((v) => v >= 0 && Number.isFinite(v)));

  const original = await graphAccuracy(graph, data.validation);
  assert.ok(r.validationAccuracy >= original - 0.02, `accuracy ${r.validationAccuracy} fell more than 2 points below the unclipped ${original}`);
  assert.equal(r.decisions.length, 0);
  assert.equal(r.method, 'fitact');
  // Trained all at once: progress reports every layer together, 3 epochs of 16 steps.
  assert.ok(progress.every((p) => p.layer === 'all'));
  assert.equal(progress.length, 3 * 16);
  assert.equal(progress.at(-1)!.step, 48);
  assert.equal(r.imagesProcessed, 3 * 1000 + data.validation.count);
  const meta = JSON.parse(r.graph.metadata['proact.activations']!) as { kind: string; guard: boolean }[];
  assert.ok(meta.every((m) => m.kind === 'smooth-zero' && m.guard));
});

test('FitAct resumed from its end-of-epoch checkpoint ends with the thresholds of the uninterrupted run', async () => {
  const { graph, data, profile } = await tinySetup();
  const dir = mkdtempSync(join(tmpdir(), 'fitact-resume-'));
  try {
    const path = join(dir, 'fitact.ckpt.json');
    const full = await hardenFitAct(graph, data, profile, TINY);
    const controller = new AbortController();
    await assert.rejects(
      hardenFitAct(graph, data, profile, { ...TINY, checkpointPath: path, signal: controller.signal, onProgress: (p) => p.step === 20 && controller.abort() }),
      (e: unknown) => e instanceof ProactError && e.message.includes('interrupted') && e.message.includes(path),
    );
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { state: { epochsDone: number } };
    assert.equal(saved.state.epochsDone, 1, 'the checkpoint holds the first finished epoch');
    const steps: number[] = [];
    const resumed = await hardenFitAct(graph, data, profile, { ...TINY, checkpointPath: path, onProgress: (p) => steps.push(p.step) });
    assert.equal(steps[0], 17, 'the resumed run starts with the second epoch');
    resumed.thresholds.forEach((t, k) => assert.deepEqual(t.values, full.thresholds[k]!.values, `layer ${k}`));
    assert.equal(resumed.validationAccuracy, full.validationAccuracy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FitAct rejects bad options with one-line errors', async () => {
  const { graph, data, profile } = await tinySetup();
  const bad: [FitActOptions, RegExp][] = [
    [{ epochs: 0 }, /epochs = 0/],
    [{ lr: -1 }, /learning rate = -1/],
    [{ lambda: Number.NaN }, /lambda = NaN/],
    [{ batchSize: 0 }, /batch size = 0/],
    [{ seed: -3 }, /seed -3 is invalid/],
    [{ granularity: ['neuron', 'neuron', 'neuron'] }, /3 granularities given for 2/],
  ];
  for (const [opts, message] of bad)
    await assert.rejects(hardenFitAct(graph, data, profile, opts), (e: unknown) => e instanceof ProactError && message.test(e.message) && !e.message.includes('\n'), `${JSON.stringify(opts)}`);
});
