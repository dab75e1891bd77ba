/**
 * The output guard: every command that writes files calls `guardOutputs` before it does any work, so
 * a mistyped flag can never overwrite what the run reads (`campaign --csv` naming the store or the
 * model, `harden --out` naming its input) nor fail with EISDIR/ENOENT/ENAMETOOLONG after an hour of
 * work. Files are compared by identity, not by spelling: device and inode of what exists (after
 * following links, so a symlink or hard link to the model is the model), and the resolved path (folder
 * resolved, links followed) of what does not exist yet. The writes themselves go through
 * writeFileAtomic (src/util/files.ts).
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ProactError } from './errors.js';

/** Longest file name (one path segment) most file systems accept, in bytes. */
export const NAME_MAX = 255;
/** Longest path Linux accepts, in bytes. */
export const PATH_MAX = 4095;
/** Room for the `.tmp-<pid>` suffix of writeFileAtomic and the `-wal`/`-shm` files beside a store. */
const SUFFIX_ROOM = 16;

export interface GuardedOutput {
  path: string;
  /** Names the file in messages, e.g. '--csv' or 'the hardened model'. */
  what: string;
  /** A folder the command writes into (it may exist); otherwise a file. */
  folder?: boolean;
  /** Create the missing parent folders (the results store does); otherwise a missing folder is refused. */
  createsFolder?: boolean;
}

export interface GuardedInput {
  path: string;
  what: string;
}

/** What identifies a file: device and inode when it exists, else its resolved path. */
function identity(path: string): { key: string; stat: Stats | undefined } {
  let stat: Stats | undefined;
  try {
    stat = statSync(path);
  } catch {
    stat = undefined;
  }
  if (stat) return { key: `inode:${stat.dev}:${stat.ino}`, stat };
  return { key: `path:${resolvedPath(path)}`, stat };
}

/** The absolute path with every existing folder resolved (links followed); the missing tail kept as written. */
export function resolvedPath(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : resolve(resolvedPath(parent), basename(abs));
  }
}

function checkLengths(o: GuardedOutput): void {
  const abs = resolve(o.path);
  if (Buffer.byteLength(abs) + SUFFIX_ROOM > PATH_MAX) throw new ProactError(`${o.what}: path is ${Buffer.byteLength(abs)} bytes long, over the ${PATH_MAX - SUFFIX_ROOM} a file can have here; choose a shorter path`);
  for (const segment of abs.split('/')) {
    if (Buffer.byteLength(segment) + SUFFIX_ROOM > NAME_MAX)
      throw new ProactError(`${o.what}: a name in ${abbreviate(o.path)} is ${Buffer.byteLength(segment)} bytes long, over the ${NAME_MAX - SUFFIX_ROOM} a file name can have here; choose a shorter name`);
  }
}

function abbreviate(path: string): string {
  return path.length > 80 ? `${path.slice(0, 40)}...${path.slice(-20)}` : path;
}

function checkPlace(o: GuardedOutput, stat: Stats | undefined): void {
  if (stat) {
    if (o.folder && !stat.isDirectory()) throw new ProactError(`${o.what} ${o.path}: exists and is not a folder; give a folder path`);
    if (!o.folder && stat.isDirectory()) throw new ProactError(`${o.what} ${o.path}: is a folder; give a file path, e.g. ${o.path}/out`);
    if (!o.folder && !stat.isFile()) throw new ProactError(`${o.what} ${o.path}: is not a regular file (a device, FIFO or socket); give a file path`);
    return;
  }
  if (o.createsFolder) return;
  const folder = dirname(resolve(o.path));
  let parent: Stats | undefined;
  try {
    parent = statSync(folder);
  } catch {
    parent = undefined;
  }
  if (!parent) throw new ProactError(`${o.what} ${o.path}: folder ${folder} does not exist; create it first (mkdir -p) or choose another path`);
  if (!parent.isDirectory()) throw new ProactError(`${o.what} ${o.path}: ${folder} is not a folder; choose another path`);
}

/**
 * Refuses, before any work, an output that is the same file as an input or as another output, that
 * is a folder (or a device, FIFO) where a file is written, whose folder is missing, or whose name is
 * too long. Inputs that are undefined, or not files (e.g. the built-in 'mnist' data), are skipped.
 */
export function guardOutputs(outputs: readonly (GuardedOutput | undefined)[], inputs: readonly (GuardedInput | undefined)[] = []): void {
  const seen = new Map<string, string>();
  for (const i of inputs) {
    if (!i) continue;
    const { key, stat } = identity(i.path);
    if (stat) seen.set(key, `${i.what} ${i.path}`);
  }
  const inputKeys = new Set(seen.keys());
  for (const o of outputs) {
    if (!o) continue;
    checkLengths(o);
    const { key, stat } = identity(o.path);
    const other = seen.get(key);
    if (other !== undefined) {
      const role = inputKeys.has(key) ? 'the input' : 'the output';
      throw new ProactError(`${o.what} ${o.path}: is the same file as ${role} ${other}; writing it would destroy that file — choose another path`);
    }
    checkPlace(o, stat);
    seen.set(key, `${o.what} ${o.path}`);
  }
}

/**
 * Refuses an input that is not a regular file: a FIFO or a device (/dev/zero) would hang or fill
 * memory when read, a folder gives EISDIR. Returns quietly for a missing file (the reader names it).
 */
export function checkInputFile(path: string, what: string): void {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch {
    return;
  }
  if (stat.isDirectory()) throw new ProactError(`${what} ${path}: is a folder; give a file`);
  if (!stat.isFile()) throw new ProactError(`${what} ${path}: is not a regular file (a device, FIFO or socket); give a file`);
}
