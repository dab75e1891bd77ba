import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  PROACT_APPLICATION_ID,
  SCHEMA_VERSION,
  campaignKey,
  canonicalJson,
  exportTrialsCsv,
  openStore,
  trialKey,
  type CampaignSpec,
  type TrialRecord,
} from '../../src/campaign/store.js';
import { summarizeCampaign } from '../../src/campaign/summary.js';
import { skipMissing } from '../helpers/requirements.js';
import { aucLog10, summarize } from '../../src/campaign/stats.js';
import { ProactError } from '../../src/util/errors.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'proact-store-'));
}

const spec: CampaignSpec = {
  toolVersion: '0.1.0',
  modelPath: 'models/resnet20.onnx',
  modelHash: 'ab'.repeat(32),
  data: 'cifar10-test:0-1000',
  seed: 7,
  options: { method: 'proact', bers: [1e-6, 1e-5], trials: 20, faultModel: { kind: 'weight', format: 'float32' } },
};

function trial(ber: number, index: number, accuracy: number, extra?: TrialRecord['extra']): TrialRecord {
  return { ber, trial: index, accuracy, sdc: 1 - accuracy, due: 0, faults: index + 1, seconds: 0.25, shard: null, extra };
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

test('campaign key is the hash of a canonical JSON: key order does not matter, any option does', () => {
  const reordered: CampaignSpec = {
    ...spec,
    options: { trials: 20, faultModel: { format: 'float32', kind: 'weight' }, bers: [1e-6, 1e-5], method: 'proact' },
  };
  assert.equal(campaignKey(reordered), campaignKey(spec));
  assert.match(campaignKey(spec), /^[0-9a-f]{64}$/);
  assert.notEqual(campaignKey({ ...spec, seed: 8 }), campaignKey(spec));
  assert.notEqual(campaignKey({ ...spec, options: { ...spec.options, trials: 21 } }), campaignKey(spec));
  assert.notEqual(campaignKey({ ...spec, modelHash: 'cd'.repeat(32) }), campaignKey(spec));
  // The path and the tool version do not change results.
  const moved: CampaignSpec = { ...spec, modelPath: '/elsewhere/resnet20.onnx', toolVersion: '0.2.0' };
  assert.equal(campaignKey(moved), campaignKey(spec));
  assert.equal(canonicalJson({ b: [1, { d: null, c: 'x' }], a: true }), '{"a":true,"b":[1,{"c":"x","d":null}]}');
  assert.throws(() => canonicalJson({ a: NaN }), /value.a is NaN/);
  assert.throws(() => canonicalJson({ a: undefined }), /value.a is a undefined/);
});

test('a new file becomes a proact store (WAL, application id, schema version) and campaigns are found again', () => {
  const dir = tempDir();
  const path = join(dir, 'sub', 'results.db');
  const store = openStore(path);
  const first = store.findOrCreateCampaign(spec);
  assert.equal(first.created, true);
  assert.equal(first.key, campaignKey(spec));
  const again = store.findOrCreateCampaign({ ...spec, options: { ...spec.options } });
  assert.deepEqual(again, { id: first.id, key: first.key, created: false });
  const other = store.findOrCreateCampaign({ ...spec, options: { ...spec.options, method: 'ranger' } });
  assert.equal(other.created, true);
  assert.notEqual(other.id, first.id);
  assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  store.close();

  const reopened = openStore(path);
  assert.equal(reopened.db.pragma('application_id', { simple: true }), PROACT_APPLICATION_ID);
  assert.equal(reopened.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(reopened.findOrCreateCampaign(spec).created, false);
  const campaigns = reopened.listCampaigns();
  assert.deepEqual(campaigns.map((c) => c.id), [first.id, other.id]);
  const record = reopened.getCampaign(first.key)!;
  assert.equal(record.id, first.id);
  assert.deepEqual(record.options, spec.options);
  assert.equal(record.status, 'running');
  assert.equal(record.cleanAccuracy, null);
  assert.equal(record.seed, 7);
  assert.match(record.createdAt, /^\d{4}-\d\d-\d\dT/);
  // A later run that knows the clean accuracy fills it in; status updates persist.
  reopened.findOrCreateCampaign({ ...spec, cleanAccuracy: 0.9125 });
  reopened.setStatus(first.id, 'complete');
  assert.deepEqual([reopened.getCampaign(first.id)!.cleanAccuracy, reopened.getCampaign(first.id)!.status], [0.9125, 'complete']);
  assert.equal(reopened.getCampaign(999), undefined);
  assert.throws(() => reopened.setStatus(999, 'failed'), /no campaign with id 999/);
  reopened.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a trial is stored once: INSERT OR IGNORE keeps the first copy and reports what was new', () => {
  const dir = tempDir();
  const store = openStore(join(dir, 'r.db'));
  const { id } = store.findOrCreateCampaign(spec);
  const batch = [trial(1e-5, 1, 0.5), trial(1e-6, 0, 0.9, { flips: [3, 17], note: 'a' }), trial(1e-5, 0, 0.6)];
  assert.deepEqual(store.insertTrials(id, batch), { inserted: 3, ignored: 0 });
  assert.deepEqual(store.insertTrials(id, [trial(1e-5, 1, 0.1), trial(1e-5, 2, 0.4)]), { inserted: 1, ignored: 1 });
  assert.equal(store.insertTrial(id, trial(1e-5, 2, 0.4)), false);
  assert.equal(store.insertTrial(id, { ...trial(1e-4, 0, 0.2), shard: '2/3' }), true);

  const all = store.trials(id);
  assert.deepEqual(all.map((t) => [t.ber, t.trial, t.accuracy]), [
    [1e-6, 0, 0.9],
    [1e-5, 0, 0.6],
    [1e-5, 1, 0.5], // the first copy, not the 0.1 stored twice
    [1e-5, 2, 0.4],
    [1e-4, 0, 0.2],
  ]);
  assert.deepEqual(all[0]!.extra, { flips: [3, 17], note: 'a' });
  assert.equal(all[0]!.faults, 1);
  assert.equal(all[4]!.shard, '2/3');
  assert.equal(all[1]!.extra, null);
  assert.deepEqual(store.trials(id, 1e-5).map((t) => t.trial), [0, 1, 2]);
  assert.deepEqual(store.bers(id), [1e-6, 1e-5, 1e-4]);
  assert.equal(store.countTrials(id), 5);
  assert.deepEqual([...store.completedTrialKeys(id)].sort(), [trialKey(1e-4, 0), trialKey(1e-5, 0), trialKey(1e-5, 1), trialKey(1e-5, 2), trialKey(1e-6, 0)].sort());
  assert.equal(store.getTrial(id, 1e-5, 1)!.accuracy, 0.5);
  assert.equal(store.getTrial(id, 1e-5, 9), undefined);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('invalid trials and unknown campaigns are refused without storing anything', () => {
  const dir = tempDir();
  const store = openStore(join(dir, 'r.db'));
  const { id } = store.findOrCreateCampaign(spec);
  assert.throws(() => store.insertTrials(id, [trial(1e-5, 0, 0.5), trial(1e-5, 1, NaN)]), /accuracy is NaN/);
  assert.throws(() => store.insertTrials(id, [{ ...trial(1e-5, 0, 0.5), trial: 1.5 }]), /trial index/);
  assert.throws(() => store.insertTrials(id, [{ ...trial(1e-5, 0, 0.5), faults: -1 }]), /faults -1/);
  assert.throws(() => store.insertTrials(id, [trial(1e-5, 0, 0.5, { x: Infinity })]), /extra.x is Infinity/);
  assert.throws(() => store.insertTrials(id + 1, [trial(1e-5, 0, 0.5)]), /no campaign with id/);
  assert.equal(store.countTrials(id), 0);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('artifacts are stored as JSON per campaign and can be replaced', () => {
  const dir = tempDir();
  const store = openStore(join(dir, 'r.db'));
  const { id } = store.findOrCreateCampaign(spec);
  store.putArtifact(id, 'thresholds', { conv1: 3.5, 'layer1.0': [1.25, 2] });
  store.putArtifact(id, 'overhead', { bytes: 256 });
  store.putArtifact(id, 'overhead', { bytes: 512 });
  assert.deepEqual(store.getArtifact(id, 'thresholds'), { conv1: 3.5, 'layer1.0': [1.25, 2] });
  assert.deepEqual(store.getArtifact(id, 'overhead'), { bytes: 512 });
  assert.equal(store.getArtifact(id, 'missing'), undefined);
  assert.deepEqual(store.listArtifacts(id), ['overhead', 'thresholds']);
  assert.throws(() => store.putArtifact(id + 5, 'x', 1), /no campaign/);
  assert.throws(() => store.putArtifact(id, '', 1), /artifact name is empty/);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('CSV export quotes fields with commas, quotes and line breaks (RFC 4180) and keeps exact numbers', () => {
  const dir = tempDir();
  const store = openStore(join(dir, 'r.db'));
  const { id } = store.findOrCreateCampaign(spec);
  store.insertTrials(id, [
    { ...trial(1e-6, 0, 0.1 + 0.2), createdAt: '2026-01-01T00:00:00.000Z', shard: '1/2' },
    { ...trial(1e-5, 3, 0.5, { note: 'say "hi",\nbye' }), createdAt: '2026-01-02T00:00:00.000Z', shard: 'rack "b"\nnode' },
  ]);
  const csv = exportTrialsCsv(store, id);
  assert.equal(
    csv,
    'ber,trial,accuracy,sdc,due,faults,seconds,shard,created,extra_json\n' +
      '0.000001,0,0.30000000000000004,0.7,0,1,0.25,1/2,2026-01-01T00:00:00.000Z,\n' +
      '0.00001,3,0.5,0.5,0,4,0.25,"rack ""b""\nnode",2026-01-02T00:00:00.000Z,"{""note"":""say \\""hi\\"",\\nbye""}"\n',
  );
  assert.throws(() => exportTrialsCsv(store, 42), /no campaign with id 42/);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('summarizeCampaign gives per-BER statistics of accuracy, SDC and DUE and the accuracy AUC', () => {
  const dir = tempDir();
  const store = openStore(join(dir, 'r.db'));
  const { id } = store.findOrCreateCampaign({ ...spec, options: { ...spec.options, bers: [1e-6, 1e-5, 1e-4] } });
  const accuracies = new Map([
    [1e-6, [0.91, 0.9, 0.92]],
    [1e-5, [0.8, 0.6, 0.7, 0.75]],
    [1e-4, [0.1, 0.3]],
  ]);
  for (const [ber, values] of accuracies) store.insertTrials(id, values.map((a, i) => ({ ...trial(ber, i, a), due: i === 0 ? 0.01 : 0 })));
  const summary = summarizeCampaign(store, id);
  assert.equal(summary.campaign.id, id);
  assert.deepEqual(summary.perBer.map((s) => s.ber), [1e-6, 1e-5, 1e-4]);
  for (const s of summary.perBer) {
    const values = accuracies.get(s.ber)!;
    // A campaign without a 'sampling' option is plain and fixed-n: betting intervals tuned for its 20 trials.
    const fixed = { interval: 'betting', horizon: 20 } as const;
    assert.deepEqual(s.accuracy, summarize(values, fixed));
    assert.deepEqual(s.sdc, summarize(values.map((a) => 1 - a), fixed));
    assert.deepEqual(s.due, summarize(values.map((_, i) => (i === 0 ? 0.01 : 0)), fixed));
  }
  assert.ok(Math.abs(summary.perBer[1]!.accuracy.mean - 0.7125) < 1e-12);
  assert.deepEqual(summary.accuracyAuc, aucLog10([1e-6, 1e-5, 1e-4], summary.perBer.map((s) => s.accuracy.mean)));
  assert.throws(() => summarizeCampaign(store, 77), /no campaign with id 77/);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a SQLite database of another program is refused and left byte-for-byte untouched', () => {
  const dir = tempDir();
  const path = join(dir, 'other.db');
  const foreign = new Database(path);
  foreign.exec('CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES (\'keep me\')');
  foreign.close();
  const before = fileHash(path);
  assert.throws(() => openStore(path), (e: unknown) => {
    assert.ok(e instanceof ProactError);
    assert.match(e.message, /other\.db: a SQLite database of another program .*not a proact results store.*choose another store path/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  assert.throws(() => openStore(path, { readonly: true }), /another program/);
  assert.equal(fileHash(path), before);
  assert.equal(existsSync(`${path}-wal`), false);
  rmSync(dir, { recursive: true, force: true });
});

test('a file that is not SQLite, a directory, or a missing read-only store give one-line errors', () => {
  const dir = tempDir();
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'this is a text file, not a database\n'.repeat(40));
  const before = fileHash(junk);
  assert.throws(() => openStore(junk), /junk\.db: opening failed: not a SQLite database or a corrupted one.*SQLITE_NOTADB/);
  assert.equal(fileHash(junk), before);
  assert.throws(() => openStore(dir), /is a directory; give a file path/);
  assert.throws(() => openStore(join(dir, 'absent.db'), { readonly: true }), /absent\.db: no such results store/);
  assert.equal(existsSync(join(dir, 'absent.db')), false);
  rmSync(dir, { recursive: true, force: true });
});

test('a store written by a newer schema is refused', () => {
  const dir = tempDir();
  const path = join(dir, 'r.db');
  openStore(path).close();
  const raw = new Database(path);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(() => openStore(path), /written by a newer proact.*upgrade proact/);
  rmSync(dir, { recursive: true, force: true });
});

test('a store opened read-only reads everything and refuses writes with a one-line error', () => {
  const dir = tempDir();
  const path = join(dir, 'r.db');
  const writer = openStore(path);
  const { id } = writer.findOrCreateCampaign(spec);
  writer.insertTrials(id, [trial(1e-5, 0, 0.5), trial(1e-5, 1, 0.6)]);
  writer.close();
  const reader = openStore(path, { readonly: true });
  assert.equal(reader.countTrials(id), 2);
  assert.throws(() => reader.insertTrials(id, [trial(1e-5, 2, 0.7)]), /r\.db: saving trials failed: store is read-only.*SQLITE_READONLY/);
  assert.throws(() => reader.findOrCreateCampaign({ ...spec, seed: 99 }), /read-only/);
  assert.equal(reader.countTrials(id), 2);
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a read-only file or folder is refused before anything is written (skipped as root)', (t) => {
  if (process.getuid?.() === 0) {
    skipMissing(t, 'non-root', 'running as root: chmod does not stop root from writing; openStore(path, { readonly: true }) is tested instead');
    return;
  }
  const dir = tempDir();
  const path = join(dir, 'r.db');
  openStore(path).close();
  chmodSync(path, 0o444);
  assert.throws(() => openStore(path), /r\.db: results store is read-only; make it writable/);
  assert.equal(openStore(path, { readonly: true }).listCampaigns().length, 0);
  const lockedDir = join(dir, 'locked');
  mkdirSync(lockedDir);
  chmodSync(lockedDir, 0o555);
  assert.throws(() => openStore(join(lockedDir, 'new.db')), /folder .*locked is read-only/);
  chmodSync(lockedDir, 0o755);
  chmodSync(path, 0o644);
  rmSync(dir, { recursive: true, force: true });
});

test('a full database (simulated with PRAGMA max_page_count) fails the batch with one line and keeps committed trials', () => {
  const dir = tempDir();
  const path = join(dir, 'r.db');
  const store = openStore(path);
  const { id } = store.findOrCreateCampaign(spec);
  const committed = Array.from({ length: 20 }, (_, i) => trial(1e-5, i, 0.5));
  store.insertTrials(id, committed);
  // max_page_count caps this connection's database size at its current page count, as a full disk would.
  const pages = Number(store.db.pragma('page_count', { simple: true }));
  store.db.pragma(`max_page_count = ${pages}`);
  const big = Array.from({ length: 200 }, (_, i) => trial(1e-4, i, 0.25, { padding: 'x'.repeat(2000) }));
  assert.throws(() => store.insertTrials(id, big), (e: unknown) => {
    assert.ok(e instanceof ProactError);
    assert.match(e.message, /r\.db: saving trials failed: disk or database is full; every trial committed before this batch is kept.*SQLITE_FULL/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  assert.equal(store.db.inTransaction, false);
  assert.equal(store.countTrials(id), 20);
  store.close();
  const reopened = openStore(path);
  assert.deepEqual(reopened.trials(id).map((t) => t.trial), committed.map((t) => t.trial));
  // With room again, the same batch goes in: a resumed run completes.
  assert.deepEqual(reopened.insertTrials(id, big), { inserted: 200, ignored: 0 });
  reopened.close();
  rmSync(dir, { recursive: true, force: true });
});

test('two processes write the same store at once without losing or duplicating a trial', async () => {
  const dir = tempDir();
  const path = join(dir, 'shared.db');
  const store = openStore(path);
  const { id } = store.findOrCreateCampaign(spec);
  const storeModule = fileURLToPath(new URL('../../src/campaign/store.js', import.meta.url));
  // The child writes trials 0..199 of BER 1e-3 in small transactions while this process writes 100..299.
  const script = `
    const { openStore } = await import(${JSON.stringify(storeModule)});
    const store = openStore(${JSON.stringify(path)});
    let inserted = 0;
    for (let i = 0; i < 200; i += 5) {
      const batch = [0, 1, 2, 3, 4].map((k) => ({ ber: 1e-3, trial: i + k, accuracy: 0.5, sdc: 0.5, due: 0, faults: 1, seconds: 0, shard: 'child' }));
      inserted += store.insertTrials(${id}, batch).inserted;
    }
    store.close();
    process.stdout.write(String(inserted));`;
  const child = new Promise<string>((resolvePromise, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolvePromise(stdout),
    );
  });
  let insertedHere = 0;
  for (let i = 100; i < 300; i += 5) {
    const batch = [0, 1, 2, 3, 4].map((k) => ({ ...trial(1e-3, i + k, 0.5), faults: 1, shard: 'parent' }));
    insertedHere += store.insertTrials(id, batch).inserted;
    await new Promise((r) => setImmediate(r));
  }
  const insertedByChild = Number(await child);
  assert.equal(store.countTrials(id), 300);
  assert.equal(insertedHere + insertedByChild, 300);
  assert.deepEqual(store.trials(id).map((t) => t.trial), Array.from({ length: 300 }, (_, i) => i));
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a store knows what it holds: ids are never reused, orphaned trials are never adopted, impossible values are damage', () => {
  const dir = tempDir();
  const path = join(dir, 'r.db');
  const store = openStore(path);
  const first = store.findOrCreateCampaign(spec).id;
  store.insertTrials(first, [trial(1e-6, 0, 0.9)]);
  // Deleted by hand with foreign keys off (the sqlite3 shell's default): its trials stay behind.
  store.db.pragma('foreign_keys = OFF');
  store.db.prepare('DELETE FROM campaigns WHERE id = ?').run(first);
  store.db.pragma('foreign_keys = ON');
  // AUTOINCREMENT: the next campaign gets a new id, and never adopts the orphan.
  const second = store.findOrCreateCampaign({ ...spec, seed: 8 });
  assert.notEqual(second.id, first);
  assert.equal(store.countTrials(second.id), 0);
  // A store of schema 1 without AUTOINCREMENT would reuse the id: the orphans are refused as damage.
  store.db.pragma('foreign_keys = OFF');
  store.db.prepare('UPDATE trials SET campaign_id = ? WHERE campaign_id = ?').run(second.id + 1, first);
  store.db.pragma('foreign_keys = ON');
  store.db.prepare("DELETE FROM sqlite_sequence WHERE name = 'campaigns'").run();
  assert.throws(() => store.findOrCreateCampaign({ ...spec, seed: 9 }), /campaign id \d+ has 1 trials and 0 artifacts of a deleted campaign \(orphans\)/);
  store.db.prepare('DELETE FROM trials WHERE campaign_id = ?').run(second.id + 1);
  // Foreign keys are enforced: a trial of no campaign cannot be written through the store.
  assert.throws(() => store.insertTrials(12345, [trial(1e-6, 0, 0.5)]), /no campaign with id 12345/);

  // Values no campaign can produce are refused on read, with the row named.
  const c = store.findOrCreateCampaign({ ...spec, seed: 10 }).id;
  store.insertTrials(c, [trial(1e-6, 0, 0.9), trial(1e-5, 0, 0.5)]);
  store.db.prepare('UPDATE trials SET accuracy = 5.0 WHERE campaign_id = ? AND ber = ?').run(c, 1e-5);
  assert.throws(() => summarizeCampaign(store, c), /damaged results store: trial row \(campaign \d+, BER 0\.00001, trial 0\) has accuracy 5, outside \[0, 1\]/);
  store.db.prepare('UPDATE trials SET accuracy = 0.5, ber = 0.003 WHERE campaign_id = ? AND ber = ?').run(c, 1e-5);
  assert.throws(() => summarizeCampaign(store, c), /campaign \d+ holds trial 0 at BER 0\.003, a BER it never planned/);
  assert.throws(() => store.insertTrials(c, [trial(1e-6, 1, 1.5)]), /accuracy is 1\.5, must be a fraction in \[0, 1\]/);
  store.close();
  rmSync(dir, { recursive: true, force: true });
});
