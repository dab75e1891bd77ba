// Activation fault plans and stuck-at weight faults: values bit for bit in every format, plans as data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ActivationPlanner,
  FaultPlanner,
  applyActivationFaults,
  applyBitFault,
  describeFaultModel,
  faultModelFromJSON,
  faultModelToJSON,
  parseFormat,
  planFromJSON,
  planToJSON,
  quantize,
  resolveFaultModel,
  type ActivationLayerShape,
} from '../../src/faults/index.js';
import { assertProactError, flipByHand, testValues } from './util.js';

const FORMATS = ['float32', 'float16', 'bfloat16', 'q15.16', 'q3.4', 'int8', 'int8-channel'];
const layers: ActivationLayerShape[] = [
  { name: 'conv1_out', dims: [4, 5, 5] },
  { name: 'relu1_out', dims: [4, 5, 5] },
  { name: 'fc_out', dims: [10] },
];

test('activation flips decode bit for bit in every format; untouched elements keep their float32 values', () => {
  const dims = [4, 5, 5];
  for (const format of FORMATS) {
    const f = parseFormat(format);
    const clean = testValues(100, 11, 3);
    // Several flips in one word combine; faults sorted by index and bit, as plans give them.
    const hits = [
      { index: 3, bit: 0 },
      { index: 3, bit: f.bits - 1 },
      { index: 40, bit: f.bits - 2 },
      { index: 77, bit: 1 },
    ];
    const values = clean.slice();
    applyActivationFaults(values, dims, hits, f, 'ieee');
    for (let i = 0; i < values.length; i++) {
      const mine = [3, 40, 77].includes(i) ? flipByHand(format, clean, dims, i, hits.filter((h) => h.index === i).map((h) => h.bit)) : clean[i]!;
      assert.ok(Object.is(values[i], mine) || (Number.isNaN(values[i]) && Number.isNaN(mine)), `${format} element ${i}: ${values[i]} vs ${mine}`);
    }
    assert.notEqual(values[3], clean[3], `${format}: the sign flip changed element 3`);
  }
});

test('the reference policy cleans flipped activations; a NaN activation that a format cannot store stays NaN', () => {
  const f32 = parseFormat('float32');
  const v = Float32Array.of(1, 0, 2);
  applyActivationFaults(v, [3], [{ index: 0, bit: 30 }, { index: 1, bit: 0 }], f32, 'reference');
  assert.equal(v[0], Math.fround(1e31)); // 1.0 with bit 30 set is Inf: the reference writes 1e31
  assert.equal(v[1], 0); // the smallest denormal is below 5e-30: 0
  const q = Float32Array.of(NaN, 1);
  applyActivationFaults(q, [2], [{ index: 0, bit: 3 }, { index: 1, bit: 16 }], parseFormat('q15.16'), 'ieee');
  assert.ok(Number.isNaN(q[0]));
  assert.equal(q[1], 0); // 1.0 is 1 << 16 in Q15.16: flipping bit 16 gives 0
});

test('activation plans are a pure function of (seed, BER, trial, images), cover exactly the trial images, and round-trip through JSON', () => {
  const planner = new ActivationPlanner(layers, { seed: 5 });
  const images = Int32Array.of(2, 7, 9, 40);
  const a = planner.plan(3e-3, 4, images);
  const b = new ActivationPlanner(layers, { seed: 5 }).plan(3e-3, 4, images);
  assert.deepEqual(a, b);
  assert.ok(a.length > 10, `${a.length} faults`);
  assert.ok(a.every((f) => [2, 7, 9, 40].includes(f.image)));
  assert.ok(new Set(a.map((f) => f.layer)).size === 3);
  assert.notDeepEqual(planner.plan(3e-3, 5, images), a, 'another trial, other faults');
  assert.notDeepEqual(new ActivationPlanner(layers, { seed: 6 }).plan(3e-3, 4, images), a, 'another seed, other faults');
  // The expected count: images x bits per image x BER (4 x 6,720 x 32 x 3e-3 = 2,580, within 5 sd).
  const expected = 4 * planner.bitsPerImage * 3e-3;
  assert.ok(Math.abs(a.length - expected) < 5 * Math.sqrt(expected), `${a.length} vs ${expected}`);
  // Sorted by image, layer (surface order), element, bit.
  const order = layers.map((l) => l.name);
  for (let i = 1; i < a.length; i++) {
    const p = a[i - 1]!;
    const q = a[i]!;
    const cmp = p.image - q.image || order.indexOf(p.layer) - order.indexOf(q.layer) || p.index - q.index || p.bit - q.bit;
    assert.ok(cmp < 0, `fault ${i} out of order`);
  }
  // A plan holding weight and activation faults writes both and reads them back.
  const weights = new FaultPlanner([{ name: 'w', kind: 'weight', dims: [8], values: testValues(8, 1) }], { seed: 5 }).plan(3e-3, 4);
  const plan = { ...weights, activations: a, activationSurfaceHash: planner.surfaceHash };
  const back = planFromJSON(planToJSON(plan));
  assert.deepEqual(back.activations, a);
  assert.equal(back.activationSurfaceHash, planner.surfaceHash);
  assert.equal(planToJSON(back), planToJSON(plan));
  // Weight-only plans read as they always did: no new fields.
  assert.deepEqual(Object.keys(JSON.parse(planToJSON(weights)) as object).sort(), ['ber', 'count', 'faults', 'format', 'policy', 'referenceSurface', 'seed', 'stratum', 'surfaceHash', 'trial', 'version']);
  assertProactError(() => planFromJSON(planToJSON(plan).replace('"activations":[[', '"activations":[[7,')), /activation fault 0/);
});

test('stuck-at faults set or clear the bit; a cell already holding its value is kept in the plan and changes nothing', () => {
  for (const format of FORMATS) {
    const f = parseFormat(format);
    for (const word of [0, 1, 0b1010, (2 ** f.bits - 1) >>> 0]) {
      for (let bit = 0; bit < f.bits; bit++) {
        const set = ((word >>> bit) & 1) === 1;
        assert.equal(applyBitFault(f, word, bit, 'stuck-at-1'), set ? word : f.flip(word, bit));
        assert.equal(applyBitFault(f, word, bit, 'stuck-at-0'), set ? f.flip(word, bit) : word);
        assert.equal(applyBitFault(f, word, bit, 'flip'), f.flip(word, bit));
      }
    }
  }
  const values = testValues(4096, 3, 0.5);
  for (const format of FORMATS) {
    const surface = [{ name: 'w', kind: 'weight' as const, dims: [64, 64], values: quantize(values, format, [64, 64]) }];
    const f = parseFormat(format);
    const encoded = f.encode(surface[0]!.values, [64, 64]);
    for (const fault of ['stuck-at-0', 'stuck-at-1'] as const) {
      const plan = new FaultPlanner(surface, { seed: 9, faults: { format, fault } }).plan(1e-3, 2);
      assert.equal(plan.fault, fault);
      // The same cells as the flips of that trial: the count model and stream are shared.
      const flips = new FaultPlanner(surface, { seed: 9, faults: { format } }).plan(1e-3, 2);
      assert.deepEqual(plan.faults.map((x) => [x.index, x.bit]), flips.faults.map((x) => [x.index, x.bit]));
      let masked = 0;
      const stuck = fault === 'stuck-at-1';
      for (const x of plan.faults) {
        const word = encoded.words[x.index]!;
        // Every stuck cell of the word applies (a word may hold two).
        let after = word;
        for (const y of plan.faults) if (y.index === x.index) after = stuck ? (after | (1 << y.bit)) >>> 0 : (after & ~(1 << y.bit)) >>> 0;
        assert.ok(Object.is(x.after, f.decodeWord(after, encoded, x.index)), `${format} ${fault} element ${x.index} bit ${x.bit}`);
        if ((((word >>> x.bit) & 1) === 1) === stuck) masked++;
        if (after === word) assert.ok(Object.is(x.before, x.after));
      }
      assert.ok(masked > 0 && masked < plan.faults.length, `${format} ${fault}: ${masked} of ${plan.faults.length} cells masked`);
      assert.deepEqual(planFromJSON(planToJSON(plan)), plan);
    }
  }
  assertProactError(() => new FaultPlanner([{ name: 'w', kind: 'weight', dims: [2], values: Float32Array.of(1, 2) }], { seed: 1, faults: { fault: 'stuck-at-1' }, sampling: 'stratified' }), /stratified sampling is defined for bit flips/);
});

test('the fault model carries the fault kind and the activation layers; bit-flip weight models keep their JSON (and campaign keys)', () => {
  const plain = resolveFaultModel({});
  assert.equal(plain.fault, 'flip');
  assert.deepEqual(plain.activations, []);
  assert.deepEqual(Object.keys(faultModelToJSON(plain)), ['format', 'count', 'policy', 'surface', 'referenceSurface', 'foldBatchNorm']);
  const m = resolveFaultModel({ surface: 'weight, activation:conv,bias,activation:conv', fault: 'Stuck-At-1' });
  assert.deepEqual(m.surface, ['bias', 'weight']);
  assert.deepEqual(m.activations, ['activation:conv']);
  assert.equal(m.fault, 'stuck-at-1');
  assert.deepEqual(faultModelFromJSON(JSON.parse(JSON.stringify(faultModelToJSON(m))), 'test'), m);
  const only = resolveFaultModel({ surface: 'activation:act' });
  assert.deepEqual(only.surface, []);
  assert.deepEqual(faultModelFromJSON(faultModelToJSON(only), 'test'), only);
  assert.match(describeFaultModel(m), /stuck-at-1 faults, activations activation:conv/);
  assertProactError(() => resolveFaultModel({ fault: 'stuck' }), /unknown fault kind 'stuck'/);
  assertProactError(() => resolveFaultModel({ surface: 'activation:' }), /names no layers/);
  assertProactError(() => resolveFaultModel({ surface: 'weights' }), /unknown kind 'weights'/);
});
