/**
 * Command-line target: random argv for the `proact` parser, run in-process through `main(argv, program)`.
 * The command tree (commands, subcommands, their flags) is read from the program itself, so commands
 * added later are fuzzed too. The property: exit code 0 (help, version, or an accepted command) or 2
 * with exactly one line on stderr and no stack trace; never 1 (an internal error) and never a hang.
 *
 * Actions run for real only where they cannot do long work: commands that must first load the model
 * given with --model (never a valid one here: every file value is missing, empty, garbage, a directory
 * or a database), and `campaign export` (read-only). Every other action is replaced by a no-op after
 * parsing, so a random valid `train` or `harden` command line does not start training.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import fc from 'fast-check';
import { buildProgram, main } from '../../../src/cli/program.js';
import { ProactError } from '../../../src/util/errors.js';
import { bytesText, textBytes } from '../mutate.js';
import { pseudoBytes } from '../fixtures.js';
import { CORPUS_DIR } from '../corpus.js';
import type { FuzzContext, FuzzTarget } from '../target.js';

/** Commands whose real action runs (see the file comment). */
const REAL_ACTIONS = new Set(['eval', 'campaign', 'campaign export', 'faults show', 'faults replay']);

interface CommandShape {
  path: string[];
  flags: { flag: string; takesValue: boolean }[];
}

function walk(cmd: Command, prefix: string[], out: CommandShape[]): void {
  for (const sub of cmd.commands) {
    const path = [...prefix, sub.name()];
    out.push({
      path,
      // --verbose asks for the stack trace on purpose; the one-line contract is for everything else.
      flags: sub.options.filter((o) => o.long !== '--verbose').map((o) => ({ flag: o.long ?? o.short ?? o.flags, takesValue: o.required || o.optional })),
    });
    walk(sub, path, out);
  }
}

function stubActions(cmd: Command, prefix: string[]): void {
  for (const sub of cmd.commands) {
    const path = [...prefix, sub.name()];
    if (!REAL_ACTIONS.has(path.join(' '))) sub.action(() => {});
    stubActions(sub, path);
  }
}

/** The program with every action outside REAL_ACTIONS replaced by a no-op. */
export function fuzzableProgram(): Command {
  const program = buildProgram();
  stubActions(program, []);
  return program;
}

function valuePool(ctx: FuzzContext): string[] {
  const dir = join(ctx.tmp, 'cli');
  return [
    join(dir, 'missing.onnx'),
    join(dir, 'garbage.onnx'),
    join(dir, 'empty.onnx'),
    dir,
    join(dir, 'foreign.sqlite'),
    join(dir, 'store.sqlite'),
    join(dir, 'plan.json'),
    'mnist',
    '0', '1', '-1', '2', '7', '1e-3', '1e-7,1e-6', '1e-3,,2', '1e400', 'NaN', 'Infinity', '0x10', '', ' ', '2.5', '9007199254740993',
    '1/2', '0/0', '3/2', '2/1', 'fixed:3', 'fixed:0', 'q15.16', 'q40.40', 'int8', 'float16', 'bernoulli', 'reference', 'ieee',
    'fold', 'immune', 'weight,bias', 'weight,,x', 'train', 'test', 'proact', 'relu', 'clip-zero', 'layer', 'channel', '--', '-',
  ];
}

function argvArb(ctx: FuzzContext, shapes: CommandShape[]): fc.Arbitrary<string[]> {
  const values = valuePool(ctx);
  const value = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) });
  const stray = fc.constantFrom('--bogus', '-z', '--', '--=', '---x', '--help', '-h', '--version', '-V', '--no-augment', '--model');
  return fc
    .tuple(fc.constantFrom(...shapes), fc.nat(), fc.boolean())
    .chain(([shape, cut, full]) => {
      const path = full ? shape.path : shape.path.slice(0, 1 + (cut % shape.path.length));
      const flag = shape.flags.length
        ? fc.tuple(fc.constantFrom(...shape.flags), value, fc.integer({ min: 0, max: 9 })).map(([f, v, form]): string[] => {
            if (!f.takesValue) return form === 0 ? [f.flag, v] : [f.flag];
            if (form === 0) return [f.flag];
            if (form === 1) return [`${f.flag}=${v}`];
            return [f.flag, v];
          })
        : fc.constant<string[]>([]);
      const token = fc.oneof(
        { weight: 8, arbitrary: flag },
        { weight: 1, arbitrary: stray.map((s) => [s]) },
        { weight: 1, arbitrary: value.map((v) => [v]) },
      );
      return fc.array(token, { maxLength: 8 }).map((tokens) => [...path, ...tokens.flat()]);
    });
}

/** Runs `argv` in-process; returns the exit code and what was written to stdout and stderr. */
export async function runArgv(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  let stdout = '';
  let stderr = '';
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  const exitCode = process.exitCode;
  try {
    const code = await main(argv, fuzzableProgram());
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = exitCode;
  }
}

export const cliTarget: FuzzTarget = {
  name: 'cli-argv',
  what: 'random argv (commands, flags, values) -> the proact CLI parser and the model-loading commands, in-process',
  prepare(ctx) {
    const dir = join(ctx.tmp, 'cli');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'garbage.onnx'), pseudoBytes(2000, 9));
    writeFileSync(join(dir, 'empty.onnx'), new Uint8Array(0));
    copyFileSync(join(CORPUS_DIR, 'seed', 'sqlite-store', 'store.sqlite'), join(dir, 'store.sqlite'));
    copyFileSync(join(CORPUS_DIR, 'seed', 'sqlite-store', 'foreign.sqlite'), join(dir, 'foreign.sqlite'));
    copyFileSync(join(CORPUS_DIR, 'seed', 'fault-plan-json', 'float32-bernoulli.json'), join(dir, 'plan.json'));
    const shapes: CommandShape[] = [];
    walk(buildProgram(), [], shapes);
    // The seed corpus holds argv lists; the generated ones come from the live command tree.
    cliShapes.set(ctx, shapes);
    return undefined;
  },
  inputs: (ctx) =>
    fc.oneof(
      { weight: 10, arbitrary: argvArb(ctx, cliShapes.get(ctx)!).map((argv) => textBytes(JSON.stringify(argv))) },
      { weight: 1, arbitrary: fc.constantFrom(...ctx.seeds) },
    ),
  async run(input) {
    let argv: unknown;
    try {
      argv = JSON.parse(bytesText(input));
    } catch {
      argv = undefined;
    }
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new ProactError('cli-argv input is not a JSON list of strings');
    const r = await runArgv(argv);
    if (r.code !== 0 && r.code !== 2) throw new Error(`exit code ${r.code} for ${JSON.stringify(argv)}: ${r.stderr.trim().split('\n')[0]}`);
    if (r.code === 2) {
      const lines = r.stderr.trim().split('\n');
      if (lines.length !== 1 || /\bat .*\.js:\d+/.test(r.stderr)) throw new Error(`exit 2 without a one-line error for ${JSON.stringify(argv)}: ${JSON.stringify(r.stderr)}`);
      throw new ProactError(lines[0]!);
    }
  },
};

const cliShapes = new WeakMap<FuzzContext, CommandShape[]>();
