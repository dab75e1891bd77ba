/** Training: optimisers, schedules, seeded randomness, augmentation, checkpoints and the training loop. */
export { Optimizer, type OptimizerKind, type OptimizerOptions, type OptimizerState, type ParamGroup, type StepSettings } from './optim.js';
export {
  constantSchedule,
  makeSchedule,
  oneCycleSchedule,
  warmupCosineSchedule,
  type OneCycleOptions,
  type Schedule,
  type ScheduleKind,
  type ScheduleSpec,
  type WarmupCosineOptions,
} from './schedule.js';
export { Rng, checkSeed, deriveSeed, freshSeed } from './rng.js';
export { CIFAR_AUGMENT, augmentBatch, type AugmentOptions } from './augment.js';
export { checkCheckpointTarget, loadCheckpoint, saveCheckpoint, type Checkpoint, type EpochRecord, type EpochStats } from './checkpoint.js';
export { classifierIO, softmaxCrossEntropyTrainingGraph, trainableParameters, type TrainingGraph, type TrainingGraphBuilder } from './gradient.js';
export { train, withWeights, type TrainOptions, type TrainProgress, type TrainResult } from './loop.js';
