/**
 * Queue mode with activation faults and stuck-at weights (coordinator and worker in one process, real
 * Redis): the recipe carries the fault model, so the queued trials are the local run's, trial for trial.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCampaign, type CampaignOptions } from '../../src/campaign/index.js';
import { runQueuedCampaign, startTrialWorker } from '../../src/queue/index.js';
import { trialsOf } from '../helpers/stores.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { redisFixture, uniquePrefix } from './redis.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-queue-act-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const redis = redisFixture();
after(() => redis.stop());

test('activation faults with stuck-at weights run through the queue trial for trial as locally', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('act');
  const opts: Omit<CampaignOptions, 'db'> = {
    model,
    data: 'mnist',
    bers: [1e-4, 1e-3],
    trials: 6,
    evalLimit: 200,
    seed: 9,
    batchSize: 64,
    faults: { surface: 'weight,bias,activation:conv', fault: 'stuck-at-0' },
  };
  const local = join(dir, 'local.sqlite');
  await runCampaign({ ...opts, db: local });
  const queued = join(dir, 'queued.sqlite');
  const worker = await startTrialWorker({ queue: r.url, prefix, lockMs: 2_000, name: 'inproc' });
  try {
    await runQueuedCampaign({ ...opts, db: queued, queue: r.url, queuePrefix: prefix, queueBatch: 4 });
  } finally {
    await worker.close(5_000);
  }
  const expected = trialsOf(local);
  assert.equal(expected.length, 12);
  assert.deepEqual(trialsOf(queued), expected);
  await r.clear(prefix);
});
