/**
 * Loss builders: each appends standard ONNX nodes to a forward graph and returns the name of a float
 * scalar (dims []). Their gradients come from the ordinary per-op rules (LogSoftmax, Mul, ReduceSum,
 * ReduceMean, Neg, Sum); labels and teacher probabilities are inputs that no wrt tensor reaches, so
 * OneHot needs no rule. The graph's declared outputs are left as they are.
 */
import { ProactError } from '../util/errors.js';
import { inferShapes, int, numel, tensor, type Graph, type ValueType } from '../graph/index.js';
import { Emitter } from './emit.js';

function emitter(g: Graph, scope: string, types: Map<string, ValueType> = inferShapes(g)): Emitter {
  const e = new Emitter(g, types);
  e.scope = scope;
  return e;
}

/** Dims [batch, classes] of a logits value, with the class count known. */
function logitsDims(types: Map<string, ValueType>, logits: string, who: string): [number, number] {
  const t = types.get(logits);
  if (!t) throw new ProactError(`${who}: no value named '${logits}' in the graph; pass the model's logits output (e.g. g.outputs[0].name)`);
  if (t.dims.length !== 2 || !(t.dims[1]! > 0) || t.dtype !== 'float32')
    throw new ProactError(`${who}: '${logits}' is ${t.dtype} [${t.dims}]; expected float32 logits [batch, classes] with a known class count`);
  return [t.dims[0]!, t.dims[1]!];
}

/** Adds a graph input, or checks an existing one against the expected type. */
function ensureInput(g: Graph, name: string, dtype: 'int64' | 'float32', dims: number[], who: string): void {
  const existing = g.inputs.find((v) => v.name === name);
  if (existing) {
    if (existing.dtype !== dtype || existing.dims.length !== dims.length)
      throw new ProactError(`${who}: input '${name}' exists as ${existing.dtype} [${existing.dims}]; expected ${dtype} of rank ${dims.length}`);
    return;
  }
  if (g.initializers.has(name) || g.nodes.some((n) => n.outputs.includes(name)))
    throw new ProactError(`${who}: '${name}' is already a value of the graph; choose another input name`);
  g.uniqueName(name); // reserve it
  g.inputs.push({ name, dtype, dims: [...dims], dimNames: dims.map((d, k) => (d < 0 && k === 0 ? 'batch' : undefined)) });
}

/** -mean over the batch of sum_c weights[b, c] * log_softmax(logits)[b, c]. */
function meanCrossEntropy(e: Emitter, logits: string, weights: string, name: string): string {
  const logProbs = e.op('LogSoftmax', [logits], { axis: int(1) });
  const perSample = e.reduceSum(e.op('Mul', [weights, logProbs]), [1], false);
  return e.g.add('Neg', [e.reduceMean(perSample, undefined, false)], {}, { name: `${e.scope}/Neg`, outputs: [e.g.uniqueName(name)] })[0]!;
}

/**
 * Mean softmax cross-entropy over the batch. Adds the int64 [batch] input `labelsInputName` (class
 * indices) unless it exists. Returns the loss name (a scalar).
 */
export function addSoftmaxCrossEntropy(g: Graph, logits: string, labelsInputName: string): string {
  const types = inferShapes(g);
  const [batch, classes] = logitsDims(types, logits, 'addSoftmaxCrossEntropy');
  ensureInput(g, labelsInputName, 'int64', [batch], 'addSoftmaxCrossEntropy');
  const e = emitter(g, 'loss/cross_entropy', types);
  const depth = g.addConstant('loss.classes', tensor('int64', [], [classes]));
  const offOn = g.addConstant('loss.one_hot_values', tensor('float32', [2], [0, 1]));
  const oneHot = e.op('OneHot', [labelsInputName, depth, offOn], { axis: int(-1) });
  return meanCrossEntropy(e, logits, oneHot, 'loss.cross_entropy');
}

/**
 * Knowledge distillation at temperature 1: mean over the batch of -sum_c p_teacher,c *
 * log_softmax(student)_c. Adds the float32 [batch, classes] input `teacherProbsInputName` (the
 * teacher's softmax, computed once and fed every step) unless it exists. Returns the loss name.
 */
export function addDistillation(g: Graph, studentLogits: string, teacherProbsInputName: string): string {
  const types = inferShapes(g);
  const [batch, classes] = logitsDims(types, studentLogits, 'addDistillation');
  ensureInput(g, teacherProbsInputName, 'float32', [batch, classes], 'addDistillation');
  return meanCrossEntropy(emitter(g, 'loss/distillation', types), studentLogits, teacherProbsInputName, 'loss.distillation');
}

/** coeff * sum over `names` of mean(T^2) (the reference's threshold penalty). Returns the loss name. */
export function addL2(g: Graph, names: readonly string[], coeff: number): string {
  if (names.length === 0) throw new ProactError('addL2: no tensor names given; pass the thresholds to penalise');
  if (!Number.isFinite(coeff)) throw new ProactError(`addL2: coeff = ${coeff}; give a finite number`);
  const types = inferShapes(g);
  for (const name of names) {
    const t = types.get(name);
    if (!t || (t.dtype !== 'float32' && t.dtype !== 'float64'))
      throw new ProactError(`addL2: '${name}' is not a float tensor of the graph; pass initializer or value names (e.g. threshold names)`);
  }
  const e = emitter(g, 'loss/l2', types);
  const means = names.map((name) => e.reduceMean(e.op('Mul', [name, name]), undefined, false));
  return g.add('Mul', [e.sum(means), e.scalar(coeff)], {}, { name: 'loss/l2/Mul', outputs: [g.uniqueName('loss.l2')] })[0]!;
}

/** sum_i w_i * term_i over scalar terms (e.g. 0.8 * CE + 0.1 * KD + 4e-8 * L2). Returns the loss name. */
export function addWeightedSum(g: Graph, terms: ReadonlyArray<readonly [string, number]>): string {
  if (terms.length === 0) throw new ProactError('addWeightedSum: no terms given; pass [[lossName, weight], ...]');
  const types = inferShapes(g);
  for (const [name, w] of terms) {
    const t = types.get(name);
    if (!t || numel(t.dims) !== 1 || t.dims.includes(-1))
      throw new ProactError(`addWeightedSum: '${name}' is not a scalar value of the graph; pass names returned by the loss builders`);
    if (!Number.isFinite(w)) throw new ProactError(`addWeightedSum: the weight of '${name}' is ${w}; give a finite number`);
  }
  const e = emitter(g, 'loss/weighted_sum', types);
  const scaled = terms.map(([name, w]) => (w === 1 ? name : e.op('Mul', [name, e.scalar(w)])));
  return g.add('Identity', [e.sum(scaled)], {}, { name: 'loss/weighted_sum/Identity', outputs: [g.uniqueName('loss.total')] })[0]!;
}
