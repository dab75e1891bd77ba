import { test } from 'node:test';
import { trialsOf } from '../helpers/stores.js';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCampaign, openStore, mergeStores, parseShard, type CampaignOptions } from '../../src/campaign/index.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { spawnCli, runCli, expectUserError } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-campaign-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const base: Omit<CampaignOptions, 'db'> = { model, data: 'mnist', bers: [1e-4, 1e-3, 1e-2], trials: 6, evalLimit: 300, seed: 7, batchSize: 100 };


test('same seed: identical per-trial results with 1 and 2 workers, and for 3 merged shards', async () => {
  const one = join(dir, 'one.sqlite');
  const two = join(dir, 'two.sqlite');
  await runCampaign({ ...base, db: one, workers: 1 });
  await runCampaign({ ...base, db: two, workers: 2 });
  const a = trialsOf(one);
  assert.equal(a.length, 18);
  assert.deepEqual(trialsOf(two), a);
  // Faults actually change results at these rates (the comparison is not between clean copies).
  assert.ok(new Set(a.map((r) => JSON.parse(r)[2])).size > 3, 'trial accuracies vary');
  const shards = [1, 2, 3].map((i) => join(dir, `shard${i}.sqlite`));
  for (let i = 0; i < 3; i++) await runCampaign({ ...base, db: shards[i]!, shard: parseShard(`${i + 1}/3`) });
  for (const s of shards) assert.ok(trialsOf(s).length < 18);
  const merged = join(dir, 'merged.sqlite');
  mergeStores(shards, merged);
  assert.deepEqual(trialsOf(merged), a);
});

test('sequential stopping with strata and automatic image counts gives the same trials, images and results for any number of workers', async () => {
  const opts = { ...base, bers: [1e-3], trials: 60, precision: 0.02, trialCostImages: 20 };
  const a = join(dir, 'seq1.sqlite');
  const b = join(dir, 'seq2.sqlite');
  const ra = await runCampaign({ ...opts, db: a, workers: 1 });
  await runCampaign({ ...opts, db: b, workers: 2 });
  const ta = trialsOf(a);
  assert.deepEqual(trialsOf(b), ta);
  const rows = ta.map((r) => JSON.parse(r) as [number, number, number, number, number, number, number | null]);
  // The pilot puts 5 trials in each stratum (trial = stratum * 2^24 + j), on 300 images (the whole set here).
  const strata = new Set(rows.map((r) => Math.floor(r[1] / 2 ** 24)));
  assert.ok(strata.size >= 2, `trials in ${strata.size} strata`);
  for (const h of strata) assert.ok(rows.filter((r) => Math.floor(r[1] / 2 ** 24) === h).length >= 5, `stratum ${h} has its pilot`);
  // After the pilot, trials get the image count the design chose (here fewer than the 300 available).
  assert.ok(rows.some((r) => r[6] !== null && r[6] < 300), 'some trials evaluated a subset of the images');
  const s = ra.summary.perBer[0]!.accuracy;
  assert.equal(s.interval, 'betting-target');
  assert.ok(s.ciLow >= 0 && s.ciHigh <= 1 && s.ciLow <= s.mean && s.mean <= s.ciHigh);
  assert.ok(rows.length === 60 || s.ciHalfWidth <= 0.02, `stopped at ${rows.length} trials with half-width ${s.ciHalfWidth}`);

  // A stratified trial on a subset replays bit for bit: its plan from `faults show`, its images from the store.
  const sub = rows.find((r) => r[6] !== null && r[6] < 300 && r[5] > 0)!;
  const plan = join(dir, 'stratified-plan.json');
  const show = runCli(['faults', 'show', '--model', model, '--ber', '1e-3', '--trial', String(sub[1]), '--seed', '7', '--sampling', 'stratified', '--out', plan, '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal((JSON.parse(show.stdout) as { stratum: number }).stratum, Math.floor(sub[1] / 2 ** 24));
  const replay = runCli(['faults', 'replay', '--model', model, '--plan', plan, '--data', 'mnist', '--eval-limit', '300', '--batch', '100', '--images', String(sub[6]), '--json']);
  assert.equal(replay.code, 0, replay.stderr);
  const r = JSON.parse(replay.stdout) as { accuracy: number; sdc: number; due: number; images: number; faults: number };
  assert.deepEqual([r.accuracy, r.sdc, r.due, r.images, r.faults], [sub[2], sub[3], sub[4], sub[6], sub[5]]);
});

test('a campaign killed with SIGKILL resumes with --resume: every trial once, same results', async () => {
  const ref = join(dir, 'ref.sqlite');
  const args = ['campaign', '--model', model, '--data', 'mnist', '--ber', '1e-3,1e-2', '--trials', '15', '--eval-limit', '300', '--seed', '3', '--batch', '100'];
  assert.equal(runCli([...args, '--db', ref]).code, 0);
  const killed = join(dir, 'killed.sqlite');
  const child = spawnCli([...args, '--db', killed]);
  // Wait until some trials are stored, then kill -9.
  for (let k = 0; k < 400; k++) {
    await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(killed)) continue;
    try {
      const s = openStore(killed, { readonly: true });
      const n = s.listCampaigns().length ? s.countTrials(s.listCampaigns()[0]!.id) : 0;
      s.close();
      if (n >= 5) break;
    } catch {
      /* not created yet */
    }
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const partial = trialsOf(killed).length;
  assert.ok(partial < 30, `killed before the end (${partial} stored)`);
  expectUserError(runCli([...args, '--db', killed]), /already has \d+ stored trials; pass --resume/);
  const resumed = runCli([...args, '--db', killed, '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(trialsOf(killed), trialsOf(ref));
});

test('different options never mix into the same campaign', async () => {
  const db = join(dir, 'mix.sqlite');
  await runCampaign({ ...base, db, bers: [1e-3], trials: 2 });
  await runCampaign({ ...base, db, bers: [1e-3], trials: 2, faults: { format: 'q15.16' } });
  const s = openStore(db, { readonly: true });
  try {
    assert.equal(s.listCampaigns().length, 2);
  } finally {
    s.close();
  }
});

test('campaign: bad input is a one-line error', () => {
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--ber', '2']), /BER/i);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--format', 'q40.40']), /q40\.40/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--count', 'sometimes']), /sometimes/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--precision', '0.01', '--shard', '1/2']), /--shard needs a fixed --trials/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--workers', 'many']), /--workers many/);
  // The statistics options: each bad value is one line naming the flag and what it takes.
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--images', 'some']), /--images some: expected 'auto', 'all' or a whole number/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--sampling', 'clever']), /--sampling clever: expected plain, stratified or auto/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--interval', 'wald']), /--interval wald: use one of betting-target, betting-cs, betting, student-t/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--precision', '0.01', '--interval', 'student-t']), /only a confidence sequence \(betting-target, betting-cs\) stays valid/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--count', 'reference', '--sampling', 'stratified']), /--sampling stratified needs --count bernoulli/);
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--trials', '4', '--images', 'auto', '--shard', '1/2']), /--shard needs a design fixed in advance/);
  const notDb = join(dir, 'tiny.onnx');
  expectUserError(runCli(['campaign', '--model', model, '--data', 'mnist', '--trials', '1', '--ber', '1e-3', '--eval-limit', '50', '--db', notDb]), /tiny\.onnx/);
});
