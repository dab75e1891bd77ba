/**
 * Runs the `train` command module alone, as `proact train` would (a ProactError prints one line and
 * exits with code 2), so its tests do not depend on how the command is wired into the main program.
 * Usage: node dist/test/train/cli-driver.js train --arch ... (the arguments of `proact`).
 */
import { Command } from 'commander';
import { registerTrain } from '../../src/cli/train.js';
import { isProactError } from '../../src/util/errors.js';

const program = new Command().name('proact').exitOverride().configureOutput({ outputError: () => {} });
registerTrain(program);
for (const c of program.commands) c.exitOverride().configureOutput({ outputError: () => {} });
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (e) {
  if (isProactError(e)) {
    process.stderr.write(`proact: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else if (e instanceof Error && 'code' in e && String(e.code).startsWith('commander.')) {
    process.stderr.write(`proact: ${e.message.replace(/^error: /, '')}\n`);
    process.exitCode = 2;
  } else throw e;
}
