/**
 * Splitting a campaign across processes or machines (`--shard i/N`) and merging their stores.
 *
 * Every shard runs the same campaign (same key) and keeps only its own trials; the assignment is a pure
 * function of (BER index, trial index), so shards need no coordination. Merging the N stores gives exactly
 * the trials one unsharded run would have stored.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { ProactError } from '../util/errors.js';
import { canonicalJson, openStore, trialKey, type CampaignRecord, type ResultStore, type StoredTrial } from './store.js';
import { campaignPlan, checkPlannedTrials } from './summary.js';

/** Shard `index` of `count`, 1-based: { index: 2, count: 3 } is '2/3'. */
export interface Shard {
  index: number;
  count: number;
}

/** The whole campaign in one process. */
export const WHOLE: Shard = { index: 1, count: 1 };

/** Parses 'i/N' (1 <= i <= N), e.g. '2/3'. */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(count) && count >= 1 && index >= 1 && index <= count)) {
    throw new ProactError(`shard "${text}": expected i/N with 1 <= i <= N, e.g. --shard 2/3 for the second of three shards`);
  }
  return { index, count };
}

export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/**
 * Whether the trial `trialIndex` at the BER with index `berIndex` (both 0-based) belongs to `shard`.
 * Round-robin over trials, offset by the BER index: at every BER the shards get the same number of trials
 * give or take one, and the extra trials of a count that N does not divide fall on different shards at
 * different BERs. Needs no trial count, so it works with sequential stopping too.
 */
export function trialInShard(berIndex: number, trialIndex: number, shard: Shard): boolean {
  if (!(Number.isInteger(berIndex) && berIndex >= 0 && Number.isInteger(trialIndex) && trialIndex >= 0)) {
    throw new ProactError(`shard assignment: BER index ${berIndex} and trial index ${trialIndex} must be integers >= 0`);
  }
  return (berIndex + trialIndex) % shard.count === shard.index - 1;
}

/** The trial indices in [0, trialCount) that `shard` runs at BER index `berIndex`. */
export function shardTrials(berIndex: number, trialCount: number, shard: Shard): number[] {
  const trials: number[] = [];
  for (let t = 0; t < trialCount; t++) if (trialInShard(berIndex, t, shard)) trials.push(t);
  return trials;
}

export interface MergeReport {
  /** Campaigns found in the inputs (counted once per key). */
  campaigns: number;
  /** Campaigns the output did not hold before. */
  newCampaigns: number;
  trialsAdded: number;
  /** Trials found in more than one input (or already in the output), identical, stored once. */
  trialsAlreadyPresent: number;
  /**
   * Artifacts ('<campaign key prefix>/<name>') whose JSON differs between inputs (e.g. timing logs): the
   * first one merged is kept.
   */
  artifactConflicts: string[];
  /** Campaigns still missing planned trials after the merge (status `partial`), with the shards that lack them. */
  partial: PartialCampaign[];
}

export interface PartialCampaign {
  /** First 12 hex digits of the campaign key. */
  key: string;
  stored: number;
  planned: number;
  /** Shards ('i/N') with trials missing. */
  missingShards: string[];
}

/**
 * Merges result stores into `out` (created if missing; an existing proact store there is merged into).
 * Campaigns with the same key become one; a trial present in several inputs must have the same results
 * (accuracy, SDC, DUE, faults; time, shard and creation time may differ), else a ProactError names it and
 * `out` is left as it was: the whole merge is one transaction. A campaign is 'complete' only if every copy is.
 */
export function mergeStores(inputs: readonly string[], out: string): MergeReport {
  // Shards of one run are merged together: the check sees every input before anything is written.
  if (inputs.length === 0) throw new ProactError('merge: no input stores; give the store files of the shards to merge');
  const outPath = canonicalPath(out);
  for (const input of inputs) {
    if (canonicalPath(input) === outPath) {
      throw new ProactError(`merge: input ${input} is also the output; give a different output file`);
    }
  }
  const sources: ResultStore[] = [];
  let target: ResultStore | undefined;
  try {
    for (const input of inputs) sources.push(openStore(input, { readonly: true }));
    checkOneRun(sources);
    const output = openStore(out);
    target = output;
    return output.transaction('merging stores', () => mergeInto(output, sources));
  } finally {
    target?.close();
    for (const source of sources) source.close();
  }
}

/**
 * The shard count and indices a store's trials of one campaign carry (0 and none when no trial has a
 * shard label: trials of a whole run or of queue mode have none, and fit any shard count).
 */
function shardsOf(trials: readonly StoredTrial[], where: string): { count: number; indices: Set<number> } {
  let count: number | undefined;
  const indices = new Set<number>();
  for (const t of trials) {
    if (t.shard === null) continue;
    const shard = parseShard(t.shard);
    if (count !== undefined && shard.count !== count) {
      throw new ProactError(`merge: ${where} holds trials of ${count}-way and ${shard.count}-way shards; merge only shards of one run (the same --shard i/N count)`);
    }
    count = shard.count;
    indices.add(shard.index);
  }
  return { count: count ?? 0, indices };
}

/**
 * The inputs must be shards of one run: for each campaign key, the same shard count N in every input,
 * and no shard in two inputs (the same shard twice would be counted as a whole run's worth of trials).
 */
function checkOneRun(sources: readonly ResultStore[]): void {
  const seen = new Map<string, { count: number; shards: Map<number, string> }>();
  for (const source of sources) {
    for (const campaign of source.listCampaigns()) {
      const label = `campaign ${campaign.key.slice(0, 12)}`;
      const { count, indices } = shardsOf(source.trials(campaign.id), `${source.path}: ${label}`);
      if (count === 0) continue;
      const entry = seen.get(campaign.key) ?? { count, shards: new Map<number, string>() };
      if (entry.count !== count) {
        throw new ProactError(`merge: ${source.path}: ${label} was run as ${count} shards, another input as ${entry.count}; merge only the shards of one run (same --shard i/N count)`);
      }
      for (const index of indices) {
        const other = entry.shards.get(index);
        if (other !== undefined) {
          throw new ProactError(`merge: shard ${index}/${count} of ${label} is in both ${other} and ${source.path}; give each shard's store once`);
        }
        entry.shards.set(index, source.path);
      }
      seen.set(campaign.key, entry);
    }
  }
}

/**
 * After a merge: a campaign whose planned trials are all stored keeps the combined status; one with
 * trials missing is `partial`, with the shards that lack them named.
 */
function markCompleteness(output: ResultStore, keys: Iterable<string>, report: MergeReport): void {
  for (const key of keys) {
    const campaign = output.getCampaign(key)!;
    const plan = campaignPlan(campaign);
    if (plan === undefined || campaign.options.precision !== undefined) continue; // sequential stopping: no fixed plan
    const trials = output.trials(campaign.id);
    checkPlannedTrials(output, campaign, trials);
    const { count } = shardsOf(trials, `${output.path}: campaign ${key.slice(0, 12)}`);
    const stored = new Set(trials.map((t) => trialKey(t.ber, t.trial)));
    const shardCount = Math.max(1, count);
    const missing = new Set<string>();
    plan.bers.forEach((ber, b) => {
      for (let t = 0; t < plan.trials; t++) {
        if (stored.has(trialKey(ber, t))) continue;
        for (let index = 1; index <= shardCount; index++) if (trialInShard(b, t, { index, count: shardCount })) missing.add(formatShard({ index, count: shardCount }));
      }
    });
    const planned = plan.bers.length * plan.trials;
    if (trials.length === planned && campaign.status === 'partial') output.setStatus(campaign.id, 'complete');
    if (trials.length < planned) {
      output.setStatus(campaign.id, 'partial');
      report.partial.push({ key: key.slice(0, 12), stored: trials.length, planned, missingShards: [...missing].sort() });
    }
  }
}

function mergeInto(output: ResultStore, sources: readonly ResultStore[]): MergeReport {
  const report: MergeReport = { campaigns: 0, newCampaigns: 0, trialsAdded: 0, trialsAlreadyPresent: 0, artifactConflicts: [], partial: [] };
  const seenKeys = new Set<string>();
  const conflicts = new Set<string>();
  for (const source of sources) {
    for (const campaign of source.listCampaigns()) {
      const label = `campaign ${campaign.key.slice(0, 12)}`;
      if (!seenKeys.has(campaign.key)) report.campaigns++;
      seenKeys.add(campaign.key);
      const { id, created } = output.importCampaign(campaign);
      if (created) report.newCampaigns++;
      else reconcileCampaign(output, id, campaign, `${source.path}: ${label}`);

      const existing = new Map(output.trials(id).map((t) => [trialKey(t.ber, t.trial), t]));
      const incoming = source.trials(campaign.id);
      for (const trial of incoming) {
        const stored = existing.get(trialKey(trial.ber, trial.trial));
        if (stored !== undefined && !sameResults(stored, trial)) {
          throw new ProactError(
            `merge: ${source.path}: ${label} trial ${trial.trial} at BER ${trial.ber} differs from the copy merged before ` +
              `(accuracy ${trial.accuracy} vs ${stored.accuracy}, faults ${trial.faults} vs ${stored.faults}); these stores are not shards of one run — merge them separately`,
          );
        }
      }
      const { inserted, ignored } = output.insertTrials(id, incoming);
      report.trialsAdded += inserted;
      report.trialsAlreadyPresent += ignored;

      for (const name of source.listArtifacts(campaign.id)) {
        const value = source.getArtifact(campaign.id, name)!;
        const mine = output.getArtifact(id, name);
        if (mine === undefined) output.putArtifact(id, name, value);
        else if (canonicalJson(mine) !== canonicalJson(value)) conflicts.add(`${campaign.key.slice(0, 12)}/${name}`);
      }
    }
  }
  report.artifactConflicts = [...conflicts];
  markCompleteness(output, seenKeys, report);
  return report;
}

/** Checks that two copies of a campaign agree on the clean accuracy and combines their status. */
function reconcileCampaign(output: ResultStore, id: number, incoming: CampaignRecord, where: string): void {
  const mine = output.getCampaign(id)!;
  const cleanAccuracy = incoming.cleanAccuracy;
  if (cleanAccuracy !== null) {
    if (mine.cleanAccuracy === null) output.setCleanAccuracy(id, cleanAccuracy);
    else if (mine.cleanAccuracy !== cleanAccuracy) {
      throw new ProactError(
        `merge: ${where} has clean accuracy ${cleanAccuracy} but ${mine.cleanAccuracy} in the stores merged before; they are not shards of one run — merge them separately`,
      );
    }
  }
  if ((mine.status === 'complete' || mine.status === 'partial') && incoming.status !== 'complete') output.setStatus(id, incoming.status);
}

function sameResults(a: StoredTrial, b: StoredTrial): boolean {
  return a.accuracy === b.accuracy && a.sdc === b.sdc && a.due === b.due && a.faults === b.faults;
}

/** Resolved path with symlinks followed where the file exists, to recognise the same file under two names. */
function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}
