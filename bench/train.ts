/**
 * `npm run bench -- train`: re-runs the command that made the shipped model (models/mnist-lenet.json)
 * through the proact CLI, writing to a temporary folder, and reports its training seconds and test
 * accuracy beside the recorded ones. The same command and seed give the same weights on the same
 * machine, so the accuracy should match the record; the seconds depend on the machine and its load.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ProactError } from '../src/util/errors.js';
import { median, runProactJson } from './common.js';

export const SHIPPED_RECORD = resolve(process.cwd(), 'models/mnist-lenet.json');

interface ShippedRecord {
  command: string;
  testAccuracy: number;
  seconds: number;
}

/** The arguments of the recorded command, with --out replaced by `out`. */
export function replayArgs(command: string, out: string): string[] {
  const words = command.trim().split(/\s+/);
  if (words[0] !== 'proact' || words[1] !== 'train') throw new ProactError(`${SHIPPED_RECORD}: command '${command}' is not a proact train command`);
  const args = words.slice(1);
  const at = args.indexOf('--out');
  if (at < 0) throw new ProactError(`${SHIPPED_RECORD}: command '${command}' has no --out`);
  args[at + 1] = out;
  return args;
}

export async function benchTrain(opts: { runs: number } = { runs: 1 }): Promise<Record<string, unknown>> {
  const record = JSON.parse(readFileSync(SHIPPED_RECORD, 'utf8')) as ShippedRecord;
  const dir = mkdtempSync(join(tmpdir(), 'proact-bench-train-'));
  const seconds: number[] = [];
  const wall: number[] = [];
  let accuracy = NaN;
  try {
    for (let k = 0; k < opts.runs; k++) {
      const t0 = performance.now();
      const r = runProactJson(replayArgs(record.command, join(dir, `run${k}.onnx`)));
      wall.push((performance.now() - t0) / 1000);
      seconds.push(r.seconds as number);
      accuracy = r.testAccuracy as number;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    bench: 'train',
    command: record.command,
    runs: opts.runs,
    trainSeconds: median(seconds),
    wallSeconds: median(wall),
    trainSecondsAll: seconds,
    testAccuracy: accuracy,
    recordedTestAccuracy: record.testAccuracy,
    recordedSeconds: record.seconds,
    sameAccuracy: accuracy === record.testAccuracy,
  };
}
