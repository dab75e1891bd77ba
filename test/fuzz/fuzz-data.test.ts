// Short fuzz run of the dataset readers (openDataset + decoding every record); see test/fuzz/check.ts.
import { fuzzTest } from './check.js';

fuzzTest({ target: 'cifar10', cases: 400, seedsValid: true });
fuzzTest({ target: 'cifar100', cases: 400, seedsValid: true });
fuzzTest({ target: 'idx-images', cases: 600, seedsValid: true });
fuzzTest({ target: 'idx-labels', cases: 500, seedsValid: true });
fuzzTest({ target: 'idx-gz', cases: 400, seedsValid: true });
fuzzTest({ target: 'npy-images', cases: 600, seedsValid: true });
fuzzTest({ target: 'npy-labels', cases: 500, seedsValid: true });
