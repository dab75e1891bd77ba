/**
 * The `proact` program: commands, error reporting and `main`, without running anything at import, so
 * tests can drive the parser in-process (src/cli/main.ts is the executable that calls `main`).
 * User errors (ProactError, bad flags) print one line and exit with code 2; `--verbose` adds the stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { isProactError } from '../util/errors.js';
import { TOOL_VERSION } from '../util/version.js';
import { registerEval } from './eval.js';
import { registerAll } from './commands.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('proact')
    .description('Harden CNNs against bit flips with clipped activations (HyReLU, ProAct) and measure it with fault-injection campaigns.')
    .version(TOOL_VERSION)
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true);
  registerEval(program);
  registerAll(program);
  // Options are positional: a command's options are read before its subcommand only. `campaign` has
  // --json and --csv of its own, and so do `campaign export` and `campaign compare`; without this,
  // commander hands `campaign export db --json` to the parent. --verbose stays usable anywhere: every
  // command also accepts it (hidden), and main() reads it from argv.
  program.enablePositionalOptions();
  const configure = (c: Command): void => {
    c.exitOverride().configureOutput({ outputError: () => {} }); // subcommands share the program's error handling
    if (c.commands.length > 0) c.enablePositionalOptions();
    if (!c.options.some((o) => o.long === '--verbose')) c.addOption(new Option('--verbose', 'print stack traces of errors').hideHelp());
    c.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

function report(e: unknown, verbose: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    // Commander puts its suggestion ("Did you mean ...?") on a second line: keep the error one line.
    const msg = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
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

/** Runs the command line `argv` (without `node proact`); returns the exit code. `program` defaults to buildProgram(). */
export async function main(argv: string[], program: Command = buildProgram()): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv, { from: 'user' });
    // A command that finished but was stopped by a signal (a campaign marked interrupted) set 130 / 143.
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    process.exitCode = undefined; // the caller sets it from the return value; in-process callers run main again
    return code;
  } catch (e) {
    return report(e, verbose);
  }
}

