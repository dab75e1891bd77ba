// Fault plans: order independence, values after flips, xor in one word, apply/replay, strict JSON, surfaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FaultPlanner,
  applyPlan,
  float32Bits,
  makePlan,
  parseFormat,
  planFromJSON,
  planToJSON,
  quantize,
  surfaceHash,
  type FaultPlan,
  type SurfaceTensor,
} from '../../src/faults/index.js';
import { assertProactError, resnet20Surface, testValues } from './util.js';

function smallSurface(): SurfaceTensor[] {
  return [
    { name: 'conv.weight', kind: 'weight', dims: [4, 2, 3, 3], values: testValues(72, 1, 0.5) },
    { name: 'conv.bias', kind: 'bias', dims: [4], values: testValues(4, 2, 0.1) },
    { name: 'act1.threshold', kind: 'threshold', dims: [1], values: new Float32Array([2.5]) },
    { name: 'layer.thresholds', kind: 'threshold', dims: [3], values: new Float32Array([1, 2, 3]), scalarThreshold: true },
    { name: 'act2.threshold', kind: 'threshold', dims: [4, 2, 2], values: testValues(16, 3, 4).map(Math.abs) },
  ];
}

function tensorsOf(surface: readonly SurfaceTensor[], format = 'float32'): Map<string, Float32Array> {
  return new Map(surface.map((t) => [t.name, quantize(t.values, format, t.dims)]));
}

function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

test('plans are identical whatever order trials and BERs are generated in, by whichever planner', () => {
  const surface = resnet20Surface();
  const options = { seed: 31337, faults: { format: 'float32', count: 'bernoulli', policy: 'ieee' } } as const;
  const bers = [1e-6, 3e-5];
  const forward = new FaultPlanner(surface, options);
  const plans = new Map<string, FaultPlan>();
  const key = (ber: number, trial: number): string => `${ber}/${trial}`;
  for (const ber of bers) for (let trial = 0; trial < 30; trial++) plans.set(key(ber, trial), forward.plan(ber, trial));
  const backward = new FaultPlanner(surface, options);
  for (let trial = 29; trial >= 0; trial--) {
    for (const ber of [...bers].reverse()) assert.deepEqual(backward.plan(ber, trial), plans.get(key(ber, trial)));
  }
  const plan17 = plans.get(key(3e-5, 17))!;
  assert.ok(plan17.faults.length > 200);
  assert.deepEqual(makePlan(surface, { ...options, ber: 3e-5, trial: 17 }), plan17);
  assert.notDeepEqual(plan17.faults, plans.get(key(3e-5, 18))!.faults);
  assert.notDeepEqual(new FaultPlanner(surface, { ...options, seed: 31338 }).plan(3e-5, 17).faults, plan17.faults);
});

test('float32 plan: after = decode(flip(encode(before))), faults sorted, ResNet-20 at 3e-5 has ~258 flips', () => {
  const surface = resnet20Surface();
  const planner = new FaultPlanner(surface, { seed: 5 });
  assert.equal(planner.totalBits, 269034 * 32);
  const order = new Map(surface.map((t, i) => [t.name, i]));
  let flips = 0;
  for (let trial = 0; trial < 20; trial++) {
    const plan = planner.plan(3e-5, trial);
    flips += plan.faults.length;
    const positions = plan.faults.map((f) => {
      assert.equal(f.before, surface[order.get(f.tensor)!]!.values[f.index]);
      // Two flips can land in one word: xor all of that word's bits.
      const mask = plan.faults.filter((g) => g.tensor === f.tensor && g.index === f.index).reduce((m, g) => m ^ (1 << g.bit), 0);
      assert.equal(float32Bits(f.after), (float32Bits(f.before) ^ mask) >>> 0);
      return order.get(f.tensor)! * 2 ** 40 + f.index * 32 + f.bit;
    });
    positions.forEach((p, i) => assert.ok(i === 0 || positions[i - 1]! < p, 'faults sorted by tensor, index, bit'));
  }
  const expected = 269034 * 32 * 3e-5; // 258.3 flips per trial; sd of a 20-trial mean = sqrt(258.3 / 20) = 3.6
  assert.ok(Math.abs(flips / 20 - expected) < 3 * Math.sqrt(expected / 20), `mean flips ${flips / 20}`);
});

test('flips in one word combine by xor; every fault of the word reports the final value', () => {
  const surface: SurfaceTensor[] = [{ name: 'w', kind: 'weight', dims: [2], values: new Float32Array([0.75, -3]) }];
  const plan = makePlan(surface, { seed: 1, ber: 0.9, trial: 0, faults: { count: 'reference' } }); // 57 draws among 64 bits
  assert.equal(plan.faults.length, 57);
  for (const index of [0, 1]) {
    const faults = plan.faults.filter((f) => f.index === index);
    let mask = 0;
    for (const f of faults) mask ^= 1 << f.bit; // a bit drawn twice cancels
    const expected = new Float32Array(new Uint32Array([(float32Bits(surface[0]!.values[index]!) ^ mask) >>> 0]).buffer)[0]!;
    for (const f of faults) {
      assert.equal(f.before, surface[0]!.values[index]);
      assert.ok(Object.is(f.after, expected) || (Number.isNaN(f.after) && Number.isNaN(expected)), `${f.after} vs ${expected}`);
    }
  }
});

test('q15.16 and int8 plans hold the quantised values; applyPlan needs the quantised clean tensors', () => {
  const surface = smallSurface();
  for (const format of ['q15.16', 'int8', 'int8-channel', 'bfloat16']) {
    const plan = makePlan(surface, { seed: 9, ber: 0.01, trial: 4, faults: { format } });
    assert.ok(plan.faults.length > 0);
    const clean = tensorsOf(surface, format);
    const f = parseFormat(format);
    for (const fault of plan.faults) {
      const t = surface.find((s) => s.name === fault.tensor)!;
      const encoded = f.encode(t.values, t.dims);
      assert.equal(fault.before, clean.get(fault.tensor)![fault.index]);
      assert.ok(fault.bit < f.bits);
      const word = encoded.words[fault.index]!;
      const flips = plan.faults.filter((g) => g.tensor === fault.tensor && g.index === fault.index);
      const final = flips.reduce((w, g) => f.flip(w, g.bit), word);
      assert.equal(fault.after, f.decodeWord(final, encoded, fault.index));
    }
    const patched = applyPlan(clean, plan);
    for (const fault of plan.faults) assert.equal(patched.get(fault.tensor)![fault.index], fault.after);
    if (format !== 'bfloat16') {
      // The raw float32 values are not the clean model under this format.
      assertProactError(() => applyPlan(tensorsOf(surface), plan), /fault plan expects .* pass the clean values quantised to/);
    }
  }
});

test('applyPlan returns patched copies of the touched tensors only and never mutates its input', () => {
  const surface = resnet20Surface();
  const clean = tensorsOf(surface);
  const snapshot = new Map([...clean].map(([name, values]) => [name, values.slice()]));
  const plan = makePlan(surface, { seed: 11, ber: 1e-5, trial: 2 });
  const patched = applyPlan(clean, plan);
  assert.deepEqual([...patched.keys()].sort(), [...new Set(plan.faults.map((f) => f.tensor))].sort());
  for (const [name, values] of clean) assert.deepEqual(bitsOf(values), bitsOf(snapshot.get(name)!));
  for (const [name, values] of patched) {
    const touched = new Set(plan.faults.filter((f) => f.tensor === name).map((f) => f.index));
    values.forEach((v, i) => {
      if (!touched.has(i)) assert.ok(Object.is(v, clean.get(name)![i]));
    });
  }
  assertProactError(() => applyPlan(new Map(), plan), /hits tensor '.*', which the model does not have/);
});

/** The plan of the first trial whose single flip (fixed:1) of a one-element tensor holding `value` hits `bit`. */
function planFlipping(value: number, bit: number, policy: 'ieee' | 'reference' = 'ieee'): { plan: FaultPlan; surface: SurfaceTensor[] } {
  const surface: SurfaceTensor[] = [{ name: 'w', kind: 'weight', dims: [1], values: new Float32Array([value]) }];
  for (let trial = 0; ; trial++) {
    const plan = makePlan(surface, { seed: 3, ber: 1e-3, trial, faults: { count: 'fixed:1', policy } });
    if (plan.faults[0]!.bit === bit) return { plan, surface };
  }
}

test('special flips: 0 -> -0 (sign), 2^127 -> Inf (bit 23), reference policy turns that Inf into 1e31', () => {
  assert.ok(Object.is(planFlipping(0, 31).plan.faults[0]!.after, -0));
  assert.equal(planFlipping(2 ** 127, 23).plan.faults[0]!.after, Infinity);
  assert.equal(planFlipping(2 ** 127, 23, 'reference').plan.faults[0]!.after, Math.fround(1e31));
  assert.ok(Number.isNaN(planFlipping(2 ** 127 * (1 + 2 ** -23), 23).plan.faults[0]!.after));
  // An all-ones exponent with a mantissa (NaN in IEEE) is 1e31 in the reference, with the sign.
  assert.equal(planFlipping(2 ** 127 * (1 + 2 ** -23), 23, 'reference').plan.faults[0]!.after, Math.fround(1e31));
  assert.equal(planFlipping(1.5, 30, 'reference').plan.faults[0]!.after, Math.fround(1e31));
  assert.equal(planFlipping(-1.5, 30, 'reference').plan.faults[0]!.after, -Math.fround(1e31));
  assert.ok(Number.isNaN(planFlipping(1.5, 30).plan.faults[0]!.after));
});

test('JSON round trip and replay give bit-identical values, -0, Inf and NaN included', () => {
  const cases = [planFlipping(0, 31), planFlipping(2 ** 127, 23), planFlipping(2 ** 127 * (1 + 2 ** -23), 23)];
  const surface = smallSurface();
  for (let trial = 0; trial < 20; trial++) cases.push({ plan: makePlan(surface, { seed: 2, ber: 0.05, trial, faults: { count: 'poisson' } }), surface });
  for (const { plan, surface: s } of cases) {
    const json = planToJSON(plan);
    assert.ok(!json.includes('\n'));
    const back = planFromJSON(json, s);
    assert.deepEqual(back, plan); // deepEqual uses Object.is: NaN equals NaN, -0 differs from 0
    assert.deepEqual(planFromJSON(planToJSON(plan, 2), s), plan);
    const clean = tensorsOf(s);
    const a = applyPlan(clean, plan);
    const b = applyPlan(clean, back);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [name, values] of a) assert.deepEqual(bitsOf(values), bitsOf(b.get(name)!));
  }
  assert.match(planToJSON(cases[0]!.plan), /"after":"-0"/);
  assert.match(planToJSON(cases[1]!.plan), /"after":"Infinity"/);
  assert.match(planToJSON(cases[2]!.plan), /"after":"NaN"/);
});

test('scalar thresholds are hit by default and immune under referenceSurface', () => {
  const surface = smallSurface();
  for (const [referenceSurface, elements, hit] of [
    [false, 72 + 4 + 1 + 3 + 16, ['act1.threshold', 'act2.threshold', 'conv.bias', 'conv.weight', 'layer.thresholds']],
    [true, 72 + 4 + 16, ['act2.threshold', 'conv.bias', 'conv.weight']],
  ] as const) {
    // fixed:(all hittable bits) flips every bit the surface exposes.
    const planner = new FaultPlanner(surface, { seed: 4, faults: { count: `fixed:${elements * 32}`, referenceSurface } });
    assert.equal(planner.totalBits, elements * 32);
    const plan = planner.plan(1e-5, 0);
    assert.equal(plan.referenceSurface, referenceSurface);
    assert.deepEqual([...new Set(plan.faults.map((f) => f.tensor))].sort(), hit);
  }
});

test('surfaceHash identifies names, kinds and dims, not values', () => {
  const surface = smallSurface();
  const hash = surfaceHash(surface);
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(surfaceHash(surface.map((t) => ({ ...t, values: t.values.map((v) => v + 1) }))), hash);
  assert.notEqual(surfaceHash(surface.map((t, i) => (i === 0 ? { ...t, dims: [4, 2, 9] } : t))), hash);
  assert.notEqual(surfaceHash(surface.map((t, i) => (i === 1 ? { ...t, name: 'conv.b' } : t))), hash);
  assert.notEqual(surfaceHash(surface.slice(1)), hash);
});

test('planFromJSON rejects malformed plans and plans made for another surface, in one line', () => {
  const surface = smallSurface();
  const plan = makePlan(surface, { seed: 8, ber: 0.02, trial: 1 });
  assert.ok(plan.faults.length >= 2);
  const good = JSON.parse(planToJSON(plan)) as Record<string, unknown>;
  const edit = (change: (p: Record<string, unknown>) => void): string => {
    const copy = structuredClone(good);
    change(copy);
    return JSON.stringify(copy);
  };
  const fault0 = (p: Record<string, unknown>): Record<string, unknown> => (p.faults as Array<Record<string, unknown>>)[0]!;
  const cases: Array<[string, RegExp]> = [
    ['{"version": 1,', /not valid JSON/],
    ['[]', /the plan is not an object/],
    [edit((p) => delete p.seed), /lacks the field 'seed'/],
    [edit((p) => (p.extra = 1)), /unknown field 'extra'/],
    [edit((p) => (p.version = 2)), /version 2 is not supported/],
    [edit((p) => (p.seed = -3)), /field 'seed': seed -3 is not valid/],
    [edit((p) => (p.seed = '8')), /field 'seed': "8" is not a number/],
    [edit((p) => (p.ber = 0)), /field 'ber': BER 0 is outside \(0, 1\)/],
    [edit((p) => (p.ber = 1.5)), /field 'ber': BER 1.5 is outside/],
    [edit((p) => (p.trial = 0.5)), /field 'trial': trial 0.5 is not valid/],
    [edit((p) => (p.format = 'q20.20')), /field 'format': number format 'q20.20' needs 41 bits/],
    [edit((p) => (p.format = 'posit8')), /field 'format': unknown number format 'posit8'/],
    [edit((p) => (p.count = 'binomial')), /field 'count': unknown fault count model 'binomial'/],
    [edit((p) => (p.count = 'fixed:1')), /count model 'fixed:1' but \d+ faults are listed/],
    [edit((p) => (p.policy = 'clamp')), /field 'policy': unknown float policy 'clamp'/],
    [edit((p) => (p.referenceSurface = 'no')), /field 'referenceSurface' is "no"/],
    [edit((p) => (p.surfaceHash = 'abc')), /'surfaceHash' is not a sha256 hex digest/],
    [edit((p) => (p.faults = {})), /field 'faults' is not an array/],
    [edit((p) => (fault0(p).bit = 32)), /fault 0 has bit 32: a float32 word has bits 0\.\.31/],
    [edit((p) => (fault0(p).index = -1)), /fault 0 has index -1/],
    [edit((p) => (fault0(p).tensor = 7)), /fault 0 has tensor 7/],
    [edit((p) => (fault0(p).after = 'inf')), /fault 0 after is "inf": use a number or one of "NaN"/],
    [edit((p) => (fault0(p).color = 'red')), /fault 0 has the unknown field 'color'/],
    [edit((p) => (p.faults as unknown[]).push(fault0(p))), /is flipped twice, which the 'bernoulli' count model never does/],
    [edit((p) => (p.faults as unknown[]).push({ ...fault0(p), bit: (fault0(p).bit as number) ^ 1, after: 123 })), /disagree on its before\/after values/],
    [edit((p) => (fault0(p).tensor = 'ghost')), /hits tensor 'ghost', which is not in the model's fault surface/],
    [edit((p) => (fault0(p).index = 1e6)), /hits element 1000000 of/],
  ];
  for (const [text, pattern] of cases) assertProactError(() => planFromJSON(text, surface), pattern);

  const otherModel = smallSurface().map((t, i) => (i === 0 ? { ...t, dims: [4, 18], values: t.values } : t));
  assertProactError(() => planFromJSON(planToJSON(plan), otherModel), /the plan was made for another model \(surface hash [0-9a-f]{12}\.\.\. is not this model's/);
  assertProactError(() => planFromJSON(planToJSON(plan), { surfaceHash: surfaceHash(otherModel) }), /made for another model/);
  assert.deepEqual(planFromJSON(planToJSON(plan), { surfaceHash: surfaceHash(surface) }), plan);
  assert.deepEqual(planFromJSON(planToJSON(plan)), plan); // no surface given: structure only
});

test('bad plan options are one-line errors', () => {
  const surface = smallSurface();
  for (const ber of [0, 1, -0.1, NaN]) assertProactError(() => makePlan(surface, { seed: 1, ber, trial: 0 }), /is outside \(0, 1\)/);
  assertProactError(() => makePlan(surface, { seed: 1, ber: 1e-5, trial: 0, faults: { format: 'float8' } }), /unknown number format 'float8'/);
  assertProactError(() => makePlan(surface, { seed: 1, ber: 1e-5, trial: 0, faults: { format: 'q20.20' } }), /needs 41 bits/);
  assertProactError(() => makePlan(surface, { seed: 1, ber: 1e-5, trial: 0, faults: { count: 'gaussian' } }), /unknown fault count model 'gaussian'/);
  assertProactError(() => makePlan(surface, { seed: 1, ber: 1e-5, trial: -1 }), /trial -1 is not valid/);
  assertProactError(() => makePlan(surface, { seed: 2 ** 53, ber: 1e-5, trial: 0 }), /seed 9007199254740992 is not valid/);
  assertProactError(() => makePlan(surface, { seed: 1, ber: 1e-5, trial: 0, faults: { policy: 'clamp' as 'ieee' } }), /unknown float policy/);
  const broken = [...surface, { name: 'conv.weight', kind: 'weight' as const, dims: [1], values: new Float32Array(1) }];
  assertProactError(() => makePlan(broken, { seed: 1, ber: 1e-5, trial: 0 }), /tensor 'conv.weight' is listed twice/);
  const mismatched = [{ name: 'w', kind: 'weight' as const, dims: [2, 3], values: new Float32Array(5) }];
  assertProactError(() => makePlan(mismatched, { seed: 1, ber: 1e-5, trial: 0 }), /has dims \[2, 3\] but 5 values/);
  const withNaN = [{ name: 'w', kind: 'weight' as const, dims: [2], values: new Float32Array([NaN, 1]) }];
  assertProactError(() => makePlan(withNaN, { seed: 1, ber: 0.5, trial: 0, faults: { format: 'int8' } }), /fault surface tensor 'w': int8 cannot store the non-finite value NaN/);
});
