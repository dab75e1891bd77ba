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

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything proact opened is closed by now; a handle a library keeps (an ioredis reconnect loop to a
// Redis that is gone) must not keep the process alive. The timer is unref'd: it fires only if the
// process would otherwise linger.
setTimeout(() => process.exit(code), 2_000).unref();
