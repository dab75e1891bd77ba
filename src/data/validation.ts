/**
 * Where the validation images come from (`proact harden --validation`).
 *
 * Why a choice: the validation split decides ProAct's and FitAct's tolerance tests, so it must be held
 * out from what the model was trained on. Holding out N training images (the default) is right for a
 * model trained on the rest; the shared pretrained models were trained on all 50,000 CIFAR-10 training
 * images, so for them any training image was seen in training, and a range of *test* records is the
 * honest choice (tolerance decisions on test records 5,000-9,999, reports on records 0-4,999). When the
 * validation records are taken from a split, they are removed from that split's other uses: from the
 * training images (profiling, threshold training, the FT-ClipAct search) or from the test report.
 */
import { resolve } from 'node:path';
import { ProactError } from '../util/errors.js';
import { splitTrainValidation, subset, type Dataset } from './dataset.js';
import { openDataset } from './open.js';

export type ValidationSpec =
  /** `N`: N training records held out by a seeded shuffle (splitTrainValidation). */
  | { kind: 'holdout'; count: number }
  /** `test:A-B`, `train:A-B`, `PATH:A-B`, or without a range every record: records A..B (inclusive, 0-based). */
  | { kind: 'records'; source: 'test' | 'train' | { path: string }; first: number; last: number | undefined };

const USAGE = "give N (training images held out), test:A-B or train:A-B (records A..B of --data's split, inclusive, 0-based), or PATH[:A-B] (records of another dataset file; a directory gives its test split)";

/** Parses the text of `--validation`. */
export function parseValidationSpec(text: string): ValidationSpec {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { kind: 'holdout', count: Number(t) };
  const m = /^(.*?)(?::(\d+)-(\d+))?$/.exec(t)!;
  const where = m[1]!;
  if (where === '') throw new ProactError(`--validation '${text}': no source; ${USAGE}`);
  const first = m[2] === undefined ? 0 : Number(m[2]);
  const last = m[3] === undefined ? undefined : Number(m[3]);
  if (last !== undefined && last < first) throw new ProactError(`--validation '${text}': range ${first}-${last} is empty; give A-B with A <= B`);
  const source = where === 'test' || where === 'train' ? where : { path: where };
  return { kind: 'records', source, first, last };
}

export interface ValidationData {
  /** Training images left for profiling, training and searches. */
  train: Dataset;
  validation: Dataset;
  /** The test records to report on: the test split less any validation records taken from it. */
  test: Dataset | undefined;
  /** One line for logs and results, e.g. "records 5000-9999 of cifar10/test". */
  description: string;
}

/** The records first..last of `ds` and the rest, checked against its size. */
function takeRange(ds: Dataset, first: number, last: number | undefined, text: string): { taken: Dataset; rest: Dataset } {
  const end = last ?? ds.count - 1;
  if (end >= ds.count) throw new ProactError(`--validation '${text}': ${ds.name} has ${ds.count} records (0-${ds.count - 1}); give a range inside it`);
  const inside: number[] = [];
  const outside: number[] = [];
  for (let i = 0; i < ds.count; i++) (i >= first && i <= end ? inside : outside).push(i);
  return { taken: subset(ds, inside, `${ds.name}[${first}-${end}]`), rest: subset(ds, outside, `${ds.name}[without ${first}-${end}]`) };
}

/**
 * The training, validation and test data for `spec`. `train` and `test` are --data's splits (test
 * undefined when the dataset has none); a path source is opened with its test split.
 */
export function resolveValidation(spec: ValidationSpec, text: string, train: Dataset, test: Dataset | undefined, seed: number): ValidationData {
  if (spec.kind === 'holdout') {
    const split = splitTrainValidation(train, spec.count, seed);
    return { ...split, test, description: `${spec.count} training images held out (seed ${seed})` };
  }
  let source: 'test' | 'train' | Dataset = typeof spec.source === 'string' ? spec.source : openDataset(spec.source.path, { split: 'test' });
  // Another path naming the very file of a split is that split: its records must leave that split too.
  if (typeof source !== 'string') {
    const path = resolve(source.path);
    if (test && path === resolve(test.path)) source = 'test';
    else if (path === resolve(train.path)) source = 'train';
  }
  if (source === 'test') {
    if (!test) throw new ProactError(`--validation '${text}': ${train.name} has no test split; use N (training images held out) or another file`);
    const { taken, rest } = takeRange(test, spec.first, spec.last, text);
    return { train, validation: taken, test: rest.count > 0 ? rest : undefined, description: `test records ${describeRange(spec, test)} (${taken.count}); test report on the other ${rest.count}` };
  }
  if (source === 'train') {
    const { taken, rest } = takeRange(train, spec.first, spec.last, text);
    if (rest.count === 0) throw new ProactError(`--validation '${text}': takes every training record of ${train.name}; leave some for profiling and training`);
    return { train: rest, validation: taken, test, description: `training records ${describeRange(spec, train)} (${taken.count})` };
  }
  if (source.shape.join(',') !== train.shape.join(',') || source.numClasses !== train.numClasses)
    throw new ProactError(`--validation '${text}': ${source.name} holds ${source.shape.join('x')} images of ${source.numClasses} classes, --data ${train.shape.join('x')} of ${train.numClasses}; give a file of the same dataset`);
  const { taken } = takeRange(source, spec.first, spec.last, text);
  return { train, validation: taken, test, description: `records ${describeRange(spec, source)} of ${source.path} (${taken.count})` };
}

function describeRange(spec: { first: number; last: number | undefined }, ds: Dataset): string {
  return `${spec.first}-${spec.last ?? ds.count - 1}`;
}
