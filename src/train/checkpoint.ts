/**
 * Training checkpoints: everything a run needs to continue bit for bit where it stopped (weights,
 * optimiser state, position in the run, generator states, running statistics), in one file written
 * atomically (a temporary file in the same folder, flushed, then renamed over the old one), so a run
 * killed at any moment leaves either the previous checkpoint or the new one, never a torn file.
 *
 * Layout: the 8 bytes `PROACTCK`, a uint32 (little-endian) header length, the header as UTF-8 JSON,
 * zero padding to a multiple of 4 bytes, then the float32 tensors back to back (little-endian), in
 * the order and with the lengths listed in the header.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../util/files.js';
import { ProactError } from '../util/errors.js';
import type { OptimizerKind, OptimizerState } from './optim.js';

const MAGIC = 'PROACTCK';
const VERSION = 1;

export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's samples. */
  loss: number;
  /** Training accuracy over the epoch's (augmented) samples. */
  accuracy: number;
  validationAccuracy?: number;
  /** Learning rate of the epoch's last step (default group). */
  lr: number;
  /** Seconds since the run started (including time before a resume). */
  seconds: number;
}

/** Running sums of the epoch in progress. */
export interface EpochStats {
  lossSum: number;
  correct: number;
  count: number;
}

export interface Checkpoint {
  /** Identifies the run's configuration; a resume with another configuration is refused. */
  config: Record<string, unknown>;
  /** Optimiser steps done. */
  step: number;
  seed: number;
  /** Generator state after the last batch drawn. */
  rngState: number[];
  /** Generator state at the start of the current epoch (the epoch's shuffle is redrawn from it). */
  epochRngState: number[];
  epochStats: EpochStats;
  history: EpochRecord[];
  seconds: number;
  params: Map<string, Float32Array>;
  optimizer: OptimizerState;
}

interface TensorEntry {
  name: string;
  kind: 'param' | 'optimizer';
  length: number;
}

interface Header extends Omit<Checkpoint, 'params' | 'optimizer'> {
  version: number;
  optimizer: { kind: OptimizerKind; step: number };
  tensors: TensorEntry[];
}

/** Writes `ck` to `path` atomically. */
export function saveCheckpoint(path: string, ck: Checkpoint): void {
  const tensors: TensorEntry[] = [];
  const arrays: Float32Array[] = [];
  for (const [name, a] of ck.params) {
    tensors.push({ name, kind: 'param', length: a.length });
    arrays.push(a);
  }
  for (const [name, a] of ck.optimizer.buffers) {
    tensors.push({ name, kind: 'optimizer', length: a.length });
    arrays.push(a);
  }
  const header: Header = {
    version: VERSION,
    config: ck.config,
    step: ck.step,
    seed: ck.seed,
    rngState: ck.rngState,
    epochRngState: ck.epochRngState,
    epochStats: ck.epochStats,
    history: ck.history,
    seconds: ck.seconds,
    optimizer: { kind: ck.optimizer.kind, step: ck.optimizer.step },
    tensors,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(align4(12 + json.length));
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  json.copy(prefix, 12);

  writeFileAtomic(path, [prefix, ...arrays.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength))], 'the checkpoint');
}

/**
 * Refuses a checkpoint path that holds a file other than a proact checkpoint (e.g. a model named by
 * mistake): saving would replace it. A missing or empty file, or an earlier checkpoint, is fine.
 */
export function checkCheckpointTarget(path: string): void {
  let head: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      head = Buffer.alloc(8);
      head = head.subarray(0, readSync(fd, head, 0, 8, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return;
  }
  if (head.length > 0 && head.toString('latin1') !== MAGIC)
    throw new ProactError(`--checkpoint ${path}: exists and is not a proact checkpoint; proact will not overwrite it — choose another checkpoint path`);
}

/** Reads a checkpoint written by {@link saveCheckpoint}. */
export function loadCheckpoint(path: string): Checkpoint {
  if (!existsSync(path)) throw new ProactError(`${path}: no such checkpoint; start the run without --resume`);
  const bytes = readFileSync(path);
  const corrupt = (why: string): ProactError =>
    new ProactError(`${path}: not a usable proact checkpoint (${why}); delete it and start again without --resume`);
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) throw corrupt('wrong magic bytes');
  const jsonLength = bytes.readUInt32LE(8);
  if (12 + jsonLength > bytes.length) throw corrupt('header cut short');
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + jsonLength)) as Header;
  } catch {
    throw corrupt('header is not JSON');
  }
  if (header.version !== VERSION) throw corrupt(`format version ${String(header.version)}, this proact reads ${VERSION}`);
  if (!Array.isArray(header.tensors)) throw corrupt('no tensor list');
  let offset = align4(12 + jsonLength);
  const params = new Map<string, Float32Array>();
  const buffers = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    const byteLength = t.length * 4;
    if (!Number.isInteger(t.length) || t.length < 0 || offset + byteLength > bytes.length) throw corrupt(`tensor '${t.name}' lies beyond the end of the file`);
    const a = new Float32Array(t.length);
    new Uint8Array(a.buffer).set(bytes.subarray(offset, offset + byteLength));
    offset += byteLength;
    (t.kind === 'param' ? params : buffers).set(t.name, a);
  }
  if (offset !== bytes.length) throw corrupt(`${bytes.length - offset} unexpected bytes after the tensors`);
  return {
    config: header.config,
    step: header.step,
    seed: header.seed,
    rngState: header.rngState,
    epochRngState: header.epochRngState,
    epochStats: header.epochStats,
    history: header.history,
    seconds: header.seconds,
    params,
    optimizer: { kind: header.optimizer.kind, step: header.optimizer.step, buffers },
  };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
