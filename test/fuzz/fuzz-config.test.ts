// Short fuzz run of fault plans, threshold files, results databases and the command line; see test/fuzz/check.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { fuzzTest } from './check.js';
import { readCorpus } from './corpus.js';

fuzzTest({ target: 'fault-plan-json', cases: 1300, seedsValid: true });
fuzzTest({ target: 'thresholds-json', cases: 800, seedsValid: true });
// The SQLite seeds include other programs' databases and damaged stores, refused on purpose.
fuzzTest({ target: 'sqlite-store', cases: 150, seedsValid: false });
// The argv seeds are mostly bad command lines.
fuzzTest({ target: 'cli-argv', cases: 600, seedsValid: false });

// End to end: the regression command lines and a few seeds through the real executable (a child process).
test('the CLI executable gives exit 0 or one stderr line with exit 2 for the regression and seed command lines', () => {
  const lines = [...readCorpus('regression', 'cli-argv'), ...readCorpus('seed', 'cli-argv').slice(0, 4)];
  for (const f of lines) {
    const argv = JSON.parse(Buffer.from(f.bytes).toString('utf8')) as string[];
    const r = runCli(argv);
    assert.ok(r.code === 0 || r.code === 2, `${f.name}: exit ${r.code}`);
    if (r.code === 2) assert.equal(r.stderr.trim().split('\n').length, 1, `${f.name}: ${r.stderr}`);
  }
});
