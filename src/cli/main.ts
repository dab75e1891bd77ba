#!/usr/bin/env node
/**
 * The `proact` command line: a thin layer over the library. Every command lives in its own module and
 * registers itself here. User errors (ProactError, bad flags) print one line and exit with code 2;
 * `--verbose` adds the stack trace.
 */
import { Command, CommanderError } from 'commander';
import { isProactError } from '../util/errors.js';
import { registerEval } from './eval.js';
import { registerAll } from './commands.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('proact')
    .description('Harden CNNs against bit flips with clipped activations (HyReLU, ProAct) and measure it with fault-injection campaigns.')
    .version('0.1.0')
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true);
  registerEval(program);
  registerAll(program);
  // Subcommands inherit the error handling of the program.
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}

function report(e: unknown, verbose: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    const msg = e.message.replace(/^error: /, '');
    process.stderr.write(`proact: ${msg} (see proact --help)\n`);
    return 2;
  }
  if (isProactError(e)) {
    process.stderr.write(`proact: ${e.message}\n`);
    if (verbose && e.stack) process.stderr.write(e.stack + '\n');
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`proact: internal error: ${err.message.split('\n')[0]}\n`);
  if (verbose) process.stderr.write((err.stack ?? '') + '\n');
  else process.stderr.write('proact: this is a bug in proact; rerun with --verbose for the stack trace\n');
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    return report(e, verbose);
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
