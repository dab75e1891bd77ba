/** Reverse-mode autodiff that emits ONNX: backward rules per op, gradient graphs and loss builders. */
export { buildGradientGraph, gradName, DIFFERENTIABLE_OPS, type GradientOptions } from './gradient.js';
export { addSoftmaxCrossEntropy, addDistillation, addL2, addWeightedSum } from './losses.js';
export { RULES, type Rule, type RuleContext, type Grad } from './rules.js';
export { Emitter } from './emit.js';
