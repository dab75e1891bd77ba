/**
 * proact's library API: everything the CLI does is available here, typed.
 *
 *   graph     IR, ONNX read/write, folding passes, activation layers
 *   runtime   onnxruntime sessions and batched evaluation
 *   data      CIFAR, MNIST IDX and NumPy datasets
 *   faults    number formats, bit flips, fault count models, fault plans
 *   autodiff  gradient graphs emitted as ONNX, losses
 *   train     optimisers, schedules, training loop; zoo: model builders
 *   harden    clipped activations, profiling, Ranger, FT-ClipAct, FitAct, ProAct, overhead
 *   campaign  fault-injection campaigns, statistics, SQLite store, shards
 *   queue     campaigns on a Redis queue
 *   report    HTML reports with Vega-Lite figures
 */
export * from './util/errors.js';
export * from './graph/index.js';
export * from './runtime/index.js';
export * from './data/index.js';
export * from './faults/index.js';
export * from './autodiff/index.js';
export * from './train/index.js';
export * from './zoo/index.js';
export * from './harden/index.js';
export * from './campaign/index.js';
export * as queue from './queue/index.js';
export * as report from './report/index.js';
