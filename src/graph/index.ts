/** Graph IR, ONNX read/write and rewrite passes. Imports nothing else from proact but util. */
export * from './tensor.js';
export * from './ir.js';
export * from './onnx.js';
export * from './shapes.js';
export * from './passes.js';
export * from './patterns.js';
export { evalConstNode, FOLDABLE_OPS, sliceParams } from './consteval.js';
