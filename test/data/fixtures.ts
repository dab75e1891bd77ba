/**
 * Writers of small synthetic dataset files for the data tests, and an assertion for ProactErrors.
 * Pixel bytes follow `pixelByte(record, i)` so tests can predict every decoded value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after } from 'node:test';
import { ProactError } from '../../src/util/errors.js';

/** A fresh temporary directory, removed when the test file ends. */
export function tempDir(prefix = 'proact-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The byte at position i of record `record`'s pixels. */
export function pixelByte(record: number, i: number): number {
  return (record * 7 + i * 13 + 5) % 256;
}

/** CIFAR-10 file (3073-byte records) with the given labels; pixels from pixelByte(first + r, i). */
export function writeCifar10(path: string, labels: readonly number[], first = 0): void {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, r) => {
    out[r * 3073] = label;
    for (let i = 0; i < 3072; i++) out[r * 3073 + 1 + i] = pixelByte(first + r, i);
  });
  writeFileSync(path, out);
}

/** CIFAR-100 file (3074-byte records: coarse, fine, pixels). */
export function writeCifar100(path: string, fine: readonly number[], coarse: readonly number[]): void {
  const out = new Uint8Array(fine.length * 3074);
  fine.forEach((label, r) => {
    out[r * 3074] = coarse[r];
    out[r * 3074 + 1] = label;
    for (let i = 0; i < 3072; i++) out[r * 3074 + 2 + i] = pixelByte(r, i);
  });
  writeFileSync(path, out);
}

function idxHeader(ndim: number, dims: number[]): Uint8Array {
  const header = new Uint8Array(4 + 4 * ndim);
  header[2] = 0x08;
  header[3] = ndim;
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return header;
}

/** IDX images (n x rows x cols, pixels from pixelByte) and labels files; gzip when the name ends in .gz. */
export function writeIdx(imagesPath: string, labelsPath: string, labels: readonly number[], rows = 4, cols = 3): void {
  const images = new Uint8Array(16 + labels.length * rows * cols);
  images.set(idxHeader(3, [labels.length, rows, cols]));
  for (let r = 0; r < labels.length; r++) for (let i = 0; i < rows * cols; i++) images[16 + r * rows * cols + i] = pixelByte(r, i);
  const labelBytes = new Uint8Array(8 + labels.length);
  labelBytes.set(idxHeader(1, [labels.length]));
  labelBytes.set(labels, 8);
  const write = (path: string, bytes: Uint8Array): void => writeFileSync(path, path.endsWith('.gz') ? gzipSync(bytes) : bytes);
  write(imagesPath, images);
  write(labelsPath, labelBytes);
}

/** A .npy file (format version `major`) of `descr` and `shape` holding `data` (already encoded, little-endian). */
export function writeNpy(path: string, descr: string, shape: readonly number[], data: Uint8Array, options: { major?: number; fortran?: boolean } = {}): void {
  const major = options.major ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${options.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const lengthBytes = major === 1 ? 2 : 4;
  const unpadded = 8 + lengthBytes + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = new Uint8Array(8 + lengthBytes);
  prefix.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(prefix.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  writeFileSync(path, Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]));
}

/** Little-endian bytes of typed-array values. */
export function bytesOf(values: Uint8Array | Int32Array | Float32Array | Float64Array | BigInt64Array | Int16Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * Asserts that `run` throws a one-line ProactError whose message contains every `parts` entry
 * (strings or patterns): the file and the problem.
 */
export function assertProactError(run: () => unknown, ...parts: Array<string | RegExp>): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof ProactError, `expected a ProactError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `message should be one line: ${e.message}`);
    for (const part of parts) {
      if (typeof part === 'string') assert.ok(e.message.includes(part), `message "${e.message}" should contain "${part}"`);
      else assert.match(e.message, part);
    }
    return true;
  });
}
