/**
 * Progress of queued campaigns, readable from any machine: the coordinator publishes a small JSON record
 * per campaign (trials done, planned, rate, ETA) in Redis every second; `proact campaign status` reads
 * those records and asks BullMQ how many workers are connected and how many jobs wait.
 */
import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ProactError } from '../util/errors.js';
import { bullConnection, checkRedis, closeWithin, COMMAND_TIMEOUT_MS, errorText, plainClient, TRIALS_QUEUE, withDeadline, type RedisTarget } from './redis.js';

export type QueuedCampaignState = 'running' | 'complete' | 'interrupted' | 'failed';

/** What a coordinator publishes about its campaign. */
export interface CampaignQueueStatus {
  key: string;
  campaignId: number;
  /** Results database of the coordinator (absolute path on its machine). */
  db: string;
  model: string;
  state: QueuedCampaignState;
  planned: number;
  done: number;
  /** Workers connected to the trials queue when last published. */
  workers: number;
  trialsPerSecond: number | null;
  etaSeconds: number | null;
  /** host:pid of the coordinator. */
  coordinator: string;
  startedAt: string;
  updatedAt: string;
  /** Why the campaign stopped, when it failed. */
  error?: string;
}

/** How long a record stays after its last update (a finished campaign's record expires after a day). */
export const STATUS_TTL_SECONDS = 86_400;

function indexKey(prefix: string): string {
  return `${prefix}:proact-campaigns`;
}

function recordKey(prefix: string, key: string): string {
  return `${prefix}:proact-campaign:${key}`;
}

export function coordinatorName(): string {
  return `${hostname()}:${process.pid}`;
}

/** Writes (replaces) the record of one campaign. */
export async function publishStatus(client: Redis, prefix: string, status: CampaignQueueStatus): Promise<void> {
  await client
    .multi()
    .set(recordKey(prefix, status.key), JSON.stringify(status), 'EX', STATUS_TTL_SECONDS)
    .zadd(indexKey(prefix), Date.parse(status.updatedAt), status.key)
    .exec();
}

/** Records of every campaign published under `prefix`, most recently updated first (expired ones are dropped). */
export async function readStatuses(client: Redis, prefix: string): Promise<CampaignQueueStatus[]> {
  const keys = await client.zrevrange(indexKey(prefix), 0, 999);
  const out: CampaignQueueStatus[] = [];
  for (const key of keys) {
    const text = await client.get(recordKey(prefix, key));
    if (text === null) {
      await client.zrem(indexKey(prefix), key);
      continue;
    }
    try {
      out.push(JSON.parse(text) as CampaignQueueStatus);
    } catch {
      /* a record written by something else: not ours to show */
    }
  }
  return out;
}

/** The queue as a whole: connected workers and jobs per state. */
export interface QueueOverview {
  url: string;
  prefix: string;
  workers: number;
  jobs: { waiting: number; active: number; completed: number; failed: number; delayed: number };
  campaigns: CampaignQueueStatus[];
}

/** Reads the campaign records and the trials queue's counts (bounded: unreachable Redis is a ProactError). */
export async function readQueueOverview(target: RedisTarget, prefix: string): Promise<QueueOverview> {
  await checkRedis(target);
  const client = plainClient(target);
  client.on('error', () => {});
  const queue = new Queue(TRIALS_QUEUE, { connection: bullConnection(target), prefix });
  queue.on('error', () => {});
  try {
    const { campaigns, workers, counts } = await withDeadline(
      (async () => {
        await client.connect();
        return {
          campaigns: await readStatuses(client, prefix),
          workers: await queue.getWorkersCount(),
          counts: await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed'),
        };
      })(),
      COMMAND_TIMEOUT_MS,
      'no answer',
    ).catch((e: unknown) => {
      throw new ProactError(`--queue ${target.url}: reading the queue status failed (${errorText(e)}); check that Redis is up and rerun`);
    });
    return {
      url: target.url,
      prefix,
      workers,
      jobs: {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
        delayed: counts.delayed ?? 0,
      },
      campaigns,
    };
  } finally {
    await closeWithin(5_000, () => queue.close(), () => queue.disconnect());
    client.disconnect();
  }
}

/** '1h02m', '3m05s', '42s'. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}
