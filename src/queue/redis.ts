/**
 * Redis plumbing of queue mode: URL checking, connection options, a bounded reachability check, the
 * names of queues and keys, and closing with a deadline (a dead server must never hang a process).
 */
import { Redis } from 'ioredis';
import { ProactError } from '../util/errors.js';

/** Queue key prefix when none is given: every key lives under 'proact:'. */
export const DEFAULT_QUEUE_PREFIX = 'proact';
/** The queue of trial batches that every `proact worker` takes from, whatever the campaign. */
export const TRIALS_QUEUE = 'trials';
/** How long connecting to Redis may take before it counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Deadline of a single non-blocking Redis command issued by proact itself. */
export const COMMAND_TIMEOUT_MS = 10_000;
/** How long a closing socket may linger (ioredis waits 2 s by default, keeping a finished process alive). */
const DISCONNECT_TIMEOUT_MS = 200;

/** A checked Redis URL: redis:// or rediss://, a host, an optional port and database number. */
export interface RedisTarget {
  url: string;
  host: string;
  port: number;
  db: number;
}

/** Parses `--queue redis://HOST:PORT/DB`; anything else is a one-line ProactError with an example. */
export function parseRedisUrl(text: string, flag = '--queue'): RedisTarget {
  const example = 'e.g. redis://127.0.0.1:6379/0';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProactError(`${flag} ${text}: not a URL; expected redis://HOST:PORT/DB, ${example}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ProactError(`${flag} ${text}: scheme ${url.protocol} is not redis: or rediss:; expected redis://HOST:PORT/DB, ${example}`);
  }
  if (!url.hostname) throw new ProactError(`${flag} ${text}: no host; expected redis://HOST:PORT/DB, ${example}`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!(Number.isInteger(db) && db >= 0 && /^\d*$/.test(dbText))) {
    throw new ProactError(`${flag} ${text}: database '${dbText}' is not a number; expected redis://HOST:PORT/DB, ${example}`);
  }
  return { url: text, host: url.hostname, port, db };
}

/** The key prefix must be one plain word: BullMQ joins keys with ':'. */
export function checkPrefix(prefix: string, flag = '--queue-prefix'): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) {
    throw new ProactError(`${flag} ${prefix}: use 1-64 letters, digits, '_', '.' or '-' (no ':'), e.g. proact`);
  }
  return prefix;
}

/**
 * Connection options for BullMQ's clients: reconnect quickly and forever while a long campaign runs
 * (BullMQ itself requires `maxRetriesPerRequest: null` for its blocking connections).
 */
export function bullConnection(target: RedisTarget): { url: string; connectTimeout: number; disconnectTimeout: number; retryStrategy: (times: number) => number } {
  return { url: target.url, connectTimeout: CONNECT_TIMEOUT_MS, disconnectTimeout: DISCONNECT_TIMEOUT_MS, retryStrategy: (times: number) => Math.min(250 * times, 5_000) };
}

/** A plain client for proact's own keys (status records): every command has a deadline. */
export function plainClient(target: RedisTarget): Redis {
  return new Redis(target.url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 2,
    retryStrategy: (times: number) => Math.min(250 * times, 5_000),
  });
}

/**
 * Connects once and sends PING, giving up after `timeoutMs`: the reason a process cannot start is then a
 * clear message, not an endless reconnect loop.
 */
export async function checkRedis(target: RedisTarget, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const client = new Redis(target.url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than the 'Connection is closed' that follows it.
  let socketError: string | undefined;
  client.on('error', (e: Error) => (socketError ??= e.message));
  try {
    await withDeadline(
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      timeoutMs,
      'no answer',
    );
  } catch (e) {
    const reason = socketError ?? (e instanceof Error ? e.message : String(e));
    throw new ProactError(
      `--queue ${target.url}: cannot reach Redis (${reason}); start a server there (Debian package redis-server: redis-server --port ${target.port}) or fix the URL`,
    );
  } finally {
    client.disconnect();
  }
}

/** Resolves with `promise`, or rejects with `message` after `ms` milliseconds. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `close`; if it has not finished after `ms`, runs `force` (e.g. a hard disconnect) instead. Errors
 * while closing are reported to `onError` and otherwise ignored: a process that is shutting down must
 * shut down.
 */
export async function closeWithin(ms: number, close: () => Promise<unknown>, force: () => unknown, onError: (e: unknown) => void = () => {}): Promise<void> {
  try {
    await withDeadline(close(), ms, 'close timed out');
  } catch (e) {
    onError(e);
    try {
      // The forced close gets its own deadline: with the server gone, even a hard disconnect may wait.
      await withDeadline(Promise.resolve(force()), ms, 'forced close timed out');
    } catch (e2) {
      onError(e2);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One-line text of an error, for notices. */
export function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
}
