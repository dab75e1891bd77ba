/**
 * The short fuzz run inside `npm test`: one node:test case per target, a fixed seed (PROACT_FUZZ_SEED
 * overrides it) so a failure is reproducible, every failing input saved to a temporary folder named in
 * the assertion message (copy it to test/fuzz/corpus/regression/<corpus>/ once fixed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED_DIR } from '../helpers/shared.js';
import { fuzzTarget } from './runner.js';

export const FUZZ_SEED = Number(process.env.PROACT_FUZZ_SEED ?? 424242);

export interface ShortRun {
  target: string;
  cases: number;
  /** The seed corpus holds only valid inputs: each must be accepted. */
  seedsValid: boolean;
}

export function fuzzTest({ target, cases, seedsValid }: ShortRun): void {
  test(`fuzz ${target}: ${cases} generated inputs + corpora, each accepted or refused with a one-line ProactError, none slower than 2 s`, async (t) => {
    const failureDir = mkdtempSync(join(tmpdir(), `proact-fuzz-failures-${target}-`));
    const r = await fuzzTarget(target, { cases, seed: FUZZ_SEED, sharedDir: SHARED_DIR, failureDir, caseLimitMs: 2000, stallMs: 20_000 });
    if (r.skipped) {
      t.skip(r.skipped);
      return;
    }
    const problems = [...r.crashes, ...r.slow].map((f) => `${f.label}: ${f.message} (input: ${f.file ?? 'not saved'})`);
    assert.deepEqual(problems, [], `fuzz ${target} (seed ${FUZZ_SEED}) found failures`);
    assert.equal(r.cases, cases, 'every generated case ran');
    if (seedsValid) assert.deepEqual(r.seedsRejected, [], 'every seed is a valid input');
    // The inputs reach both outcomes: a fuzzer whose inputs were all refused at the first byte would test little.
    assert.ok(r.parsed > 0 && r.rejected > 0, `accepted ${r.parsed}, rejected ${r.rejected}`);
    t.diagnostic(`${r.cases} cases + ${r.corpusCases} corpus files: ${r.parsed} accepted, ${r.rejected} rejected, slowest ${r.maxCaseMs.toFixed(0)} ms, ${r.seconds.toFixed(1)} s`);
  });
}
