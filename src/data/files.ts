/** Small file-system helpers shared by the readers, each turning a failure into a ProactError. */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ProactError } from '../util/errors.js';

export function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

export function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/** Size in bytes of a file that must exist. */
export function fileSize(path: string, what: string): number {
  if (!isFile(path)) throw new ProactError(`${path}: ${what} not found; check the path (or the dataset directory's file names)`);
  return statSync(path).size;
}

export function listDirectory(path: string): string[] {
  return readdirSync(path).sort();
}

/** The first `length` bytes of a file (fewer when the file is shorter), for headers. */
export function readHead(path: string, length: number): Uint8Array {
  const head = new Uint8Array(length);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    for (let got = -1; done < length && got !== 0; done += got) got = readSync(fd, head, done, length - done, done);
    return head.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** The whole content of a .gz file, decompressed. */
export function gunzipFile(path: string): Uint8Array {
  try {
    const bytes = gunzipSync(readFileSync(path));
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  } catch (e) {
    throw new ProactError(`${path}: cannot decompress (${(e as Error).message}); pass an intact .gz file or the uncompressed file`, {
      cause: e,
    });
  }
}

/** Lines of a small text file without blank ones (class-name lists), or undefined when absent. */
export function readNameList(path: string): string[] | undefined {
  if (!isFile(path)) return undefined;
  return readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}
