/**
 * Access to ../shared (real CIFAR-10 data and pretrained models). Tests that need a file call
 * `sharedFile(t, 'models/resnet20.onnx')`: it returns the absolute path, or skips the test with a
 * message naming the missing path (a failure when PROACT_REQUIRE includes shared, as in CI). Set
 * PROACT_SHARED to use another location.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { skipMissing } from './requirements.js';

export const SHARED_DIR = resolve(process.env.PROACT_SHARED ?? resolve(process.cwd(), '../shared'));

export function sharedPath(rel: string): string {
  return resolve(SHARED_DIR, rel);
}

/** Absolute path of a ../shared file, or undefined after skipping `t` (see skipMissing) with a message naming it. */
export function sharedFile(t: TestContext, rel: string): string | undefined {
  const p = sharedPath(rel);
  if (!existsSync(p)) {
    skipMissing(t, 'shared', `missing ${p} (tests that use real models and CIFAR-10 need ../shared beside the checkout, or PROACT_SHARED)`);
    return undefined;
  }
  return p;
}
