import { tinySetup } from './threshold-fixtures.js';
import { graphAccuracy } from '../../src/harden/accuracy.js';
import { hardenProAct } from '../../src/harden/proact.js';
import { hardenFitAct } from '../../src/harden/fitact.js';
const t0 = performance.now();
const s = await tinySetup();
console.log('setup', ((performance.now() - t0) / 1000).toFixed(2), 's', 'acc', await graphAccuracy(s.graph, s.data.validation));
console.log(s.profile.layers.map((l) => [l.node, l.dims, l.layerMax]));
const t1 = performance.now();
const r = await hardenProAct(s.graph, s.data, s.profile, { images: 1000, batchSize: 64, threads: 1, weightDecays: [4, 4e-1, 4e-2, 4e-3, 0] , onDecision: (d) => console.log(JSON.stringify(d))});
console.log('proact', ((performance.now() - t1) / 1000).toFixed(2), 's', r.validationAccuracy, r.imagesProcessed);
for (const t of r.thresholds) console.log(t.layer, t.granularity, Array.from(t.values.slice(0, 5)), 'profile', s.profile.layers[t.layer]!.layerMax, Array.from(s.profile.layers[t.layer]!.neuronMax.slice(0,5)));
const t2 = performance.now();
const f = await hardenFitAct(s.graph, s.data, s.profile, { images: 1000, batchSize: 64, threads: 1 });
console.log('fitact', ((performance.now() - t2) / 1000).toFixed(2), 's', f.validationAccuracy, f.imagesProcessed);
for (const t of f.thresholds) { const p = s.profile.layers[t.layer]!.neuronMax; let a=0,b=0; for (let i=0;i<p.length;i++){a+=p[i]!**2;b+=t.values[i]!**2;} console.log(t.layer, 'mean T^2', a/p.length, '->', b/p.length); }
