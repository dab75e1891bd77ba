// The output guard (src/util/outputs.ts) and the small checks of issue 21, with its examples: outputs
// that are an input (by any name) are refused before any work and the input is left byte-identical;
// folders, devices, FIFOs, missing folders and over-long names are refused up front; demo writes a
// fresh folder only; bounded --trials / --workers; strict --seed; duplicate BERs; faults show at any BER.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, expectUserError } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { capWorkers } from '../../src/campaign/index.js';
import { parseIntOption } from '../../src/cli/common.js';
import { mulberry32 } from '../../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-guard-'));
const model = writeTinyCnn(join(dir, 'model.onnx'));
const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const modelHash = hash(model);
const campaign = (extra: string[]) => runCli(['campaign', '--model', model, '--data', 'mnist', '--eval-limit', '20', '--ber', '1e-3', '--trials', '2', ...extra]);

test('guard: campaign --csv naming the store or the model is refused before any work; both stay intact', () => {
  const db = join(dir, 'c.sqlite');
  assert.equal(campaign(['--db', db, '--json']).code, 0);
  const dbHash = hash(db);
  expectUserError(campaign(['--db', db, '--resume', '--csv', db]), /--csv .*c\.sqlite: is the same file as the output --db .*c\.sqlite; writing it would destroy that file/);
  expectUserError(campaign(['--db', db, '--resume', '--csv', model]), /--csv .*model\.onnx: is the same file as the input --model/);
  assert.equal(hash(db), dbHash);
  assert.equal(hash(model), modelHash);
});

test('guard: faults show --out, harden --out and train --checkpoint never overwrite the model, by any name', () => {
  const link = join(dir, 'link.onnx');
  symlinkSync(model, link);
  const hard = join(dir, 'hard.onnx');
  linkSync(model, hard);
  for (const out of [model, link, hard]) {
    expectUserError(runCli(['faults', 'show', '--model', model, '--ber', '1e-4', '--trial', '0', '--out', out]), /--out .*: is the same file as the input --model/);
    expectUserError(runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', out]), /--out .*: is the same file as the input --model/);
  }
  // harden's companion files: --out x.onnx writes x.thresholds.json, which must not be its --thresholds input.
  const thresholds = join(dir, 'h.thresholds.json');
  writeFileSync(thresholds, '{}');
  expectUserError(runCli(['harden', '--model', model, '--data', 'mnist', '--thresholds', thresholds, '--out', join(dir, 'h.onnx')]), /the thresholds file .*h\.thresholds\.json: is the same file as the input --thresholds/);
  expectUserError(runCli(['train', '--arch', 'lenet', '--data', 'mnist', '--epochs', '1', '--out', join(dir, 't.onnx'), '--checkpoint', model]), /--checkpoint .*model\.onnx: exists and is not a proact checkpoint; proact will not overwrite it/);
  assert.equal(hash(model), modelHash);
});

test('guard: output folders, devices, missing folders and long names are refused before any work', () => {
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  expectUserError(runCli(['faults', 'show', '--model', model, '--ber', '1e-4', '--trial', '0', '--out', folder]), /--out .*folder: is a folder; give a file path/);
  expectUserError(runCli(['faults', 'show', '--model', model, '--ber', '1e-4', '--trial', '0', '--out', join(dir, 'missing', 'p.json')]), /--out .*p\.json: folder .*missing does not exist; create it first/);
  expectUserError(runCli(['faults', 'show', '--model', model, '--ber', '1e-4', '--trial', '0', '--out', join(dir, 'n'.repeat(250))]), /a name in .* is 250 bytes long, over the 239 a file name can have here/);
  expectUserError(campaign(['--db', join(dir, 'x.sqlite'), '--csv', '/dev/null']), /--csv \/dev\/null: is not a regular file/);
  expectUserError(campaign(['--db', join(dir, 'd/'.repeat(30_000)) + 'x.sqlite']), /--db: path is \d+ bytes long/);
});

test('guard: special files are refused as inputs instead of hanging or filling memory', () => {
  const fifo = join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  expectUserError(runCli(['eval', '--model', fifo, '--data', 'mnist']), /fifo: is not a regular file/);
  expectUserError(runCli(['eval', '--model', '/dev/zero', '--data', 'mnist']), /\/dev\/zero: is not a regular file/);
  expectUserError(campaign(['--db', join(dir, 'f.sqlite'), '--model', fifo]), /fifo: is not a regular file/);
  expectUserError(runCli(['faults', 'replay', '--model', model, '--plan', fifo, '--data', 'mnist']), /--plan .*fifo: is not a regular file/);
  expectUserError(runCli(['harden', '--model', model, '--data', 'mnist', '--thresholds', '/dev/zero', '--out', join(dir, 'z.onnx')]), /--thresholds \/dev\/zero: is not a regular file/);
});

test('guard: demo writes into a fresh folder or refuses, never deleting results.sqlite', () => {
  const out = join(dir, 'demo');
  mkdirSync(out);
  writeFileSync(join(out, 'results.sqlite'), 'the user\'s own file\n');
  expectUserError(runCli(['demo', '--out', out]), /--out .*demo: folder exists and is not empty; the demo writes into a new or empty folder/);
  assert.equal(readFileSync(join(out, 'results.sqlite'), 'utf8'), 'the user\'s own file\n');
});

test('bounds: --trials has a cap, workers are capped with a note, seeds are strict, duplicate BERs refused', () => {
  expectUserError(campaign(['--db', join(dir, 'b.sqlite'), '--trials', '4294967296']), /--trials 4294967296: expected an integer from 1 to 1,000,000/);
  for (const seed of ['', '1e300', '-1', '9007199254740992', '1.5']) expectUserError(campaign(['--db', join(dir, 'b.sqlite'), '--seed', seed]), /--seed .*: expected an integer >= 0/);
  expectUserError(campaign(['--db', join(dir, 'b.sqlite'), '--ber', '1e-3,1e-3']), /--ber 1e-3,1e-3: 0\.001 is given twice; list each value once/);
  assert.throws(() => parseIntOption('--seed')(''), /--seed '': expected an integer >= 0/);
  assert.equal(parseIntOption('--seed')('9007199254740991'), 2 ** 53 - 1);
  assert.deepEqual(capWorkers(1000, 6, 2), { workers: 6, note: '--workers 1000: using 6 (at most 6 trials to run)' });
  assert.deepEqual(capWorkers(1000, 600, 2), { workers: 8, note: '--workers 1000: using 8 (at most 4 per core on 2 cores)' });
  assert.deepEqual(capWorkers(3, 600, 2), { workers: 3 });
  const r = campaign(['--db', join(dir, 'w.sqlite'), '--workers', '50', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /note: --workers 50: using 2 \(at most 2 trials to run\)/);
});

test('faults show works at any valid BER (no spread Math.max over the faults)', () => {
  const r = runCli(['faults', 'show', '--model', model, '--ber', '0.05', '--trial', '0']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.split('\n').length > 3_000, 'one row per fault');
});

test('faults replay refuses a plan whose after was edited by hand', () => {
  const plan = join(dir, 'edited-plan.json');
  assert.equal(runCli(['faults', 'show', '--model', model, '--ber', '1e-3', '--trial', '1', '--out', plan, '--json']).code, 0);
  const ok = runCli(['faults', 'replay', '--model', model, '--plan', plan, '--data', 'mnist', '--eval-limit', '20', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const json = JSON.parse(readFileSync(plan, 'utf8')) as { faults: { after: number | string }[] };
  assert.ok(json.faults.length > 0);
  json.faults[0]!.after = 12345;
  writeFileSync(plan, JSON.stringify(json));
  expectUserError(runCli(['faults', 'replay', '--model', model, '--plan', plan, '--data', 'mnist', '--eval-limit', '20']), /edited-plan\.json: fault 0 \(.*after 12345\) is not what trial 1 at BER 0\.001 with seed 0 makes .*the plan was edited/);
});

test('seeds: a seed and the same seed plus 2^32 give different splits; seeds below 2^32 keep their stream', () => {
  const draw = (seed: number) => Array.from({ length: 4 }, mulberry32(seed));
  assert.notDeepEqual(draw(5), draw(5 + 2 ** 32));
  // mulberry32(5)'s first draws as before the fold (state 5 >>> 0): the published algorithm's values.
  let state = 5;
  const reference = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  assert.deepEqual(draw(5), Array.from({ length: 4 }, reference));
});

test('harden with no training images left is an error, not NaN thresholds', () => {
  expectUserError(
    runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--validation', '60000', '--out', join(dir, 'nan.onnx')]),
    /--validation 60000: leaves no training images out of 60000 in .*; give a smaller --validation/,
  );
});

test('a stored model path with control characters is shown escaped; the report is written', () => {
  const folder = join(dir, 'escape');
  mkdirSync(folder);
  const evil = join(folder, 'm\u001b[31m.onnx');
  writeTinyCnn(evil);
  const db = join(folder, 'r.sqlite');
  const c = runCli(['campaign', '--model', evil, '--data', 'mnist', '--eval-limit', '20', '--ber', '1e-3,1e-2', '--trials', '2', '--db', db]);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(!c.stderr.includes('\u001b') && !c.stdout.includes('\u001b'), 'no raw escape on the terminal');
  const e = runCli(['campaign', 'export', db]);
  assert.match(e.stdout, /m\\u001b\[31m\.onnx/);
  const r = runCli(['report', db, '--out', join(folder, 'report')]);
  assert.equal(r.code, 0, r.stderr);
});
