/**
 * Acceptance tests of queue mode with real processes: Redis, a coordinator (`proact campaign --queue`)
 * and `proact worker` processes. A worker killed with SIGKILL mid-batch, and a coordinator killed and
 * restarted with --resume, both end with exactly the per-trial results of a local single-process run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCampaign, openStore, type StoredTrial } from '../../src/campaign/index.js';
import { parseRedisUrl, readQueueOverview } from '../../src/queue/index.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { spawnCli } from '../helpers/cli.js';
import { redisFixture, uniquePrefix } from './redis.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-cluster-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const campaignArgs = ['--model', model, '--data', 'mnist', '--ber', '1e-3,1e-2', '--trials', '15', '--eval-limit', '300', '--seed', '3', '--batch', '100'];
const reference = join(dir, 'reference.sqlite');
const redis = redisFixture();
const children: ChildProcess[] = [];

let referenceRun: Promise<string[]> | undefined;
/** Per-trial results of the same campaign run locally in one process (computed once, when first needed). */
function referenceResults(): Promise<string[]> {
  referenceRun ??= runCampaign({ model, data: 'mnist', bers: [1e-3, 1e-2], trials: 15, evalLimit: 300, seed: 3, batchSize: 100, db: reference }).then(() => results(reference));
  return referenceRun;
}

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await redis.stop();
});

interface Spawned {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawnCli(args, env);
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exit };
}

async function exited(p: Spawned, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`process did not exit within ${timeoutMs} ms; stderr: ${p.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([p.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function rows(db: string): StoredTrial[] {
  try {
    const s = openStore(db, { readonly: true });
    try {
      const c = s.listCampaigns();
      return c.length ? s.trials(c[0]!.id) : [];
    } finally {
      s.close();
    }
  } catch {
    return []; // not created yet
  }
}

function results(db: string): string[] {
  return rows(db)
    .map((t) => JSON.stringify([t.ber, t.trial, t.accuracy, t.sdc, t.due, t.faults]))
    .sort();
}

async function waitForStored(db: string, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (rows(db).length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} trials stored in ${db} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a worker killed with SIGKILL mid-campaign: its batch goes to the other worker, results identical to a local run', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('kill');
  const db = join(dir, 'kill.sqlite');
  const queue = ['--queue', r.url, '--queue-prefix', prefix];
  const workerArgs = ['worker', '--queue', r.url, '--prefix', prefix, '--lock-ms', '1500'];
  // Worker A is slowed down (100 ms per trial) so that it is always in the middle of a batch.
  const a = start([...workerArgs, '--name', 'A'], { PROACT_TRIAL_DELAY_MS: '100' });
  const coordinator = start(['campaign', ...campaignArgs, '--db', db, ...queue, '--queue-batch', '3']);
  await waitForStored(db, 3);
  a.child.kill('SIGKILL');
  await exited(a, 5_000);
  const stoppedAt = rows(db).length;
  assert.ok(stoppedAt < 30, `A was killed before the end (${stoppedAt} stored)`);
  // What `proact campaign status` shows meanwhile: the campaign running, no worker alive.
  const overview = await readQueueOverview(parseRedisUrl(r.url), prefix);
  assert.equal(overview.workers, 0);
  assert.deepEqual(overview.campaigns.map((c) => [c.state, c.planned]), [['running', 30]]);
  assert.ok(overview.campaigns[0]!.done <= rows(db).length);
  const b = start([...workerArgs, '--name', 'B']);
  assert.equal(await exited(coordinator, 40_000), 0, coordinator.stderr());
  // BullMQ's stalled-job check saw A's batch lose its lock and handed it to B.
  assert.match(coordinator.stderr(), /stalled/);
  assert.deepEqual(results(db), await referenceResults());
  const byWorker = new Map<string, number>();
  for (const row of rows(db)) byWorker.set(String(row.extra?.worker), (byWorker.get(String(row.extra?.worker)) ?? 0) + 1);
  assert.ok((byWorker.get('A') ?? 0) >= 3 && (byWorker.get('B') ?? 0) >= 1, JSON.stringify([...byWorker]));
  // SIGTERM: the worker finishes and exits cleanly.
  b.child.kill('SIGTERM');
  assert.equal(await exited(b, 15_000), 0, b.stderr());
  assert.match(b.stderr(), /stopped/);
  await r.clear(prefix);
});

test('a coordinator killed with SIGKILL and restarted with --resume: nothing lost, nothing stored twice', async (t) => {
  const r = await redis.get(t);
  if (!r) return;
  const prefix = uniquePrefix('restart');
  const db = join(dir, 'restart.sqlite');
  const queue = ['--queue', r.url, '--queue-prefix', prefix, '--queue-batch', '2'];
  const worker = start(['worker', '--queue', r.url, '--prefix', prefix, '--lock-ms', '1500', '--concurrency', '2'], { PROACT_TRIAL_DELAY_MS: '60' });
  const first = start(['campaign', ...campaignArgs, '--db', db, ...queue]);
  await waitForStored(db, 6);
  first.child.kill('SIGKILL');
  await exited(first, 5_000);
  const before = rows(db).length;
  assert.ok(before < 30, `killed before the end (${before} stored)`);
  // The worker goes on meanwhile: those results wait in Redis for the next coordinator.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const second = start(['campaign', ...campaignArgs, '--db', db, ...queue, '--resume']);
  assert.equal(await exited(second, 40_000), 0, second.stderr());
  assert.match(second.stderr(), new RegExp(`${before} already stored \\(resumed\\)`));
  const stored = results(db);
  assert.equal(stored.length, 30);
  assert.equal(new Set(stored.map((row) => JSON.stringify(JSON.parse(row).slice(0, 2)))).size, 30, 'each (BER, trial) once');
  assert.deepEqual(stored, await referenceResults());
  worker.child.kill('SIGTERM');
  assert.equal(await exited(worker, 15_000), 0, worker.stderr());
  await r.clear(prefix);
});
