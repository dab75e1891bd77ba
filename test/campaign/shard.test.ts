import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatShard, mergeStores, parseShard, shardTrials, trialInShard, type Shard } from '../../src/campaign/shard.js';
import { campaignKey, openStore, type CampaignSpec, type TrialRecord } from '../../src/campaign/store.js';
import { ProactError } from '../../src/util/errors.js';

test('parseShard reads 1-based i/N and refuses anything else with a one-line error', () => {
  assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
  assert.deepEqual(parseShard(' 1 / 1 '), { index: 1, count: 1 });
  assert.deepEqual(parseShard('10/10'), { index: 10, count: 10 });
  assert.equal(formatShard(parseShard('4/7')), '4/7');
  for (const bad of ['0/3', '4/3', '3', '1/0', '-1/3', '1.5/3', 'a/b', '', '1/2/3', '99999999999999999999/3']) {
    assert.throws(() => parseShard(bad), (e: unknown) => {
      assert.ok(e instanceof ProactError, `"${bad}" gives a ProactError`);
      assert.match(e.message, /expected i\/N with 1 <= i <= N/);
      return true;
    });
  }
});

test('every trial belongs to exactly one shard and shards are balanced at every BER', () => {
  const shards: Shard[] = [1, 2, 3].map((index) => ({ index, count: 3 }));
  const totals = [0, 0, 0];
  for (let berIndex = 0; berIndex < 5; berIndex++) {
    const perShard = shards.map((s) => shardTrials(berIndex, 10, s));
    for (let t = 0; t < 10; t++) assert.equal(shards.filter((s) => trialInShard(berIndex, t, s)).length, 1);
    assert.deepEqual(perShard.flat().sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i));
    const sizes = perShard.map((p) => p.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `BER ${berIndex}: sizes ${sizes}`);
    sizes.forEach((n, i) => (totals[i]! += n));
  }
  // 10 trials over 3 shards leave one extra trial; the BER offset moves it: shard k gets 4 trials at the BERs
  // b = k-1 (mod 3), i.e. shard 1 at b = 0, 3; shard 2 at b = 1, 4; shard 3 at b = 2.
  assert.deepEqual(totals, [17, 17, 16]);
  assert.deepEqual(shardTrials(0, 10, { index: 1, count: 3 }), [0, 3, 6, 9]);
  assert.deepEqual(shardTrials(1, 10, { index: 1, count: 3 }), [2, 5, 8]);
  assert.deepEqual(shardTrials(3, 5, { index: 1, count: 1 }), [0, 1, 2, 3, 4]);
  assert.throws(() => trialInShard(-1, 0, { index: 1, count: 2 }), ProactError);
});

const spec: CampaignSpec = {
  toolVersion: '0.1.0',
  modelPath: 'm.onnx',
  modelHash: '12'.repeat(32),
  data: 'mnist-test:0-500',
  seed: 3,
  options: { method: 'hyrelu', bers: [1e-7, 1e-6, 1e-5, 1e-4], trials: 10 },
  cleanAccuracy: 0.985,
};
const BERS = [1e-7, 1e-6, 1e-5, 1e-4];

/** A deterministic stand-in for running trial `t` at BER index `b`: results depend only on (b, t). */
function runTrial(b: number, t: number, shard: string, seconds: number): TrialRecord {
  const hash = Math.imul(b * 7919 + t * 104729 + 1, 2654435761) >>> 0;
  const accuracy = 0.985 - b * 0.2 - (hash % 1000) / 20000;
  return { ber: BERS[b]!, trial: t, accuracy, sdc: 0.985 - accuracy, due: (hash % 7) / 500, faults: (hash % 50) + b, seconds, shard, extra: { hash } };
}

/** Runs the fake campaign into `path`, only the trials of `shard`. */
function runCampaign(path: string, shard: Shard, extraSpec: Partial<CampaignSpec> = {}): number {
  const store = openStore(path);
  const { id } = store.findOrCreateCampaign({ ...spec, ...extraSpec });
  const trials: TrialRecord[] = [];
  BERS.forEach((_, b) => {
    for (const t of shardTrials(b, 10, shard)) trials.push(runTrial(b, t, formatShard(shard), shard.index * 1.5));
  });
  store.insertTrials(id, trials);
  store.putArtifact(id, 'thresholds', { conv1: 2.5, fc1: 6 });
  store.putArtifact(id, 'timing', { shard: formatShard(shard), seconds: shard.index });
  store.setStatus(id, 'complete');
  store.close();
  return id;
}

function results(path: string, key: string): unknown[] {
  const store = openStore(path, { readonly: true });
  const campaign = store.getCampaign(key)!;
  const rows = store.trials(campaign.id).map((t) => [t.ber, t.trial, t.accuracy, t.sdc, t.due, t.faults, t.extra]);
  store.close();
  return rows;
}

test('merging three shard stores gives exactly the trials of one unsharded run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-shard-'));
  const single = join(dir, 'single.db');
  runCampaign(single, { index: 1, count: 1 });
  const shardPaths = [1, 2, 3].map((i) => join(dir, `shard${i}.db`));
  shardPaths.forEach((p, i) => runCampaign(p, { index: i + 1, count: 3 }));
  // A different campaign (another seed) only in shard 2's file must come through separately.
  runCampaign(shardPaths[1]!, { index: 1, count: 1 }, { seed: 4 });

  const merged = join(dir, 'merged.db');
  const key = campaignKey(spec);
  const report = mergeStores(shardPaths, merged);
  assert.deepEqual(report, {
    campaigns: 2,
    newCampaigns: 2,
    trialsAdded: 40 + 40,
    trialsAlreadyPresent: 0,
    artifactConflicts: [`${key.slice(0, 12)}/timing`],
    partial: [],
  });

  assert.deepEqual(results(merged, key), results(single, key));
  assert.equal(results(merged, key).length, 40);
  const out = openStore(merged, { readonly: true });
  const campaign = out.getCampaign(key)!;
  assert.deepEqual([campaign.status, campaign.cleanAccuracy, campaign.seed], ['complete', 0.985, 3]);
  assert.deepEqual(out.getArtifact(campaign.id, 'thresholds'), { conv1: 2.5, fc1: 6 });
  assert.deepEqual(out.getArtifact(campaign.id, 'timing'), { shard: '1/3', seconds: 1 });
  assert.deepEqual(new Set(out.trials(campaign.id).map((t) => t.shard)), new Set(['1/3', '2/3', '3/3']));
  assert.equal(out.listCampaigns().length, 2);
  out.close();

  // Merging a shard again adds nothing and changes nothing.
  const again = mergeStores([shardPaths[0]!], merged);
  assert.equal(again.trialsAdded, 0);
  assert.equal(again.trialsAlreadyPresent, 14);
  assert.deepEqual(results(merged, key), results(single, key));
  rmSync(dir, { recursive: true, force: true });
});

test('a merge refuses stores whose copies of a trial differ, and leaves the output as it was', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-shard-'));
  const a = join(dir, 'a.db');
  const b = join(dir, 'b.db');
  runCampaign(a, { index: 1, count: 2 });
  runCampaign(b, { index: 1, count: 2 });
  const tampered = openStore(b);
  // Shard 1/2 runs the odd trials at BER index 1 (1e-6).
  assert.equal(tampered.db.prepare('UPDATE trials SET accuracy = 0.5 WHERE trial = 1 AND ber = ?').run(1e-6).changes, 1);
  tampered.close();
  const merged = join(dir, 'merged.db');
  mergeStores([a], merged);
  const before = results(merged, campaignKey(spec));
  assert.throws(() => mergeStores([b], merged), (e: unknown) => {
    assert.ok(e instanceof ProactError);
    assert.match(e.message, /b\.db: campaign [0-9a-f]{12} trial 1 at BER 0\.000001 differs from the copy merged before \(accuracy 0\.5 vs .*merge them separately/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  assert.deepEqual(results(merged, campaignKey(spec)), before);

  const otherClean = join(dir, 'clean.db');
  runCampaign(otherClean, { index: 2, count: 2 }, { cleanAccuracy: 0.5 });
  // cleanAccuracy is not part of the key: the same campaign with another clean accuracy is a different run.
  assert.throws(() => mergeStores([otherClean], merged), /clean accuracy 0\.5 but 0\.985/);
  rmSync(dir, { recursive: true, force: true });
});

test('a merge refuses no inputs, an input that is the output, and a missing input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-shard-'));
  const a = join(dir, 'a.db');
  runCampaign(a, { index: 1, count: 1 });
  assert.throws(() => mergeStores([], join(dir, 'm.db')), /no input stores/);
  assert.throws(() => mergeStores([a], a), /input .*a\.db is also the output/);
  assert.throws(() => mergeStores([a, join(dir, 'missing.db')], join(dir, 'm.db')), /missing\.db: no such results store/);
  rmSync(dir, { recursive: true, force: true });
});

test('a campaign is complete after a merge only if every copy was complete', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-shard-'));
  const a = join(dir, 'a.db');
  const b = join(dir, 'b.db');
  runCampaign(a, { index: 1, count: 2 });
  runCampaign(b, { index: 2, count: 2 });
  const unfinished = openStore(b);
  unfinished.setStatus(unfinished.listCampaigns()[0]!.id, 'interrupted');
  unfinished.close();
  const merged = join(dir, 'm.db');
  mergeStores([a, b], merged);
  const out = openStore(merged, { readonly: true });
  assert.equal(out.listCampaigns()[0]!.status, 'interrupted');
  assert.equal(out.countTrials(out.listCampaigns()[0]!.id), 40);
  out.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a merge checks the shards are one run: the same shard twice or shards of another count are refused, missing shards make it partial', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-shard-'));
  const [a, b, c] = ['a.db', 'b.db', 'c.db'].map((n) => join(dir, n)) as [string, string, string];
  runCampaign(a, { index: 1, count: 2 });
  runCampaign(b, { index: 1, count: 2 });
  runCampaign(c, { index: 1, count: 3 });
  assert.throws(() => mergeStores([a, b], join(dir, 'twice.db')), /merge: shard 1\/2 of campaign [0-9a-f]{12} is in both .*a\.db and .*b\.db; give each shard's store once/);
  assert.throws(() => mergeStores([a, c], join(dir, 'mixed.db')), /c\.db: campaign [0-9a-f]{12} was run as 3 shards, another input as 2/);

  // One shard alone: half the trials, so 'partial' naming shard 2/2, never 'complete'.
  const half = join(dir, 'half.db');
  const report = mergeStores([a], half);
  assert.deepEqual(report.partial, [{ key: campaignKey(spec).slice(0, 12), stored: 20, planned: 40, missingShards: ['2/2'] }]);
  const read = (path: string) => {
    const s = openStore(path, { readonly: true });
    const status = s.listCampaigns()[0]!.status;
    s.close();
    return status;
  };
  assert.equal(read(half), 'partial');
  // The missing shard merged in later completes it.
  const second = join(dir, 'second.db');
  runCampaign(second, { index: 2, count: 2 });
  assert.deepEqual(mergeStores([second], half).partial, []);
  assert.equal(read(half), 'complete');

  // Shards of two different campaigns (another seed): each is its own campaign, each partial.
  const other = join(dir, 'other.db');
  runCampaign(other, { index: 2, count: 2 }, { seed: 9 });
  const two = mergeStores([a, other], join(dir, 'two.db'));
  assert.equal(two.partial.length, 2);
  rmSync(dir, { recursive: true, force: true });
});
