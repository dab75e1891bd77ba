// Short command-line fuzz through the real executable (test/fuzz/cli-process.ts): seeded command lines
// with hostile values, inputs named as outputs and signals; every invariant must hold for every case.
// The long run is `npm run fuzz` (--cli-cases).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCliFuzz } from './cli-process.js';

test('command-line fuzz: exit 0/2/130/143, one-line errors, inputs unchanged, nothing written outside the named outputs', async (t) => {
  const seed = Number(process.env.PROACT_FUZZ_SEED ?? 424242);
  const report = await runCliFuzz({ cases: 24, seed, deadlineMs: 15_000 });
  t.diagnostic(`cli-process: ${JSON.stringify(report.outcomes)}, ${report.signalled} signalled, ${report.deadlines} at the deadline, ${report.seconds.toFixed(0)} s`);
  assert.equal(report.cases, 24);
  assert.deepEqual(report.failures, [], JSON.stringify(report.failures, null, 1));
});
