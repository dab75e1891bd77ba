/**
 * Benchmark helpers: run the PyTorch side-by-side reference (../shared/bench/torch_ref.py) and our own
 * command in the same run, several times each, and report medians and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { ProactError } from '../src/util/errors.js';

export const SHARED = resolve(process.env.PROACT_SHARED ?? resolve(process.cwd(), '../shared'));
export const TORCH_REF = resolve(SHARED, 'bench/torch_ref.py');
export const CLI = resolve(process.cwd(), 'dist/src/cli/main.js');

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function requireShared(rel: string): string {
  const p = resolve(SHARED, rel);
  if (!existsSync(p)) throw new ProactError(`benchmark needs ${p}; put the shared folder beside the checkout (or set PROACT_SHARED)`);
  return p;
}

/**
 * The reference's thread counts every ratio is given for: PyTorch's speed depends on OMP_NUM_THREADS
 * as much as on the machine (1.5x between 1 and 2 threads on one of the project's machines).
 */
export const TORCH_THREADS = [1, 2] as const;

/** Runs torch_ref.py in `mode` with OMP_NUM_THREADS=`threads` under /usr/bin/python3; returns its JSON line. */
export function runTorchRef(mode: string, args: string[], threads = 1): Record<string, unknown> {
  requireShared('bench/torch_ref.py');
  const r = spawnSync('/usr/bin/python3', [TORCH_REF, mode, ...args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0)
    throw new ProactError(
      `torch_ref.py ${mode} failed (${r.stderr.trim().split('\n').pop() ?? ''}); install its packages with 'apt-get install -y python3-torch python3-onnx'`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/** Runs the proact CLI and parses its --json output. */
export function runProactJson(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, PROACT_NO_PROGRESS: '1' }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new ProactError(`proact ${args[0]} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** The machine a result was measured on, stored with it: figures from different CPUs do not compare. */
export interface MachineInfo {
  /** "model name" of /proc/cpuinfo (unknown elsewhere). */
  cpu: string;
  cores: number;
  /** 1-minute load average when the benchmark started: above `cores`, other work shared the CPUs. */
  loadAverage: number;
  node: string;
}

export function machineInfo(): MachineInfo {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: the model stays unknown.
  }
  return { cpu, cores: availableParallelism(), loadAverage: Math.round(loadavg()[0]! * 100) / 100, node: process.version };
}
