/**
 * A real Redis for queue tests: PROACT_REDIS_URL when set (CI's .ci/run starts one), else a private
 * `redis-server` on a free loopback port, started here and stopped after the file's tests. Without
 * either, the tests skip, naming the Debian package (a failure when PROACT_REQUIRE includes redis, as in
 * CI). A Redis that is there but does not answer is always a failure, never a skip. Every test uses its
 * own key prefix.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { skipMissing } from '../helpers/requirements.js';

export interface TestRedis {
  url: string;
  /** Deletes every key under `prefix` (bounded SCAN). */
  clear(prefix: string): Promise<void>;
  stop(): Promise<void>;
}

export const SKIP_MESSAGE = 'needs Redis: set PROACT_REDIS_URL or install the Debian package redis-server';

let counter = 0;
/** A key prefix no other test (or other test process on a shared Redis) uses. */
export function uniquePrefix(name: string): string {
  return `t${process.pid}-${Date.now().toString(36)}-${++counter}-${name}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function ping(url: string, timeoutMs: number): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 500, commandTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => {});
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      try {
        if (client.status !== 'ready') await client.connect();
        if ((await client.ping()) === 'PONG') return true;
      } catch {
        client.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Starts (or finds) Redis; undefined when redis-server is not installed (the caller skips); throws when one
 * does not answer. `own`: always start a server of this test's own (tests that stop it), even when
 * PROACT_REDIS_URL names a shared one.
 */
export async function startTestRedis(options: { own?: boolean } = {}): Promise<TestRedis | undefined> {
  const given = process.env.PROACT_REDIS_URL;
  if (given && !options.own) {
    if (!(await ping(given, 5_000))) throw new Error(`PROACT_REDIS_URL=${given} does not answer PING`);
    return { url: given, clear: (prefix) => clearPrefix(given, prefix), stop: async () => {} };
  }
  if (spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status !== 0) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'proact-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}/0`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (!(await ping(url, 5_000))) {
    await stop();
    throw new Error(`redis-server started on port ${port} but did not answer PING within 5 s`);
  }
  return { url, clear: (prefix) => clearPrefix(url, prefix), stop };
}

async function clearPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { connectTimeout: 2_000, commandTimeout: 5_000, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    let cursor = '0';
    for (let round = 0; round < 1000; round++) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length) await client.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    client.disconnect();
  }
}

/** Redis for a test file: starts it on first use; skips `t` (see skipMissing) when there is none. */
export function redisFixture(): { get(t: TestContext): Promise<TestRedis | undefined>; stop(): Promise<void> } {
  let started: Promise<TestRedis | undefined> | undefined;
  return {
    async get(t) {
      started ??= startTestRedis();
      const redis = await started;
      if (!redis) skipMissing(t, 'redis', SKIP_MESSAGE);
      return redis;
    },
    async stop() {
      if (started) await (await started)?.stop();
    },
  };
}
