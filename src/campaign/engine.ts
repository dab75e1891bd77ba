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
import { FaultPlanner, parseCountModel, parseFloatPolicy, parseFormat, checkBer, type FloatPolicy } from '../faults/index.js';
import { Session } from '../runtime/index.js';
import { makeFaultable, sha256 } from './model.js';
import { TrialPool } from './pool.js';
import { predictAll, type EvalSet, type TrialContext, type TrialOutcome, type TrialTask } from './trial.js';
import { openStore, summarizeCampaign, trialKey, type CampaignSummary, type JsonObject } from './store.js';
import { leveugleSampleSize, shouldStop, summarize, DEFAULT_MIN_TRIALS } from './stats.js';
import { WHOLE, formatShard, trialInShard, type Shard } from './shard.js';

export const TOOL_VERSION = '0.1.0';
export const DEFAULT_BERS = [1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5];

export type SurfaceKind = 'weight' | 'bias' | 'threshold';

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
    surface: [...(o.surface ?? ['weight', 'bias', 'threshold'])].sort(),
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

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  validate(o);
  const bers = o.bers ?? DEFAULT_BERS;
  const trials = o.trials ?? 100;
  const seed = o.seed ?? 0;
  const shard = o.shard ?? WHOLE;
  const batchSize = o.batchSize ?? 250;
  const workers = o.workers ?? 1;
  const threads = o.threads ?? (workers >= 2 ? 1 : 2);

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
  const faultable = makeFaultable(graph, { format: o.format ?? 'float32', kinds: o.surface ?? ['weight', 'bias', 'threshold'] });

  // Clean (golden) run under the campaign's number format, once per campaign.
  const cleanSession = await Session.create(faultable.bytes, { threads: workers >= 2 ? 2 : threads });
  const clean = await predictAll(cleanSession, evalSet, batchSize);
  await cleanSession.release();
  const cleanAccuracy = clean.correct / evalSet.count;

  const store = openStore(o.db);
  try {
    const dataId = `${ds.name}:${evalOffset}+${evalSet.count}:${sha256(evalSet.x).slice(0, 16)}`;
    const spec = {
      toolVersion: TOOL_VERSION,
      modelPath: o.model,
      modelHash: sha256(modelBytes),
      data: dataId,
      seed,
      options: keyOptions(o, bers, trials),
      cleanAccuracy,
    };
    const { id, created } = store.findOrCreateCampaign(spec);
    const existing = store.countTrials(id);
    if (!created && existing > 0 && !o.resume)
      throw new ProactError(`${o.db}: this campaign already has ${existing} stored trials; pass --resume to continue it, or --db another file`);
    const rec = store.getCampaign(id)!;
    if (rec.cleanAccuracy !== null && rec.cleanAccuracy !== cleanAccuracy)
      throw new ProactError(`${o.db}: stored clean accuracy ${rec.cleanAccuracy} differs from this run's ${cleanAccuracy}; the runtime or data changed, use another --db`);
    store.setStatus(id, 'running');
    const done = store.completedTrialKeys(id);

    const planner = new FaultPlanner(faultable.surface, {
      seed,
      format: o.format ?? 'float32',
      count: o.count ?? 'bernoulli',
      policy: o.policy ?? 'ieee',
      referenceSurface: o.referenceSurface ?? false,
    });
    const context: TrialContext = {
      bytes: faultable.bytes,
      offsets: faultable.offsets,
      evalSet,
      cleanPredictions: clean.predictions,
      clean: { accuracy: cleanAccuracy, due: clean.nonFinite / evalSet.count },
      batchSize,
      threads,
    };
    const planned = bers.reduce((s, _, b) => s + Array.from({ length: trials }, (_, t) => t).filter((t) => trialInShard(b, t, shard)).length, 0);
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
        const runTasks = async (indices: number[]) => {
          const tasks: TrialTask[] = indices
            .filter((t) => trialInShard(b, t, shard) && !done.has(trialKey(ber, t)))
            .map((t) => ({ ber, trial: t, faults: planner.plan(ber, t).faults }));
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
        if (o.precision === undefined) {
          await runTasks(Array.from({ length: trials }, (_, t) => t));
        } else {
          // Waves over trial indices 0.., the stopping rule judged on whole prefixes only.
          const wave = o.wave ?? 10;
          let end = Math.max(o.minTrials ?? DEFAULT_MIN_TRIALS, wave);
          for (;;) {
            end = Math.min(end, trials);
            await runTasks(Array.from({ length: end }, (_, t) => t));
            if (signal.aborted) break;
            const prefix = store.trials(id, ber).filter((t) => t.trial < end).map((t) => t.accuracy);
            const decision = shouldStop(prefix, { precision: o.precision, confidence: o.confidence ?? 0.95, minTrials: o.minTrials ?? DEFAULT_MIN_TRIALS, maxTrials: trials });
            if (decision.stop) break;
            end += wave;
          }
        }
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
