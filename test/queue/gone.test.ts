// Queue mode when Redis is gone for good: the coordinator and a worker each exit with a one-line error
// once --queue-timeout has passed (never wait forever), and a worker stops on SIGTERM within 30 s.
// Each test starts its own redis-server (startTestRedis) and stops it: the server is then gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { spawnCli } from '../helpers/cli.js';
import { skipMissing } from '../helpers/requirements.js';
import { startTestRedis, SKIP_MESSAGE } from './redis.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-gone-'));
const MODEL = join(process.cwd(), 'models/mnist-lenet.onnx');

function watch(child: ChildProcess): { stderr: () => string; waitFor: (re: RegExp) => Promise<void>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  let stderr = '';
  const waiters: [RegExp, () => void][] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const [re, resolve] of waiters) if (re.test(stderr)) resolve();
  });
  return {
    stderr: () => stderr,
    waitFor: (re) => new Promise((resolve) => (re.test(stderr) ? resolve() : waiters.push([re, resolve]))),
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
}

test('queue: a worker whose Redis is gone past --queue-timeout exits 2 with one line', async (t) => {
  // Its own server, even under CI's shared one: the test stops it.
  const redis = await startTestRedis({ own: true });
  if (!redis) return skipMissing(t, 'redis', SKIP_MESSAGE);
  const w = watch(spawnCli(['worker', '--queue', redis.url, '--prefix', 'gone', '--queue-timeout', '2']));
  await w.waitFor(/taking trials/);
  await redis.stop();
  const end = await w.exited;
  assert.equal(end.code, 2, w.stderr());
  assert.match(w.stderr(), /^proact: worker .*: Redis at .* unreachable for \d+ s \(--queue-timeout\)/m);
  assert.doesNotMatch(w.stderr(), /\n\s+at /);
});

test('queue: a worker stopped by SIGTERM with Redis gone exits 0 within 30 s', async (t) => {
  // Its own server, even under CI's shared one: the test stops it.
  const redis = await startTestRedis({ own: true });
  if (!redis) return skipMissing(t, 'redis', SKIP_MESSAGE);
  const child = spawnCli(['worker', '--queue', redis.url, '--prefix', 'gone2']);
  const w = watch(child);
  await w.waitFor(/taking trials/);
  await redis.stop();
  const t0 = Date.now();
  child.kill('SIGTERM');
  const end = await w.exited;
  assert.equal(end.code, 0, w.stderr());
  assert.ok(Date.now() - t0 < 30_000, `stopped after ${Date.now() - t0} ms`);
  assert.match(w.stderr(), /stopped/);
});

test('queue: a coordinator whose Redis is gone past --queue-timeout marks the campaign failed and exits 2', async (t) => {
  // Its own server, even under CI's shared one: the test stops it.
  const redis = await startTestRedis({ own: true });
  if (!redis) return skipMissing(t, 'redis', SKIP_MESSAGE);
  const db = join(dir, 'coordinator.sqlite');
  const c = watch(spawnCli(['campaign', '--model', MODEL, '--data', 'mnist', '--eval-limit', '50', '--ber', '1e-3', '--trials', '4', '--db', db, '--queue', redis.url, '--queue-prefix', 'gone3', '--queue-timeout', '2']));
  await c.waitFor(/trials planned/);
  await redis.stop();
  const end = await c.exited;
  assert.equal(end.code, 2, c.stderr());
  const last = c.stderr().trim().split('\n').at(-1)!;
  assert.match(last, /^proact: queue/);
});

test('queue: a coordinator whose Redis is gone stops on SIGTERM within 30 s: interrupted, exit 143', async (t) => {
  // Its own server, even under CI's shared one: the test stops it.
  const redis = await startTestRedis({ own: true });
  if (!redis) return skipMissing(t, 'redis', SKIP_MESSAGE);
  const db = join(dir, 'coordinator-term.sqlite');
  const child = spawnCli(['campaign', '--model', MODEL, '--data', 'mnist', '--eval-limit', '50', '--ber', '1e-3', '--trials', '4', '--db', db, '--queue', redis.url, '--queue-prefix', 'gone4', '--queue-timeout', '600']);
  const c = watch(child);
  await c.waitFor(/worker is connected/);
  await redis.stop();
  const t0 = Date.now();
  child.kill('SIGTERM');
  const end = await c.exited;
  assert.equal(end.code, 143, c.stderr());
  assert.ok(Date.now() - t0 < 30_000, `stopped after ${Date.now() - t0} ms`);
  const store = new Database(db, { readonly: true });
  try {
    assert.equal(store.prepare('SELECT status FROM campaigns').pluck().get(), 'interrupted');
  } finally {
    store.close();
  }
});
