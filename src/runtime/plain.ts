/**
 * A written model checked the way a user will run it: plain onnxruntime-node with default session
 * options, against proact's own session on a few images. A hardened ONNX file must be an ordinary model
 * that runs anywhere onnxruntime runs.
 */
import ort from './ort.js';
import type { Dataset } from '../data/index.js';
import type { Graph } from '../graph/index.js';
import { ProactError } from '../util/errors.js';
import { Session } from './session.js';

/**
 * Runs the hardened ONNX file in plain onnxruntime-node (default session options, as any user would)
 * and compares its logits with our runtime's on a few images: the file must be an ordinary ONNX model.
 */
export async function checkPlainOnnxruntime(path: string, graph: Graph, data: Dataset, images = 16): Promise<number> {
  const n = Math.min(images, data.count);
  if (n === 0) return 0;
  const batch = data.read(0, n);
  const dims = [n, ...data.shape];
  const plain = await ort.InferenceSession.create(path);
  const ours = await Session.create(graph, { threads: 1 });
  try {
    const input = plain.inputNames[0]!;
    const a = (await plain.run({ [input]: new ort.Tensor('float32', batch.x, dims) }))[plain.outputNames[0]!]!.data as Float32Array;
    const b = (await ours.run({ [ours.inputNames[0]!]: { data: batch.x, dims } }))[ours.outputNames[0]!]!.data;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
    if (a.length !== b.length || !(worst <= 1e-5)) throw new ProactError(`the written model ${path} gives other logits in plain onnxruntime than in proact (relative difference ${worst}); please report this with the model`);
    return worst;
  } finally {
    await plain.release();
    await ours.release();
  }
}
