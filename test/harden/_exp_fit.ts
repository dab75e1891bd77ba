import { tinySetup } from './threshold-fixtures.js';
import { hardenFitAct } from '../../src/harden/fitact.js';
const s = await tinySetup();
for (const o of [{ lr: 1e-2, lambda: 1e-2 }, { lr: 1e-2, lambda: 1e-3 }, { lr: 1e-3, lambda: 1e-3 }, { lr: 1e-2, lambda: 0 }]) {
  const r = await hardenFitAct(s.graph, s.data, s.profile, { images: 1000, batchSize: 64, threads: 1, epochs: 3, ...o });
  const l2 = (v: Float32Array[]) => v.reduce((a, x) => a + x.reduce((p, y) => p + y * y, 0) / x.length, 0);
  console.log(o, l2(s.profile.layers.map((l) => l.neuronMax)), '->', l2(r.thresholds.map((t) => t.values)), r.validationAccuracy);
}
