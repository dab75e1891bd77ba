/**
 * Queue mode on the command line, in one file: `proact worker` (runs trials from Redis until SIGTERM) and
 * `proact campaign status` (trials done, workers alive, ETA of queued campaigns). The coordinator side
 * is `proact campaign --queue`, in campaign.ts.
 */
import type { Command } from 'commander';
import { openStore } from '../campaign/index.js';
import { checkPrefix, DEFAULT_QUEUE_PREFIX, formatDuration, parseRedisUrl, readQueueOverview, startTrialWorker, type QueueOverview } from '../queue/index.js';
import { ProactError } from '../util/errors.js';
import { log, parseIntOption, table } from './common.js';
import { stopOnSignals } from './stop.js';

interface WorkerCli {
  queue: string;
  prefix: string;
  concurrency: number;
  threads?: number;
  lockMs: number;
  name?: string;
  queueTimeout: number;
}

/** Environment variable that slows each trial down (milliseconds): to rehearse failures on tiny models. */
export const TRIAL_DELAY_ENV = 'PROACT_TRIAL_DELAY_MS';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run campaign trials from a Redis queue until stopped (start any number, on any machine; see docs/cluster.md)')
    .requiredOption('--queue <redis-url>', 'the coordinator\'s Redis, e.g. redis://10.0.0.5:6379/0')
    .option('--concurrency <n>', 'trial batches run at once in this process', parseIntOption('--concurrency', 1), 1)
    .option('--threads <t>', 'onnxruntime intra-op threads per trial (default 2, or 1 with --concurrency >= 2)', parseIntOption('--threads', 1))
    .option('--prefix <p>', "Redis key prefix (the coordinator's --queue-prefix)", DEFAULT_QUEUE_PREFIX)
    .option('--lock-ms <ms>', 'a batch whose worker is silent this long goes to another worker (same value on every worker)', parseIntOption('--lock-ms', 500), 30_000)
    .option('--name <name>', 'name in logs and stored trials (default host:pid)')
    .option('--queue-timeout <s>', 'exit with an error when Redis stays unreachable for s seconds', parseIntOption('--queue-timeout', 1), 1800)
    .action(async (o: WorkerCli) => {
      const delayText = process.env[TRIAL_DELAY_ENV];
      const trialDelayMs = delayText ? Number(delayText) : 0;
      if (!(Number.isFinite(trialDelayMs) && trialDelayMs >= 0)) throw new ProactError(`${TRIAL_DELAY_ENV}=${delayText}: expected milliseconds >= 0`);
      const handle = await startTrialWorker({
        queue: o.queue,
        prefix: o.prefix,
        concurrency: o.concurrency,
        lockMs: o.lockMs,
        trialDelayMs,
        unreachableTimeoutMs: o.queueTimeout * 1000,
        onLog: (m) => log(`worker: ${m}`),
        ...(o.threads === undefined ? {} : { threads: o.threads }),
        ...(o.name === undefined ? {} : { name: o.name }),
      });
      log(`worker ${handle.name}: taking trials from ${o.queue} (prefix ${o.prefix}, concurrency ${o.concurrency}); stop with SIGTERM or Ctrl-C`);
      let stopped!: () => void;
      const signalled = new Promise<void>((resolve) => (stopped = resolve));
      const stop = stopOnSignals((sig) => `worker ${handle.name}: ${sig}, finishing the running batches (up to 30 s; the rest go back to the queue; a second signal quits now)`, () => stopped());
      try {
        await Promise.race([signalled, handle.lost]);
      } catch (e) {
        await handle.close(5_000);
        throw e;
      } finally {
        if (!stop.request.aborted) stop.dispose();
      }
      // Bounded by the 30 s grace period schedulers give after SIGTERM: running batches get 10 s, a
      // forced close 10 s more; a batch cut short goes back to the queue for another worker.
      await handle.close(10_000);
      stop.dispose();
      log(`worker ${handle.name}: stopped`);
    });
}

interface StatusCli {
  queue?: string;
  queuePrefix?: string;
  db?: string;
  json?: boolean;
}

/** `proact campaign status`: options may sit before or after 'status' (commander gives them to the parent). */
export function registerCampaignStatus(campaign: Command): void {
  campaign
    .command('status')
    .description('trials done, workers alive and ETA of the campaigns running through a queue')
    .option('--queue <redis-url>', 'Redis of the coordinator')
    .option('--queue-prefix <p>', 'Redis key prefix', DEFAULT_QUEUE_PREFIX)
    .option('--db <file>', 'also count the trials stored in this results database')
    .option('--json', 'print the status as JSON')
    .action(async (own: StatusCli, cmd: Command) => {
      const parent = cmd.parent!;
      const fromParent = <K extends keyof StatusCli>(name: K): StatusCli[K] | undefined =>
        parent.getOptionValueSource(name) === 'cli' ? (parent.opts()[name] as StatusCli[K]) : undefined;
      const queue = own.queue ?? fromParent('queue');
      if (!queue) throw new ProactError('campaign status: --queue <redis-url> is required, e.g. --queue redis://127.0.0.1:6379/0');
      const prefix = checkPrefix(fromParent('queuePrefix') ?? own.queuePrefix ?? DEFAULT_QUEUE_PREFIX);
      const db = own.db ?? fromParent('db');
      const json = own.json ?? fromParent('json') ?? false;
      const overview = await readQueueOverview(parseRedisUrl(queue), prefix);
      const stored = db === undefined ? undefined : storedCounts(db);
      if (json) {
        process.stdout.write(JSON.stringify({ ...overview, ...(stored ? { stored: Object.fromEntries(stored) } : {}) }) + '\n');
        return;
      }
      process.stdout.write(statusText(overview, stored) + '\n');
    });
}

/** Trials stored per campaign key in a results database. */
function storedCounts(db: string): Map<string, number> {
  const store = openStore(db, { readonly: true });
  try {
    return new Map(store.listCampaigns().map((c) => [c.key, store.countTrials(c.id)]));
  } finally {
    store.close();
  }
}

export function statusText(q: QueueOverview, stored?: Map<string, number>): string {
  const lines = [
    `queue ${q.url} (prefix ${q.prefix}): ${q.workers} worker${q.workers === 1 ? '' : 's'} alive; jobs ${q.jobs.waiting} waiting, ${q.jobs.active} active, ${q.jobs.completed} completed, ${q.jobs.failed} failed`,
  ];
  const campaigns = stored ? q.campaigns.filter((c) => stored.has(c.key)) : q.campaigns;
  if (campaigns.length === 0) {
    lines.push(stored ? 'no campaign of that database has run through this queue (or its record expired)' : 'no campaign has run through this queue (or its record expired)');
    return lines.join('\n');
  }
  const rows = campaigns.map((c) => {
    const done = stored?.get(c.key) ?? c.done;
    const age = (Date.now() - Date.parse(c.updatedAt)) / 1000;
    return [
      c.key.slice(0, 12),
      c.state + (c.state === 'running' && age > 10 ? ` (silent ${formatDuration(age)})` : ''),
      `${done}/${c.planned}`,
      c.state === 'running' ? String(q.workers) : '-',
      c.trialsPerSecond === null ? '-' : c.trialsPerSecond.toFixed(2),
      c.state === 'running' ? formatDuration(c.etaSeconds) : '-',
      c.db,
    ];
  });
  lines.push(table(['campaign', 'state', 'trials done', 'workers', 'trials/s', 'ETA', 'database'], rows));
  for (const c of campaigns) if (c.error) lines.push(`${c.key.slice(0, 12)}: ${c.error}`);
  return lines.join('\n');
}
