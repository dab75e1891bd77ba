/**
 * The model contract, checked in one place for every command that scores a classifier (eval, campaign,
 * harden, faults replay, train's test run): one float32 image input of the data's shape, one output
 * of shape [N, C] or [N, C, 1, 1] with C covering the data's labels. A model that breaks it is refused
 * at load with its name and the fix, instead of being scored as if it were a classifier (a Reshape to
 * [N, 2, 5] read as [N, 10], or an argmax output read as one class, give a plausible wrong accuracy).
 * The output is checked again on every run, since a model may compute its shapes.
 * A fixed batch of 1 (torch.onnx.export without dynamic axes) is run one image at a time.
 */
import { ProactError } from '../util/errors.js';
import type { Session } from './session.js';

export interface ContractExpectation {
  /** Shape of one image: [channels, height, width]. */
  imageShape: readonly [number, number, number];
  /** Labels lie in 0 .. numClasses - 1. */
  numClasses: number;
}

export interface ModelContract {
  input: string;
  output: string;
  /** The input's fixed batch size (1), or null when the batch dimension is free. */
  fixedBatch: number | null;
  /** Number of classes when the output declares it, else null (then checked on every run). */
  classes: number | null;
}

/** A declared shape for messages: symbolic dimensions by name, unnamed ones as '?'. */
const showDims = (dims: ReadonlyArray<number | string>): string => dims.map((d) => (d === '' || d === -1 ? '?' : String(d))).join(', ');

const REEXPORT = "re-export it with one float32 NCHW image input and [N, classes] logits (torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}}))";

/** Checks `session`'s declared inputs and outputs against the data it will score; throws a one-line ProactError. */
export function checkModelContract(session: Session, expect: ContractExpectation): ModelContract {
  const name = session.name;
  const inputs = session.inner.inputMetadata;
  const outputs = session.inner.outputMetadata;
  if (inputs.length !== 1) {
    throw new ProactError(`${name}: has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); proact scores classifiers with one image input — ${REEXPORT}`);
  }
  const input = inputs[0]!;
  if (!input.isTensor || input.type !== 'float32') {
    throw new ProactError(`${name}: input '${input.name}' is ${input.isTensor ? input.type : 'not a tensor'}, not float32 images; ${REEXPORT}`);
  }
  const dims = input.shape;
  let fixedBatch: number | null = null;
  if (dims.length > 0) {
    if (dims.length !== 4) throw new ProactError(`${name}: input '${input.name}' has shape [${showDims(dims)}], not [N, C, H, W] images; ${REEXPORT}`);
    const [batch, ...image] = dims;
    if (typeof batch === 'number' && batch > 0) {
      if (batch !== 1) throw new ProactError(`${name}: input '${input.name}' has a fixed batch of ${batch}; ${REEXPORT}`);
      fixedBatch = 1;
    }
    image.forEach((d, k) => {
      if (typeof d === 'number' && d > 0 && d !== expect.imageShape[k]) {
        throw new ProactError(
          `${name}: input '${input.name}' takes images of shape [${showDims(image)}] but the data has [${expect.imageShape.join(', ')}]; use data of the model's shape or the model made for this data`,
        );
      }
    });
  }
  if (outputs.length < 1) throw new ProactError(`${name}: has no output; ${REEXPORT}`);
  const output = outputs[0]!;
  let classes: number | null = null;
  if (output.isTensor && output.shape.length > 0) {
    const shape = output.shape;
    const ok = shape.length === 2 || (shape.length === 4 && shape[2] === 1 && shape[3] === 1);
    if (!ok) throw new ProactError(`${name}: output '${output.name}' has shape [${showDims(shape)}], not [N, classes] logits; ${REEXPORT}`);
    if (typeof shape[1] === 'number' && shape[1] > 0) {
      classes = shape[1];
      checkClasses(name, classes, expect.numClasses);
    }
  }
  return { input: input.name, output: output.name, fixedBatch, classes };
}

function checkClasses(name: string, classes: number, numClasses: number): void {
  if (classes < numClasses) {
    throw new ProactError(`${name}: gives ${classes} class scores but the data has labels 0..${numClasses - 1}; use the model trained for this data`);
  }
}

/**
 * Runs the classifier on `n` images (`x`: n x C x H x W) and returns the logits, n x classes, after
 * checking the output's shape; a model with a fixed batch of 1 is run one image at a time.
 */
export async function runClassifier(
  session: Session,
  contract: ModelContract,
  x: Float32Array,
  n: number,
  expect: ContractExpectation,
): Promise<{ logits: Float32Array; classes: number }> {
  const [c, h, w] = expect.imageShape;
  if (contract.fixedBatch === 1 && n > 1) {
    const size = c * h * w;
    let all: Float32Array | undefined;
    let classes = 0;
    for (let i = 0; i < n; i++) {
      const one = await runClassifier(session, contract, x.subarray(i * size, (i + 1) * size), 1, expect);
      classes = one.classes;
      all ??= new Float32Array(n * classes);
      all.set(one.logits, i * classes);
    }
    return { logits: all!, classes };
  }
  const out = (await session.run({ [contract.input]: { data: x, dims: [n, c, h, w] } }, [contract.output], 'running the model on a batch'))[contract.output]!;
  const dims = out.dims;
  const ok = (dims.length === 2 || (dims.length === 4 && dims[2] === 1 && dims[3] === 1)) && dims[0] === n;
  if (!ok) {
    throw new ProactError(`${session.name}: output '${contract.output}' has shape [${dims.join(', ')}] for ${n} images, not [${n}, classes] logits; ${REEXPORT}`);
  }
  const classes = dims[1]!;
  checkClasses(session.name, classes, expect.numClasses);
  if (!(out.data instanceof Float32Array)) throw new ProactError(`${session.name}: output '${contract.output}' is not float32 logits; ${REEXPORT}`);
  return { logits: out.data, classes };
}
