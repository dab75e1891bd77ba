/**
 * Threshold initialisation by profiling (docs/hardening.md, "Profiling and its cache"): one pass of the clean model over a
 * subset of the training data, recording per activation layer the exact maximum of every element of
 * one sample's activation map (neuron-wise), of every channel, and of the whole layer.
 *
 * How: a copy of the graph lists every activation layer's output as an extra graph output, onnxruntime runs it batch
 * by batch, and the maxima are reduced here in TypeScript. (The reference toolbox reduces over the
 * wrong axis after its first batch; ours is the exact per-element maximum over all profiled images.)
 *
 * A profile can be cached as JSON keyed by what determines it (model hash, data, image count, seed),
 * so an interrupted `proact harden` resumes without profiling again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/files.js';
import { ProactError } from '../util/errors.js';
import { activationLayers, numel, type ActivationLayer, type Graph } from '../graph/index.js';
import { seededPermutation, subset, type Dataset } from '../data/index.js';
import { Session } from '../runtime/index.js';
import type { LayerProfile, Profile } from './types.js';

/** Images the reference profiles (paper era); later versions of the toolbox use 1024. */
export const DEFAULT_PROFILE_IMAGES = 3000;

export interface ProfileOptions {
  /** Images to profile, drawn from `data` by `profilingSubset` (default 3000; all when `data` has fewer). */
  images?: number;
  /** Seed of the subset (default 0). */
  seed?: number;
  batchSize?: number;
  /** onnxruntime intra-op threads (default 1). */
  threads?: number;
  onBatch?: (done: number, total: number) => void;
}

/**
 * The first `images` records of a seeded shuffle of `data` (all records when it has fewer), sorted so
 * that reads stay sequential. The same (data, images, seed) gives the same subset on every machine.
 */
export function profilingSubset(data: Dataset, images: number, seed: number): Dataset {
  if (!Number.isInteger(images) || images < 1)
    throw new ProactError(`profiling: ${images} images requested; give an integer >= 1 (the reference profiles 3000)`);
  if (!Number.isInteger(seed)) throw new ProactError(`profiling: seed ${seed} is invalid; give an integer`);
  const n = Math.min(images, data.count);
  const chosen = seededPermutation(data.count, seed).slice(0, n).sort();
  return subset(data, chosen, `${data.name}[profile ${n}, seed ${seed}]`);
}

/** A copy of `g` whose outputs are the original outputs followed by the output of every activation layer. */
export function withActivationOutputs(g: Graph, layers: readonly ActivationLayer[] = activationLayers(g)): Graph {
  const out = g.clone();
  const listed = new Set(out.outputs.map((o) => o.name));
  for (const l of layers) {
    if (listed.has(l.output)) continue;
    out.outputs.push({ name: l.output, dtype: 'float32', dims: [-1, ...l.dims] });
    listed.add(l.output);
  }
  return out;
}

/** Running maxima of one layer, reduced from whole batches. */
class LayerMaxima {
  readonly neuronMax: Float32Array;
  constructor(readonly layer: ActivationLayer) {
    this.neuronMax = new Float32Array(numel(layer.dims)).fill(-Infinity);
  }

  add(data: Float32Array, images: number): void {
    const m = this.neuronMax;
    const size = m.length;
    if (data.length !== images * size)
      throw new ProactError(`profiling: layer '${this.layer.node}' produced ${data.length} values for ${images} images of dims [${this.layer.dims}]; the model's shapes are inconsistent`);
    for (let i = 0; i < images; i++) {
      const base = i * size;
      for (let e = 0; e < size; e++) {
        const v = data[base + e]!;
        if (v > m[e]!) m[e] = v;
      }
    }
  }

  result(): LayerProfile {
    const { dims, node } = this.layer;
    const neuronMax = this.neuronMax;
    const channels = dims.length >= 1 ? dims[0]! : 1;
    const perChannel = neuronMax.length / channels;
    const channelMax = new Float32Array(channels).fill(-Infinity);
    let layerMax = -Infinity;
    for (let c = 0; c < channels; c++) {
      for (let e = c * perChannel; e < (c + 1) * perChannel; e++) if (neuronMax[e]! > channelMax[c]!) channelMax[c] = neuronMax[e]!;
      if (channelMax[c]! > layerMax) layerMax = channelMax[c]!;
    }
    return { node, dims: [...dims], neuronMax, channelMax, layerMax };
  }
}

/**
 * Profiles the activation layers of `graph` (a prepared, unclipped model) on a seeded subset of `data`.
 * Layers come in execution order (the order of `activationLayers`).
 */
export async function profileActivations(graph: Graph, data: Dataset, opts: ProfileOptions = {}): Promise<Profile> {
  const layers = activationLayers(graph);
  if (layers.length === 0) throw new ProactError('profiling: the model has no activation layers to profile; hardening replaces Relu, ReLU6 (Clip 0..6), LeakyReLU, PReLU, SiLU, HardSwish and GELU layers');
  for (const l of layers)
    if (l.dims.length === 0 || l.dims.some((d) => !(d >= 1)))
      throw new ProactError(`profiling: the shape of activation layer '${l.node}' is unknown ([${l.dims}]); the model needs fixed image dims (only the batch may be dynamic)`);
  const profiled = profilingSubset(data, opts.images ?? DEFAULT_PROFILE_IMAGES, opts.seed ?? 0);
  const batchSize = opts.batchSize ?? 100;
  const session = await Session.create(withActivationOutputs(graph, layers), { threads: opts.threads ?? 1 });
  const maxima = layers.map((l) => new LayerMaxima(l));
  try {
    const input = graph.dataInputs()[0]!.name;
    const [c, h, w] = profiled.shape;
    const names = layers.map((l) => l.output);
    for (let start = 0; start < profiled.count; start += batchSize) {
      const n = Math.min(batchSize, profiled.count - start);
      const batch = profiled.read(start, n);
      const out = await session.run({ [input]: { data: batch.x, dims: [n, c, h, w] } }, names);
      maxima.forEach((m, k) => m.add(out[names[k]!]!.data, n));
      opts.onBatch?.(start + n, profiled.count);
    }
  } finally {
    await session.release();
  }
  return { images: profiled.count, layers: maxima.map((m) => m.result()) };
}

/** What determines a profile; a cached profile is reused only when every field matches. */
export interface ProfileKey {
  /** sha256 of the model file (or of the serialised prepared graph). */
  modelHash: string;
  /** Dataset description, e.g. its `name` and record count. */
  data: string;
  images: number;
  seed: number;
  /** Anything else that changes the activations (e.g. BatchNorm folding). */
  [extra: string]: string | number | boolean;
}

interface ProfileFile {
  format: 'proact-profile';
  version: 1;
  key: ProfileKey;
  images: number;
  layers: { node: string; dims: number[]; layerMax: number; neuronMax: string; channelMax: string }[];
}

/** Float32Array <-> base64 of its little-endian bytes: exact and compact (ResNet-20: 188,416 maxima). */
function f32ToBase64(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}
function f32FromBase64(s: string, expected: number, where: string): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  if (bytes.length !== expected * 4) throw new ProactError(`${where}: holds ${bytes.length} bytes, expected ${expected * 4} (${expected} float32 values)`);
  const out = new Float32Array(expected);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function profileToJSON(profile: Profile, key: ProfileKey): string {
  const file: ProfileFile = {
    format: 'proact-profile',
    version: 1,
    key,
    images: profile.images,
    layers: profile.layers.map((l) => ({ node: l.node, dims: l.dims, layerMax: l.layerMax, neuronMax: f32ToBase64(l.neuronMax), channelMax: f32ToBase64(l.channelMax) })),
  };
  return JSON.stringify(file);
}

/** Parses a profile written by `profileToJSON`; throws a ProactError naming the problem. */
export function profileFromJSON(text: string, where = 'profile'): { key: ProfileKey; profile: Profile } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProactError(`${where}: not valid JSON`);
  }
  const f = raw as Partial<ProfileFile>;
  if (!f || typeof f !== 'object' || f.format !== 'proact-profile' || f.version !== 1)
    throw new ProactError(`${where}: not a proact profile (format 'proact-profile', version 1)`);
  if (!f.key || typeof f.key !== 'object' || !Array.isArray(f.layers) || !Number.isInteger(f.images))
    throw new ProactError(`${where}: missing key, images or layers`);
  const layers = f.layers.map((l, k): LayerProfile => {
    const at = `${where}: layer ${k}`;
    if (!l || typeof l.node !== 'string' || !Array.isArray(l.dims) || !l.dims.every((d) => Number.isInteger(d) && d >= 1) || typeof l.layerMax !== 'number')
      throw new ProactError(`${at}: needs node, dims and layerMax`);
    if (typeof l.neuronMax !== 'string' || typeof l.channelMax !== 'string') throw new ProactError(`${at}: neuronMax and channelMax must be base64 strings`);
    return {
      node: l.node,
      dims: l.dims,
      layerMax: l.layerMax,
      neuronMax: f32FromBase64(l.neuronMax, numel(l.dims), `${at} neuronMax`),
      channelMax: f32FromBase64(l.channelMax, l.dims[0]!, `${at} channelMax`),
    };
  });
  return { key: f.key, profile: { images: f.images!, layers } };
}

/** Throws unless `profile` describes the activation layers of `graph` (same nodes, same dims, same order). */
export function checkProfileMatches(profile: Profile, graph: Graph, where = 'profile'): void {
  const layers = activationLayers(graph);
  if (layers.length !== profile.layers.length)
    throw new ProactError(`${where}: has ${profile.layers.length} layers but the model has ${layers.length} activation layers; profile this model again`);
  layers.forEach((l, k) => {
    const p = profile.layers[k]!;
    if (p.node !== l.node || p.dims.join(',') !== l.dims.join(','))
      throw new ProactError(`${where}: layer ${k} is '${p.node}' [${p.dims}] but the model's is '${l.node}' [${l.dims}]; profile this model again`);
  });
}

/**
 * The cached profile at `path` when its key equals `key` and it matches `graph`; undefined otherwise
 * (missing, unreadable, or made for other inputs: the caller profiles again and overwrites it).
 */
export function loadCachedProfile(path: string, key: ProfileKey, graph: Graph): Profile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const cached = profileFromJSON(readFileSync(path, 'utf8'), path);
    if (JSON.stringify(sortKeys(cached.key)) !== JSON.stringify(sortKeys(key))) return undefined;
    checkProfileMatches(cached.profile, graph, path);
    return cached.profile;
  } catch {
    return undefined;
  }
}

/** Writes the profile atomically (temporary file + rename), so an interruption never leaves half a cache. */
export function saveProfile(path: string, key: ProfileKey, profile: Profile): void {
  writeFileAtomic(path, [profileToJSON(profile, key)], 'the profile cache');
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
