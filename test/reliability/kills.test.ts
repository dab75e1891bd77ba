/**
 * SIGKILL a campaign again and again, then --resume: the final database equals an uninterrupted run,
 * trial for trial, with nothing lost or duplicated, and the file is intact after every kill. The kills
 * are triggered by progress (k more trials stored, k seeded in 0..6; 0 is a kill during start-up), so
 * each lands while trials are pending; the test counts those and requires five.
 * `node dist/test/reliability/kill-run.js` runs the counts quoted in docs/reliability.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { killCampaign, killsWhilePending, readDb } from './kills.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-kills-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
// 60 trials of 2,000 images: a few seconds of trials after about as long a start-up.
const args = ['--model', model, '--data', 'mnist', '--ber', '1e-3,1e-2', '--trials', '30', '--eval-limit', '2000', '--batch', '500', '--seed', '3', '--workers', '2'];
const KILLS = 5;

test('campaign: 5 SIGKILLs while trials are pending + --resume give the uninterrupted results, each trial once, file intact', async (t) => {
  const refDb = join(dir, 'reference.sqlite');
  const ref = runCli(['campaign', ...args, '--db', refDb]);
  assert.equal(ref.code, 0, ref.stderr);
  const reference = readDb(refDb)!;
  assert.equal(reference.trials.length, 60);

  const db = join(dir, 'killed.sqlite');
  const r = await killCampaign(args, db, reference.trials, { kills: KILLS, seed: 11, minDelayMs: 100, maxDelayMs: 1000, afterTrials: { min: 0, max: 6 } });
  assert.deepEqual(r.problems, []);
  const summary = r.records.map((k) => `${k.finishedFirst ? 'finished' : 'killed'} at ${k.delayMs} ms with ${k.progress} stored`).join('; ');
  t.diagnostic(summary);
  assert.equal(killsWhilePending(r.records, reference.trials.length), KILLS, `SIGKILLs while trials were pending: ${summary}`);
  // Some kills must land after trials were written, not all during start-up.
  assert.ok(r.records.some((k) => k.progress > 0), `no trial stored before the last kill: ${summary}`);
  assert.equal(r.final.integrity, 'ok');
  assert.equal(r.final.duplicates, 0);
  assert.equal(r.final.status, 'complete');
  assert.deepEqual(r.final.trials, reference.trials);
});
