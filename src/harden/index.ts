/**
 * Hardening: clipped activations as graph rewrites, threshold profiling, the methods (Ranger,
 * FT-ClipAct, FitAct, ProAct), threshold files and the memory overhead of each threshold scheme.
 */
export * from './types.js';
export * from './activations.js';
export * from './accuracy.js';
export * from './profile.js';
export * from './thresholds.js';
export * from './ranger.js';
export * from './ftclipact.js';
export * from './overhead.js';
export * from './fitact.js';
export * from './proact.js';
export * from './weightclip.js';
export * from './quantise.js';
export type { GranularitySpec, LossWeights, ThresholdProgress, ThresholdTrainingOptions } from './threshold-train.js';
export { phaseSchedule, warmupFactor } from './threshold-train.js';
