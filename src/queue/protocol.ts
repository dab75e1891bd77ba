/**
 * What travels through the queue: the campaign recipe (paths, content hashes and every option a worker
 * needs to rebuild the campaign's trials bit for bit), trial batches and their results, and the job ids.
 *
 * Job ids are derived from the campaign key, the BER and the trial range, so enqueueing the same wave
 * twice (a coordinator restarted with --resume) finds the jobs already there instead of adding copies.
 */
import { createHash } from 'node:crypto';
import { faultModelToJSON, resolveFaultModel, type FaultModel, type Sampling } from '../faults/index.js';
import { resolveSampling, type CampaignOptions, type PreparedCampaign, type TrialOutcome } from '../campaign/index.js';
import { ProactError } from '../util/errors.js';

/** Everything a worker needs to run any trial of one campaign. */
export interface CampaignRecipe {
  /** Campaign key (sha256 of model hash, data identity, seed and options). */
  key: string;
  /** proact version that created the campaign; workers of another version refuse it. */
  toolVersion: string;
  /** Model file as the coordinator saw it (absolute); every machine must have the same file there. */
  model: string;
  /** sha256 of the model file, from the campaign's record. */
  modelHash: string;
  /** Dataset path (absolute) or a built-in name such as 'mnist'. */
  data: string;
  split: 'test' | 'train';
  evalOffset: number;
  evalLimit: number | null;
  /** Identity of the decoded evaluation data (name, range, hash), from the campaign's record. */
  dataId: string;
  /** Clean accuracy of the campaign's record: a worker whose runtime disagrees refuses to run. */
  cleanAccuracy: number;
  /** The campaign's fault model, resolved (workers read it back with faultModelFromJSON). */
  faults: FaultModel;
  /** How trials are drawn: a stratified trial number names its stratum (faults/strata.ts). */
  sampling: Sampling;
  seed: number;
  batchSize: number;
}

/** Data of one child job: a batch of trials at one BER. */
export interface TrialBatchJob {
  recipe: CampaignRecipe;
  ber: number;
  /** The trials to run and how many images each evaluates (the design's choice: fixed, or per stratum). */
  trials: QueuedTrial[];
}

/** One trial of a batch: its number (a stratified number names its stratum) and its image count. */
export interface QueuedTrial {
  trial: number;
  images: number;
}

/** Return value of a child job. */
export interface TrialBatchResult {
  /** Name of the worker that ran it (host:pid unless named). */
  worker: string;
  records: TrialOutcome[];
}

/** Data of a wave's parent job (it has no work of its own: it completes once its batches have). */
export interface WaveJob {
  key: string;
  ber: number;
  /** Trials in the wave. */
  trials: number;
}

/** The recipe of a prepared campaign whose record holds `key` (paths made absolute by the caller). */
export function makeRecipe(o: CampaignOptions, prepared: PreparedCampaign, key: string, paths: { model: string; data: string }): CampaignRecipe {
  return {
    key,
    toolVersion: prepared.spec.toolVersion,
    model: paths.model,
    modelHash: prepared.modelHash,
    data: paths.data,
    split: o.split ?? 'test',
    evalOffset: o.evalOffset ?? 0,
    evalLimit: o.evalLimit ?? null,
    dataId: prepared.dataId,
    cleanAccuracy: prepared.cleanAccuracy,
    faults: faultModelToJSON(resolveFaultModel(o.faults)),
    sampling: resolveSampling(o).sampling,
    seed: prepared.seed,
    batchSize: prepared.batchSize,
  };
}

/** Prefix of every job id of a campaign (BullMQ ids must not contain ':' nor look like integers). */
export function campaignJobPrefix(key: string): string {
  return `c${key.slice(0, 32)}`;
}

/**
 * Id of the parent job of a wave at `ber`; `round` > 0 for a repair of trials still missing. The design
 * makes the same waves again from the same stored trials, so a resumed coordinator finds its waves by id:
 * the id names the wave's first trial, its size and a hash of its (trial, images) list.
 */
export function waveJobId(key: string, ber: number, wave: readonly QueuedTrial[], round: number): string {
  const digest = createHash('sha256').update(wave.map((t) => `${t.trial}:${t.images}`).join(',')).digest('hex').slice(0, 12);
  return `${campaignJobPrefix(key)}.ber${ber.toExponential()}.w${wave[0]?.trial ?? 0}n${wave.length}h${digest}${round > 0 ? `.r${round}` : ''}`;
}

/** Id of a child job: its parent's id and the first and last trial it covers (a batch is a run of the wave's list). */
export function batchJobId(parentId: string, trials: readonly QueuedTrial[]): string {
  return `${parentId}.t${trials[0]!.trial}-${trials[trials.length - 1]!.trial}`;
}

/** Name of the queue of a campaign's wave (parent) jobs: one per campaign, processed by its coordinator. */
export function waveQueueName(key: string): string {
  return `waves-${key.slice(0, 16)}`;
}

/** Groups trials into batches of at most `size`, in order. */
export function trialBatches<T>(trials: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < trials.length; i += size) out.push(trials.slice(i, i + size));
  return out;
}

/**
 * Checks a job's return value before it goes into the store: it comes from another process, maybe
 * another version of proact.
 */
export function parseBatchResult(value: unknown, jobId: string): TrialBatchResult {
  const parsed: unknown = typeof value === 'string' ? safeJson(value) : value;
  const bad = () => new ProactError(`queue job ${jobId}: malformed result from a worker; run the same proact version on every machine`);
  if (typeof parsed !== 'object' || parsed === null) throw bad();
  const { worker, records } = parsed as { worker?: unknown; records?: unknown };
  if (typeof worker !== 'string' || !Array.isArray(records)) throw bad();
  for (const r of records as unknown[]) {
    if (typeof r !== 'object' || r === null) throw bad();
    for (const field of ['ber', 'trial', 'accuracy', 'sdc', 'due', 'faults', 'seconds'] as const) {
      if (typeof (r as Record<string, unknown>)[field] !== 'number') throw bad();
    }
    const images = (r as Record<string, unknown>).images;
    if (images !== undefined && !(typeof images === 'number' && Number.isInteger(images) && images >= 1)) throw bad();
  }
  return { worker, records: records as TrialOutcome[] };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
