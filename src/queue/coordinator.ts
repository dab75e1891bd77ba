/**
 * Queue mode's coordinator (`proact campaign ... --queue redis://...`): the one process that writes the
 * campaign's SQLite database. It prepares the campaign exactly as a local run does (same key, same clean
 * run, same resume rules), then hands the trials to `proact worker` processes through BullMQ flows: one
 * parent job per BER wave, whose children are batches of trials. Results come back as job return values
 * and are stored as they arrive, so statistics, reports and resume work unchanged.
 *
 * - Sequential stopping: each BER runs its waves on its own (all BERs at once, so workers stay busy);
 *   the stopping rule is judged on the stored prefix of trial indices, as in a local run, so the trials
 *   run are the same whatever the number of workers.
 * - Failures: a worker that dies mid-batch loses its lock and BullMQ's stalled-job check hands the batch
 *   to another worker; a trial stored twice is impossible (INSERT OR IGNORE on campaign, BER, trial).
 * - Restart: job ids are derived from the campaign key, BER and trial range, so a restarted coordinator
 *   (same command with --resume) finds its waves still in Redis, collects what finished meanwhile, and
 *   enqueues only what neither the database nor the queue holds.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlowProducer, Job, Queue, QueueEvents, Worker, type FlowJobNode } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  leveugleSampleSize,
  openCampaign,
  openStore,
  plannedTrials,
  prepareCampaign,
  berDesign,
  runDesign,
  storedValues,
  summarizeCampaign,
  trialKey,
  WHOLE,
  type CampaignOptions,
  type CampaignResult,
  type PreparedCampaign,
  type ResultStore,
  type TrialSpec,
} from '../campaign/index.js';
import { ProactError } from '../util/errors.js';
import {
  batchJobId,
  campaignJobPrefix,
  makeRecipe,
  parseBatchResult,
  trialBatches,
  waveJobId,
  waveQueueName,
  type CampaignRecipe,
  type QueuedTrial,
  type TrialBatchJob,
  type TrialBatchResult,
  type WaveJob,
} from './protocol.js';
import {
  bullConnection,
  checkPrefix,
  checkRedis,
  closeWithin,
  COMMAND_TIMEOUT_MS,
  DEFAULT_QUEUE_PREFIX,
  errorText,
  parseRedisUrl,
  plainClient,
  sleep,
  TRIALS_QUEUE,
  withDeadline,
  type RedisTarget,
} from './redis.js';
import { coordinatorName, publishStatus, type CampaignQueueStatus, type QueuedCampaignState } from './status.js';

/** Trials per queue job: small enough to spread over workers, large enough to hide the queue's round trips. */
export const DEFAULT_QUEUE_BATCH = 5;
/** Give up when no trial finished for this long (no worker running, or all of them stuck). */
export const DEFAULT_IDLE_TIMEOUT_S = 1800;
/** Attempts of a trial batch that fails with an error (a worker that dies is handled by the stall check). */
export const BATCH_ATTEMPTS = 3;
const POLL_MS = 200;
const TICK_MS = 1000;
const READY_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** Deadline of one queue request of the coordinator (Redis may be reconnecting meanwhile). */
const REQUEST_TIMEOUT_MS = 60_000;
/** Waves enqueued again for trials still missing after their wave finished (e.g. a new database on old jobs). */
const MAX_REPAIR_ROUNDS = 2;

export interface QueueModeOptions {
  /** redis://HOST:PORT/DB: switches the campaign to queue mode. */
  queue: string;
  /** Key prefix in Redis (workers must use the same). Default 'proact'. */
  queuePrefix?: string;
  /** Trials per queue job (default 5). */
  queueBatch?: number;
  /** Stop with an error when no trial finished for this many seconds (default 1800). */
  idleTimeoutSeconds?: number;
  /** Lines worth telling the user: no worker connected, a worker lost, a batch retried. */
  onNotice?: (message: string) => void;
  /** Called after trials are stored and once a second: done, planned, workers alive, ETA. */
  onProgress?: (p: QueueProgress) => void;
}

export type QueuedCampaignOptions = CampaignOptions & QueueModeOptions;

export interface QueueProgress {
  done: number;
  /** Trials still possible: `trials` per BER, or the stored count of a BER whose stopping rule has decided. */
  planned: number;
  workers: number;
  trialsPerSecond: number | null;
  etaSeconds: number | null;
}

/** Runs a campaign as the coordinator of a Redis queue; `proact worker` processes run its trials. */
export async function runQueuedCampaign(o: QueuedCampaignOptions): Promise<CampaignResult> {
  if (o.shard && o.shard.count > 1) throw new ProactError('--shard with --queue: the queue already spreads the trials over the workers; drop --shard');
  const target = parseRedisUrl(o.queue);
  const prefix = checkPrefix(o.queuePrefix ?? DEFAULT_QUEUE_PREFIX);
  const batch = o.queueBatch ?? DEFAULT_QUEUE_BATCH;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new ProactError(`--queue-batch ${batch}: expected an integer >= 1`);
  const idleSeconds = o.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_S;
  if (!(idleSeconds > 0)) throw new ProactError(`--queue-timeout ${idleSeconds}: expected a number of seconds > 0`);
  await checkRedis(target);

  const prepared = await prepareCampaign(o, o.threads ?? 2);
  const store = openStore(o.db);
  try {
    const { id, created, done } = openCampaign(store, prepared, o);
    const key = store.getCampaign(id)!.key;
    const recipe = makeRecipe(o, prepared, key, { model: resolve(o.model), data: existsSync(o.data) ? resolve(o.data) : o.data });
    const planner = prepared.planner;
    const planned = plannedTrials(prepared.bers, prepared.trials, WHOLE);
    o.onStart?.({
      campaignId: id,
      seed: prepared.seed,
      cleanAccuracy: prepared.cleanAccuracy,
      surfaceBits: planner.totalBits,
      plannedTrials: planned,
      alreadyDone: done.size,
      leveugle: leveugleSampleSize(Infinity, o.precision ?? 0.01, o.confidence ?? 0.95),
      resumed: !created,
      oneImageAtATime: prepared.clean.oneImageAtATime,
    });
    const coordinator = new Coordinator(o, target, prefix, batch, idleSeconds * 1000, store, id, recipe, prepared, done);
    let state: QueuedCampaignState = 'failed';
    try {
      await coordinator.open();
      await coordinator.run();
      state = coordinator.aborted ? 'interrupted' : 'complete';
    } catch (e) {
      coordinator.error = errorText(e);
      throw e;
    } finally {
      try {
        store.setStatus(id, state);
      } finally {
        await coordinator.close(state);
      }
    }
    return {
      campaignId: id,
      db: o.db,
      seed: prepared.seed,
      cleanAccuracy: prepared.cleanAccuracy,
      summary: summarizeCampaign(store, id),
      interrupted: coordinator.aborted,
    };
  } finally {
    store.close();
  }
}

class Coordinator {
  error: string | undefined;
  private readonly bers: number[];
  private readonly trials: number;
  /** Half-width of each BER's accuracy interval at its last wave decision. */
  private readonly halfWidths = new Map<number, number>();
  private flows?: FlowProducer;
  private waves?: Queue<WaveJob>;
  private waveWorker?: Worker<WaveJob>;
  private trialsQueue?: Queue<TrialBatchJob, TrialBatchResult>;
  private events?: QueueEvents;
  private client?: Redis;
  private ticker?: NodeJS.Timeout;
  private ticking = false;
  private failure: unknown;
  private readonly jobPrefix: string;
  private readonly accuracies = new Map<number, number[]>();
  /** Per BER, the trials the design issued and their image counts: what a job result may store. */
  private readonly issued = new Map<number, Map<number, number>>();
  private readonly decided = new Map<number, boolean>();
  private readonly failedReasons = new Map<string, string>();
  private readonly samples: [number, number][] = [];
  private readonly startedAt = new Date().toISOString();
  private doneCount: number;
  private workers = 0;
  private workersKnown = false;
  private lastProgressAt = Date.now();
  private lastNotice = '';
  private closed = false;

  constructor(
    private readonly o: QueuedCampaignOptions,
    private readonly target: RedisTarget,
    private readonly prefix: string,
    private readonly batch: number,
    private readonly idleMs: number,
    private readonly store: ResultStore,
    private readonly campaignId: number,
    private readonly recipe: CampaignRecipe,
    private readonly prepared: PreparedCampaign,
    private readonly done: Set<string>,
  ) {
    this.bers = prepared.bers;
    this.trials = prepared.trials;
    const bers = this.bers;
    this.jobPrefix = campaignJobPrefix(recipe.key);
    this.doneCount = done.size;
    for (const ber of bers) this.accuracies.set(ber, store.trials(campaignId, ber).map((t) => t.accuracy));
    for (const ber of bers) this.issued.set(ber, new Map());
  }

  get aborted(): boolean {
    return this.o.signal?.aborted ?? false;
  }

  private halted(): boolean {
    return this.aborted || this.failure !== undefined;
  }

  private notice(message: string): void {
    // After close, the libraries' late connection errors are noise printed after the command's own last line.
    if (this.closed || message === this.lastNotice) return;
    this.lastNotice = message;
    this.o.onNotice?.(message);
  }

  async open(): Promise<void> {
    const connection = bullConnection(this.target);
    const prefix = this.prefix;
    const onError = (what: string) => (e: unknown) => this.notice(`Redis (${what}): ${errorText(e)}`);
    this.client = plainClient(this.target);
    this.client.on('error', onError('status'));
    this.flows = new FlowProducer({ connection, prefix });
    this.flows.on('error', onError('flows'));
    this.waves = new Queue<WaveJob>(waveQueueName(this.recipe.key), { connection, prefix });
    this.waves.on('error', onError('waves'));
    this.trialsQueue = new Queue<TrialBatchJob, TrialBatchResult>(TRIALS_QUEUE, { connection, prefix });
    this.trialsQueue.on('error', onError('trials'));
    // A wave's parent job has nothing to compute: it completes once its batches have.
    this.waveWorker = new Worker<WaveJob>(waveQueueName(this.recipe.key), async () => ({ collected: true }), {
      connection,
      prefix,
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 10,
    });
    this.waveWorker.on('error', onError('wave worker'));
    this.events = new QueueEvents(TRIALS_QUEUE, { connection, prefix });
    this.events.on('error', onError('events'));
    this.events.on('completed', ({ jobId, returnvalue }) => {
      if (!jobId.startsWith(`${this.jobPrefix}.`)) return;
      try {
        this.storeResult(parseBatchResult(returnvalue, jobId));
      } catch (e) {
        this.failure ??= e;
      }
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      if (!jobId.startsWith(`${this.jobPrefix}.`)) return;
      this.failedReasons.set(jobId, failedReason);
      this.notice(`batch ${shortId(jobId)} failed on a worker (${failedReason})`);
    });
    this.events.on('stalled', ({ jobId }) => {
      if (jobId.startsWith(`${this.jobPrefix}.`)) this.notice(`batch ${shortId(jobId)}: its worker stopped responding (stalled); another worker takes it over`);
    });
    await this.redis(
      `connecting to ${this.target.url}`,
      withDeadline(
        Promise.all([this.client.connect(), this.flows.waitUntilReady(), this.waves.waitUntilReady(), this.trialsQueue.waitUntilReady(), this.waveWorker.waitUntilReady(), this.events.waitUntilReady()]),
        READY_TIMEOUT_MS,
        `connecting to ${this.target.url}`,
      ),
    );
    this.ticker = setInterval(() => void this.tick(), TICK_MS);
    await this.tick();
  }

  async run(): Promise<void> {
    await Promise.all(
      this.bers.map(async (ber) => {
        // The same design as a local run (runDesign): only the executor differs, a wave of queue jobs.
        const runWave = (wave: readonly TrialSpec[]) => this.runWave(ber, wave.map((t) => ({ trial: t.trial, images: t.images })));
        const stored = () => storedValues(this.store, this.campaignId, ber, this.prepared.evalSet.count);
        try {
          await runDesign(berDesign(this.o, this.prepared, ber), runWave, stored, () => this.halted(), (d) => this.halfWidths.set(ber, d.halfWidth));
          if (!this.halted()) this.decided.set(ber, true);
        } catch (e) {
          if (!(e instanceof Halted)) this.failure ??= e;
        }
      }),
    );
    if (this.failure !== undefined) throw this.failure;
  }

  /** Makes sure every trial of `wave` at `ber` gets stored: enqueues (or finds) the wave and waits for it. */
  private async runWave(ber: number, wave: readonly QueuedTrial[]): Promise<void> {
    const issued = this.issued.get(ber)!;
    for (const t of wave) issued.set(t.trial, t.images);
    for (let round = 0; ; round++) {
      if (this.halted()) return;
      const missing = wave.filter((t) => !this.done.has(trialKey(ber, t.trial)));
      if (missing.length === 0) return;
      if (round > MAX_REPAIR_ROUNDS) {
        throw new ProactError(`queue: ${missing.length} trials at BER ${ber} still missing after ${round} rounds of jobs; rerun the same command with --resume`);
      }
      const parentId = waveJobId(this.recipe.key, ber, wave, round);
      let parent = await this.redis('finding a wave', Job.fromId<WaveJob>(this.waves!, parentId));
      if (parent && (await this.redis('reading a wave', parent.getState())) === 'failed') {
        // Left by a run that stopped on a failed batch: start this wave afresh.
        await this.removeFlow(parent);
        parent = undefined;
      }
      if (!parent) {
        const children: FlowJobNode[] = trialBatches(missing, this.batch).map((trials) => ({
          name: 'trials',
          queueName: TRIALS_QUEUE,
          data: { recipe: this.recipe, ber, trials } satisfies TrialBatchJob,
          opts: {
            jobId: batchJobId(parentId, trials),
            attempts: BATCH_ATTEMPTS,
            backoff: { type: 'fixed', delay: 2_000 },
            failParentOnFailure: true,
            removeOnComplete: false,
            removeOnFail: false,
          },
        }));
        const node = await this.redis('enqueueing a wave', this.flows!.add({
          name: 'wave',
          queueName: waveQueueName(this.recipe.key),
          data: { key: this.recipe.key, ber, trials: wave.length } satisfies WaveJob,
          opts: { jobId: parentId, removeOnComplete: false, removeOnFail: false },
          children,
        }));
        parent = node.job as Job<WaveJob>;
      }
      await this.awaitWave(parent, ber);
    }
  }

  /** Waits until the wave's batches have all finished, storing their results; a failed batch is a ProactError. */
  private async awaitWave(parent: Job<WaveJob>, ber: number): Promise<void> {
    for (;;) {
      if (this.halted()) return;
      let state: string;
      try {
        state = await withDeadline(parent.getState(), COMMAND_TIMEOUT_MS, 'reading a wave');
      } catch (e) {
        // Redis slow or reconnecting: keep polling; the idle timeout bounds how long.
        this.notice(`Redis: ${errorText(e)}; retrying`);
        state = 'waiting-children';
      }
      if (state === 'failed') {
        const reason = await this.failureReason(parent);
        await this.removeFlow(parent);
        throw new ProactError(`queue: a trial batch at BER ${ber} failed: ${reason}; fix that, then rerun the same command with --resume`);
      }
      if (state === 'unknown') return; // removed from Redis: the caller enqueues whatever is missing
      if (state !== 'waiting-children') {
        const values = await this.redis('collecting a wave', parent.getChildrenValues());
        for (const [childKey, value] of Object.entries(values)) this.storeResult(parseBatchResult(value, childKey));
        return;
      }
      if (Date.now() - this.lastProgressAt > this.idleMs) {
        throw new ProactError(
          `queue: no trial finished for ${Math.round(this.idleMs / 1000)} s and ${this.workers} workers are connected to ${this.target.url}; ` +
            `start workers (proact worker --queue ${this.target.url}${this.prefix === DEFAULT_QUEUE_PREFIX ? '' : ` --prefix ${this.prefix}`}), then rerun the same command with --resume`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** A Redis request of the coordinator with a deadline: a server that stopped answering is a ProactError, not a hang. */
  private async redis<T>(what: string, request: Promise<T>): Promise<T> {
    try {
      // A stop (SIGINT/SIGTERM) does not wait for a request to a Redis that is gone: it ends the wait.
      return await withDeadline(Promise.race([request, this.untilHalted()]), REQUEST_TIMEOUT_MS, what);
    } catch (e) {
      if (e instanceof ProactError || e instanceof Halted) throw e;
      throw new ProactError(`queue ${this.target.url}: ${what} failed (${errorText(e)}); check Redis, then rerun the same command with --resume`);
    }
  }

  /** Rejects with Halted once the campaign is stopped (polled: the stop is a flag set by a signal handler). */
  private untilHalted(): Promise<never> {
    return new Promise<never>((_, reject) => {
      const timer = setInterval(() => {
        if (!this.halted()) return;
        clearInterval(timer);
        reject(new Halted());
      }, POLL_MS);
      timer.unref();
    });
  }

  private async failureReason(parent: Job<WaveJob>): Promise<string> {
    for (const [jobId, reason] of this.failedReasons) if (jobId.startsWith(`${parent.id}.`)) return reason;
    const fresh = await Job.fromId<WaveJob>(this.waves!, parent.id!);
    const text = fresh?.failedReason ?? 'unknown reason';
    // BullMQ says 'child <prefix>:<queue>:<id> failed': the child's own reason is the useful one.
    const childId = /:([^:\s]+) failed/.exec(text)?.[1];
    if (childId) {
      const child = await Job.fromId(this.trialsQueue!, childId);
      if (child?.failedReason) return child.failedReason;
    }
    return text;
  }

  private async removeFlow(parent: Job<WaveJob>): Promise<void> {
    try {
      await parent.remove();
    } catch (e) {
      this.notice(`could not remove wave ${shortId(parent.id ?? '')} from the queue (${errorText(e)}); remove it by hand if it lingers`);
    }
  }

  /** Stores the new trials of a batch result (duplicates and trials of other campaigns are ignored). */
  private storeResult(result: TrialBatchResult): void {
    const fresh = result.records.filter(
      // Only trials this coordinator issued, with the images it asked for (a stale job of another design is ignored).
      (r) => this.issued.get(r.ber)?.get(r.trial) === (r.images ?? this.prepared.evalSet.count) && !this.done.has(trialKey(r.ber, r.trial)),
    );
    if (fresh.length === 0) return;
    this.store.insertTrials(
      this.campaignId,
      fresh.map((r) => ({ ber: r.ber, trial: r.trial, accuracy: r.accuracy, sdc: r.sdc, due: r.due, faults: r.faults, images: r.images, seconds: r.seconds, shard: null, extra: { worker: result.worker } })),
    );
    this.lastProgressAt = Date.now();
    const planned = this.planned();
    for (const r of fresh) {
      this.done.add(trialKey(r.ber, r.trial));
      this.doneCount++;
      const accs = this.accuracies.get(r.ber)!;
      accs.push(r.accuracy);
      this.o.onTrial?.(r, { done: this.doneCount, planned, ber: r.ber, berMean: accs.reduce((a, b) => a + b, 0) / accs.length, berCiHalfWidth: this.halfWidths.get(r.ber) ?? Infinity, berTrials: accs.length });
    }
    this.o.onProgress?.(this.progress());
  }

  private planned(): number {
    let planned = 0;
    for (const ber of this.bers) planned += this.decided.get(ber) ? this.accuracies.get(ber)!.length : this.trials;
    return planned;
  }

  private progress(): QueueProgress {
    const now = Date.now();
    const first = this.samples[0];
    let rate: number | null = null;
    if (first && now - first[0] >= 2_000 && this.doneCount > first[1]) rate = ((this.doneCount - first[1]) * 1000) / (now - first[0]);
    const planned = this.planned();
    return { done: this.doneCount, planned, workers: this.workers, trialsPerSecond: rate, etaSeconds: rate ? Math.max(0, planned - this.doneCount) / rate : null };
  }

  /** Once a second: count the workers, publish the status record, report progress. */
  private async tick(state: QueuedCampaignState = 'running'): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = Date.now();
      this.samples.push([now, this.doneCount]);
      while (this.samples.length > 2 && now - this.samples[0]![0] > 60_000) this.samples.shift();
      try {
        const workers = await this.trialsQueue!.getWorkersCount();
        if (workers === 0 && state === 'running' && (this.workers > 0 || !this.workersKnown)) {
          this.notice(`no worker is connected to ${this.target.url}: start 'proact worker --queue ${this.target.url}' on the machines that should run trials`);
        } else if (workers !== this.workers) this.notice(`${workers} worker${workers === 1 ? '' : 's'} connected`);
        this.workers = workers;
        this.workersKnown = true;
        await publishStatus(this.client!, this.prefix, this.status(state));
      } catch (e) {
        this.notice(`status record: ${errorText(e)}`);
      }
      this.o.onProgress?.(this.progress());
    } finally {
      this.ticking = false;
    }
  }

  private status(state: QueuedCampaignState): CampaignQueueStatus {
    const p = this.progress();
    return {
      key: this.recipe.key,
      campaignId: this.campaignId,
      db: resolve(this.o.db),
      model: this.recipe.model,
      state,
      planned: p.planned,
      done: p.done,
      workers: p.workers,
      trialsPerSecond: p.trialsPerSecond,
      etaSeconds: state === 'running' ? p.etaSeconds : null,
      coordinator: coordinatorName(),
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }

  /** Publishes the final state, removes a finished campaign's jobs, and closes every connection (each with a deadline). */
  async close(state: QueuedCampaignState): Promise<void> {
    clearInterval(this.ticker);
    const log = (e: unknown) => this.notice(`closing: ${errorText(e)}`);
    // Closed side by side, each with a deadline: with Redis gone the whole close stays well within the
    // 30 s a scheduler allows after SIGTERM.
    await Promise.all([
      this.waveWorker ? closeWithin(CLOSE_TIMEOUT_MS, () => this.waveWorker!.close(), () => this.waveWorker!.close(true), log) : undefined,
      this.events ? closeWithin(CLOSE_TIMEOUT_MS, () => this.events!.close(), () => this.events!.disconnect(), log) : undefined,
    ]);
    if (state === 'complete' && this.waves) {
      // Finished: its jobs are in the database now. An interrupted campaign keeps them for --resume.
      await closeWithin(
        CLOSE_TIMEOUT_MS * 2,
        async () => {
          const jobs = await this.waves!.getJobs(['completed', 'waiting', 'waiting-children', 'failed', 'delayed', 'prioritized'], 0, -1);
          for (const job of jobs) await job.remove();
          await this.waves!.obliterate({ force: true });
        },
        () => {},
        log,
      );
    }
    if (this.client && this.trialsQueue) {
      await closeWithin(CLOSE_TIMEOUT_MS, () => this.client!.status === 'ready' ? publishStatus(this.client!, this.prefix, this.status(state)) : Promise.resolve(), () => {}, log);
    }
    await Promise.all([this.flows, this.waves, this.trialsQueue].map((closable) => (closable ? closeWithin(CLOSE_TIMEOUT_MS, () => closable.close(), () => closable.disconnect(), log) : undefined)));
    this.client?.disconnect();
    this.closed = true;
  }
}

/** Job ids are long (campaign key prefix): notices show the part after it. */
function shortId(jobId: string): string {
  const dot = jobId.indexOf('.');
  return dot >= 0 ? jobId.slice(dot + 1) : jobId;
}

/** The campaign was stopped while a Redis request was pending: not a failure. */
class Halted extends Error {
  constructor() {
    super('stopped');
    this.name = 'Halted';
  }
}
