/**
 * Byte-level mutators built from fast-check generators: every input is a seed file with a few random
 * edits (bit flips, byte sets, inserts, deletes, truncation, chunk copies, "interesting" integers
 * written over a field). fast-check draws the edits from its seeded generator, so a run is reproducible
 * from (seed, number of cases) alone.
 *
 * Positions are drawn relative to a region (anywhere, the first 4 KiB, or the last 4 KiB): the headers
 * and graph structure of large files (an ONNX model's node list, a SQLite file's first page) sit at their
 * ends, and uniform positions would nearly always land in weight bytes.
 */
import fc from 'fast-check';

type Region = 'any' | 'head' | 'tail';
interface Position {
  region: Region;
  offset: number;
}

export type Mutation =
  | { kind: 'flip'; at: Position; bit: number }
  | { kind: 'set'; at: Position; value: number }
  | { kind: 'insert'; at: Position; bytes: Uint8Array }
  | { kind: 'delete'; at: Position; length: number }
  | { kind: 'truncate'; at: Position }
  | { kind: 'copy'; from: Position; to: Position; length: number }
  | { kind: 'integer'; at: Position; bytes: Uint8Array };

const EDGE = 4096;

function resolvePosition(p: Position, length: number): number {
  if (length === 0) return 0;
  const window = Math.min(length, EDGE);
  if (p.region === 'head') return p.offset % window;
  if (p.region === 'tail') return length - 1 - (p.offset % window);
  return p.offset % length;
}

/** Integers that break size and count fields: 0, -1, sign boundaries, 2^31, 2^32 - 1, huge varints. */
const INTERESTING: readonly Uint8Array[] = [
  [0x00],
  [0xff],
  [0x7f],
  [0x80],
  [0x00, 0x00, 0x00, 0x00],
  [0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0x7f],
  [0x00, 0x00, 0x00, 0x80],
  [0x7f, 0xff, 0xff, 0xff],
  [0x80, 0x00, 0x00, 0x00],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f], // +Inf as a little-endian float64
  [0x00, 0x00, 0x80, 0x7f], // +Inf as a little-endian float32
  [0x00, 0x00, 0xc0, 0x7f], // NaN as a little-endian float32
  // Protobuf varints: 2^31, 2^32 - 1, 2^63 - 1, -1 (ten bytes), and a varint that never ends.
  [0x80, 0x80, 0x80, 0x80, 0x08],
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
].map((b) => Uint8Array.from(b));

const position: fc.Arbitrary<Position> = fc.record({
  region: fc.constantFrom<Region>('any', 'head', 'tail'),
  offset: fc.nat(),
});

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('copy' as const), from: position, to: position, length: fc.integer({ min: 1, max: 256 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('integer' as const), at: position, bytes: fc.constantFrom(...INTERESTING) }) },
);

/** `input` with `m` applied (a new array; the input is not changed). */
export function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const n = input.length;
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return input;
      const out = input.slice();
      out[resolvePosition(m.at, n)]! ^= 1 << m.bit;
      return out;
    }
    case 'set': {
      if (n === 0) return Uint8Array.of(m.value);
      const out = input.slice();
      out[resolvePosition(m.at, n)] = m.value;
      return out;
    }
    case 'insert': {
      const at = resolvePosition(m.at, n + 1);
      const out = new Uint8Array(n + m.bytes.length);
      out.set(input.subarray(0, at), 0);
      out.set(m.bytes, at);
      out.set(input.subarray(at), at + m.bytes.length);
      return out;
    }
    case 'delete': {
      const at = resolvePosition(m.at, n);
      const end = Math.min(n, at + m.length);
      const out = new Uint8Array(n - (end - at));
      out.set(input.subarray(0, at), 0);
      out.set(input.subarray(end), at);
      return out;
    }
    case 'truncate':
      return input.slice(0, resolvePosition(m.at, n));
    case 'copy': {
      if (n === 0) return input;
      const from = resolvePosition(m.from, n);
      const to = resolvePosition(m.to, n);
      const out = input.slice();
      out.copyWithin(to, from, Math.min(n, from + m.length));
      return out;
    }
    case 'integer': {
      if (n === 0) return m.bytes.slice();
      const at = resolvePosition(m.at, n);
      const out = input.slice();
      out.set(m.bytes.subarray(0, n - at), at);
      return out;
    }
  }
}

export function applyMutations(input: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  return ms.reduce(applyMutation, input);
}

/**
 * Inputs derived from `seeds`: mostly a seed with 1..maxEdits mutations, sometimes a seed unchanged,
 * sometimes random bytes (what a user gets by passing the wrong file).
 */
export function mutatedBytes(seeds: readonly Uint8Array[], maxEdits = 6): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('mutatedBytes: no seeds');
  const seed = fc.integer({ min: 0, max: seeds.length - 1 }).map((i) => seeds[i]!);
  return fc.oneof(
    { weight: 16, arbitrary: fc.tuple(seed, fc.array(mutationArb, { minLength: 1, maxLength: maxEdits })).map(([s, ms]) => applyMutations(s, ms)) },
    { weight: 1, arbitrary: seed },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) },
  );
}

const utf8 = new TextEncoder();
export const textBytes = (s: string): Uint8Array => utf8.encode(s);
export const bytesText = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');

// ------------------------------------------------------------------ structure-aware JSON mutations

type JsonEdit = { op: 'replace' | 'delete' | 'add'; pick: number; key: string; value: unknown };

/** Values that break validators: wrong types, non-integers, huge and negative numbers, special strings. */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      null, true, false, 0, -0, -1, 0.5, 1, 2, 31, 32, 63, 64, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324,
      '', 'NaN', 'Infinity', '-Infinity', '-0', '1e-3', 'float32', 'int8', 'q15.16', 'q0.0', 'bernoulli', 'fixed:0', 'fixed:-1', 'ieee',
      'weight', 'threshold', [], {}, [[]], { a: 1 }, '0'.repeat(64), 'f'.repeat(64), 'x'.repeat(10_000),
    ),
  },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

/** Paths to every value inside `root` (parent container and key), in a fixed order. */
function containers(root: unknown): [Record<string, unknown> | unknown[], string | number][] {
  const out: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), walk(x)));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([v as Record<string, unknown>, k]), walk(x);
  };
  walk(root);
  return out;
}

function applyJsonEdit(root: unknown, e: JsonEdit): unknown {
  const spots = containers(root);
  if (spots.length === 0) return e.op === 'delete' ? root : e.value;
  const [parent, key] = spots[e.pick % spots.length]!;
  if (e.op === 'replace') (parent as Record<string | number, unknown>)[key] = e.value;
  else if (e.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else if (Array.isArray(parent)) parent.push(e.value);
  // defineProperty so that '__proto__' becomes an own key, as JSON.parse makes it.
  else Object.defineProperty(parent, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
  return root;
}

/**
 * JSON texts derived from `seeds` (JSON documents): mostly structural edits (a value replaced by a
 * hostile one, a field deleted or added), sometimes byte mutations of the text, sometimes special texts.
 */
export function mutatedJson(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const docs = seeds.map((s) => bytesText(s));
  const edit: fc.Arbitrary<JsonEdit> = fc.record({
    op: fc.constantFrom<JsonEdit['op']>('replace', 'replace', 'delete', 'add'),
    pick: fc.nat(),
    key: fc.constantFrom('extra', 'version', 'faults', 'layers', '__proto__', 'constructor', ''),
    value: hostileJsonValue,
  });
  const structural = fc.tuple(fc.nat(docs.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([i, edits]) => {
    const root = edits.reduce<unknown>(applyJsonEdit, JSON.parse(docs[i]!));
    return textBytes(JSON.stringify(root) ?? 'undefined');
  });
  const special = fc.constantFrom(
    '', ' ', 'null', '0', '[]', '{}', '"x"', '{"version":1}', '[' .repeat(5000) + ']'.repeat(5000), '{"a":'.repeat(3000) + '1' + '}'.repeat(3000), '\ufeff{}', 'NaN',
  ).map(textBytes);
  return fc.oneof({ weight: 12, arbitrary: structural }, { weight: 4, arbitrary: mutatedBytes(seeds, 3) }, { weight: 1, arbitrary: special });
}
