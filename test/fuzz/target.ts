/**
 * What a fuzz target is: a reader of untrusted input (a model, a dataset file, a fault plan, a results
 * database, a command line), the inputs to feed it, and how to run it on one input.
 *
 * Every input is a byte string, whatever the reader, so that seed and regression corpora are plain
 * files (`test/fuzz/corpus/{seed,regression}/<corpus>/*`) replayed the same way for every target.
 *
 * The property checked for every input: `run` returns (the input was accepted) or throws a ProactError
 * whose message is one non-empty line (the input was rejected with a user-facing error). Any other
 * exception, a multi-line message, a case slower than the time bound or a stalled worker is a failure.
 */
import type fc from 'fast-check';
import { ProactError } from '../../src/util/errors.js';

export interface FuzzContext {
  /** A fresh folder for the files a case writes (cases may reuse names inside it). */
  readonly tmp: string;
  /** Seed corpus files of the target (plus any extra seeds its `prepare` added). */
  readonly seeds: Uint8Array[];
  /** Folder of ../shared, for targets that mutate real exports when present. */
  readonly sharedDir: string;
}

export interface FuzzTarget {
  readonly name: string;
  /** One line for reports: what is fed to what. */
  readonly what: string;
  /** Corpus folder name (default: the target's name); several targets may share one. */
  readonly corpus?: string;
  /**
   * One-time preparation in the worker (fixed files beside the inputs, extra seeds). Returns a reason
   * when the target cannot run here (e.g. ../shared is absent): the run is then reported as skipped.
   */
  prepare?(ctx: FuzzContext): Promise<string | undefined> | string | undefined;
  /** The generated inputs (built from ctx.seeds). */
  inputs(ctx: FuzzContext): fc.Arbitrary<Uint8Array>;
  /** Reads one input; returns when it was accepted, throws a ProactError when it was rejected. */
  run(input: Uint8Array, ctx: FuzzContext): void | Promise<void>;
}

/** How one case ended. */
export type Outcome = { kind: 'parsed' } | { kind: 'rejected'; message: string } | { kind: 'crash'; message: string };

/** Classifies what `run` threw (or undefined when it returned). */
export function classify(error: unknown): Outcome {
  if (error === undefined) return { kind: 'parsed' };
  if (error instanceof ProactError) {
    if (error.message.length > 0 && !/[\r\n]/.test(error.message)) return { kind: 'rejected', message: error.message };
    return { kind: 'crash', message: `ProactError with a message that is not one line: ${JSON.stringify(error.message)}` };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  const where = (e.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' | ');
  return { kind: 'crash', message: `${e.name}: ${e.message.split('\n')[0]} (${where})` };
}

/**
 * Runs several dependent steps of one input, each allowed to reject it: a step's ProactError stops
 * only the steps after it in the same chain; the first rejection is rethrown at the end so the case
 * still counts as rejected. Anything else is rethrown at once (a crash).
 */
export async function chains(...chainList: (() => unknown)[]): Promise<void> {
  let firstRejection: ProactError | undefined;
  for (const chain of chainList) {
    try {
      await chain();
    } catch (e) {
      if (!(e instanceof ProactError)) throw e;
      firstRejection ??= e;
    }
  }
  if (firstRejection) throw firstRejection;
}

/** A rejection message with numbers, quoted names and paths blurred, to count the kinds of rejections. */
export function rejectionKind(message: string): string {
  return message
    .replace(/\/[^\s:'"]*/g, '<path>')
    .replace(/'[^']*'/g, "'…'")
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .slice(0, 90);
}
