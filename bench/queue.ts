/**
 * `npm run bench -- queue`: throughput (trials/s) of one small campaign (the tiny test CNN on MNIST)
 * through the Redis queue with 1 and 2 local `proact worker` processes, next to the local `--workers`
 * mode, and the queue's overhead per trial relative to a trial's evaluation time.
 *
 * Throughput is measured between the first and the last stored trial (the databases' timestamps), so
 * process start, model loading and the clean pass are left out in every mode alike. Redis is
 * PROACT_REDIS_URL, or a private redis-server on a free loopback port. Knobs: BENCH_TRIALS (per BER,
 * default 60), BENCH_EVAL_LIMIT (images, default 2000), BENCH_QUEUE_BATCH (trials per job, default 5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/campaign/index.js';
import { ProactError } from '../src/util/errors.js';
import { startTestRedis } from '../test/queue/redis.js';
import { writeTinyCnn } from '../test/helpers/tinymodel.js';
import { CLI, median, runProactJson } from './common.js';

interface Timing {
  trials: number;
  trialsPerSecond: number;
  /** Mean of the trials' own evaluation time (runTrial: session creation and the pass over the images). */
  evalSeconds: number;
}

/** Trials/s between the first and last stored trial, and the mean evaluation time per trial. */
function timing(db: string): Timing {
  const store = openStore(db, { readonly: true });
  try {
    const campaign = store.listCampaigns()[0]!;
    const trials = store.trials(campaign.id);
    const times = trials.map((t) => Date.parse(t.createdAt)).sort((a, b) => a - b);
    const span = (times[times.length - 1]! - times[0]!) / 1000;
    // The queue stores a batch at once (one timestamp): the work measured is what came after the first store.
    const first = times.filter((t) => t === times[0]).length;
    return { trials: trials.length, trialsPerSecond: (trials.length - first) / span, evalSeconds: trials.reduce((s, t) => s + t.seconds, 0) / trials.length };
  } finally {
    store.close();
  }
}

function startWorker(url: string, prefix: string, threads: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', '--queue', url, '--prefix', prefix, '--threads', String(threads)], {
    env: { ...process.env, PROACT_NO_PROGRESS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ProactError(`bench queue: a worker did not start within 60 s: ${stderr.trim()}`));
    }, 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/taking trials/.test(stderr)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new ProactError(`bench queue: a worker exited with code ${code}: ${stderr.trim()}`));
    });
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

export async function benchQueue(opts: { runs: number }): Promise<Record<string, unknown>> {
  const trials = Number(process.env.BENCH_TRIALS ?? 60);
  const evalLimit = Number(process.env.BENCH_EVAL_LIMIT ?? 2000);
  const queueBatch = Number(process.env.BENCH_QUEUE_BATCH ?? 5);
  const redis = await startTestRedis();
  if (!redis) throw new ProactError('bench queue needs Redis: set PROACT_REDIS_URL or install the Debian package redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'proact-bench-queue-'));
  const model = writeTinyCnn(join(dir, 'tiny.onnx'));
  const campaign = ['campaign', '--model', model, '--data', 'mnist', '--ber', '1e-3,1e-2', '--trials', String(trials), '--eval-limit', String(evalLimit), '--batch', '250'];
  const modes: Record<string, Timing[]> = { local1: [], local2: [], queue1: [], queue2: [] };
  try {
    for (let k = 0; k < opts.runs; k++) {
      const seed = String(1000 + k);
      for (const workers of [1, 2]) {
        const db = join(dir, `local${workers}-${k}.sqlite`);
        runProactJson([...campaign, '--seed', seed, '--workers', String(workers), '--threads', String(workers === 1 ? 2 : 1), '--db', db]);
        modes[`local${workers}`]!.push(timing(db));
      }
      for (const workers of [1, 2]) {
        const prefix = `bench-${process.pid}-${k}-${workers}`;
        const started = await Promise.all(Array.from({ length: workers }, () => startWorker(redis.url, prefix, workers === 1 ? 2 : 1)));
        try {
          const db = join(dir, `queue${workers}-${k}.sqlite`);
          runProactJson([...campaign, '--seed', seed, '--queue', redis.url, '--queue-prefix', prefix, '--queue-batch', String(queueBatch), '--db', db]);
          modes[`queue${workers}`]!.push(timing(db));
        } finally {
          await Promise.all(started.map(stopWorker));
          await redis.clear(prefix);
        }
      }
    }
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rate = (mode: string) => median(modes[mode]!.map((t) => t.trialsPerSecond));
  const evalSeconds = median(modes.queue1!.map((t) => t.evalSeconds));
  // One worker runs one trial at a time: whatever a trial costs beyond its own evaluation is the queue's.
  const overheadSeconds = 1 / rate('queue1') - evalSeconds;
  const localOverheadSeconds = 1 / rate('local1') - median(modes.local1!.map((t) => t.evalSeconds));
  return {
    bench: 'queue',
    model: 'tiny CNN (test/helpers/tinymodel.ts), MNIST',
    images: evalLimit,
    trialsPerCampaign: 2 * trials,
    queueBatch,
    runs: opts.runs,
    trialsPerSecond: { local1: rate('local1'), local2: rate('local2'), queue1: rate('queue1'), queue2: rate('queue2') },
    evalMsPerTrial: evalSeconds * 1000,
    queueOverheadMsPerTrial: overheadSeconds * 1000,
    queueOverheadRelative: overheadSeconds / evalSeconds,
    localOverheadMsPerTrial: localOverheadSeconds * 1000,
    measures: 'trials/s between the first and last stored trial; local1/queue1: one process, 2 onnxruntime threads; local2/queue2: two workers, 1 thread each',
  };
}
