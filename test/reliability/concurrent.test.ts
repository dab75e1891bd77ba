/**
 * Two `proact campaign` processes on one database at the same time: they either cooperate (SQLite WAL,
 * busy timeout, one transaction per trial, INSERT OR IGNORE on (campaign, BER, trial)) or the second
 * stops with a one-line error; the file always passes `PRAGMA integrity_check` and every stored trial
 * equals the same trial of a run alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { runCampaign } from '../../src/campaign/index.js';
import { CLI_TIMEOUT_MS, spawnCli, expectUserError } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-concurrent-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const bers = [1e-3, 1e-2];
const trials = 8;
const cliArgs = (seed: number) => ['campaign', '--model', model, '--data', 'mnist', '--ber', bers.join(','), '--trials', String(trials), '--eval-limit', '300', '--batch', '100', '--seed', String(seed)];

type Row = [ber: number, trial: number, accuracy: number, sdc: number, due: number, faults: number];

/** Trials per campaign seed, the integrity check and the duplicate count of a database. */
function inspect(path: string): { integrity: string; bySeed: Map<number, Row[]>; duplicates: number } {
  const db = new Database(path, { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const bySeed = new Map<number, Row[]>();
    for (const c of db.prepare('SELECT id, seed FROM campaigns').all() as { id: number; seed: number }[]) {
      const rows = db.prepare('SELECT ber, trial, accuracy, sdc, due, faults FROM trials WHERE campaign_id = ? ORDER BY ber, trial').raw().all(c.id) as Row[];
      bySeed.set(c.seed, rows);
    }
    const all = Number(db.prepare('SELECT count(*) FROM trials').pluck().get());
    const distinct = Number(db.prepare('SELECT count(*) FROM (SELECT DISTINCT campaign_id, ber, trial FROM trials)').pluck().get());
    return { integrity, bySeed, duplicates: all - distinct };
  } finally {
    db.close();
  }
}

async function alone(seed: number): Promise<Row[]> {
  const db = join(dir, `alone-${seed}.sqlite`);
  await runCampaign({ model, data: 'mnist', bers, trials, evalLimit: 300, batchSize: 100, seed, db });
  return inspect(db).bySeed.get(seed)!;
}

/** Waits for the exit; spawnCli kills a run still going after CLI_TIMEOUT_MS, and that is reported as such. */
function finish(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code, signal) =>
      resolve({ code, stderr: signal === 'SIGKILL' ? `killed after ${CLI_TIMEOUT_MS / 1000} s (hung?); stderr: ${stderr}` : stderr }),
    ),
  );
}

/** Starts two CLI runs at once and waits for both. */
async function together(a: string[], b: string[]): Promise<{ code: number | null; stderr: string }[]> {
  return Promise.all([finish(spawnCli(a)), finish(spawnCli(b))]);
}

const reference = new Map<number, Row[]>();
test('reference runs alone', async () => {
  for (const seed of [1, 2]) reference.set(seed, await alone(seed));
  assert.equal(reference.get(1)!.length, bers.length * trials);
  assert.notDeepEqual(reference.get(1), reference.get(2));
});

test('two campaigns with different seeds into one database at once: both complete, each equals its run alone', async () => {
  const db = join(dir, 'two-seeds.sqlite');
  const runs = await together([...cliArgs(1), '--db', db], [...cliArgs(2), '--db', db]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const s = inspect(db);
  assert.equal(s.integrity, 'ok');
  assert.equal(s.duplicates, 0);
  assert.deepEqual(s.bySeed.get(1), reference.get(1));
  assert.deepEqual(s.bySeed.get(2), reference.get(2));
});

test('the same campaign twice at once with --resume: they share it, every trial stored once, results unchanged', async () => {
  const db = join(dir, 'same-resume.sqlite');
  const runs = await together([...cliArgs(1), '--db', db, '--resume'], [...cliArgs(1), '--db', db, '--resume']);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const s = inspect(db);
  assert.equal(s.integrity, 'ok');
  assert.equal(s.duplicates, 0);
  assert.equal(s.bySeed.size, 1);
  assert.deepEqual(s.bySeed.get(1), reference.get(1));
});

test('the same campaign twice at once without --resume: the second either cooperates or stops with a one-line error', async () => {
  const db = join(dir, 'same-plain.sqlite');
  const runs = await together([...cliArgs(1), '--db', db], [...cliArgs(1), '--db', db]);
  assert.ok(runs.some((r) => r.code === 0), 'at least one run completes');
  for (const r of runs) if (r.code !== 0) expectUserError({ code: r.code ?? -1, stdout: '', stderr: r.stderr }, /already has \d+ stored trials; pass --resume/);
  const s = inspect(db);
  assert.equal(s.integrity, 'ok');
  assert.equal(s.duplicates, 0);
  assert.deepEqual(s.bySeed.get(1), reference.get(1));
});
