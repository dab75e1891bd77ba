/**
 * Queue mode in one process (coordinator and worker side by side, real Redis): same trials as a local
 * run with sequential stopping, idempotent re-enqueueing after an interruption, status, refusal of a
 * model whose hash differs, and bad input.
 */
import { after, test } from 'node:test';
import { trialsOf } from '../helpers/stores.js';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { runCampaign, openStore, type CampaignOptions } from '../../src/campaign/index.js';
import { parseRedisUrl, readQueueOverview, runQueuedCampaign, startTrialWorker, TRIALS_QUEUE, type TrialWorkerHandle } from '../../src/queue/index.js';
import { ProactError } from '../../src/util/errors.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { expectUserError, runCli } from '../helpers/cli.js';
import { redisFixture, uniquePrefix } from './redis.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-queue-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const otherModel = writeTinyCnn(join(dir, 'other.onnx'), 2);
const base: Omit<CampaignOptions, 'db'> = { model, data: 'mnist', bers: [1e-3, 1e-2], trials: 12, evalLimit: 300, seed: 5, batchSize: 100 };
const redis = redisFixture();
after(() => redis.stop());


async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withWorker<T>(url: string, prefix: string, fn: (w: TrialWorkerHandle) => Promise<T>): Promise<T> {
  const worker = await startTrialWorker({ queue: url, prefix, lockMs: 2_000, name: 'inproc' });
  try {
    return await fn(worker);
  } finally {
    await worker.close(5_000);
  }
}

test('sequential stopping through the queue runs the same trials as a local run', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('seq');
  // Plain sampling over all images: the waves are multiples of --wave, checked below.
  const opts = { ...base, trials: 60, precision: 0.02, sampling: 'plain' as const, images: 'all' as const };
  const local = join(dir, 'seq-local.sqlite');
  await runCampaign({ ...opts, db: local });
  const queued = join(dir, 'seq-queue.sqlite');
  const progress: number[] = [];
  const result = await withWorker(r.url, prefix, () =>
    runQueuedCampaign({ ...opts, db: queued, queue: r.url, queuePrefix: prefix, queueBatch: 4, onProgress: (p) => progress.push(p.done) }),
  );
  const expected = trialsOf(local);
  assert.deepEqual(trialsOf(queued), expected);
  assert.equal(result.interrupted, false);
  for (const ber of opts.bers!) {
    const n = expected.filter((row) => JSON.parse(row)[0] === ber).length;
    assert.ok(n >= 10 && n % 10 === 0 && n <= 60, `BER ${ber}: waves of 10, got ${n}`);
  }
  assert.equal(Math.max(...progress), expected.length);
  await r.clear(prefix);
});

test('a stratified campaign with automatic image counts runs through the queue trial for trial as locally', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('strata');
  // --precision's defaults: stratified sampling and images per trial chosen by the design, as a local run.
  const opts = { ...base, bers: [1e-3], trials: 40, precision: 0.03 };
  const local = join(dir, 'strata-local.sqlite');
  await runCampaign({ ...opts, db: local });
  const queued = join(dir, 'strata-queue.sqlite');
  await withWorker(r.url, prefix, () => runQueuedCampaign({ ...opts, db: queued, queue: r.url, queuePrefix: prefix, queueBatch: 3 }));
  const expected = trialsOf(local);
  assert.deepEqual(trialsOf(queued), expected);
  // Not a trivial design: trials in more than one stratum, and fewer images than the 300 of the set.
  const trials = expected.map((row) => JSON.parse(row) as [number, number, number, number, number, number, number | null]);
  assert.ok(new Set(trials.map((row) => Math.floor(row[1] / 2 ** 24))).size >= 2, 'trials in several strata');
  assert.ok(trials.some((row) => row[6] !== null && row[6] < 300), 'some trials on an image subset');
  await r.clear(prefix);
});

test('an interrupted coordinator leaves its jobs; enqueueing again adds none; the finished campaign cleans up', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('idem');
  const queue = new Queue(TRIALS_QUEUE, { connection: { url: r.url }, prefix });
  try {
    const db = join(dir, 'idem.sqlite');
    const waiting = async () => (await queue.getJobCounts('waiting')).waiting ?? 0;
    // No worker yet: the coordinator enqueues every BER's batches and waits; interrupt it once they are in.
    const interrupt = async (resume: boolean) => {
      const signal = { aborted: false };
      const notices: string[] = [];
      const run = runQueuedCampaign({ ...base, db, resume, queue: r.url, queuePrefix: prefix, queueBatch: 5, signal, onNotice: (m) => notices.push(m) });
      await waitFor('batches in the queue', async () => (await waiting()) === 6); // 2 BERs x ceil(12 / 5)
      signal.aborted = true;
      const result = await run;
      assert.equal(result.interrupted, true);
      assert.ok(notices.some((m) => /no worker is connected/.test(m)), notices.join('\n'));
    };
    await interrupt(false);
    await interrupt(true);
    assert.equal(await waiting(), 6, 'the second coordinator found the same jobs');

    const interrupted = await readQueueOverview(parseRedisUrl(r.url), prefix);
    assert.equal(interrupted.campaigns.length, 1);
    assert.equal(interrupted.campaigns[0]!.state, 'interrupted');
    assert.equal(interrupted.campaigns[0]!.done, 0);
    assert.equal(interrupted.campaigns[0]!.planned, 24);

    await withWorker(r.url, prefix, async () => {
      const result = await runQueuedCampaign({ ...base, db, resume: true, queue: r.url, queuePrefix: prefix, queueBatch: 5 });
      assert.equal(result.interrupted, false);
      const overview = await readQueueOverview(parseRedisUrl(r.url), prefix);
      assert.equal(overview.workers, 1);
      assert.equal(overview.campaigns[0]!.state, 'complete');
      assert.equal(overview.campaigns[0]!.done, 24);
    });
    const local = join(dir, 'idem-local.sqlite');
    await runCampaign({ ...base, db: local });
    assert.deepEqual(trialsOf(db), trialsOf(local));
    // Finished: the campaign's jobs are gone from the queue.
    const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed');
    assert.deepEqual(counts, { waiting: 0, active: 0, completed: 0, failed: 0 });

    const status = runCli(['campaign', 'status', '--queue', r.url, '--queue-prefix', prefix, '--db', db]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /0 workers alive/);
    assert.match(status.stdout, /complete\s+24\/24/);
    const json = runCli(['campaign', '--queue', r.url, '--queue-prefix', prefix, 'status', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { campaigns: { state: string; done: number }[] };
    assert.deepEqual(parsed.campaigns.map((c) => [c.state, c.done]), [['complete', 24]]);
  } finally {
    await queue.close();
    await r.clear(prefix);
  }
});

test('a worker refuses a model whose hash differs from the campaign record; the campaign resumes once fixed', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('hash');
  const shared = join(dir, 'swapped.onnx');
  copyFileSync(model, shared);
  const db = join(dir, 'hash.sqlite');
  const opts = { ...base, model: shared, bers: [1e-2], trials: 6 };
  let started = false;
  const run = runQueuedCampaign({ ...opts, db, queue: r.url, queuePrefix: prefix, onStart: () => (started = true) });
  await waitFor('the coordinator to load the model', () => started);
  // Another file at the same path, as on a machine with a different copy.
  copyFileSync(otherModel, shared);
  const logs: string[] = [];
  const worker = await startTrialWorker({ queue: r.url, prefix, lockMs: 2_000, onLog: (m) => logs.push(m) });
  try {
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof ProactError);
      assert.match(e.message, /swapped\.onnx: sha256 [0-9a-f]{12}\.\.\. differs from campaign [0-9a-f]{12}'s model/);
      assert.match(e.message, /copy the campaign's model there/);
      assert.match(e.message, /rerun the same command with --resume/);
      assert.equal(e.message.includes('\n'), false);
      return true;
    });
    assert.ok(logs.some((m) => /refusing batch/.test(m)), logs.join('\n'));
    const s = openStore(db, { readonly: true });
    assert.equal(s.listCampaigns()[0]!.status, 'failed');
    s.close();
    copyFileSync(model, shared);
    await runQueuedCampaign({ ...opts, db, resume: true, queue: r.url, queuePrefix: prefix });
  } finally {
    await worker.close(5_000);
  }
  const local = join(dir, 'hash-local.sqlite');
  await runCampaign({ ...opts, model, db: local });
  assert.deepEqual(trialsOf(db), trialsOf(local));
  await r.clear(prefix);
});

test('queue mode: bad input is a one-line error', async () => {
  assert.throws(() => parseRedisUrl('http://127.0.0.1:6379'), /scheme http: is not redis/);
  assert.throws(() => parseRedisUrl('redis://127.0.0.1:6379/zero'), /database 'zero' is not a number/);
  assert.throws(() => parseRedisUrl('localhost'), /expected redis:\/\/HOST:PORT\/DB/);
  // Port 1 on loopback: nothing listens there, so the refusal is immediate (no traffic leaves the machine).
  const closed = 'redis://127.0.0.1:1/0';
  const opts = { ...base, db: join(dir, 'bad.sqlite'), queue: closed };
  await assert.rejects(runQueuedCampaign(opts), /--queue redis:\/\/127\.0\.0\.1:1\/0: cannot reach Redis \(connect ECONNREFUSED .*\); start a server there \(Debian package redis-server/);
  await assert.rejects(runQueuedCampaign({ ...opts, shard: { index: 1, count: 2 } }), /--shard with --queue/);
  await assert.rejects(runQueuedCampaign({ ...opts, queuePrefix: 'a:b' }), /--queue-prefix a:b/);
  await assert.rejects(runQueuedCampaign({ ...opts, queueBatch: 0 }), /--queue-batch 0: expected an integer >= 1/);
  await assert.rejects(startTrialWorker({ queue: closed }), /cannot reach Redis/);
  await assert.rejects(startTrialWorker({ queue: closed, concurrency: 0 }), /--concurrency 0/);
  await assert.rejects(startTrialWorker({ queue: closed, lockMs: 10 }), /--lock-ms 10/);
  await assert.rejects(readQueueOverview(parseRedisUrl(closed), 'proact'), /cannot reach Redis/);
  // The command line turns them into one line and exit code 2.
  const args = ['campaign', '--model', model, '--data', 'mnist', '--ber', '1e-3', '--trials', '2', '--eval-limit', '50'];
  expectUserError(runCli([...args, '--queue', closed, '--workers', '2']), /--workers with --queue: .*--concurrency/);
  expectUserError(runCli(['worker', '--queue', 'http://127.0.0.1:1']), /--queue http:\/\/127\.0\.0\.1:1: scheme http:/);
  expectUserError(runCli(['campaign', 'status']), /--queue <redis-url> is required/);
});
