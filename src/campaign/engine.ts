/**
 * Fault-injection campaigns: for each bit error rate, trials (fresh fault plans on the clean model)
 * are evaluated and stored one by one in SQLite, so a campaign interrupted at any moment resumes
 * where it stopped. Trials at one BER either run to a fixed count or stop as soon as the accuracy's
 * confidence interval is narrow enough (decided after each wave of trials, so the set of trials run is
 * the same for any number of workers).
 */
import { readFileSync } from 'node:fs';
import { ProactError } from '../util/errors.js';
import { prepareGraph, readOnnx, type Graph } from '../graph/index.js';
import { openDataset, type Dataset } from '../data/index.js';
import { FaultPlanner, SURFACE_KINDS, parseCountModel, parseFloatPolicy, parseFormat, checkBer, type FloatPolicy } from '../faults/index.js';
import { Session } from '../runtime/index.js';
import { makeFaultable, sha256, type FaultableModel } from './model.js';
import { TrialPool } from './pool.js';
import { predictAll, type EvalSet, type ModelOutcome, type TrialContext, type TrialOutcome, type TrialTask } from './trial.js';
import { openStore, summarizeCampaign, trialKey, type CampaignSpec, type CampaignSummary, type JsonObject, type JsonValue, type ResultStore } from './store.js';
import { leveugleSampleSize, shouldStop, summarize, DEFAULT_MIN_TRIALS } from './stats.js';
import { WHOLE, formatShard, trialInShard, type Shard } from './shard.js';

export const TOOL_VERSION = '0.1.0';
export const DEFAULT_BERS = [1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5];

export type { SurfaceKind } from '../faults/index.js';
import type { SurfaceKind } from '../faults/index.js';

export interface CampaignOptions {
  /** ONNX model file. */
  model: string;
  /** Dataset path, or 'mnist' for the embedded MNIST. */
  data: string;
  split?: 'test' | 'train';
  bers?: number[];
  /** Trials per BER (the maximum when `precision` is set). Default 100. */
  trials?: number;
  /** Stop a BER once the accuracy CI half-width is <= precision (e.g. 0.01). */
  precision?: number;
  confidence?: number;
  minTrials?: number;
  /** Trials per wave of the sequential rule (default 10). */
  wave?: number;
  format?: string;
  count?: string;
  policy?: FloatPolicy;
  referenceSurface?: boolean;
  surface?: SurfaceKind[];
  /** Fold BatchNorm into convs before injection (default true: what accelerators store). */
  foldBatchNorm?: boolean;
  evalOffset?: number;
  evalLimit?: number;
  seed?: number;
  workers?: number;
  threads?: number;
  batchSize?: number;
  db: string;
  resume?: boolean;
  shard?: Shard;
  /** Called after each stored trial. */
  onTrial?: (o: TrialOutcome, state: CampaignProgress) => void;
  onStart?: (info: CampaignStartInfo) => void;
  /** Set to true (e.g. on SIGINT) to stop after the running trials. */
  signal?: { aborted: boolean };
}

export interface CampaignStartInfo {
  campaignId: number;
  seed: number;
  cleanAccuracy: number;
  surfaceBits: number;
  plannedTrials: number;
  alreadyDone: number;
  leveugle: number;
  resumed: boolean;
}

export interface CampaignProgress {
  done: number;
  planned: number;
  ber: number;
  berMean: number;
  berCiHalfWidth: number;
  berTrials: number;
}

export interface CampaignResult {
  campaignId: number;
  db: string;
  seed: number;
  cleanAccuracy: number;
  summary: CampaignSummary;
  interrupted: boolean;
}

/** Decodes the evaluation records once into a (shareable) buffer. */
export function loadEvalSet(ds: Dataset, offset: number, limit: number): EvalSet {
  const count = Math.max(0, Math.min(limit, ds.count - offset));
  if (count === 0) throw new ProactError(`${ds.name}: no records to evaluate (offset ${offset}, limit ${limit}, ${ds.count} records)`);
  const [c, h, w] = ds.shape;
  const size = c * h * w;
  const x = new Float32Array(new SharedArrayBuffer(count * size * 4));
  const labels = new Int32Array(new SharedArrayBuffer(count * 4));
  for (let start = 0; start < count; start += 1000) {
    const b = ds.read(offset + start, Math.min(1000, count - start));
    x.set(b.x, start * size);
    labels.set(b.labels, start);
  }
  return { x, labels, count, shape: [c, h, w] };
}

function validate(o: CampaignOptions): void {
  for (const b of o.bers ?? DEFAULT_BERS) checkBer(b);
  parseFormat(o.format ?? 'float32');
  parseCountModel(o.count ?? 'bernoulli');
  parseFloatPolicy(o.policy ?? 'ieee');
  if (o.trials !== undefined && !(Number.isInteger(o.trials) && o.trials >= 1)) throw new ProactError(`--trials ${o.trials}: expected an integer >= 1`);
  if (o.precision !== undefined && !(o.precision > 0 && o.precision < 1)) throw new ProactError(`--precision ${o.precision}: expected a fraction in (0, 1), e.g. 0.01 for +-1 point`);
  if (o.precision !== undefined && o.shard && o.shard.count > 1)
    throw new ProactError('--shard needs a fixed --trials count: sequential stopping (--precision) must see every trial of a BER; run shards with --trials N');
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0)) throw new ProactError(`--seed ${o.seed}: expected a non-negative integer`);
}

/** Options that change results: they, the model hash, the data and the seed make the campaign's key. */
function keyOptions(o: CampaignOptions, bers: number[], trials: number): JsonObject {
  const opts: JsonObject = {
    bers,
    trials,
    format: parseFormat(o.format ?? 'float32').name,
    count: o.count ?? 'bernoulli',
    policy: o.policy ?? 'ieee',
    referenceSurface: o.referenceSurface ?? false,
    surface: [...(o.surface ?? SURFACE_KINDS)].sort(),
    foldBatchNorm: o.foldBatchNorm ?? true,
    batchSize: o.batchSize ?? 250,
  };
  if (o.precision !== undefined) {
    opts.precision = o.precision;
    opts.confidence = o.confidence ?? 0.95;
    opts.minTrials = o.minTrials ?? DEFAULT_MIN_TRIALS;
    opts.wave = o.wave ?? 10;
  }
  return opts;
}

/** Where a campaign's model and evaluation data come from, and how the model is prepared for injection. */
export interface CampaignInputOptions {
  model: string;
  data: string;
  split?: 'test' | 'train';
  evalOffset?: number;
  evalLimit?: number;
  foldBatchNorm?: boolean;
  format?: string;
  surface?: SurfaceKind[];
}

/** A campaign's model and data, loaded: built the same way by a local run, a queue coordinator and every queue worker. */
export interface CampaignInputs {
  /** sha256 of the model file as read (part of the campaign key). */
  modelHash: string;
  faultable: FaultableModel;
  evalSet: EvalSet;
  /** Identity of the evaluation data: dataset name, record range and a hash of the decoded images (part of the key). */
  dataId: string;
  /**
   * Report artifacts a hardened model carries in its ONNX metadata (`proact.artifact.<name>`: thresholds,
   * overhead, hardening log, written by `proact harden`); stored with the campaign so reports can show them.
   */
  artifacts: Record<string, JsonValue>;
}

/** ONNX metadata keys holding report artifacts. */
export const ARTIFACT_METADATA_PREFIX = 'proact.artifact.';

function metadataArtifacts(g: Graph): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(g.metadata)) {
    if (!key.startsWith(ARTIFACT_METADATA_PREFIX)) continue;
    try {
      out[key.slice(ARTIFACT_METADATA_PREFIX.length)] = JSON.parse(value) as JsonValue;
    } catch {
      // A damaged artifact is left out; it never changes results, only what the report can show.
    }
  }
  return out;
}

/** Reads the model file and the evaluation records; the content hashes identify them wherever they are loaded. */
export function loadCampaignInputs(o: CampaignInputOptions): CampaignInputs {
  let modelBytes: Uint8Array;
  try {
    modelBytes = readFileSync(o.model);
  } catch {
    throw new ProactError(`${o.model}: cannot read the model file; give the path to an .onnx file`);
  }
  const graph: Graph = prepareGraph(readOnnx(modelBytes, { source: o.model }), { foldBatchNorm: o.foldBatchNorm ?? true });
  const ds = openDataset(o.data, { split: o.split ?? 'test' });
  const evalOffset = o.evalOffset ?? 0;
  const evalSet = loadEvalSet(ds, evalOffset, o.evalLimit ?? ds.count);
  const faultable = makeFaultable(graph, { format: o.format ?? 'float32', kinds: o.surface ?? SURFACE_KINDS });
  const dataId = `${ds.name}:${evalOffset}+${evalSet.count}:${sha256(evalSet.x).slice(0, 16)}`;
  return { modelHash: sha256(modelBytes), faultable, evalSet, dataId, artifacts: metadataArtifacts(graph) };
}

/** Clean (golden) run of the model under the campaign's number format. */
export async function runClean(inputs: CampaignInputs, batchSize: number, threads: number): Promise<ModelOutcome> {
  const session = await Session.create(inputs.faultable.bytes, { threads });
  try {
    return await predictAll(session, inputs.evalSet, batchSize);
  } finally {
    await session.release();
  }
}

/** A campaign ready to run: options checked, inputs loaded, clean run done, identity (spec) built. */
export interface PreparedCampaign extends CampaignInputs {
  bers: number[];
  trials: number;
  seed: number;
  batchSize: number;
  clean: ModelOutcome;
  cleanAccuracy: number;
  spec: CampaignSpec;
}

/** Validates `o`, loads model and data, runs the clean model once (on `cleanThreads` threads) and builds the spec. */
export async function prepareCampaign(o: CampaignOptions, cleanThreads: number): Promise<PreparedCampaign> {
  validate(o);
  const bers = o.bers ?? DEFAULT_BERS;
  const trials = o.trials ?? 100;
  const seed = o.seed ?? 0;
  const batchSize = o.batchSize ?? 250;
  const inputs = loadCampaignInputs(o);
  const clean = await runClean(inputs, batchSize, cleanThreads);
  const cleanAccuracy = clean.correct / inputs.evalSet.count;
  const spec: CampaignSpec = {
    toolVersion: TOOL_VERSION,
    modelPath: o.model,
    modelHash: inputs.modelHash,
    data: inputs.dataId,
    seed,
    options: keyOptions(o, bers, trials),
    cleanAccuracy,
  };
  return { ...inputs, bers, trials, seed, batchSize, clean, cleanAccuracy, spec };
}

/**
 * Finds or creates the campaign of `prepared` in `store` and marks it running. A campaign that already has
 * trials continues only with `resume`; a stored clean accuracy must match this run's.
 */
export function openCampaign(store: ResultStore, prepared: PreparedCampaign, o: Pick<CampaignOptions, 'db' | 'resume'>): { id: number; created: boolean; done: Set<string> } {
  const { id, created } = store.findOrCreateCampaign(prepared.spec);
  const existing = store.countTrials(id);
  if (!created && existing > 0 && !o.resume)
    throw new ProactError(`${o.db}: this campaign already has ${existing} stored trials; pass --resume to continue it, or --db another file`);
  const rec = store.getCampaign(id)!;
  if (rec.cleanAccuracy !== null && rec.cleanAccuracy !== prepared.cleanAccuracy)
    throw new ProactError(`${o.db}: stored clean accuracy ${rec.cleanAccuracy} differs from this run's ${prepared.cleanAccuracy}; the runtime or data changed, use another --db`);
  store.setStatus(id, 'running');
  for (const [name, value] of Object.entries(prepared.artifacts)) store.putArtifact(id, name, value);
  return { id, created, done: store.completedTrialKeys(id) };
}

/** The fault planner of a campaign: plans are a pure function of (seed, BER, trial) and these options. */
export function campaignPlanner(surface: FaultableModel['surface'], o: Pick<CampaignOptions, 'format' | 'count' | 'policy' | 'referenceSurface'>, seed: number): FaultPlanner {
  return new FaultPlanner(surface, {
    seed,
    format: o.format ?? 'float32',
    count: o.count ?? 'bernoulli',
    policy: o.policy ?? 'ieee',
    referenceSurface: o.referenceSurface ?? false,
  });
}

/** What every trial of a campaign shares (model bytes, evaluation set, clean outcome). */
export function trialContext(inputs: CampaignInputs, clean: ModelOutcome, batchSize: number, threads: number): TrialContext {
  const n = inputs.evalSet.count;
  return {
    bytes: inputs.faultable.bytes,
    offsets: inputs.faultable.offsets,
    evalSet: inputs.evalSet,
    cleanPredictions: clean.predictions,
    clean: { accuracy: clean.correct / n, due: clean.nonFinite / n },
    batchSize,
    threads,
  };
}

/**
 * Runs the trials of one BER as prefixes [0, end) of the trial indices: all `trials` at once, or with
 * `precision`, waves of `wave` trials until the stopping rule, judged on whole prefixes only (so the set
 * of trials run never depends on how many processes ran them). `runWave(end)` must return once every
 * trial below `end` is stored; `accuracies(end)` gives the stored accuracies of trials below `end`.
 */
export async function runBerWaves(
  o: Pick<CampaignOptions, 'precision' | 'confidence' | 'minTrials' | 'wave'>,
  trials: number,
  runWave: (end: number) => Promise<void>,
  accuracies: (end: number) => number[],
  aborted: () => boolean,
): Promise<void> {
  if (o.precision === undefined) {
    await runWave(trials);
    return;
  }
  const wave = o.wave ?? 10;
  const minTrials = o.minTrials ?? DEFAULT_MIN_TRIALS;
  let end = Math.max(minTrials, wave);
  for (;;) {
    end = Math.min(end, trials);
    await runWave(end);
    if (aborted()) return;
    const decision = shouldStop(accuracies(end), { precision: o.precision, confidence: o.confidence ?? 0.95, minTrials, maxTrials: trials });
    if (decision.stop) return;
    end += wave;
  }
}

/** Trials a campaign plans: `trials` per BER (the maximum with sequential stopping), those of `shard` only. */
export function plannedTrials(bers: readonly number[], trials: number, shard: Shard): number {
  let planned = 0;
  for (let b = 0; b < bers.length; b++) for (let t = 0; t < trials; t++) if (trialInShard(b, t, shard)) planned++;
  return planned;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const shard = o.shard ?? WHOLE;
  const workers = o.workers ?? 1;
  const threads = o.threads ?? (workers >= 2 ? 1 : 2);
  const prepared = await prepareCampaign(o, workers >= 2 ? 2 : threads);
  const { bers, trials, seed, cleanAccuracy } = prepared;

  const store = openStore(o.db);
  try {
    const { id, created, done } = openCampaign(store, prepared, o);
    const planner = campaignPlanner(prepared.faultable.surface, o, seed);
    const context = trialContext(prepared, prepared.clean, prepared.batchSize, threads);
    const planned = plannedTrials(bers, trials, shard);
    o.onStart?.({
      campaignId: id,
      seed,
      cleanAccuracy,
      surfaceBits: planner.totalBits,
      plannedTrials: planned,
      alreadyDone: done.size,
      leveugle: leveugleSampleSize(Infinity, o.precision ?? 0.01, o.confidence ?? 0.95),
      resumed: !created,
    });

    const pool = await TrialPool.start(context, workers);
    let doneCount = done.size;
    const shardLabel = shard.count > 1 ? formatShard(shard) : null;
    const signal = o.signal ?? { aborted: false };
    try {
      for (let b = 0; b < bers.length && !signal.aborted; b++) {
        const ber = bers[b]!;
        const accs = store.trials(id, ber).map((t) => t.accuracy);
        const runWave = async (end: number) => {
          const tasks: TrialTask[] = [];
          for (let t = 0; t < end; t++) {
            if (trialInShard(b, t, shard) && !done.has(trialKey(ber, t))) tasks.push({ ber, trial: t, faults: planner.plan(ber, t).faults });
          }
          const abortWatch = setInterval(() => signal.aborted && pool.stop(), 100);
          try {
            await pool.run(tasks, (r) => {
              store.insertTrial(id, { ...r, shard: shardLabel });
              done.add(trialKey(ber, r.trial));
              accs.push(r.accuracy);
              doneCount++;
              const s = accs.length >= 2 ? summarize(accs) : undefined;
              o.onTrial?.(r, { done: doneCount, planned, ber, berMean: s?.mean ?? r.accuracy, berCiHalfWidth: s?.ciHalfWidth ?? Infinity, berTrials: accs.length });
            });
          } finally {
            clearInterval(abortWatch);
          }
        };
        const prefix = (end: number) => store.trials(id, ber).filter((t) => t.trial < end).map((t) => t.accuracy);
        await runBerWaves(o, trials, runWave, prefix, () => signal.aborted);
      }
    } finally {
      await pool.close();
    }
    store.setStatus(id, signal.aborted ? 'interrupted' : 'complete');
    return { campaignId: id, db: o.db, seed, cleanAccuracy, summary: summarizeCampaign(store, id), interrupted: signal.aborted };
  } finally {
    store.close();
  }
}
