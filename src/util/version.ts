/**
 * proact's version, read once from its package.json: the one place it is written. It is stored with every
 * campaign and report, checked between a queue's coordinator and workers, and written into hardened
 * ONNX files as their producer version.
 */
import { createRequire } from 'node:module';

// Compiled to dist/src/util/version.js (or the installed package's dist/src/util): package.json is three folders up.
const manifest = createRequire(import.meta.url)('../../../package.json') as { version: string };

export const TOOL_VERSION: string = manifest.version;
