/**
 * The training graph: the model plus a softmax cross-entropy loss, differentiated once by the
 * autodiff with respect to the trainable parameters. Its inputs are the images, the labels and the
 * parameters (fed every step); its outputs the loss, one gradient per parameter and the logits (for
 * the running training accuracy).
 */
import { addSoftmaxCrossEntropy, buildGradientGraph, gradName } from '../autodiff/index.js';
import { parameterLayers, type Graph } from '../graph/index.js';
import { ProactError } from '../util/errors.js';

export interface TrainingGraph {
  graph: Graph;
  /** Name of the image input. */
  input: string;
  /** Name of the int64 [batch] labels input. */
  labels: string;
  /** Output names. */
  loss: string;
  logits: string;
  /** Output name of each parameter's gradient. */
  grads: Map<string, string>;
}

/** Builds a training graph for `model` and `trainable` parameter names. */
export type TrainingGraphBuilder = (model: Graph, trainable: readonly string[]) => TrainingGraph;

/** The weights and biases of every Conv/Gemm/MatMul layer whose parameters are float32 initializers. */
export function trainableParameters(model: Graph): string[] {
  const names: string[] = [];
  for (const layer of parameterLayers(model)) {
    for (const name of [layer.weight, layer.bias]) {
      if (name && model.initializers.get(name)?.dtype === 'float32' && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

/** The image input and the logits output of a classifier graph, checked. */
export function classifierIO(model: Graph): { input: string; logits: string } {
  const inputs = model.dataInputs();
  if (inputs.length !== 1)
    throw new ProactError(`model '${model.name}' has ${inputs.length} data inputs (${inputs.map((v) => v.name).join(', ')}): training needs exactly one image input`);
  if (model.outputs.length !== 1)
    throw new ProactError(`model '${model.name}' has ${model.outputs.length} outputs: training needs exactly one, the logits`);
  return { input: inputs[0]!.name, logits: model.outputs[0]!.name };
}

/** Cross-entropy training graph through proact's autodiff. */
export const softmaxCrossEntropyTrainingGraph: TrainingGraphBuilder = (model, trainable) => {
  const { input, logits } = classifierIO(model);
  const g = model.clone();
  const labels = g.uniqueName('labels');
  const loss = addSoftmaxCrossEntropy(g, logits, labels); // declares the labels input
  const graph = buildGradientGraph(g, { loss, wrt: trainable, extraOutputs: [logits] });
  return { graph, input, labels, loss, logits, grads: new Map(trainable.map((n) => [n, gradName(n)])) };
};
