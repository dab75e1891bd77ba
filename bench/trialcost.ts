/**
 * `npm run bench -- trialcost [--runs N]`: what one campaign trial costs before its images, against what
 * an image costs, on resnet20.onnx with 1 intra-op thread (what each of `--workers 2` gets with
 * `--precision`). The automatic image count (`--images auto`) charges a trial's set-up as `--trial-cost`
 * images (DEFAULT_TRIAL_COST_IMAGES); this measures that figure so docs/campaigns.md can state it from a
 * results file.
 *
 * Per run: patch a fault plan into the model bytes, create the session and run one image (the set-up a
 * trial pays whatever its image count), then time batches of 250 images (the campaign's default batch)
 * on the same session; medians over the runs. Also the time to make one fault plan at BER 3e-5 (docs/faults.md
 * says plans cost time in proportion to their flips), median over PLANS plans after the first (which
 * encodes the tensors it hits). No torch_ref side: these are costs inside proact's own design, not a
 * comparison.
 */
import { DEFAULT_TRIAL_COST_IMAGES, applyPlanToBytes, loadEvalSet, makeFaultable } from '../src/campaign/index.js';
import { openDataset } from '../src/data/index.js';
import { FaultPlanner } from '../src/faults/index.js';
import { prepareGraph, readOnnxFile } from '../src/graph/index.js';
import { Session } from '../src/runtime/index.js';
import { median, requireShared } from './common.js';

const THREADS = 1;
const BATCH = 250;
const BATCHES = 4;
const BER = 1e-5;
const PLAN_BER = 3e-5;
const PLANS = 101;

export async function benchTrialCost(opts: { runs: number }): Promise<Record<string, unknown>> {
  const graph = prepareGraph(readOnnxFile(requireShared('models/resnet20.onnx')), { foldBatchNorm: true });
  const faultable = makeFaultable(graph, { kinds: ['weight', 'bias'] });
  const planner = new FaultPlanner(faultable.surface, { seed: 1 });
  const evalSet = loadEvalSet(openDataset(requireShared('data/cifar10-jpeg75'), { split: 'test' }), 0, BATCH * BATCHES);
  const [c, h, w] = evalSet.shape;
  const size = c * h * w;
  // Plain copies: onnxruntime-node rejects views of the eval set's SharedArrayBuffer.
  const one = evalSet.x.slice(0, size);
  const batches = Array.from({ length: BATCHES }, (_, b) => evalSet.x.slice(b * BATCH * size, (b + 1) * BATCH * size));
  const setupMs: number[] = [];
  const msPerImage: number[] = [];
  for (let k = 0; k < opts.runs; k++) {
    // A different plan per run, as trials have: the patch and the session see other bytes each time.
    const plan = planner.plan(BER, k);
    const t0 = performance.now();
    const session = await Session.create(applyPlanToBytes(faultable, plan.faults), { threads: THREADS });
    try {
      const input = session.inputNames[0]!;
      const output = session.outputNames[0]!;
      await session.run({ [input]: { data: one, dims: [1, c, h, w] } }, [output]);
      setupMs.push(performance.now() - t0);
      const times: number[] = [];
      for (const x of batches) {
        const t1 = performance.now();
        await session.run({ [input]: { data: x, dims: [BATCH, c, h, w] } }, [output]);
        times.push(performance.now() - t1);
      }
      msPerImage.push(median(times) / BATCH);
    } finally {
      await session.release();
    }
  }
  const planMs: number[] = [];
  const planFaults: number[] = [];
  for (let k = 0; k < PLANS; k++) {
    const t0 = performance.now();
    const plan = planner.plan(PLAN_BER, 1000 + k);
    if (k > 0) planMs.push(performance.now() - t0);
    planFaults.push(plan.faults.length);
  }
  const setup = median(setupMs);
  const image = median(msPerImage);
  return {
    bench: 'trialcost',
    model: 'resnet20.onnx',
    threads: THREADS,
    batch: BATCH,
    runs: opts.runs,
    setupMs: setup,
    setupMsAll: setupMs,
    msPerImage: image,
    msPerImageAll: msPerImage,
    trialCostImages: setup / image,
    defaultTrialCostImages: DEFAULT_TRIAL_COST_IMAGES,
    planBer: PLAN_BER,
    plans: PLANS - 1,
    planMs: median(planMs),
    planFaults: median(planFaults),
  };
}
