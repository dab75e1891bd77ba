#!/usr/bin/env node
/**
 * The `proact` command line: a thin layer over the library. Every command lives in its own module and
 * registers itself in src/cli/program.ts; this file only runs it.
 */
import { main } from './program.js';

// `proact ... | head`: the reader closed the pipe; stop quietly, as Unix tools do, instead of crashing.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
