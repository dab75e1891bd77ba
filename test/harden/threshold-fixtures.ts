/**
 * Fixtures for the threshold-training tests (FitAct, ProAct): the tiny CNN of test/helpers/tinymodel.ts
 * trained briefly on embedded MNIST so that clipping has accuracy to lose, its profile, and the
 * train/validation split. Built once per test file (about a second).
 */
import { openDataset, subset, type Dataset } from '../../src/data/index.js';
import type { Graph } from '../../src/graph/index.js';
import { profileActivations } from '../../src/harden/profile.js';
import type { HardenData, Profile } from '../../src/harden/types.js';
import { train } from '../../src/train/index.js';
import { tinyCnn } from '../helpers/tinymodel.js';

export interface TinySetup {
  graph: Graph;
  data: HardenData;
  profile: Profile;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k);

/** MNIST records 0..1999 for training and 2000..2599 as the held-out validation split. */
export function tinyData(): HardenData {
  const mnist: Dataset = openDataset('mnist', { split: 'train' });
  return { train: subset(mnist, range(0, 2000), 'mnist/train[0..1999]'), validation: subset(mnist, range(2000, 600), 'mnist/train[2000..2599]') };
}

let cached: Promise<TinySetup> | undefined;

/** The tiny CNN after one epoch of Adam on the 2000 training records (about 85% accuracy), and its profile. */
export function tinySetup(): Promise<TinySetup> {
  cached ??= (async () => {
    const data = tinyData();
    const trained = await train({ graph: tinyCnn(1), dataset: data.train, epochs: 2, batchSize: 32, optimizer: { kind: 'adam', lr: 1e-2 }, seed: 1, threads: 1 });
    const profile = await profileActivations(trained.graph, data.train, { images: 1000, seed: 0 });
    return { graph: trained.graph, data, profile };
  })();
  return cached;
}
