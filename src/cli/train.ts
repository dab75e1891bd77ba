/**
 * `proact train`: trains a zoo architecture on a dataset and writes the ONNX model, with its test
 * accuracy in the model's metadata and a training record (`<out>.json`: accuracy, command, seed, date,
 * seconds, per-epoch history) beside it. Every random choice comes from the seed, which is printed;
 * with --checkpoint a killed run continues with --resume and ends with the same weights.
 */
import type { Command } from 'commander';
import { openDataset, splitTrainValidation, subset, type Dataset } from '../data/index.js';
import { writeOnnx } from '../graph/index.js';
import { Session, evaluate } from '../runtime/index.js';
import {
  CIFAR_AUGMENT,
  Optimizer,
  checkCheckpointTarget,
  deriveSeed,
  freshSeed,
  train,
  type AugmentOptions,
  type EpochRecord,
  type OptimizerKind,
  type OptimizerOptions,
  type ScheduleKind,
  type ScheduleSpec,
  type TrainProgress,
} from '../train/index.js';
import { archInfo, type ArchName } from '../zoo/index.js';
import { ProactError } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';
import { guardOutputs } from '../util/outputs.js';
import { log, parseFloatOption, parseIntOption, progressBar } from './common.js';

export interface TrainCliOptions {
  arch: string;
  data: string;
  epochs: number;
  out: string;
  batch?: number;
  lr?: number;
  optimizer?: string;
  momentum?: number;
  weightDecay?: number;
  schedule?: string;
  warmupEpochs?: number;
  augment?: boolean;
  seed?: number;
  threads: number;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: boolean;
  limit?: number;
  validation?: number;
  json?: boolean;
}

/** The default recipe of an architecture: what --lr, --optimizer ... fall back to. */
interface Recipe {
  optimizer: OptimizerKind;
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay: number;
  batch: number;
  schedule: ScheduleKind;
  warmupEpochs: number;
  augment: AugmentOptions | undefined;
}

const RECIPES: Record<ArchName, Recipe> = {
  lenet5: { optimizer: 'adam', lr: 1e-3, weightDecay: 0, batch: 64, schedule: 'cosine', warmupEpochs: 0, augment: undefined },
  resnet20: { optimizer: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4, batch: 128, schedule: 'cosine', warmupEpochs: 1, augment: CIFAR_AUGMENT },
  'alexnet-cifar': { optimizer: 'sgd', lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 5e-4, batch: 128, schedule: 'cosine', warmupEpochs: 1, augment: CIFAR_AUGMENT },
  'vgg16-cifar': { optimizer: 'sgd', lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 5e-4, batch: 128, schedule: 'cosine', warmupEpochs: 1, augment: CIFAR_AUGMENT },
  // Without BatchNorm a 53-conv network needs a gentler rate than ResNet-20 (and Adam's per-weight scale).
  'mobilenetv2-cifar': { optimizer: 'adam', lr: 1e-3, weightDecay: 0, batch: 128, schedule: 'cosine', warmupEpochs: 1, augment: CIFAR_AUGMENT },
};

/** What `proact train` writes beside the model as `<out>.json`. */
export interface TrainRecord {
  arch: ArchName;
  data: string;
  trainSet: string;
  testSet: string;
  testAccuracy: number;
  validationAccuracy?: number;
  epochs: number;
  batch: number;
  optimizer: OptimizerOptions;
  schedule: string;
  augment: AugmentOptions | null;
  seed: number;
  initSeed: number;
  threads: number;
  /** The command that reproduces the run (every setting explicit). */
  command: string;
  date: string;
  /** Wall-clock seconds of training (all epochs, including time before a resume). */
  seconds: number;
  parameters: number;
  history: EpochRecord[];
  node: string;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a CNN of the model zoo on a dataset and write it as ONNX (test accuracy in its metadata and in <out>.json)')
    .requiredOption('--arch <name>', 'lenet (lenet5), resnet20, alexnet-cifar, vgg16-cifar or mobilenetv2-cifar')
    .requiredOption('--data <dir>', "dataset directory or file (CIFAR .bin, MNIST IDX, .npy), or 'mnist' for the built-in MNIST")
    .requiredOption('--epochs <n>', 'epochs', parseIntOption('--epochs', 1))
    .requiredOption('--out <file>', 'trained model (.onnx); the training record goes to the same name with .json')
    .option('--batch <n>', 'batch size (default per architecture: 64 lenet, 128 others)', parseIntOption('--batch', 1))
    .option('--lr <x>', 'learning rate (peak rate for onecycle; default per architecture)', parseFloatOption('--lr'))
    .option('--optimizer <name>', 'sgd, adam or adamw (default: adam for lenet, sgd with Nesterov momentum 0.9 otherwise)')
    .option('--momentum <x>', 'SGD momentum or Adam beta1', parseFloatOption('--momentum'))
    .option('--weight-decay <x>', 'weight decay (L2 for sgd/adam, decoupled for adamw)', parseFloatOption('--weight-decay'))
    .option('--schedule <name>', 'constant, cosine (with --warmup-epochs) or onecycle (default cosine)')
    .option('--warmup-epochs <n>', 'epochs at 0.1x the rate before the cosine decay (default 1 for CIFAR models, 0 for lenet)', parseIntOption('--warmup-epochs', 0))
    .option('--no-augment', 'no random crop (padding 4) and horizontal flip (on by default for the CIFAR models)')
    .option('--seed <n>', 'seed of initial weights, shuffling and augmentation (default: a fresh one, printed)', parseIntOption('--seed', 0))
    .option('--threads <n>', 'onnxruntime intra-op threads', parseIntOption('--threads', 1), 2)
    .option('--checkpoint <file>', 'checkpoint file, written every --checkpoint-every steps and at each epoch end')
    .option('--checkpoint-every <n>', 'steps between checkpoints (default 200)', parseIntOption('--checkpoint-every', 1))
    .option('--resume', 'continue from --checkpoint if it exists (same settings required)')
    .option('--limit <n>', 'train on the first n training records only', parseIntOption('--limit', 1))
    .option('--validation <n>', 'hold out n training records (seeded) and report their accuracy after each epoch', parseIntOption('--validation', 1))
    .option('--json', 'print the training record as JSON on stdout')
    .action(async (o: TrainCliOptions) => {
      const record = await runTrain(o);
      if (o.json) process.stdout.write(JSON.stringify(record) + '\n');
      else
        process.stdout.write(
          `${o.out}: ${record.arch}, test accuracy ${(record.testAccuracy * 100).toFixed(2)}% on ${record.testSet}, ${record.epochs} epochs in ${record.seconds.toFixed(0)} s (seed ${record.seed})\n`,
        );
    });
}

/** Runs `proact train` with parsed options; returns the record it wrote. */
export async function runTrain(o: TrainCliOptions): Promise<TrainRecord> {
  const arch = archInfo(o.arch);
  const recipe = RECIPES[arch.name];
  if (!/\.onnx$/i.test(o.out)) throw new ProactError(`--out ${o.out}: the model file must end in .onnx (the record goes beside it as .json)`);
  const kind = (o.optimizer ?? recipe.optimizer) as OptimizerKind;
  if (!['sgd', 'adam', 'adamw'].includes(kind)) throw new ProactError(`--optimizer ${kind}: expected sgd, adam or adamw`);
  const scheduleKind = (o.schedule ?? recipe.schedule) as ScheduleKind;
  if (!['constant', 'cosine', 'onecycle'].includes(scheduleKind)) throw new ProactError(`--schedule ${scheduleKind}: expected constant, cosine or onecycle`);
  if (o.resume && !o.checkpoint) throw new ProactError('--resume needs --checkpoint FILE (the checkpoint to continue from)');
  const recordPath = o.out.replace(/\.onnx$/i, '.json');
  guardOutputs(
    [{ path: o.out, what: '--out' }, { path: recordPath, what: 'the training record' }, o.checkpoint === undefined ? undefined : { path: o.checkpoint, what: '--checkpoint' }],
    [{ path: o.data, what: '--data' }],
  );
  if (o.checkpoint !== undefined) checkCheckpointTarget(o.checkpoint);
  const seed = o.seed ?? freshSeed();

  let trainSet: Dataset = openDataset(o.data, { split: 'train' });
  const testSet = openDataset(o.data, { split: 'test' });
  if (o.limit !== undefined && o.limit < trainSet.count) trainSet = subset(trainSet, Array.from({ length: o.limit }, (_, i) => i), `${trainSet.name}[first ${o.limit}]`);
  let validation: Dataset | undefined;
  if (o.validation !== undefined) {
    if (o.validation >= trainSet.count) throw new ProactError(`--validation ${o.validation}: leaves no training records out of ${trainSet.count}`);
    const split = splitTrainValidation(trainSet, o.validation, seed);
    trainSet = split.train;
    validation = split.validation;
  }

  const initSeed = deriveSeed(seed, 'init');
  const model = arch.build({ seed: initSeed, inputShape: trainSet.shape, numClasses: trainSet.numClasses });
  const batch = o.batch ?? recipe.batch;
  const stepsPerEpoch = Math.ceil(trainSet.count / batch);
  const momentum = o.momentum ?? recipe.momentum;
  const optimizer: OptimizerOptions = {
    kind,
    lr: o.lr ?? recipe.lr,
    weightDecay: o.weightDecay ?? (kind === recipe.optimizer ? recipe.weightDecay : kind === 'adamw' ? 0.01 : 0),
    ...(momentum !== undefined ? { momentum } : {}),
    ...(kind === 'sgd' && (momentum ?? 0) > 0 ? { nesterov: recipe.nesterov ?? false } : {}),
  };
  new Optimizer(optimizer); // checks the settings before anything is printed
  const warmupEpochs = o.warmupEpochs ?? recipe.warmupEpochs;
  if (scheduleKind === 'cosine' && warmupEpochs >= o.epochs)
    throw new ProactError(`--warmup-epochs ${warmupEpochs}: must be fewer than the ${o.epochs} epochs (or pass --warmup-epochs 0)`);
  const schedule: ScheduleSpec =
    scheduleKind === 'cosine' ? { kind: 'cosine', warmupSteps: warmupEpochs * stepsPerEpoch, warmupFactor: 0.1 } : { kind: scheduleKind };
  const augment = o.augment === false ? undefined : recipe.augment;
  const checkpointEvery = o.checkpoint ? (o.checkpointEvery ?? 200) : undefined;

  const command = [
    'proact train',
    `--arch ${arch.name}`,
    `--data ${o.data}`,
    `--epochs ${o.epochs}`,
    `--out ${o.out}`,
    `--batch ${batch}`,
    `--lr ${optimizer.lr}`,
    `--optimizer ${kind}`,
    ...(momentum !== undefined ? [`--momentum ${momentum}`] : []),
    `--weight-decay ${optimizer.weightDecay}`,
    `--schedule ${scheduleKind}`,
    ...(scheduleKind === 'cosine' ? [`--warmup-epochs ${warmupEpochs}`] : []),
    ...(augment ? [] : recipe.augment ? ['--no-augment'] : []),
    `--seed ${seed}`,
    `--threads ${o.threads}`,
    ...(o.limit !== undefined ? [`--limit ${o.limit}`] : []),
    ...(o.validation !== undefined ? [`--validation ${o.validation}`] : []),
  ].join(' ');

  const bar = o.json ? undefined : progressBar('train', stepsPerEpoch * o.epochs, 'epoch {epoch} loss {loss} acc {acc}');
  const onProgress = (p: TrainProgress): void => {
    bar?.update(p.step, { epoch: `${p.epoch}/${p.epochs}`, loss: p.loss.toFixed(4), acc: `${(p.accuracy * 100).toFixed(2)}%` });
    if (p.phase === 'epoch' && p.record && !o.json) {
      const r = p.record;
      const clear = process.stderr.isTTY ? '\r\x1b[2K' : '';
      log(
        `${clear}epoch ${r.epoch}/${o.epochs}  loss ${r.loss.toFixed(4)}  train acc ${(r.accuracy * 100).toFixed(2)}%` +
          (r.validationAccuracy !== undefined ? `  validation acc ${(r.validationAccuracy * 100).toFixed(2)}%` : '') +
          `  lr ${r.lr.toPrecision(3)}  ${r.seconds.toFixed(0)} s`,
      );
    }
  };

  log(`seed ${seed} (pass --seed ${seed} to repeat this run)`);
  const result = await train({
    graph: model,
    dataset: trainSet,
    epochs: o.epochs,
    batchSize: batch,
    optimizer,
    schedule,
    seed,
    ...(augment ? { augment } : {}),
    ...(validation ? { validation } : {}),
    ...(o.checkpoint ? { checkpointPath: o.checkpoint } : {}),
    ...(checkpointEvery ? { checkpointEvery } : {}),
    ...(o.resume ? { resume: true } : {}),
    threads: o.threads,
    onProgress,
  });
  bar?.stop();
  if (result.resumedFromStep !== undefined) log(`resumed from ${o.checkpoint} at step ${result.resumedFromStep} of ${result.totalSteps}`);

  const session = await Session.create(result.graph, { threads: o.threads });
  const test = await evaluate(session, testSet, { batchSize: 256 });
  await session.release();

  const graph = result.graph;
  const lastValidation = result.history.at(-1)?.validationAccuracy;
  const record: TrainRecord = {
    arch: arch.name,
    data: o.data,
    trainSet: trainSet.name,
    testSet: testSet.name,
    testAccuracy: test.accuracy,
    ...(lastValidation !== undefined ? { validationAccuracy: lastValidation } : {}),
    epochs: o.epochs,
    batch,
    optimizer,
    schedule: scheduleKind === 'cosine' && warmupEpochs > 0 ? `cosine after ${warmupEpochs} warm-up epoch(s) at 0.1x` : scheduleKind,
    augment: augment ?? null,
    seed,
    initSeed,
    threads: o.threads,
    command,
    date: new Date().toISOString(),
    seconds: Math.round(result.seconds * 10) / 10,
    parameters: [...result.params.values()].reduce((s, p) => s + p.length, 0),
    history: result.history,
    node: process.version,
  };
  graph.metadata['proact.test_accuracy'] = String(test.accuracy);
  graph.metadata['proact.test_set'] = testSet.name;
  graph.metadata['proact.train_seed'] = String(seed);
  graph.metadata['proact.train_command'] = command;
  writeFileAtomic(o.out, [writeOnnx(graph)], 'the model');
  writeFileAtomic(recordPath, [JSON.stringify(record, null, 1) + '\n'], 'the training record');
  return record;
}
