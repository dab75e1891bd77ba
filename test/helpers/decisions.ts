/**
 * The acceptance rule of ProAct, checked on what `proact harden --method proact` wrote: layers from the
 * last to the first, weight decays tried strong to weak until one is accepted, each accepted exactly
 * when |acc0 - acc| <= tolerance (acc0 from the hardened model's metadata), and each decision printed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readOnnxFile } from '../../src/graph/index.js';
import { withinTolerance } from '../../src/harden/proact.js';

interface LoggedDecision {
  layer: number;
  accepted: boolean;
  accuracy: number;
  setting: { weightDecay: number };
}

/** Checks the decisions beside `out` (hardened.onnx -> hardened.decisions.json); returns them. */
export function assertDecisionsFollowRule(out: string, stderr: string, opts: { tolerance: number; weightDecays: readonly number[]; layers: number }): LoggedDecision[] {
  const acc0 = (JSON.parse(readOnnxFile(out).metadata['proact.training']!) as { acc0: number }).acc0;
  const log = JSON.parse(readFileSync(out.replace(/\.onnx$/, '.decisions.json'), 'utf8')) as { decisions: LoggedDecision[] };
  const order = Array.from({ length: opts.layers }, (_, i) => opts.layers - 1 - i);
  assert.deepEqual([...new Set(log.decisions.map((d) => d.layer))], order, 'last layer first');
  for (const layer of order) {
    const tried = log.decisions.filter((d) => d.layer === layer);
    const firstAccepted = tried.findIndex((d) => d.accepted);
    const expected = opts.weightDecays.slice(0, firstAccepted < 0 ? opts.weightDecays.length : firstAccepted + 1);
    assert.deepEqual(tried.map((d) => d.setting.weightDecay), [...expected], `layer ${layer}: weight decays strong to weak, up to the first accepted`);
    for (const d of tried) {
      assert.equal(d.accepted, withinTolerance(acc0, d.accuracy, opts.tolerance), `layer ${layer}, wd ${d.setting.weightDecay}: acc ${d.accuracy} vs acc0 ${acc0}`);
      const shown = `layer ${layer}: weight decay ${d.setting.weightDecay} -> validation ${(d.accuracy * 100).toFixed(2)}% ${d.accepted ? 'accepted' : 'rolled back'}`;
      assert.ok(stderr.includes(shown), `printed: ${shown}\n${stderr}`);
    }
  }
  return log.decisions;
}
