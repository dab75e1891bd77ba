/**
 * Queue mode: campaigns on a cluster through BullMQ on Redis. A coordinator (`proact campaign --queue`)
 * enqueues trial batches and stores their results; `proact worker` processes on any machine run them.
 * See docs/cluster.md.
 */
export { runQueuedCampaign, DEFAULT_QUEUE_BATCH, DEFAULT_IDLE_TIMEOUT_S, BATCH_ATTEMPTS, type QueueModeOptions, type QueuedCampaignOptions, type QueueProgress } from './coordinator.js';
export { startTrialWorker, DEFAULT_LOCK_MS, MAX_STALLED, type TrialWorkerOptions, type TrialWorkerHandle } from './worker.js';
export {
  readQueueOverview,
  readStatuses,
  publishStatus,
  formatDuration,
  STATUS_TTL_SECONDS,
  type CampaignQueueStatus,
  type QueueOverview,
  type QueuedCampaignState,
} from './status.js';
export {
  makeRecipe,
  waveJobId,
  batchJobId,
  campaignJobPrefix,
  waveQueueName,
  trialBatches,
  parseBatchResult,
  type CampaignRecipe,
  type QueuedTrial,
  type TrialBatchJob,
  type TrialBatchResult,
  type WaveJob,
} from './protocol.js';
export { parseRedisUrl, checkPrefix, checkRedis, DEFAULT_QUEUE_PREFIX, TRIALS_QUEUE, type RedisTarget } from './redis.js';
