/**
 * A queue worker (`proact worker`): takes trial batches of any campaign from the Redis queue, runs them
 * with `runTrial` exactly as a local campaign would, and returns the per-trial records; it never writes a
 * database. Each campaign's model and data are loaded once per worker, after checking that the files at
 * the recipe's paths are the ones the campaign was created with. Fault plans are computed here from
 * (seed, BER, trial), so they are the same on every machine.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import {
  TOOL_VERSION,
  campaignPlanner,
  loadCampaignInputs,
  runClean,
  runTrial,
  sha256,
  trialContext,
  type TrialContext,
  type TrialOutcome,
} from '../campaign/index.js';
import { faultModelFromJSON, type FaultPlanner } from '../faults/index.js';
import { isProactError, ProactError } from '../util/errors.js';
import { checkInputFile } from '../util/outputs.js';
import type { CampaignRecipe, TrialBatchJob, TrialBatchResult } from './protocol.js';
import { bullConnection, plainClient, checkPrefix, checkRedis, closeWithin, DEFAULT_QUEUE_PREFIX, errorText, parseRedisUrl, sleep, TRIALS_QUEUE } from './redis.js';

export interface TrialWorkerOptions {
  /** redis://HOST:PORT/DB of the coordinator's Redis. */
  queue: string;
  /** Key prefix (the coordinator's). Default 'proact'. */
  prefix?: string;
  /** Batches run at the same time in this process (default 1). */
  concurrency?: number;
  /** onnxruntime intra-op threads per trial (default 2, or 1 when concurrency >= 2). */
  threads?: number;
  /**
   * How long a job stays claimed without a heartbeat before another worker takes it over (default
   * 30 000 ms); stalled jobs are looked for every half of it. Use the same value on every worker.
   */
  lockMs?: number;
  /** Name in logs and in each stored trial's `extra.worker` (default host:pid). */
  name?: string;
  /** Extra delay before each trial, to rehearse failures on a model that runs too fast to catch mid-job. */
  trialDelayMs?: number;
  /** Log lines (campaign loaded, refusals, errors). */
  onLog?: (message: string) => void;
  /** Called after each trial this worker ran. */
  onTrial?: (o: TrialOutcome) => void;
  /** Give up (`lost` rejects) when Redis stays unreachable this long (default 1800 s, as --queue-timeout). */
  unreachableTimeoutMs?: number;
}

export interface TrialWorkerHandle {
  name: string;
  /** Stops taking jobs; running batches get `timeoutMs` (default 30 s) to finish, then they are left to other workers. */
  close(timeoutMs?: number): Promise<void>;
  /** Rejects with a ProactError once Redis was unreachable for `unreachableTimeoutMs`; never resolves. */
  lost: Promise<never>;
}

export const DEFAULT_LOCK_MS = 30_000;
/** How often a batch whose workers keep dying may be retaken before it fails (and the campaign with it). */
export const MAX_STALLED = 5;
/** Campaigns whose model and data a worker keeps loaded. */
const LOADED_CAMPAIGNS = 2;

interface LoadedCampaign {
  context: TrialContext;
  planner: FaultPlanner;
}

/** Connects to the queue and starts taking trial batches. Unreachable Redis is a ProactError. */
export async function startTrialWorker(o: TrialWorkerOptions): Promise<TrialWorkerHandle> {
  const target = parseRedisUrl(o.queue);
  const prefix = checkPrefix(o.prefix ?? DEFAULT_QUEUE_PREFIX, '--prefix');
  const concurrency = o.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new ProactError(`--concurrency ${concurrency}: expected an integer >= 1`);
  const threads = o.threads ?? (concurrency >= 2 ? 1 : 2);
  const lockMs = o.lockMs ?? DEFAULT_LOCK_MS;
  if (!(Number.isInteger(lockMs) && lockMs >= 500)) throw new ProactError(`--lock-ms ${lockMs}: expected an integer >= 500 (milliseconds)`);
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const log = o.onLog ?? (() => {});
  await checkRedis(target);

  const loaded = new Map<string, Promise<LoadedCampaign>>();
  const campaignOf = (recipe: CampaignRecipe): Promise<LoadedCampaign> => {
    let entry = loaded.get(recipe.key);
    if (!entry) {
      entry = loadRecipe(recipe, threads);
      loaded.set(recipe.key, entry);
      // A failed load is tried again by the next job (the file may have been fixed meanwhile).
      entry.then(
        (c) => log(`campaign ${recipe.key.slice(0, 12)}: loaded ${recipe.model} and ${c.context.evalSet.count} records of ${recipe.data}`),
        () => loaded.delete(recipe.key),
      );
      while (loaded.size > LOADED_CAMPAIGNS) loaded.delete(loaded.keys().next().value!);
    }
    return entry;
  };

  const processor = async (job: Job<TrialBatchJob, TrialBatchResult>): Promise<TrialBatchResult> => {
    const { recipe, ber, trials } = job.data;
    let campaign: LoadedCampaign;
    try {
      campaign = await campaignOf(recipe);
    } catch (e) {
      const message = errorText(e);
      log(`refusing batch ${job.id}: ${message}`);
      // The files on this machine will not change by retrying: fail the batch, and the coordinator says why.
      throw isProactError(e) ? new UnrecoverableError(`worker ${name}: ${message}`) : e;
    }
    const records: TrialOutcome[] = [];
    for (const { trial, images } of trials) {
      if (o.trialDelayMs) await sleep(o.trialDelayMs);
      const outcome = await runTrial(campaign.context, { ber, trial, faults: campaign.planner.plan(ber, trial).faults, images });
      records.push(outcome);
      o.onTrial?.(outcome);
    }
    return { worker: name, records };
  };

  const worker = new Worker<TrialBatchJob, TrialBatchResult>(TRIALS_QUEUE, processor, {
    connection: bullConnection(target),
    prefix,
    concurrency,
    name,
    lockDuration: lockMs,
    stalledInterval: Math.max(250, Math.floor(lockMs / 2)),
    maxStalledCount: MAX_STALLED,
    autorun: true,
  });
  let lastError = '';
  worker.on('error', (e) => {
    const text = errorText(e);
    if (text !== lastError) log(`queue error: ${text}`);
    lastError = text;
  });
  worker.on('failed', (job, e) => {
    if (job) log(`batch ${job.id} failed: ${errorText(e)}`);
  });
  await worker.waitUntilReady();

  // Watchdog: a PING every few seconds; Redis unreachable past the timeout ends the worker with an error
  // instead of a process that waits forever for a server that is gone.
  const unreachableMs = o.unreachableTimeoutMs ?? 1_800_000;
  const probe = plainClient(target);
  probe.on('error', () => {});
  let lastReached = Date.now();
  let rejectLost: (e: unknown) => void = () => {};
  const lost = new Promise<never>((_, reject) => (rejectLost = reject));
  lost.catch(() => {}); // observed by the caller; never an unhandled rejection
  let probing = false;
  const watchdog = setInterval(() => {
    if (probing) return;
    probing = true;
    probe
      .ping()
      .then(() => (lastReached = Date.now()), () => {})
      .finally(() => {
        probing = false;
        const silent = Date.now() - lastReached;
        if (silent > unreachableMs) {
          rejectLost(new ProactError(`worker ${name}: Redis at ${target.url} unreachable for ${Math.round(silent / 1000)} s (--queue-timeout); check the server, then start the worker again`));
        }
      });
  }, Math.min(5_000, Math.max(250, Math.floor(unreachableMs / 4))));

  let closing: Promise<void> | undefined;
  return {
    name,
    lost,
    close: (timeoutMs = 30_000) =>
      (closing ??= (async () => {
        clearInterval(watchdog);
        probe.disconnect();
        await closeWithin(
          timeoutMs,
          () => worker.close(),
          () => worker.close(true),
          (e) => log(`closing: ${errorText(e)}`),
        );
      })()),
  };
}

/** Loads a campaign's inputs after checking they are the campaign's; a mismatch is a ProactError naming the fix. */
async function loadRecipe(recipe: CampaignRecipe, threads: number): Promise<LoadedCampaign> {
  const id = `campaign ${recipe.key.slice(0, 12)}`;
  if (recipe.toolVersion !== TOOL_VERSION) {
    throw new ProactError(`${id} was created by proact ${recipe.toolVersion}, this worker is ${TOOL_VERSION}; install the same proact version on every machine`);
  }
  let bytes: Uint8Array;
  checkInputFile(recipe.model, 'model');
  try {
    bytes = readFileSync(recipe.model);
  } catch {
    throw new ProactError(`${recipe.model}: ${id} needs this model file, which this machine cannot read; put the same file at the same path on every worker (shared or copied)`);
  }
  const hash = sha256(bytes);
  if (hash !== recipe.modelHash) {
    throw new ProactError(
      `${recipe.model}: sha256 ${hash.slice(0, 12)}... differs from ${id}'s model ${recipe.modelHash.slice(0, 12)}...; this machine has another file at that path — copy the campaign's model there`,
    );
  }
  const faults = faultModelFromJSON(recipe.faults, id);
  const inputs = loadCampaignInputs({
    model: recipe.model,
    data: recipe.data,
    split: recipe.split,
    evalOffset: recipe.evalOffset,
    ...(recipe.evalLimit === null ? {} : { evalLimit: recipe.evalLimit }),
    faults,
  });
  if (inputs.modelHash !== recipe.modelHash) {
    throw new ProactError(`${recipe.model}: the file changed while it was read; rerun the worker once it is stable`);
  }
  if (inputs.dataId !== recipe.dataId) {
    throw new ProactError(
      `${recipe.data}: evaluation data ${inputs.dataId} differs from ${id}'s ${recipe.dataId}; put the same dataset at the same path on every worker`,
    );
  }
  const clean = await runClean(inputs, recipe.batchSize, threads);
  const cleanAccuracy = clean.correct / inputs.evalSet.count;
  if (cleanAccuracy !== recipe.cleanAccuracy) {
    throw new ProactError(
      `${id}: this machine's clean accuracy ${cleanAccuracy} differs from the campaign's ${recipe.cleanAccuracy}; its onnxruntime computes differently — run workers on machines that agree, or a local campaign here`,
    );
  }
  return {
    context: trialContext(inputs, clean, recipe.batchSize, threads, recipe.seed),
    planner: campaignPlanner(inputs.faultable.surface, { faults, sampling: recipe.sampling }, recipe.seed),
  };
}
