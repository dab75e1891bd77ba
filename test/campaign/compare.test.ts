// Paired comparison of two campaigns: trial i of A against trial i of B.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareCampaigns, openStore, summarize, summarizeCampaign, type CampaignSpec, type TrialRecord } from '../../src/campaign/index.js';
import { mulberry32 } from '../../src/data/index.js';
import { CLI, runCli } from '../helpers/cli.js';

const spec = (modelPath: string, seed = 3, trials = 40): CampaignSpec => ({
  toolVersion: '0.1.0',
  modelPath,
  modelHash: modelPath.padEnd(64, '0').slice(0, 64),
  data: 'cifar10/test:0+1000:test',
  seed,
  options: { bers: [1e-5], trials },
});
const record = (trial: number, accuracy: number): TrialRecord => ({ ber: 1e-5, trial, accuracy, sdc: 0, due: 0, faults: 1, seconds: 0.1 });

/**
 * Two "methods" under the same `n` fault patterns: each trial's damage (the shared part, bimodal like real
 * trials: survive or collapse) hits both, and B loses a further 0.5 points +- a little noise. B ran two
 * trials fewer.
 */
function store(dir: string, n = 40): { db: string; a: number; b: number; other: number } {
  const db = join(dir, 'r.sqlite');
  const s = openStore(db);
  const rnd = mulberry32(11);
  const damage = Array.from({ length: n }, () => (rnd() < 0.3 ? 0.6 * rnd() : 0.02 * rnd()));
  const a = s.findOrCreateCampaign(spec('a.onnx', 3, n)).id;
  const b = s.findOrCreateCampaign(spec('b.onnx', 3, n)).id;
  const other = s.findOrCreateCampaign(spec('c.onnx', 4, n)).id;
  s.insertTrials(a, damage.map((d, i) => record(i, 0.87 - d)));
  s.insertTrials(b, damage.map((d, i) => record(i, 0.865 - d - 0.001 * rnd())).slice(0, n - 2));
  s.insertTrials(other, [record(0, 0.5)]);
  s.close();
  return { db, a, b, other };
}

test('compareCampaigns pairs trial i with trial i: the difference interval is that of the per-trial differences, and separates what unpaired intervals cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-compare-'));
  // A difference in [-1, 1] that never varied could still hide a rare collapse of one side: a valid
  // interval needs a thousand or so pairs to pin 0.5 points (docs/campaigns.md); 40 pairs cannot.
  const few = store(join(dir), 40);
  const fewStore = openStore(few.db, { readonly: true });
  const small = compareCampaigns(fewStore, few.a, few.b).perBer[0]!.accuracyDifference;
  fewStore.close();
  assert.ok(small.ciLow < 0 && small.ciHigh > 0.005 && small.ciLow >= -1 && small.ciHigh <= 1, JSON.stringify(small));
  const { db, a, b, other } = store(mkdtempSync(join(tmpdir(), 'proact-compare-')), 1500);
  const s = openStore(db, { readonly: true });
  try {
    const c = compareCampaigns(s, a, b);
    assert.equal(c.perBer.length, 1);
    const p = c.perBer[0]!;
    assert.deepEqual([p.ber, p.pairs, p.onlyA, p.onlyB], [1e-5, 1498, 2, 0]);
    const accA = new Map(s.trials(a).map((t) => [t.trial, t.accuracy]));
    const diffs = s.trials(b).map((t) => accA.get(t.trial)! - t.accuracy);
    assert.deepEqual(p.accuracyDifference, summarize(diffs, { interval: 'betting-cs', range: [-1, 1] }));
    // A is better by ~0.55 points, and the paired CI says so ...
    assert.ok(p.accuracyDifference.ciLow > 0.001 && p.accuracyDifference.ciHigh < 0.01, JSON.stringify(p.accuracyDifference));
    // ... while the two campaigns' own CIs overlap widely (the shared damage dominates them).
    const [sa, sb] = [summarizeCampaign(s, a).perBer[0]!.accuracy, summarizeCampaign(s, b).perBer[0]!.accuracy];
    assert.ok(sa.ciLow < sb.ciHigh && sb.ciLow < sa.ciHigh, 'unpaired CIs overlap');
    assert.ok(sa.ciHalfWidth > 3 * p.accuracyDifference.ciHalfWidth, `${sa.ciHalfWidth} vs ${p.accuracyDifference.ciHalfWidth}`);
    // Reversing the order flips the sign.
    assert.equal(compareCampaigns(s, b, a).perBer[0]!.accuracyDifference.mean, -p.accuracyDifference.mean);
    assert.throws(() => compareCampaigns(s, a, other), /different seeds \(3, 4\).*same --seed/);
    assert.throws(() => compareCampaigns(s, a, 99), /no campaign with id 99/);
  } finally {
    s.close();
  }
});

test('compareCampaigns refuses campaigns whose fault models differ, also in the fields written only when not the default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-compare-model-'));
  const s = openStore(join(dir, 'm.sqlite'));
  try {
    const base = spec('a.onnx');
    const plain = s.findOrCreateCampaign(base).id;
    const stuck = s.findOrCreateCampaign({ ...spec('c.onnx'), options: { ...base.options, fault: 'stuck-at-1' } }).id;
    const acts = s.findOrCreateCampaign({ ...spec('d.onnx'), options: { ...base.options, activations: ['conv'] } }).id;
    const scalars = s.findOrCreateCampaign({ ...spec('e.onnx'), options: { ...base.options, scalarThresholds: 'float32' } }).id;
    for (const id of [plain, stuck, acts, scalars]) s.insertTrials(id, [record(0, 0.8)]);
    assert.throws(() => compareCampaigns(s, plain, stuck), /differ in fault \(null vs "stuck-at-1"\)/);
    assert.throws(() => compareCampaigns(s, plain, acts), /differ in activations/);
    assert.throws(() => compareCampaigns(s, plain, scalars), /differ in scalarThresholds/);
  } finally {
    s.close();
  }
});

test('proact campaign compare prints the paired table and a verdict; a bad id is one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-compare-cli-'));
  const { db, a, b } = store(dir, 1500);
  const r = runCli(['campaign', 'compare', db, String(a), String(b)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /A = campaign 1 \(a\.onnx\)\nB = campaign 2 \(b\.onnx\)/);
  assert.match(r.stdout, /1e-5 +1498 +0\.5\d +0\.\d\d to 0\.\d\d +A better/);
  const j = JSON.parse(runCli(['campaign', 'compare', db, String(b), String(a), '--json']).stdout) as { perBer: { pairs: number; accuracyDifference: { mean: number } }[] };
  assert.ok(j.perBer[0]!.accuracyDifference.mean < 0);
  const bad = runCli(['campaign', 'compare', db, '1', '42']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /no campaign with id 42/);
});

test('campaign export --json reaches the subcommand (the parent campaign command has a --json too); a closed pipe ends quietly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-export-json-'));
  const { db } = store(dir);
  const r = runCli(['campaign', 'export', db, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { campaign: { id: number } });
  assert.deepEqual(lines.map((l) => l.campaign.id), [1, 2, 3]);
  // `proact ... | head -c 1`: EPIPE on stdout must not print a stack trace.
  const piped = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" campaign export "${db}" --csv | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
  assert.equal(piped.stderr, '');
  assert.equal(piped.stdout.trim(), '0');
});
