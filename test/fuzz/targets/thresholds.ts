/**
 * Threshold JSON (`<model>.thresholds.json`, read by `proact harden --thresholds` and reports): parsed
 * with thresholdsFromJSON, then applied to the tiny CNN it was written for (node names, dims and
 * granularities checked against the model) and the hardened graph re-read from its ONNX bytes.
 */
import { applyThresholds, thresholdsFromJSON } from '../../../src/harden/thresholds.js';
import { prepareGraph, readOnnx, writeOnnx } from '../../../src/graph/index.js';
import { tinyCnn } from '../../helpers/tinymodel.js';
import { bytesText, mutatedJson } from '../mutate.js';
import type { FuzzTarget } from '../target.js';

const model = prepareGraph(tinyCnn(1));

export const thresholdsTarget: FuzzTarget = {
  name: 'thresholds-json',
  what: 'threshold JSON -> thresholdsFromJSON + applyThresholds to the tiny CNN + ONNX round trip',
  inputs: (ctx) => mutatedJson(ctx.seeds),
  run(input) {
    const set = thresholdsFromJSON(bytesText(input), 'fuzz.thresholds.json');
    const hardened = applyThresholds(model, set.thresholds, set.method, {
      ...(set.k !== undefined ? { k: set.k } : {}),
      ...(set.guard !== undefined ? { guard: set.guard } : {}),
    });
    prepareGraph(readOnnx(writeOnnx(hardened)));
  },
};
