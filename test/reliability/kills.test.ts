/**
 * SIGKILL at random moments (seeded), then --resume: the final database equals an uninterrupted run,
 * trial for trial, with nothing lost or duplicated, and the file is intact after every kill. Five kills
 * here; `node dist/test/reliability/kill-run.js` runs the counts quoted in docs/reliability.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { killCampaign, readDb } from './kills.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-kills-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const args = ['--model', model, '--data', 'mnist', '--ber', '1e-3,1e-2', '--trials', '10', '--eval-limit', '300', '--batch', '100', '--seed', '3', '--workers', '2'];

test('campaign: 5 random SIGKILLs + --resume give the uninterrupted results, each trial once, file intact', async () => {
  const refDb = join(dir, 'reference.sqlite');
  const ref = runCli(['campaign', ...args, '--db', refDb]);
  assert.equal(ref.code, 0, ref.stderr);
  const reference = readDb(refDb)!;
  assert.equal(reference.trials.length, 20);

  const db = join(dir, 'killed.sqlite');
  const r = await killCampaign(args, db, reference.trials, { kills: 5, seed: 11, minDelayMs: 200, maxDelayMs: 2500 });
  assert.deepEqual(r.problems, []);
  assert.ok(r.records.length >= 1 && r.records.filter((k) => !k.finishedFirst).length >= Math.min(5, r.records.length - 1));
  assert.equal(r.final.integrity, 'ok');
  assert.equal(r.final.duplicates, 0);
  assert.equal(r.final.status, 'complete');
  assert.deepEqual(r.final.trials, reference.trials);
});
