/**
 * The training loop on a tiny CNN and a synthetic dataset: it learns, it is a pure function of its
 * seed, and a run stopped halfway then resumed from its checkpoint ends with the same weights, bit
 * for bit, as a run that was never interrupted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch, Dataset } from '../../src/data/index.js';
import type { Graph } from '../../src/graph/index.js';
import { NetBuilder } from '../../src/zoo/index.js';
import { Rng, loadCheckpoint, train, withWeights, type TrainOptions, type TrainResult } from '../../src/train/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import { ProactError } from '../../src/util/errors.js';

const SHAPE = [1, 8, 8] as const;

/** 4 classes; class k is a bright 3x3 square in quadrant k on faint seeded noise. */
function syntheticDataset(count: number, seed: number): Dataset {
  const rng = Rng.fromSeed(seed);
  const x = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % 4;
    labels[i] = k;
    for (let p = 0; p < 64; p++) x[i * 64 + p] = 0.2 * rng.float();
    const top = (k >> 1) * 4 + rng.below(2);
    const left = (k & 1) * 4 + rng.below(2);
    for (let y = 0; y < 3; y++) for (let xx = 0; xx < 3; xx++) x[i * 64 + (top + y) * 8 + left + xx] = 1;
  }
  const readIndices = (indices: ArrayLike<number>): Batch => {
    const out: Batch = { x: new Float32Array(indices.length * 64), labels: new Int32Array(indices.length), size: indices.length };
    for (let j = 0; j < indices.length; j++) {
      out.x.set(x.subarray(indices[j]! * 64, indices[j]! * 64 + 64), j * 64);
      out.labels[j] = labels[indices[j]!]!;
    }
    return out;
  };
  return {
    name: `synthetic(${count})`,
    path: '<memory>',
    count,
    shape: SHAPE,
    numClasses: 4,
    read: (start, n) => readIndices(Array.from({ length: n }, (_, j) => start + j)),
    readIndices,
  };
}

function tinyCnn(seed = 1): Graph {
  const b = new NetBuilder('tiny', SHAPE, seed);
  let x = b.relu(b.conv('input', { name: 'conv1', out: 4, kernel: 3, pad: 1 }), 'relu1');
  x = b.flatten(b.maxPool(x, 'pool1'), 'flatten');
  return b.finish(b.linear(x, 'fc', 4, 'logits'), 'tiny', seed);
}

const DATA = syntheticDataset(40, 9);

function options(extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    graph: tinyCnn(),
    dataset: DATA,
    epochs: 3,
    batchSize: 6, // 7 steps per epoch, the last one of 4 records
    optimizer: { kind: 'sgd', lr: 0.2, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    schedule: { kind: 'cosine', warmupSteps: 3 },
    seed: 17,
    augment: { padding: 1, flip: true },
    threads: 1,
    ...extra,
  };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'proact-train-'));
}

function assertSameWeights(a: TrainResult, b: TrainResult): void {
  assert.deepEqual([...a.params.keys()], [...b.params.keys()]);
  for (const [name, values] of a.params) {
    const other = b.params.get(name)!;
    assert.ok(Buffer.from(values.buffer).equals(Buffer.from(other.buffer)), `parameter ${name} differs`);
  }
}

const withoutSeconds = (h: TrainResult['history']) => h.map(({ seconds: _, ...rest }) => rest);

test('training learns the synthetic task and exports a model that evaluates the same', async () => {
  // No flips here: a flip moves the square to the other quadrant, i.e. changes the class.
  const r = await train(options({ epochs: 6, validation: DATA, augment: { padding: 1, flip: false } }));
  assert.equal(r.completed, true);
  assert.equal(r.steps, 42);
  assert.equal(r.history.length, 6);
  assert.ok(r.history[5]!.loss < 0.5 * r.history[0]!.loss, `loss ${r.history[0]!.loss} -> ${r.history[5]!.loss}`);
  assert.ok(r.history[5]!.validationAccuracy! >= 0.9, `accuracy ${r.history[5]!.validationAccuracy}`);
  const session = await Session.create(r.graph);
  const e = await evaluate(session, DATA);
  await session.release();
  assert.equal(e.accuracy, r.history[5]!.validationAccuracy);
  // The exported graph holds the trained weights; the input graph is unchanged.
  const original = tinyCnn();
  assert.notDeepEqual(r.graph.initializers.get('fc.weight')!.data, original.initializers.get('fc.weight')!.data);
  assert.deepEqual(r.graph.initializers.get('fc.weight')!.data, r.params.get('fc.weight'));
});

test('the same seed gives the same weights; another seed other weights', async () => {
  const a = await train(options({ epochs: 1 }));
  const b = await train(options({ epochs: 1 }));
  assertSameWeights(a, b);
  const c = await train(options({ epochs: 1, seed: 18 }));
  assert.notDeepEqual(c.params.get('fc.weight'), a.params.get('fc.weight'));
});

test('a run stopped at step k and resumed from its last checkpoint ends bit for bit like an uninterrupted run', async () => {
  const dir = tmp();
  try {
    const straight = await train(options({ checkpointPath: join(dir, 'a.ck'), checkpointEvery: 4 }));
    assert.equal(straight.completed, true);
    // Stops at step 10 (mid-epoch 2); checkpoints were written at steps 4, 7 (epoch end) and 8.
    const ck = join(dir, 'b.ck');
    const stopped = await train(options({ checkpointPath: ck, checkpointEvery: 4, stopAfterStep: 10 }));
    assert.equal(stopped.completed, false);
    assert.equal(stopped.steps, 10);
    assert.equal(loadCheckpoint(ck).step, 8);
    const resumed = await train(options({ checkpointPath: ck, checkpointEvery: 4, resume: true }));
    assert.equal(resumed.resumedFromStep, 8);
    assert.equal(resumed.completed, true);
    assertSameWeights(resumed, straight);
    assert.deepEqual(withoutSeconds(resumed.history), withoutSeconds(straight.history));
    // Interrupted twice, once right at an epoch end.
    const ck2 = join(dir, 'c.ck');
    await train(options({ checkpointPath: ck2, stopAfterStep: 9 })); // only epoch-end checkpoints: step 7
    assert.equal(loadCheckpoint(ck2).step, 7);
    await train(options({ checkpointPath: ck2, checkpointEvery: 4, resume: true, stopAfterStep: 15 })); // checkpoints 8, 12, 14
    assert.equal(loadCheckpoint(ck2).step, 14);
    assertSameWeights(await train(options({ checkpointPath: ck2, resume: true })), straight);
    // No stray temporary files from the atomic writes.
    assert.deepEqual(readdirSync(dir).sort(), ['a.ck', 'b.ck', 'c.ck']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resume refuses a checkpoint made with other settings, and a corrupted one', async () => {
  const dir = tmp();
  try {
    const ck = join(dir, 'run.ck');
    await train(options({ checkpointPath: ck, stopAfterStep: 8 }));
    await assert.rejects(train(options({ checkpointPath: ck, resume: true, batchSize: 5 })), /made with batchSize = 6, this run has 5/);
    await assert.rejects(train(options({ checkpointPath: ck, resume: true, seed: 3 })), /made with seed = 17, this run has 3/);
    await assert.rejects(
      train(options({ checkpointPath: ck, resume: true, optimizer: { kind: 'adam', lr: 0.1 } })),
      (e: unknown) => e instanceof ProactError && /made with optimizer = /.test(e.message),
    );
    const bytes = readFileSync(ck);
    writeFileSync(ck, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(train(options({ checkpointPath: ck, resume: true })), /not a usable proact checkpoint .*beyond the end of the file/);
    writeFileSync(ck, 'hello');
    await assert.rejects(train(options({ checkpointPath: ck, resume: true })), /not a usable proact checkpoint \(wrong magic bytes\)/);
    // A missing checkpoint with resume starts a new run.
    const fresh = await train(options({ epochs: 1, checkpointPath: join(dir, 'none.ck'), resume: true }));
    assert.equal(fresh.resumedFromStep, undefined);
    assert.ok(existsSync(join(dir, 'none.ck')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad training settings are user errors', async () => {
  await assert.rejects(train(options({ epochs: 0 })), /epochs 0 is invalid/);
  await assert.rejects(train(options({ batchSize: 0 })), /batch size 0 is invalid/);
  await assert.rejects(train(options({ seed: -2 })), /training seed -2 is invalid/);
  await assert.rejects(train(options({ resume: true })), /resume needs a checkpoint file/);
  const poisoned = syntheticDataset(40, 9);
  const read = poisoned.readIndices;
  poisoned.readIndices = (indices) => {
    const b = read(indices);
    b.x[5] = NaN;
    return b;
  };
  await assert.rejects(train(options({ dataset: poisoned })), /training diverged at step \d+: the loss is NaN; lower the learning rate/);
  const wrongShape = new NetBuilder('wrong', [1, 6, 6], 1);
  const g = wrongShape.finish(wrongShape.linear(wrongShape.flatten('input', 'f'), 'fc', 4, 'logits'), 'wrong', 1);
  await assert.rejects(train(options({ graph: g })), /takes images of \[1, 6, 6\] but synthetic\(40\) holds \[1, 8, 8\]/);
  assert.throws(() => withWeights(tinyCnn(), new Map([['nope', new Float32Array(1)]])), /'nope' is not an initializer/);
});
