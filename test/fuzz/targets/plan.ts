/**
 * Fault-plan JSON (what `proact faults show --out` writes and `faults replay` reads): parsed alone,
 * against the surface it was made for (by shapes and by hash), then applied to the clean tensors.
 */
import { applyPlan, planFromJSON, quantize, surfaceHash } from '../../../src/faults/index.js';
import { fuzzSurface } from '../fixtures.js';
import { bytesText, mutatedJson } from '../mutate.js';
import { chains, type FuzzTarget } from '../target.js';

const surface = fuzzSurface();
const hash = surfaceHash(surface);

export const planTarget: FuzzTarget = {
  name: 'fault-plan-json',
  what: 'fault plan JSON -> planFromJSON (alone, against the surface and its hash) + applyPlan',
  inputs: (ctx) => mutatedJson(ctx.seeds),
  run(input) {
    const text = bytesText(input);
    return chains(
      () => planFromJSON(text),
      () => planFromJSON(text, { surfaceHash: hash }),
      () => {
        const plan = planFromJSON(text, surface);
        const clean = new Map(surface.map((t) => [t.name, quantize(t.values, plan.format, t.dims)]));
        applyPlan(clean, plan);
      },
    );
  },
};
