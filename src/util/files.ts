/**
 * Atomic file writes: data goes to a temporary file beside the target, is flushed to disk, then
 * renamed over the target. A process killed at any moment leaves either the old file or the new one,
 * never half of one — what checkpoints and caches that runs resume from rely on.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ProactError } from './errors.js';

/** Writes `chunks` to `path` atomically; `what` names the file in the error (e.g. 'the checkpoint'). */
export function writeFileAtomic(path: string, chunks: readonly (string | Uint8Array)[], what: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    for (const c of chunks) writeSync(fd, typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new ProactError(`${path}: cannot write ${what} (${(e as Error).message}); check that the folder exists and is writable`, { cause: e });
  }
}
