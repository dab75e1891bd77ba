/**
 * `proact train` end to end on the first records of the built-in MNIST: the record and metadata it
 * writes, a real SIGKILL halfway followed by --resume (same weights bit for bit as an uninterrupted
 * run), and one-line user errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDataset } from '../../src/data/index.js';
import { readOnnxFile } from '../../src/graph/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import { loadCheckpoint } from '../../src/train/index.js';
import { runTrain, type TrainCliOptions, type TrainRecord } from '../../src/cli/train.js';
import { ProactError } from '../../src/util/errors.js';
import { expectUserError, type CliResult } from '../helpers/cli.js';

const DRIVER = resolve(process.cwd(), 'dist/src/cli/main.js'); // the real proact CLI
const ENV = { ...process.env, PROACT_NO_PROGRESS: '1' };

function trainCli(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [DRIVER, 'train', ...args], { encoding: 'utf8', timeout: 120_000, env: ENV });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sameInitializers(a: string, b: string): void {
  const ga = readOnnxFile(a);
  const gb = readOnnxFile(b);
  assert.deepEqual([...ga.initializers.keys()], [...gb.initializers.keys()]);
  for (const [name, t] of ga.initializers) {
    const u = gb.initializers.get(name)!;
    assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), `${name} differs`);
  }
}

// 768 records, batch 24, 3 epochs: 96 steps.
const RUN = ['--arch', 'lenet', '--data', 'mnist', '--limit', '768', '--epochs', '3', '--batch', '24', '--seed', '5', '--threads', '1', '--checkpoint-every', '3'];

test('train writes the model with its test accuracy, the record beside it, and prints the seed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-train-cli-'));
  try {
    const out = join(dir, 'a.onnx');
    const r = trainCli([...RUN, '--checkpoint', join(dir, 'a.ck'), '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^seed 5 \(pass --seed 5 to repeat this run\)$/m);
    assert.match(r.stdout, /a\.onnx: lenet5, test accuracy \d+\.\d\d% on mnist\/test/);
    const record = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8')) as TrainRecord;
    assert.equal(record.seed, 5);
    assert.equal(record.history.length, 3);
    assert.equal(record.parameters, 61706);
    assert.match(record.command, /^proact train --arch lenet5 --data mnist --epochs 3 --out .*a\.onnx --batch 24 --lr 0\.001 --optimizer adam .*--seed 5 --threads 1 --limit 768$/);
    const g = readOnnxFile(out);
    assert.equal(g.metadata['proact.test_accuracy'], String(record.testAccuracy));
    assert.equal(g.metadata['proact.train_seed'], '5');
    // The recorded accuracy is the model's accuracy on the whole MNIST test set.
    const session = await Session.create(g, { threads: 1 });
    const e = await evaluate(session, openDataset('mnist', { split: 'test' }), { batchSize: 500 });
    await session.release();
    assert.equal(e.count, 10000);
    assert.equal(e.accuracy, record.testAccuracy);
    assert.ok(record.testAccuracy > 0.6, `3 epochs on 768 images (chance: 0.1) reach ${record.testAccuracy}`);
    assert.ok(record.history[2]!.loss < record.history[0]!.loss);

    // Killed (SIGKILL) after a checkpoint, then resumed: the same weights as the uninterrupted run.
    const ck = join(dir, 'b.ck');
    const outB = join(dir, 'b.onnx');
    const child = spawn(process.execPath, [DRIVER, 'train', ...RUN, '--checkpoint', ck, '--out', outB], { env: ENV, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    let killedAt = -1;
    for (let waited = 0; waited < 60_000 && killedAt < 0; waited += 5) {
      await sleep(5);
      if (!existsSync(ck)) continue;
      const step = loadCheckpoint(ck).step;
      if (step >= 6) {
        child.kill('SIGKILL');
        killedAt = step;
      }
    }
    assert.equal(await exited, 'SIGKILL', 'the run must still be going when killed');
    const left = loadCheckpoint(ck).step;
    assert.ok(left >= 6 && left < 96, `checkpoint at step ${left}`);
    assert.ok(!existsSync(outB));
    const resumed = trainCli([...RUN, '--checkpoint', ck, '--resume', '--out', outB]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resumed from .*b\\.ck at step ${left} of 96`));
    sameInitializers(out, outB);
    const recordB = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8')) as TrainRecord;
    assert.equal(recordB.testAccuracy, record.testAccuracy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without --seed a fresh seed is drawn, printed and recorded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-train-cli-'));
  try {
    const r = trainCli(['--arch', 'lenet', '--data', 'mnist', '--limit', '64', '--epochs', '1', '--threads', '1', '--out', join(dir, 'm.onnx'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const seed = Number(/^seed (\d+) /m.exec(r.stderr)?.[1]);
    const record = JSON.parse(r.stdout) as TrainRecord;
    assert.equal(record.seed, seed);
    assert.match(record.command, new RegExp(`--seed ${seed} `));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad options are user errors: one line on stderr, exit code 2', async () => {
  expectUserError(trainCli(['--arch', 'resnet18', '--data', 'mnist', '--epochs', '1', '--out', 'x.onnx']), /architecture 'resnet18' is unknown: use one of lenet5/);
  expectUserError(trainCli(['--arch', 'lenet', '--data', 'mnist', '--epochs', '0', '--out', 'x.onnx']), /--epochs 0: expected an integer >= 1/);
  // The rest in-process: the same command code, without starting a process each.
  const base: TrainCliOptions = { arch: 'lenet', data: 'mnist', epochs: 1, out: join(tmpdir(), 'never.onnx'), threads: 1, limit: 8, json: true };
  const cases: [Partial<TrainCliOptions>, RegExp][] = [
    [{ optimizer: 'rmsprop' }, /--optimizer rmsprop: expected sgd, adam or adamw/],
    [{ schedule: 'step' }, /--schedule step: expected constant, cosine or onecycle/],
    [{ resume: true }, /--resume needs --checkpoint FILE/],
    [{ out: 'model.txt' }, /--out model\.txt: the model file must end in \.onnx/],
    [{ arch: 'vgg16-cifar' }, /gets a 1x1 input, too small for a 2x2 window/],
    [{ lr: -1 }, /learning rate -1 is invalid: expected a number >= 0/],
    [{ data: '/nonexistent/dir' }, /dataset not found/],
    [{ validation: 8 }, /--validation 8: leaves no training records out of 8/],
    [{ warmupEpochs: 1 }, /--warmup-epochs 1: must be fewer than the 1 epochs/],
  ];
  for (const [change, pattern] of cases) await assert.rejects(runTrain({ ...base, ...change }), (e: unknown) => e instanceof ProactError && pattern.test(e.message));
});
