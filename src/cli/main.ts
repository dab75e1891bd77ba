#!/usr/bin/env node
/**
 * The `proact` command line: a thin layer over the library. Every command lives in its own module and
 * registers itself in src/cli/program.ts; this file only runs it.
 */
import { main } from './program.js';

process.exitCode = await main(process.argv.slice(2));
