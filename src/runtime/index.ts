/** onnxruntime-node sessions and batched evaluation. */
export * from './session.js';
export * from './evaluate.js';
export * from './contract.js';
export * from './plain.js';
